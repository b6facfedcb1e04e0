//! `weir serve DIR`: the command line of the long-lived engine (`crate::serve`): where it listens,
//! the admin token, the drain deadline, the state file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::serve::{AdminToken, ServeError, ServeOptions, serve};

/// `weir serve`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The client folder: every pipeline in it (and its sub-folders) runs under its `schedule`, on
    /// events (a `webhook` source) or when asked through the API.
    dir: PathBuf,
    /// Address and port of the HTTP server (health, readiness, admin API).
    #[arg(long, env = "WEIR_LISTEN", default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// A file holding the admin API's token (`Authorization: Bearer …`). The token can also come from
    /// WEIR_ADMIN_TOKEN. Required unless listening on a loopback address.
    #[arg(long, value_name = "PATH")]
    admin_token_file: Option<PathBuf>,
    /// How long SIGTERM waits for runs in progress to finish their in-flight records.
    #[arg(long, env = "WEIR_DRAIN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    drain_timeout: Duration,
    /// How often the folder's configuration files are checked for changes (hot reload): a sound
    /// change replaces what runs, one with errors is reported and the last good version keeps running.
    #[arg(long, env = "WEIR_RELOAD_EVERY", default_value = "2s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    reload_every: Duration,
}

/// Runs the service until SIGTERM/SIGINT. Exit 2 when a pipeline of the folder is invalid or the
/// admin API would be open to the network, 1 when the server fails, 0 after a drain.
pub(crate) fn serve_command(args: ServeArgs, state: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    // Read here, not by clap: clap's `env` would print the token in `--help`.
    let token = match &args.admin_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the admin token file {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("WEIR_ADMIN_TOKEN").ok().map(|t| t.trim().to_string()),
    };
    let admin_token = token.filter(|t| !t.is_empty()).map(AdminToken::new);
    let store = super::open_state(state, &args.dir)?;
    let options = ServeOptions {
        folder: args.dir,
        listen: args.listen,
        admin_token,
        drain_timeout: args.drain_timeout,
        reload_every: args.reload_every.max(Duration::from_millis(100)),
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the tokio runtime")?;
    match runtime.block_on(serve(options, store)) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(ServeError::Config(diagnostics)) => {
            eprintln!("{diagnostics}");
            Ok(ExitCode::from(2))
        }
        Err(e @ ServeError::OpenAdminApi(_)) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e.into()),
    }
}
