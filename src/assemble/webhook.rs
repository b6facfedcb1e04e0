//! The webhook ingress of a loaded pipeline, for a server mounting its hook: built from the pipeline's
//! `webhook` source (one per pipeline: the hook is the pipeline's), over the state store the runs use.

use std::sync::Arc;

use super::load::LoadedPipeline;
use crate::sources::SourceConfig;
use crate::sources::webhook::WebhookIngress;
use crate::state::StateStore;

/// The ingress of `pipeline`'s webhook source, storing into `store`: `None` when the pipeline has no
/// webhook source; an error (every problem, one per line) when its config does not build — which
/// `weir validate` reports too — or when it has several.
pub fn webhook_ingress(
    pipeline: &LoadedPipeline,
    store: Arc<dyn StateStore>,
) -> Option<Result<WebhookIngress, String>> {
    let webhooks: Vec<_> = pipeline
        .config
        .sources
        .iter()
        .filter_map(|s| match &s.config {
            SourceConfig::Webhook(config) => Some((s.common.id.as_str(), config)),
            _ => None,
        })
        .collect();
    let name = &pipeline.config.name;
    match webhooks.as_slice() {
        [] => None,
        [(id, config)] => Some(config.ingress(name, store).map_err(|errors| {
            let lines: Vec<String> = errors
                .0
                .iter()
                .map(|e| format!("{name}: source `{id}`: {}: {}", e.field.join("."), e.message))
                .collect();
            lines.join("\n")
        })),
        [..] => Some(Err(format!("{name}: a pipeline has one webhook (its hook): keep one `webhook` source"))),
    }
}
