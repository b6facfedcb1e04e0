//! `weir healthcheck`: asks a running `weir serve` whether it is ready, for a container's `HEALTHCHECK`
//! (the runtime image has no curl, and a distroless one would have no shell either). Exit 0 on a 2xx
//! answer, 1 on anything else — the two codes Docker and podman give a meaning to.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

/// How much of an unhealthy answer's body is shown: `/readyz` says why in a line or two.
const REASON_BYTES: u64 = 512;

/// `weir healthcheck`'s flags.
#[derive(Debug, Args)]
pub(crate) struct HealthcheckArgs {
    /// The URL to ask; any 2xx answer is healthy. Default: `--path` on the `--listen` address.
    url: Option<String>,
    /// The address `weir serve` listens on (the same flag and variable as `weir serve`'s); an
    /// unspecified address (`0.0.0.0`, `[::]`) is asked on loopback.
    #[arg(long, env = "WEIR_LISTEN", default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: String,
    /// The path asked on the `--listen` address: `/readyz` (state store reachable, pipelines loaded) or
    /// `/healthz` (the process answers).
    #[arg(long, default_value = "/readyz")]
    path: String,
    /// How long the answer may take, e.g. `3s`.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
}

/// Asks once; prints what was answered (stdout when healthy, stderr when not).
pub(crate) fn healthcheck(args: HealthcheckArgs) -> anyhow::Result<ExitCode> {
    let url = args.url.clone().unwrap_or_else(|| format!("http://{}{}", ask_address(&args.listen), args.path));
    // reqwest is built without a bundled crypto provider; use ring's, as the connectors do.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(args.timeout)
        // A proxy from the environment must not stand between the check and the process it checks.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    match client.get(&url).send() {
        Ok(answer) if answer.status().is_success() => {
            println!("healthy: {url} answered {}", answer.status());
            Ok(ExitCode::SUCCESS)
        }
        Ok(answer) => {
            let status = answer.status();
            let mut body = String::new();
            // The reason is a courtesy: a body that cannot be read leaves it out.
            let _ = answer.take(REASON_BYTES).read_to_string(&mut body);
            let reason = body.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!(
                "unhealthy: {url} answered {status}{}",
                if reason.is_empty() { String::new() } else { format!(": {reason}") }
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            // reqwest's own words are "client error (Connect)"; the root cause says what happened.
            let mut cause: &dyn std::error::Error = &e;
            while let Some(source) = cause.source() {
                cause = source;
            }
            eprintln!("unhealthy: no answer from {url}: {cause}");
            Ok(ExitCode::from(1))
        }
    }
}

/// The `host:port` to ask for a listen address: loopback for an unspecified IP, else as given.
fn ask_address(listen: &str) -> String {
    match listen.parse::<SocketAddr>() {
        Ok(addr) if addr.ip().is_unspecified() => {
            let loopback = match addr.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            SocketAddr::new(loopback, addr.port()).to_string()
        }
        _ => listen.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::ask_address;

    #[test]
    fn an_unspecified_listen_address_is_asked_on_loopback() {
        assert_eq!(ask_address("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(ask_address("[::]:9000"), "[::1]:9000");
        assert_eq!(ask_address("10.1.2.3:8080"), "10.1.2.3:8080");
        assert_eq!(ask_address("localhost:8080"), "localhost:8080");
    }
}
