//! [`Telemetry`]: the handle a program (or an agent's `recorder` import) records through.
//!
//! Never blocking the caller is the design: recording hands events to a worker task that owns
//! the component's store, and returns at once. Only `flush` and `status` wait, and `flush`
//! never longer than its deadline. If the hand-off is full (the component is stalled), events
//! are dropped and counted rather than making the caller wait. If the component traps, the
//! worker logs it and starts a fresh instance; the caller never sees the trap.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::{mpsc, oneshot};
use wasmtime::Store;

use crate::bindings::RecorderHost;
use crate::bindings::recorder::{Event, FlushReport, StatusReport};
use crate::consent::Consent;
use crate::http_policy::{AllowedEndpoint, EgressCounters, EgressPolicy};
use crate::identity::Identity;
use crate::ledger::{LEDGER_FILE, Ledger, LedgerEntry};
use crate::runtime::{TelemetryRuntime, TelemetryState};
use crate::settings::TelemetrySettings;

/// How stale the status snapshot may get while events are being recorded.
const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(50);

/// Most events handed to the component in one `record-many` call.
const COALESCE_MAX_EVENTS: usize = 4096;

/// A cheap, cloneable handle; all clones feed the same component instance.
#[derive(Clone)]
pub struct Telemetry {
    consent: Consent,
    identity: Option<Identity>,
    endpoint: Option<String>,
    egress: Arc<EgressCounters>,
    ledger: Option<Arc<Ledger>>,
    /// Where debug mode writes; `None` when requests are really sent.
    debug_log: Option<Arc<std::path::PathBuf>>,
    worker: Option<Arc<WorkerHandle>>,
}

struct WorkerHandle {
    tx: mpsc::UnboundedSender<Command>,
    /// Events handed off and not yet taken by the worker.
    in_flight: AtomicUsize,
    capacity: usize,
    /// Events dropped before reaching the component or lost with it (hand-off full, worker
    /// gone, a trap, still queued at stop).
    dropped: AtomicU64,
    /// The component's status as of the worker's last command: read without waiting, so an
    /// agent's `status` call never queues behind a send.
    snapshot: std::sync::Mutex<Option<StatusReport>>,
}

impl WorkerHandle {
    fn snapshot(&self) -> Option<StatusReport> {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_snapshot(&self, report: Option<StatusReport>) {
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = report;
    }

    fn queued_in_component(&self) -> usize {
        self.snapshot().map_or(0, |s| s.queued as usize)
    }
}

enum Command {
    Record(Vec<Event>),
    Flush {
        deadline: Duration,
        reply: oneshot::Sender<FlushReport>,
    },
    Status(oneshot::Sender<Option<StatusReport>>),
    Stop,
}

/// The whole picture: the consent decision, what the component reports, and what the host
/// itself counted.
#[derive(Debug, Clone)]
pub struct Status {
    pub enabled: bool,
    pub reason: String,
    pub warnings: Vec<String>,
    pub endpoint: Option<String>,
    pub installation_id: Option<String>,
    /// `None` when telemetry is off (no component runs) or it did not answer.
    pub component: Option<StatusReport>,
    pub dropped_before_component: u64,
    pub requests_allowed: u64,
    pub requests_denied: u64,
    /// Debug mode: requests are captured in this file, not sent.
    pub debug_log: Option<std::path::PathBuf>,
    /// The egress ledger file, if the identity is stored.
    pub ledger: Option<std::path::PathBuf>,
}

impl Telemetry {
    /// Starts telemetry with the process-wide runtime (the embedded component). Must be
    /// called within a tokio runtime. When consent is off, nothing is created: no identity,
    /// no component, and every call is a no-op.
    pub async fn start(settings: TelemetrySettings) -> Result<Telemetry> {
        let consent = settings.effective_consent();
        if !consent.enabled {
            return Ok(Telemetry::disabled(consent));
        }
        Telemetry::start_with(TelemetryRuntime::shared()?, settings).await
    }

    /// A handle that records nothing, for programs where consent is off.
    pub fn disabled(consent: Consent) -> Telemetry {
        Telemetry {
            consent,
            identity: None,
            endpoint: None,
            egress: Arc::default(),
            ledger: None,
            debug_log: None,
            worker: None,
        }
    }

    pub async fn start_with(
        runtime: Arc<TelemetryRuntime>,
        settings: TelemetrySettings,
    ) -> Result<Telemetry> {
        let consent = settings.effective_consent();
        if !consent.enabled {
            return Ok(Telemetry::disabled(consent));
        }
        let endpoint = match &settings.endpoint {
            Some(url) => Arc::new(AllowedEndpoint::parse(url)?),
            None => {
                let consent = Consent::explicit(false, "no endpoint is configured");
                return Ok(Telemetry::disabled(consent));
            }
        };
        let identity = match &settings.identity_dir {
            Some(dir) => Identity::load_or_create(dir),
            None => Identity::ephemeral(),
        };
        let egress = Arc::new(EgressCounters::default());
        let ledger = Ledger::open(
            identity.dir.as_ref().map(|d| d.join(LEDGER_FILE)),
            settings.ledger_max_bytes,
        );
        let debug_log = settings.debug.then(|| Arc::new(settings.debug_log_path()));
        if settings.show_notice {
            crate::privacy::show_notice_once(
                identity.dir.as_deref(),
                settings.endpoint.as_deref().unwrap_or_default(),
                debug_log.as_deref().map(|p| p.as_path()),
            );
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = Arc::new(WorkerHandle {
            tx,
            in_flight: AtomicUsize::new(0),
            capacity: settings.handoff_capacity,
            dropped: AtomicU64::new(0),
            snapshot: std::sync::Mutex::new(None),
        });
        let worker = Worker {
            runtime,
            config: settings.config_vars(&identity),
            endpoint,
            timeout: settings.request_timeout,
            egress: egress.clone(),
            ledger: ledger.clone(),
            debug_log: debug_log.clone(),
            handle: Arc::downgrade(&handle),
            live: None,
            batch_max: settings.batch_max_events.max(1) as usize,
            since_flush: 0,
            snapshot_at: tokio::time::Instant::now(),
            since_snapshot: 0,
        };
        // Instantiate before returning so a broken setup is an error here, not a silent no-op.
        let worker = worker.started().await?;
        tokio::spawn(worker.run(rx, settings.flush_interval));
        Ok(Telemetry {
            consent,
            endpoint: settings.endpoint,
            identity: Some(identity),
            egress,
            ledger: Some(ledger),
            debug_log,
            worker: Some(handle),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.worker.is_some()
    }

    /// Records one event. Returns at once; see the module docs.
    pub fn record(&self, event: Event) {
        self.record_many(vec![event]);
    }

    pub fn record_many(&self, events: Vec<Event>) {
        let Some(worker) = &self.worker else { return };
        let n = events.len();
        if n == 0 {
            return;
        }
        let before = worker.in_flight.fetch_add(n, Ordering::AcqRel);
        if before + n > worker.capacity || worker.tx.send(Command::Record(events)).is_err() {
            worker.in_flight.fetch_sub(n, Ordering::AcqRel);
            worker.dropped.fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Sends what is queued; returns within `deadline` whatever the collector does.
    pub async fn flush(&self, deadline: Duration) -> FlushReport {
        let empty = nothing_flushed();
        let Some(worker) = &self.worker else {
            return empty;
        };
        let (reply, answer) = oneshot::channel();
        if worker.tx.send(Command::Flush { deadline, reply }).is_err() {
            return empty;
        }
        match tokio::time::timeout(deadline, answer).await {
            Ok(Ok(report)) => report,
            // Out of time, or the worker is gone: what was handed off or queued is pending.
            _ => {
                let pending =
                    worker.in_flight.load(Ordering::Acquire) + worker.queued_in_component();
                FlushReport {
                    pending: u32::try_from(pending).unwrap_or(u32::MAX),
                    ..empty
                }
            }
        }
    }

    /// Flushes within `deadline`, then stops the worker. Other clones become no-ops.
    pub async fn shutdown(&self, deadline: Duration) -> FlushReport {
        let report = self.flush(deadline).await;
        if let Some(worker) = &self.worker {
            let _ = worker.tx.send(Command::Stop);
        }
        report
    }

    pub async fn status(&self) -> Status {
        let component = match &self.worker {
            Some(worker) => {
                let (reply, answer) = oneshot::channel();
                let _ = worker.tx.send(Command::Status(reply));
                tokio::time::timeout(Duration::from_secs(5), answer)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .flatten()
            }
            None => None,
        };
        Status {
            enabled: self.consent.enabled && self.worker.is_some(),
            reason: self.consent.reason.clone(),
            warnings: self.consent.warnings.clone(),
            endpoint: self.endpoint.clone(),
            installation_id: self
                .identity
                .as_ref()
                .and_then(|i| i.installation_id.clone()),
            component,
            dropped_before_component: self
                .worker
                .as_ref()
                .map_or(0, |w| w.dropped.load(Ordering::Relaxed)),
            requests_allowed: self.egress.allowed(),
            requests_denied: self.egress.denied(),
            debug_log: self.debug_log.as_deref().cloned(),
            ledger: self
                .ledger
                .as_ref()
                .and_then(|l| l.path().map(|p| p.to_path_buf())),
        }
    }

    /// The requests this handle's component made (or had captured, in debug mode), newest
    /// last: what `agent-telemetry log` shows, as far as this process saw it.
    pub fn egress_log(&self) -> Vec<LedgerEntry> {
        self.ledger.as_ref().map_or_else(Vec::new, |l| l.recent())
    }

    /// The component's status as an agent's `recorder.status` import returns it: from the
    /// worker's last snapshot, so it never waits.
    pub fn component_status(&self) -> StatusReport {
        let blank = StatusReport {
            enabled: self.is_enabled(),
            reason: self.consent.reason.clone(),
            queued: 0,
            recorded: 0,
            sent: 0,
            dropped: 0,
            failed: 0,
        };
        let Some(worker) = &self.worker else {
            return blank;
        };
        let mut report = worker.snapshot().unwrap_or(blank);
        report.dropped += worker.dropped.load(Ordering::Relaxed);
        report
    }
}

fn nothing_flushed() -> FlushReport {
    FlushReport {
        sent: 0,
        dropped: 0,
        failed: 0,
        pending: 0,
    }
}

/// Owns the component's store; runs as one tokio task per `Telemetry`.
struct Worker {
    runtime: Arc<TelemetryRuntime>,
    config: Vec<(String, String)>,
    endpoint: Arc<AllowedEndpoint>,
    timeout: Duration,
    egress: Arc<EgressCounters>,
    ledger: Arc<Ledger>,
    debug_log: Option<Arc<std::path::PathBuf>>,
    handle: std::sync::Weak<WorkerHandle>,
    live: Option<(Store<TelemetryState>, RecorderHost)>,
    /// A flush follows once this many events have been handed to the component since the last.
    batch_max: usize,
    since_flush: usize,
    /// When the status snapshot was last taken, and the events handed over since: together
    /// they bound what a lost instance held.
    snapshot_at: tokio::time::Instant,
    since_snapshot: usize,
}

impl Worker {
    async fn started(mut self) -> Result<Worker> {
        self.live = Some(self.instantiate().await?);
        Ok(self)
    }

    /// Owns what it uses, so the worker itself need not be `Sync` across the await.
    fn instantiate(
        &self,
    ) -> impl Future<Output = Result<(Store<TelemetryState>, RecorderHost)>> + Send + 'static {
        let runtime = self.runtime.clone();
        let config = self.config.clone();
        let policy = EgressPolicy::new(
            self.endpoint.clone(),
            self.timeout,
            self.egress.clone(),
            self.ledger.clone(),
            self.debug_log.clone(),
        );
        async move { runtime.instantiate(config, policy).await }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>, interval: Duration) {
        // tokio's interval panics on zero, and a huge one would overflow the first deadline.
        let interval = interval.clamp(Duration::from_millis(100), Duration::from_secs(86_400));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            let received = tokio::select! {
                command = rx.recv() => command,
                _ = tick.tick() => Some(Command::Flush { deadline: self.timeout, reply: oneshot::channel().0 }),
            };
            let Some(mut command) = received else { break };
            if let Command::Record(events) = command {
                let next = self.record_waiting(events, &mut rx).await;
                // Recording is the hot path: the snapshot is refreshed at most this often.
                if self.snapshot_at.elapsed() >= SNAPSHOT_INTERVAL {
                    self.refresh_snapshot().await;
                }
                match next {
                    Some(next) => command = next,
                    None => continue,
                }
            }
            if !self.handle(command).await {
                break;
            }
        }
        self.stop().await;
    }

    /// At stop, whatever the component still holds cannot be delivered any more: say so and
    /// count it, rather than lose it silently.
    async fn stop(&mut self) {
        self.refresh_snapshot().await;
        if let Some(handle) = self.handle.upgrade() {
            let queued = handle.queued_in_component();
            if queued > 0 {
                tracing::warn!(
                    events = queued,
                    "telemetry stopped with events still queued; they are dropped"
                );
                handle.dropped.fetch_add(queued as u64, Ordering::Relaxed);
            }
        }
        self.live = None;
    }

    /// Asks the component for its status, keeps it as the snapshot, and returns it.
    async fn refresh_snapshot(&mut self) -> Option<StatusReport> {
        self.snapshot_at = tokio::time::Instant::now();
        self.since_snapshot = 0;
        let report = self.status().await;
        if let Some(handle) = self.handle.upgrade() {
            handle.set_snapshot(report.clone());
        }
        report
    }

    /// Records `events` and every record command already waiting, in one component call;
    /// returns the first other command it met.
    async fn record_waiting(
        &mut self,
        mut events: Vec<Event>,
        rx: &mut mpsc::UnboundedReceiver<Command>,
    ) -> Option<Command> {
        let mut next = None;
        while events.len() < COALESCE_MAX_EVENTS {
            match rx.try_recv() {
                Ok(Command::Record(more)) => events.extend(more),
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        self.record(events).await;
        if self.since_flush >= self.batch_max {
            self.flush(self.timeout).await;
        }
        next
    }

    /// Runs one command, refreshing the snapshot where it changed the component's state; false
    /// when the worker should end (`stop` takes the last snapshot).
    async fn handle(&mut self, command: Command) -> bool {
        match command {
            Command::Record(events) => self.record(events).await,
            Command::Flush { deadline, reply } => {
                let report = self.flush(deadline).await;
                self.refresh_snapshot().await;
                let _ = reply.send(report);
            }
            Command::Status(reply) => {
                let _ = reply.send(self.refresh_snapshot().await);
            }
            Command::Stop => return false,
        }
        true
    }

    async fn record(&mut self, events: Vec<Event>) {
        let n = events.len();
        if let Some(handle) = self.handle.upgrade() {
            handle.in_flight.fetch_sub(n, Ordering::AcqRel);
        }
        self.since_flush += n;
        self.since_snapshot += n;
        let result = match self.live().await {
            Some((store, bindings)) => {
                bindings
                    .agent_telemetry_recorder()
                    .call_record_many(store, &events)
                    .await
            }
            None => Err(wasmtime::Error::msg("no telemetry instance")),
        };
        if let Err(e) = result {
            self.lost(&e);
        }
    }

    async fn flush(&mut self, deadline: Duration) -> FlushReport {
        // The component gets a little less than the caller's deadline, so its answer arrives
        // in time; if it still overruns, the host cuts the call off.
        let inner = deadline.saturating_sub((deadline / 10).min(Duration::from_millis(100)));
        let millis = u32::try_from(inner.as_millis()).unwrap_or(u32::MAX);
        self.since_flush = 0;
        let failed = nothing_flushed();
        let Some((store, bindings)) = self.live().await else {
            return failed;
        };
        let call = bindings
            .agent_telemetry_recorder()
            .call_flush(store, millis);
        match tokio::time::timeout(deadline, call).await {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => {
                self.lost(&e);
                failed
            }
            Err(_) => {
                tracing::warn!(
                    ?deadline,
                    "telemetry flush overran its deadline; restarting the component"
                );
                let error =
                    wasmtime::Error::msg(format!("flush overran its deadline of {deadline:?}"));
                self.lost(&error);
                failed
            }
        }
    }

    async fn status(&mut self) -> Option<StatusReport> {
        let (store, bindings) = self.live().await?;
        match bindings.agent_telemetry_recorder().call_status(store).await {
            Ok(report) => Some(report),
            Err(e) => {
                self.lost(&e);
                None
            }
        }
    }

    /// The live instance, re-created after a trap.
    async fn live(&mut self) -> Option<(&mut Store<TelemetryState>, &RecorderHost)> {
        if self.live.is_none() {
            match self.instantiate().await {
                Ok(live) => self.live = Some(live),
                Err(e) => {
                    tracing::error!(error = %e, "telemetry component could not be instantiated");
                    return None;
                }
            }
        }
        self.live
            .as_mut()
            .map(|(store, bindings)| (store, &*bindings))
    }

    /// A call failed (a trap, or an overrun): count what the instance held, that is, its queue
    /// at the last snapshot and everything handed to it since (an upper bound), and start over
    /// with a fresh instance.
    fn lost(&mut self, error: &wasmtime::Error) {
        let Some(handle) = self.handle.upgrade() else {
            return;
        };
        let lost = handle.queued_in_component() + self.since_snapshot;
        tracing::error!(error = %error, events = lost, "telemetry component failed; it will be restarted");
        handle.dropped.fetch_add(lost as u64, Ordering::Relaxed);
        handle.set_snapshot(None);
        self.since_snapshot = 0;
        self.live = None;
    }
}
