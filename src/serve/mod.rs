//! `weir serve DIR`: every pipeline of a folder run under its trigger in one long-lived process (a
//! task per pipeline, `scheduler`), with an HTTP server for health, readiness and the admin API
//! (`http`), and a graceful drain on SIGTERM. Sits above `runtime` (it starts runs) and below the CLI.

mod deployment;
mod dlq;
mod hooks;
mod http;
mod page;
mod reload;
mod reply;
mod scheduler;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::diagnostic::Diagnostics;
use crate::state::StateStore;
use scheduler::Slot;

/// How `weir serve` runs.
#[derive(Debug, Clone)]
pub(crate) struct ServeOptions {
    /// The client folder of pipelines.
    pub(crate) folder: PathBuf,
    /// Where the HTTP server listens.
    pub(crate) listen: SocketAddr,
    /// The token the admin API asks for (`Authorization: Bearer …`); `None` leaves it open, which
    /// only a loopback address allows.
    pub(crate) admin_token: Option<AdminToken>,
    /// How long a shutdown waits for runs in progress to drain before it leaves them.
    pub(crate) drain_timeout: Duration,
    /// How often the folder's configuration files are looked at for changes (hot reload).
    pub(crate) reload_every: Duration,
}

/// The admin API's token: compared in constant time, never printed.
#[derive(Clone)]
pub(crate) struct AdminToken(String);

impl AdminToken {
    pub(crate) fn new(token: String) -> AdminToken {
        AdminToken(token)
    }

    /// True when `offered` is the token (in time independent of where they differ).
    fn accepts(&self, offered: &str) -> bool {
        use sha2::Digest as _;
        use subtle::ConstantTimeEq as _;
        // Digests first: equal lengths, so the comparison's time says nothing about the token's length.
        let (a, b) = (sha2::Sha256::digest(self.0.as_bytes()), sha2::Sha256::digest(offered.as_bytes()));
        a.ct_eq(&b).into()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(…)")
    }
}

/// Why `weir serve` cannot start or went down.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    /// Some pipeline of the folder does not load or build: nothing starts (fix, then start again).
    #[error("{0}")]
    Config(Diagnostics),
    /// The admin API would be open to the network.
    #[error(
        "listening on {0} needs an admin token: set WEIR_ADMIN_TOKEN (or --admin-token-file); without one the \
         admin API is only served on a loopback address"
    )]
    OpenAdminApi(SocketAddr),
    /// The address cannot be listened on.
    #[error("cannot listen on {address}: {source}")]
    Listen { address: SocketAddr, source: std::io::Error },
    /// The HTTP server failed.
    #[error("the HTTP server failed: {0}")]
    Server(std::io::Error),
}

/// The running service, shared by the pipeline tasks, the reloader and the HTTP handlers.
pub(crate) struct Service {
    folder: PathBuf,
    pub(crate) store: Arc<dyn StateStore>,
    slots: RwLock<BTreeMap<String, Arc<Slot>>>,
    /// The pipeline tasks (one per slot).
    tasks: Mutex<tokio::task::JoinSet<()>>,
    /// Turns true when the service drains.
    shutdown: watch::Receiver<bool>,
    /// Set by the first SIGTERM/SIGINT: no new work is taken.
    draining: AtomicBool,
    /// The errors of the last configuration change, not applied (the last good version runs).
    config_errors: Mutex<Option<String>>,
    admin_token: Option<AdminToken>,
}

impl Service {
    fn slots(&self) -> Vec<Arc<Slot>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    fn slot(&self, name: &str) -> Option<Arc<Slot>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    fn config_errors(&self) -> Option<String> {
        self.config_errors.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets the slot's webhook ingress from the version deployed in it (pipelines with a `webhook`
    /// source). A config that does not build was reported at load; this logs it again, rather than
    /// serving a hook without its checks.
    fn equip(&self, slot: &Slot) {
        let ingress = match crate::assemble::webhook::webhook_ingress(&slot.deployed().loaded, Arc::clone(&self.store))
        {
            None => None,
            Some(Ok(ingress)) => Some(Arc::new(ingress)),
            Some(Err(errors)) => {
                tracing::error!(pipeline = %slot.name, "its webhook is not served: {errors}");
                None
            }
        };
        slot.set_ingress(ingress);
    }

    /// Adds a slot and starts its task.
    fn start(&self, slots: &mut BTreeMap<String, Arc<Slot>>, slot: Arc<Slot>) {
        self.equip(&slot);
        slots.insert(slot.name.clone(), Arc::clone(&slot));
        let (store, shutdown) = (Arc::clone(&self.store), self.shutdown.clone());
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).spawn(scheduler::drive(slot, store, shutdown));
    }

    /// Loads the folder again and, when it is sound, puts what it holds in place of what runs (see
    /// `reload`). Blocking: the folder is read from disk.
    fn reload(&self) {
        let (deployed, diagnostics) = deployment::load(&self.folder, &crate::assemble::load::process_env);
        if !diagnostics.is_empty() {
            let text = diagnostics.to_string();
            tracing::error!("the folder changed but has errors; the last good version keeps running:\n{text}");
            *self.config_errors.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
            return;
        }
        *self.config_errors.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        let removed: Vec<String> = slots.keys().filter(|name| !deployed.contains_key(*name)).cloned().collect();
        for name in &removed {
            if let Some(slot) = slots.remove(name) {
                slot.retire();
            }
        }
        let mut added = Vec::new();
        for (name, deployed) in deployed {
            match slots.get(&name) {
                Some(slot) => {
                    slot.replace(deployed);
                    self.equip(slot);
                }
                None => {
                    self.start(&mut slots, Arc::new(Slot::new(deployed)));
                    added.push(name);
                }
            }
        }
        tracing::info!(
            pipelines = slots.len(),
            added = %added.join(", "),
            removed = %removed.join(", "),
            "configuration reloaded"
        );
    }
}

/// Runs the folder's pipelines and the HTTP server until SIGTERM/SIGINT, then drains: no new run
/// starts, runs in progress stop reading and finish their in-flight records (at most
/// `drain_timeout`), checkpoints are saved, and the process ends. A second signal ends it at once.
pub(crate) async fn serve(options: ServeOptions, store: Arc<dyn StateStore>) -> Result<(), ServeError> {
    if options.admin_token.is_none() && !options.listen.ip().is_loopback() {
        return Err(ServeError::OpenAdminApi(options.listen));
    }
    let (deployed, diagnostics) = deployment::load(&options.folder, &crate::assemble::load::process_env);
    if !diagnostics.is_empty() {
        return Err(ServeError::Config(diagnostics));
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ServeError::Listen { address: options.listen, source })?;
    let address = listener.local_addr().map_err(ServeError::Server)?;
    let seen = reload::Fingerprint::of(&options.folder);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let service = Arc::new(Service {
        folder: options.folder.clone(),
        store: Arc::clone(&store),
        slots: RwLock::new(BTreeMap::new()),
        tasks: Mutex::new(tokio::task::JoinSet::new()),
        shutdown: shutdown_rx.clone(),
        draining: AtomicBool::new(false),
        config_errors: Mutex::new(None),
        admin_token: options.admin_token.clone(),
    });
    {
        let mut slots = service.slots.write().unwrap_or_else(|e| e.into_inner());
        for deployed in deployed.into_values() {
            let trigger = deployed.trigger.describe();
            tracing::info!(pipeline = %deployed.loaded.config.name, trigger = %trigger, "pipeline loaded");
            service.start(&mut slots, Arc::new(Slot::new(deployed)));
        }
    }
    tokio::spawn(reload::watch(Arc::clone(&service), seen, options.reload_every));
    // Printed on stderr whatever the log level: scripts and people wait for it.
    eprintln!(
        "weir serve: {} pipelines from {}, listening on http://{address}",
        service.slots().len(),
        options.folder.display()
    );
    let server_shutdown = {
        let mut rx = shutdown_rx.clone();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    };
    let router = http::router(Arc::clone(&service));
    let server =
        tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(server_shutdown).await });

    first_signal().await;
    eprintln!("weir serve: stopping — draining runs in progress (signal again to exit at once)");
    service.draining.store(true, Ordering::SeqCst);
    tokio::spawn(async {
        first_signal().await;
        eprintln!("weir serve: second signal, exiting now");
        std::process::exit(130);
    });
    let _ = shutdown_tx.send(true);
    for slot in service.slots() {
        slot.stop_current();
    }
    let mut tasks = std::mem::take(&mut *service.tasks.lock().unwrap_or_else(|e| e.into_inner()));
    let drained =
        tokio::time::timeout(options.drain_timeout, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            "runs still in progress after {}: left unacknowledged, read again next start",
            humantime::format_duration(options.drain_timeout)
        );
    }
    match server.await {
        Ok(result) => result.map_err(ServeError::Server),
        Err(e) => Err(ServeError::Server(std::io::Error::other(e.to_string()))),
    }
}

/// Waits for SIGTERM or SIGINT.
async fn first_signal() {
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
