//! [`Telemetry`]: the handle a program (or an agent's `recorder` import) records through.
//!
//! Never blocking the caller is the design: recording hands events to a worker task that owns
//! the component's store, and returns at once. Only `flush` and `status` wait, and `flush`
//! never longer than its deadline. If the hand-off is full (the component is stalled), events
//! are dropped and counted rather than making the caller wait. If the component traps, the
//! worker logs it and starts a fresh instance; the caller never sees the trap.
//!
//! With an identity directory, delivery goes through the spool (`spool.rs`): a flush first
//! moves every batch the component made to disk, then sends from there, retrying with backoff
//! (`agent_telemetry_guest::retry`, the component's own rules) while the deadline allows. So
//! whatever has left the component survives a dead collector, a crash or the end of the
//! process, and is sent by the next flush, the next run or `agent-telemetry flush`. Without
//! one, the component's own flush sends and retries, and what is left at stop is counted as
//! dropped. Every call into the component has a CPU budget (epoch deadline).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::{mpsc, oneshot};
use wasmtime::Store;

use crate::bindings::RecorderHost;
use crate::bindings::delivery::{DeliveryOutcome, DeliveryReport};
use crate::bindings::recorder::{Event, FlushReport, StatusReport};
use crate::consent::Consent;
use crate::http_policy::{AllowedEndpoint, EgressCounters, EgressPolicy};
use crate::identity::Identity;
use crate::ledger::{LEDGER_FILE, Ledger, LedgerEntry};
use crate::runtime::{TelemetryRuntime, TelemetryState, set_cpu_budget};
use crate::settings::TelemetrySettings;
use crate::spool::{SPOOL_DIR, Spool};

/// How stale the status snapshot may get while events are being recorded.
const SNAPSHOT_INTERVAL: Duration = Duration::from_millis(50);

/// Most events handed to the component in one `record-many` call.
const COALESCE_MAX_EVENTS: usize = 4096;

/// CPU budget of a call that does no I/O (record, status, take-undelivered, note-dropped);
/// calls that send get their deadline on top of it.
const CALL_BUDGET: Duration = Duration::from_secs(2);

/// The least time worth starting a request with.
const MIN_ATTEMPT: Duration = Duration::from_millis(50);

/// Tries per flush before the rest waits for a later flush.
const ATTEMPTS_PER_FLUSH: u32 = 4;

/// The longest deadline taken as given: "no deadline" (`Duration::MAX`) means this.
const LONGEST_DEADLINE: Duration = Duration::from_secs(86_400);

fn until(deadline: Duration) -> tokio::time::Instant {
    tokio::time::Instant::now() + deadline.min(LONGEST_DEADLINE)
}

/// A cheap, cloneable handle; all clones feed the same component instance.
#[derive(Clone)]
pub struct Telemetry {
    consent: Consent,
    identity: Option<Identity>,
    endpoint: Option<String>,
    egress: Arc<EgressCounters>,
    ledger: Option<Arc<Ledger>>,
    spool: Option<Arc<Spool>>,
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
    /// Instances started again after a trap or an overrun.
    restarts: AtomicU64,
    /// Set by `shutdown`: a background delivery in progress gives way at once.
    stopping: tokio::sync::watch::Sender<bool>,
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
        until: tokio::time::Instant,
        reply: oneshot::Sender<FlushReport>,
    },
    Status(oneshot::Sender<Option<StatusReport>>),
    /// Flush, move what is left to the spool, reply, and end.
    Shutdown {
        until: tokio::time::Instant,
        reply: oneshot::Sender<FlushReport>,
    },
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
    /// The spool directory, if the identity is stored.
    pub spool: Option<std::path::PathBuf>,
    /// Events waiting in the spool (from any process).
    pub spooled_pending: u64,
    /// Events this handle moved to the spool, delivered from it, dropped from it for its
    /// bounds, refused by the collector (a 4xx), and spool files set aside as unreadable.
    pub spooled: u64,
    pub delivered_from_spool: u64,
    pub dropped_from_spool: u64,
    pub refused_from_spool: u64,
    pub bad_spool_files: u64,
    /// Component instances started again after a trap or an overrun.
    pub restarts: u64,
}

impl Telemetry {
    /// Starts telemetry with the process-wide runtime (the embedded component). Must be
    /// called within a tokio runtime. When consent is off, nothing is created: no identity,
    /// no component, and every call is a no-op.
    pub async fn start(settings: TelemetrySettings) -> Result<Telemetry> {
        let consent = settings.decision();
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
            spool: None,
            debug_log: None,
            worker: None,
        }
    }

    pub async fn start_with(
        runtime: Arc<TelemetryRuntime>,
        settings: TelemetrySettings,
    ) -> Result<Telemetry> {
        let consent = settings.decision();
        let (true, Some(url)) = (consent.enabled, &settings.endpoint) else {
            return Ok(Telemetry::disabled(consent));
        };
        let endpoint = Arc::new(AllowedEndpoint::parse(url)?);
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
        // Debug mode leaves the spool alone: it must neither send what real runs left nor
        // leave anything a real run would send.
        let spool = identity
            .dir
            .as_ref()
            .filter(|_| !settings.debug)
            .map(|d| Arc::new(Spool::new(d.join(SPOOL_DIR), settings.spool_limits)));
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
            restarts: AtomicU64::new(0),
            stopping: tokio::sync::watch::Sender::new(false),
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
            spool: spool.clone(),
            retry_at: None,
            retry_at_asked: false,
            stopping: handle.stopping.subscribe(),
            failures: 0,
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
            spool,
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
        // Out of time, or the worker is gone: what was handed off, queued or spooled is pending.
        self.ask(deadline, |until, reply| Command::Flush { until, reply })
            .await
            .unwrap_or_else(|pending| pending)
    }

    /// Sends the command `command` builds (from its absolute deadline and its reply channel)
    /// and waits at most `deadline`: the answer (empty when there is no worker), or, out of
    /// time, what is known to be pending.
    async fn ask(
        &self,
        deadline: Duration,
        command: impl FnOnce(tokio::time::Instant, oneshot::Sender<FlushReport>) -> Command,
    ) -> Result<FlushReport, FlushReport> {
        let Some(worker) = &self.worker else {
            return Ok(nothing_flushed());
        };
        let deadline = deadline.min(LONGEST_DEADLINE);
        let (reply, answer) = oneshot::channel();
        if worker.tx.send(command(until(deadline), reply)).is_err() {
            return Ok(nothing_flushed());
        }
        match tokio::time::timeout(deadline, answer).await {
            Ok(Ok(report)) => Ok(report),
            _ => Err(self.pending_report()),
        }
    }

    /// What is known to be pending without asking the worker: handed off, in the component
    /// at the last snapshot, and in the spool.
    fn pending_report(&self) -> FlushReport {
        let Some(worker) = &self.worker else {
            return nothing_flushed();
        };
        let pending = (worker.in_flight.load(Ordering::Acquire) + worker.queued_in_component())
            as u64
            + self.spool.as_ref().map_or(0, |s| s.pending_events());
        FlushReport {
            pending: u32::try_from(pending).unwrap_or(u32::MAX),
            ..nothing_flushed()
        }
    }

    /// Flushes within `deadline` (what is not delivered stays in the spool, if there is one),
    /// then stops the worker. Returns within `deadline`. Other clones become no-ops.
    pub async fn shutdown(&self, deadline: Duration) -> FlushReport {
        // A background delivery in progress gives way; what it was sending stays spooled.
        if let Some(worker) = &self.worker {
            worker.stopping.send_replace(true);
        }
        self.ask(deadline, |until, reply| Command::Shutdown { until, reply })
            .await
            .unwrap_or_else(|pending| {
                tracing::warn!(
                    ?deadline,
                    "telemetry did not finish within the deadline; events still in the component when the process ends are lost"
                );
                pending
            })
    }

    /// [`shutdown`](Self::shutdown) without waiting: the flush goes on in the background and
    /// its report arrives through the handle. For hosts that return the agent's result first.
    pub fn shutdown_in_background(
        &self,
        deadline: Duration,
    ) -> tokio::task::JoinHandle<FlushReport> {
        let telemetry = self.clone();
        tokio::spawn(async move { telemetry.shutdown(deadline).await })
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
            spool: self.spool.as_ref().map(|s| s.dir().to_path_buf()),
            spooled_pending: self.spool.as_ref().map_or(0, |s| s.pending_events()),
            spooled: spool_count(&self.spool, |c| &c.spooled_events),
            delivered_from_spool: spool_count(&self.spool, |c| &c.delivered_events),
            dropped_from_spool: spool_count(&self.spool, |c| &c.dropped_events),
            refused_from_spool: spool_count(&self.spool, |c| &c.refused_events),
            bad_spool_files: spool_count(&self.spool, |c| &c.bad_files),
            restarts: self
                .worker
                .as_ref()
                .map_or(0, |w| w.restarts.load(Ordering::Relaxed)),
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
            rejected: 0,
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
        rejected: 0,
        failed: 0,
        pending: 0,
        retry_after_ms: 0,
    }
}

fn spool_count(
    spool: &Option<Arc<Spool>>,
    counter: impl Fn(&crate::spool::SpoolCounters) -> &AtomicU64,
) -> u64 {
    spool
        .as_ref()
        .map_or(0, |s| counter(&s.counters).load(Ordering::Relaxed))
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
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
    spool: Option<Arc<Spool>>,
    /// No request before this (the collector's `Retry-After`, or the backoff).
    retry_at: Option<tokio::time::Instant>,
    /// Whether `retry_at` is the collector's own `Retry-After` (always honoured), rather than
    /// this worker's backoff (which the final flush at shutdown may skip for one last try).
    retry_at_asked: bool,
    /// True once `shutdown` was called: background deliveries give way.
    stopping: tokio::sync::watch::Receiver<bool>,
    /// Failed deliveries since the last success: the backoff's exponent.
    failures: u32,
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
        // After a stall, one flush, not a burst of them.
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // What earlier runs left in the spool goes first, in the background of this run.
        if self.spool.as_ref().is_some_and(|s| s.pending_events() > 0) {
            self.flush(until(self.timeout), true).await;
        }
        loop {
            let received = tokio::select! {
                command = rx.recv() => command,
                _ = tick.tick() => Some(Command::Flush { until: until(self.timeout), reply: oneshot::channel().0 }),
            };
            let Some(mut command) = received else {
                // Every handle is gone.
                self.stop().await;
                break;
            };
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
        // Anything sent after the shutdown is counted, never silently lost; later sends fail
        // and are counted by the sender.
        rx.close();
        while let Ok(command) = rx.try_recv() {
            if let (Command::Record(events), Some(handle)) = (command, self.handle.upgrade()) {
                handle.in_flight.fetch_sub(events.len(), Ordering::AcqRel);
                handle
                    .dropped
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// At stop, whatever the component still holds goes to the spool; without one it cannot
    /// be delivered any more: say so and count it, rather than lose it silently.
    async fn stop(&mut self) {
        self.move_to_spool().await;
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
        let report = self.status().await;
        // Only an answer accounts for what was handed over since; after a failure `lost`
        // has counted it.
        if report.is_some() {
            self.since_snapshot = 0;
        }
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
            self.flush(until(self.timeout), true).await;
        }
        next
    }

    /// Runs one command, refreshing the snapshot where it changed the component's state; false
    /// when the worker should end (`stop` takes the last snapshot).
    async fn handle(&mut self, command: Command) -> bool {
        match command {
            Command::Record(events) => self.record(events).await,
            Command::Flush { until, reply } => {
                let report = self.flush(until, true).await;
                self.refresh_snapshot().await;
                let _ = reply.send(report);
            }
            Command::Status(reply) => {
                let _ = reply.send(self.refresh_snapshot().await);
            }
            Command::Shutdown { until, reply } => {
                // Leave room to move what is left to the spool and answer in time.
                let left = until.saturating_duration_since(tokio::time::Instant::now());
                let reserve = (left / 10).min(Duration::from_millis(100));
                let mut report = self.flush(until - reserve, false).await;
                self.stop().await;
                report.pending = u32::try_from(self.pending()).unwrap_or(u32::MAX);
                let _ = reply.send(report);
                return false;
            }
        }
        true
    }

    /// Events not delivered yet: in the spool (from any process) and in the component.
    fn pending(&self) -> u64 {
        let spooled = self.spool.as_ref().map_or(0, |s| s.pending_events());
        let queued = self
            .handle
            .upgrade()
            .map_or(0, |h| h.queued_in_component() as u64);
        spooled + queued
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
                set_cpu_budget(store, CALL_BUDGET);
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

    /// Sends what is queued by `until`: through the spool when there is one. An
    /// `interruptible` flush gives way when `shutdown` is called (it is the worker's own, or
    /// one a caller waits for; the shutdown's own flush is not).
    async fn flush(&mut self, until: tokio::time::Instant, interruptible: bool) -> FlushReport {
        if self.spool.is_none() {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            return self.flush_in_component(left).await;
        }
        self.since_flush = 0;
        self.move_to_spool().await;
        let mut report = self.deliver_spool(until, interruptible).await;
        // Everything the component held is in the spool now.
        let spooled = self.spool.as_ref().map_or(0, |s| s.pending_events());
        report.pending = u32::try_from(spooled).unwrap_or(u32::MAX);
        report
    }

    /// Moves every batch the component holds to the spool (no network: fast).
    async fn move_to_spool(&mut self) {
        let Some(spool) = self.spool.clone() else {
            return;
        };
        let Some((store, bindings)) = self.live().await else {
            return;
        };
        set_cpu_budget(store, CALL_BUDGET);
        let taken = bindings
            .agent_telemetry_delivery()
            .call_take_undelivered(&mut *store)
            .await;
        let bodies = match taken {
            Ok(bodies) => bodies,
            Err(e) => {
                self.lost(&e);
                return;
            }
        };
        if bodies.is_empty() {
            return;
        }
        // The component holds nothing now.
        self.refresh_snapshot().await;
        let mut evicted = 0;
        for body in bodies {
            match spool.write(&body) {
                Ok(n) => evicted += n,
                Err(e) => {
                    // A full disk or a read-only directory must not cost what a healthy
                    // collector would take: send it directly, once.
                    tracing::error!(dir = %spool.dir().display(), error = %e, "cannot write to the spool; sending the batch directly");
                    evicted += self.deliver_unspooled(&body).await;
                }
            }
        }
        self.note_dropped(evicted).await;
    }

    /// One attempt to send a batch the spool could not take; returns the events lost.
    async fn deliver_unspooled(&mut self, body: &[u8]) -> u64 {
        let events = crate::spool::event_count(body).unwrap_or(0);
        match self.deliver(body, self.timeout, false).await {
            Some(report) if matches!(report.outcome, DeliveryOutcome::Delivered) => 0,
            _ => {
                tracing::error!(
                    events,
                    "a batch that could not be spooled was not delivered; dropped"
                );
                events
            }
        }
    }

    /// Tells the component about events the host dropped, for the next batch's envelope.
    async fn note_dropped(&mut self, events: u64) {
        if events == 0 {
            return;
        }
        // The component counts them (once); only if it cannot does the host.
        let noted = match self.live().await {
            Some((store, bindings)) => {
                set_cpu_budget(store, CALL_BUDGET);
                let count = u32::try_from(events).unwrap_or(u32::MAX);
                bindings
                    .agent_telemetry_delivery()
                    .call_note_dropped(&mut *store, count)
                    .await
            }
            None => Err(wasmtime::Error::msg("no telemetry instance")),
        };
        if let Err(e) = noted {
            if let Some(handle) = self.handle.upgrade() {
                handle.dropped.fetch_add(events, Ordering::Relaxed);
            }
            if self.live.is_some() {
                self.lost(&e);
            }
        }
    }

    /// Sends spooled batches, oldest first, until the spool is empty or `deadline` is near;
    /// a failure is retried after the backoff (or `Retry-After`) when that fits, else left
    /// for a later flush.
    async fn deliver_spool(
        &mut self,
        deadline: tokio::time::Instant,
        interruptible: bool,
    ) -> FlushReport {
        let mut report = nothing_flushed();
        let Some(spool) = self.spool.clone() else {
            return report;
        };
        let mut tries = 0;
        // Batches that failed in this flush: each counted once, however often retried.
        let mut failed = std::collections::HashSet::new();
        let mut stopping = self.stopping.clone();
        // The shutdown's flush (the only one that is not interruptible) makes one attempt
        // whatever this worker's own backoff says: the collector may be back, and there is no
        // later flush in this process. A `Retry-After` is honoured all the same.
        if !interruptible && !self.retry_at_asked {
            self.retry_at = None;
        }
        loop {
            let now = tokio::time::Instant::now();
            if let Some(at) = self.retry_at {
                if at + MIN_ATTEMPT > deadline {
                    report.retry_after_ms = millis(at.saturating_duration_since(now));
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = stopping.wait_for(|s| *s), if interruptible => break,
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left < MIN_ATTEMPT
                || tries >= ATTEMPTS_PER_FLUSH
                || (interruptible && *stopping.borrow())
            {
                break;
            }
            let Some(claimed) = spool.claim_next() else {
                break;
            };
            // An unsettled claim goes back to the spool when dropped.
            let Some(delivery) = self.deliver(&claimed.body, left, interruptible).await else {
                break;
            };
            let events = u32::try_from(claimed.events).unwrap_or(u32::MAX);
            match delivery.outcome {
                DeliveryOutcome::Delivered => {
                    spool.delivered(claimed);
                    report.sent += events;
                    self.retry_at = None;
                    self.retry_at_asked = false;
                    self.failures = 0;
                }
                DeliveryOutcome::Rejected => {
                    let n = claimed.events;
                    spool.discard(claimed);
                    report.rejected += events;
                    report.dropped += events;
                    self.note_dropped(n).await;
                }
                DeliveryOutcome::Failed => {
                    if failed.insert(claimed.id().to_path_buf()) {
                        report.failed += events;
                    }
                    spool.release(claimed);
                    tries += 1;
                    // The backoff grows across flushes until a batch gets through.
                    self.failures = self.failures.saturating_add(1);
                    self.retry_at_asked = delivery.retry_after_ms > 0;
                    let wait = match delivery.retry_after_ms {
                        0 => agent_telemetry_guest::retry::backoff(self.failures, random_u32()),
                        ms => Duration::from_millis(ms.into()),
                    };
                    self.retry_at = Some(tokio::time::Instant::now() + wait);
                    report.retry_after_ms = millis(wait);
                }
            }
        }
        report
    }

    /// One `deliver` call, bounded by `left` plus the CPU budget. An `interruptible` one is
    /// abandoned when `shutdown` is called: the instance holds no events while it delivers
    /// (they were all moved to the spool first), so it is simply replaced.
    async fn deliver(
        &mut self,
        body: &[u8],
        left: Duration,
        interruptible: bool,
    ) -> Option<DeliveryReport> {
        let mut stopping = self.stopping.clone();
        let (store, bindings) = self.live().await?;
        set_cpu_budget(store, left + CALL_BUDGET);
        let inner = left.saturating_sub((left / 10).min(Duration::from_millis(100)));
        let call =
            bindings
                .agent_telemetry_delivery()
                .call_deliver(&mut *store, body, millis(inner));
        let result = tokio::select! {
            result = tokio::time::timeout(left, call) => result,
            _ = stopping.wait_for(|s| *s), if interruptible => {
                self.live = None;
                return None;
            }
        };
        match result {
            Ok(Ok(report)) => Some(report),
            Ok(Err(e)) => {
                self.lost(&e);
                None
            }
            Err(_) => {
                self.lost(&wasmtime::Error::msg(format!(
                    "deliver overran its deadline of {left:?}"
                )));
                None
            }
        }
    }

    /// Without a spool: the component sends and retries itself.
    async fn flush_in_component(&mut self, deadline: Duration) -> FlushReport {
        // The component gets a little less than the caller's deadline, so its answer arrives
        // in time; if it still overruns, the host cuts the call off.
        let inner = deadline.saturating_sub((deadline / 10).min(Duration::from_millis(100)));
        let deadline_ms = millis(inner);
        self.since_flush = 0;
        let failed = nothing_flushed();
        let Some((store, bindings)) = self.live().await else {
            return failed;
        };
        set_cpu_budget(store, deadline + CALL_BUDGET);
        let call = bindings
            .agent_telemetry_recorder()
            .call_flush(store, deadline_ms);
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
        set_cpu_budget(store, CALL_BUDGET);
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
        // The instance is unusable whatever happens next.
        self.live = None;
        let Some(handle) = self.handle.upgrade() else {
            return;
        };
        let lost = handle.queued_in_component() + self.since_snapshot;
        tracing::error!(error = %error, events = lost, "telemetry component failed; it will be restarted");
        handle.dropped.fetch_add(lost as u64, Ordering::Relaxed);
        handle.restarts.fetch_add(1, Ordering::Relaxed);
        handle.set_snapshot(None);
        self.since_snapshot = 0;
    }
}

fn random_u32() -> u32 {
    let mut bytes = [0; 4];
    // Jitter only: a failing random source just means no jitter.
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes)
}
