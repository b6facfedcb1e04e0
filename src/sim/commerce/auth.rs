//! Credentials: admin tokens (`POST /V1/integration/admin/token`, then `Authorization: Bearer`) and
//! OAuth 1.0a HMAC-SHA256 signatures, checked by rebuilding the base string from the request as it
//! arrived and signing it again with Weir's own `oauth1` code.

use axum::http::{HeaderMap, header};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::{MagentoError, Sim, lock};
use crate::connectors::http::oauth1;

/// `POST /V1/integration/admin/token`: a fresh token for the admin's user name and password.
pub(super) fn admin_token(sim: &Sim, body: &[u8]) -> Result<String, MagentoError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| MagentoError::new(400, "Decoding error: the request body is not valid JSON."))?;
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    if field("username") != sim.options.admin_user || field("password") != sim.options.admin_password {
        return Err(MagentoError::new(
            401,
            "The account sign-in was incorrect or your account is disabled temporarily. Please wait and try again later.",
        ));
    }
    let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    lock(&sim.tokens).push(token.clone());
    Ok(token)
}

/// Accepts a bearer token issued here or a valid OAuth 1.0a signature; anything else is a 401.
pub(super) fn authorize(
    sim: &Sim,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    route: &str,
) -> Result<(), MagentoError> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
    let accepted = if let Some(token) = authorization.strip_prefix("Bearer ") {
        lock(&sim.tokens).iter().any(|t| t == token.trim())
    } else if let Some(params) = authorization.strip_prefix("OAuth ") {
        let url =
            if query.is_empty() { format!("http://{host}{path}") } else { format!("http://{host}{path}?{query}") };
        verify_oauth1(&sim.options.integration, method, &url, params)
    } else {
        false
    };
    if accepted { Ok(()) } else { Err(unauthorized(route)) }
}

/// Magento's 401: `The consumer isn't authorized to access %resources.`
fn unauthorized(route: &str) -> MagentoError {
    let resource = if route.starts_with("V1/inventory") {
        "Magento_InventoryApi::source"
    } else if route.starts_with("V1/order/") || route.starts_with("V1/shipment") {
        "Magento_Sales::ship"
    } else if route.starts_with("V1/orders") {
        "Magento_Sales::actions_view"
    } else if route.starts_with("V1/customerGroups") {
        "Magento_Customer::group"
    } else if route.starts_with("V1/customers") {
        "Magento_Customer::manage"
    } else if route.starts_with("V1/bulk") {
        "Magento_Logging::system_magento_logging_bulk_operations"
    } else {
        "Magento_Catalog::products"
    };
    MagentoError::new(401, "The consumer isn't authorized to access %resources.").with(json!({"resources": resource}))
}

/// The `oauth_*` parameters of an `Authorization: OAuth k="v", …` header, decoded.
fn oauth_params(header: &str) -> Vec<(String, String)> {
    header
        .split(',')
        .filter_map(|part| {
            let (key, value) = part.trim().split_once('=')?;
            let value = value.trim().trim_matches('"');
            Some((key.trim().to_string(), percent_decode_str(value).decode_utf8_lossy().into_owned()))
        })
        .filter(|(k, _)| k.starts_with("oauth_"))
        .collect()
}

/// Whether the header's signature is the one the integration's secrets give for this request: the
/// consumer key and the token must be the integration's, the method HMAC-SHA256.
pub(super) fn verify_oauth1(credentials: &oauth1::OAuth1Credentials, method: &str, url: &str, header: &str) -> bool {
    let params = oauth_params(header);
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if get("oauth_consumer_key") != Some(credentials.consumer_key.as_str())
        || get("oauth_token") != Some(credentials.token.as_str())
        || get("oauth_signature_method") != Some("HMAC-SHA256")
    {
        return false;
    }
    let (Some(signature), Ok(url)) = (get("oauth_signature"), url::Url::parse(url)) else { return false };
    let signed: Vec<(&str, &str)> =
        params.iter().filter(|(k, _)| k != "oauth_signature").map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let base = oauth1::signature_base(method, &url, &[], &signed);
    oauth1::signature(&base, &credentials.consumer_secret, &credentials.token_secret) == signature
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::http::oauth1::{Nonce, OAuth1Credentials, authorization};

    fn credentials() -> OAuth1Credentials {
        OAuth1Credentials {
            consumer_key: "ck".into(),
            consumer_secret: "cs".into(),
            token: "at".into(),
            token_secret: "ats".into(),
        }
    }

    #[test]
    fn a_request_signed_by_weir_is_accepted_and_a_tampered_one_refused() {
        let url = "http://127.0.0.1:8080/rest/V1/products/WT%2F09%20Blue?searchCriteria%5BpageSize%5D=5&q=a+b";
        let parsed = url::Url::parse(url).expect("a URL");
        let header = authorization(&credentials(), "GET", &parsed, &[], &Nonce::fresh());
        let params = header.strip_prefix("OAuth ").expect("an OAuth header");
        assert!(verify_oauth1(&credentials(), "GET", url, params));
        // Another path, another method, another query value, other secrets: refused.
        assert!(!verify_oauth1(&credentials(), "GET", &url.replace("WT%2F09", "WT%2F10"), params));
        assert!(!verify_oauth1(&credentials(), "POST", url, params));
        assert!(!verify_oauth1(&credentials(), "GET", &url.replace("=5", "=6"), params));
        let other = OAuth1Credentials { consumer_secret: "other".into(), ..credentials() };
        assert!(!verify_oauth1(&other, "GET", url, params));
        let tampered = params.replace("oauth_nonce=\"", "oauth_nonce=\"x");
        assert!(!verify_oauth1(&credentials(), "GET", url, &tampered));
    }
}
