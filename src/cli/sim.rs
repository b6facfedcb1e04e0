//! `weir sim commerce`: runs the commerce simulator until the process is stopped.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::connectors::http::oauth1::OAuth1Credentials;
use crate::sim::commerce;

/// The simulators.
#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// An in-memory Adobe Commerce (Magento 2.4) REST API; prints its address on the first line.
    Commerce(CommerceArgs),
}

/// `weir sim commerce`'s flags.
#[derive(Debug, Args)]
pub(crate) struct CommerceArgs {
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seeds the generated orders (the catalog is the Luma sample data).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The admin user name accepted by `POST /rest/V1/integration/admin/token`.
    #[arg(long, default_value = "admin")]
    admin_user: String,
    /// The admin password.
    #[arg(long, default_value = "admin123")]
    admin_password: String,
    /// The integration's consumer key (OAuth 1.0a).
    #[arg(long, default_value = "sim-consumer-key")]
    consumer_key: String,
    /// The integration's consumer secret.
    #[arg(long, default_value = "sim-consumer-secret")]
    consumer_secret: String,
    /// The integration's access token.
    #[arg(long, default_value = "sim-access-token")]
    access_token: String,
    /// The integration's access token secret.
    #[arg(long, default_value = "sim-access-token-secret")]
    access_token_secret: String,
    /// Switch on web API input limits: at most 20 items per list, `pageSize` at most 300, 5,000
    /// operations per async bulk request.
    #[arg(long)]
    input_limit: bool,
}

/// Runs a simulator until the process ends.
pub(crate) fn sim(command: SimCommand) -> anyhow::Result<ExitCode> {
    let SimCommand::Commerce(args) = command;
    let options = commerce::Options {
        port: args.port,
        seed: args.seed,
        admin_user: args.admin_user,
        admin_password: args.admin_password,
        integration: OAuth1Credentials {
            consumer_key: args.consumer_key,
            consumer_secret: args.consumer_secret,
            token: args.access_token,
            token_secret: args.access_token_secret,
        },
        input_limit: args.input_limit,
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")?;
    runtime.block_on(commerce::serve(options))?;
    Ok(ExitCode::SUCCESS)
}
