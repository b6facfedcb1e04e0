//! `weir sim commerce` and `weir sim erp`: run a simulator until the process is stopped, with the
//! fault rates both share (`--fault-5xx 0.1 --fault-429 0.05 --fault-lost 0.02 --fault-seed 7`).

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::connectors::http::oauth1::OAuth1Credentials;
use crate::sim::faults::Rates;
use crate::sim::{commerce, erp};

/// The simulators.
#[derive(Debug, Subcommand)]
pub(crate) enum SimCommand {
    /// An in-memory Adobe Commerce (Magento 2.4) REST API; prints its address on the first line.
    Commerce(CommerceArgs),
    /// An in-memory ERP shaped like Business Central's API v2.0 (OData v4); prints its address on the
    /// first line.
    Erp(ErpArgs),
}

/// Faults drawn at random for every request, from a seed; each rate is a share of requests (0 to 1).
#[derive(Debug, Args)]
pub(crate) struct FaultArgs {
    /// The share of requests answered 500, 502 or 503, the work not done.
    #[arg(long = "fault-5xx", default_value_t = 0.0)]
    fault_5xx: f64,
    /// The share answered 429 with `Retry-After`.
    #[arg(long = "fault-429", default_value_t = 0.0)]
    fault_429: f64,
    /// The share "created, but the answer is lost": the work done, the answer held `--lost-ms`.
    #[arg(long = "fault-lost", default_value_t = 0.0)]
    fault_lost: f64,
    /// The share whose connection is reset without an answer.
    #[arg(long = "fault-reset", default_value_t = 0.0)]
    fault_reset: f64,
    /// The share never answered (the client times out).
    #[arg(long = "fault-timeout", default_value_t = 0.0)]
    fault_timeout: f64,
    /// Seeds the draws: the same seed and the same requests give the same faults.
    #[arg(long = "fault-seed", default_value_t = 0)]
    fault_seed: u64,
    /// The `Retry-After` (seconds) of a drawn 429.
    #[arg(long = "retry-after", default_value_t = 1)]
    retry_after: u64,
    /// How long a lost answer is held, in milliseconds.
    #[arg(long = "lost-ms", default_value_t = 5_000)]
    lost_ms: u64,
}

impl FaultArgs {
    fn rates(&self) -> anyhow::Result<Rates> {
        let rates = Rates {
            server_error: self.fault_5xx,
            too_many: self.fault_429,
            lost: self.fault_lost,
            reset: self.fault_reset,
            timeout: self.fault_timeout,
            seed: self.fault_seed,
            retry_after: self.retry_after,
            lost_ms: self.lost_ms,
        };
        rates.check().map_err(anyhow::Error::msg)?;
        Ok(rates)
    }
}

/// `weir sim erp`'s flags.
#[derive(Debug, Args)]
pub(crate) struct ErpArgs {
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seeds the generated items, customers and stock.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The page size when the client asks for none (`Prefer: odata.maxpagesize=N` asks for one).
    #[arg(long, default_value_t = 20_000)]
    page_size: usize,
    /// The 429 budget: requests per client per `--budget-window` (0: no budget).
    #[arg(long, default_value_t = 0)]
    budget: u32,
    /// The budget's window, in seconds.
    #[arg(long, default_value_t = 60)]
    budget_window: u64,
    /// The OAuth2 client id the token endpoint accepts.
    #[arg(long, default_value = "sim-client")]
    client_id: String,
    /// Its client secret.
    #[arg(long, default_value = "sim-client-secret")]
    client_secret: String,
    /// How long an access token lives, in seconds (`expires_in`).
    #[arg(long, default_value_t = 3599)]
    token_lifetime: u64,
    /// The user name `POST /b1s/v1/Login` accepts.
    #[arg(long, default_value = "manager")]
    user: String,
    /// Its password.
    #[arg(long, default_value = "manager-password")]
    password: String,
    #[command(flatten)]
    faults: FaultArgs,
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
    #[command(flatten)]
    faults: FaultArgs,
}

/// Runs a simulator until the process ends.
pub(crate) fn sim(command: SimCommand) -> anyhow::Result<ExitCode> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")?;
    let args = match command {
        SimCommand::Commerce(args) => args,
        SimCommand::Erp(args) => {
            let options = erp::Options {
                port: args.port,
                seed: args.seed,
                page_size: args.page_size.max(1),
                budget: args.budget,
                budget_window: std::time::Duration::from_secs(args.budget_window.max(1)),
                client_id: args.client_id,
                client_secret: args.client_secret,
                token_lifetime: std::time::Duration::from_secs(args.token_lifetime.max(1)),
                user: args.user,
                password: args.password,
                rates: args.faults.rates()?,
            };
            runtime.block_on(erp::serve(options))?;
            return Ok(ExitCode::SUCCESS);
        }
    };
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
        rates: args.faults.rates()?,
    };
    runtime.block_on(commerce::serve(options))?;
    Ok(ExitCode::SUCCESS)
}
