//! The [`Telemetry`] handle: starting telemetry, recording, flushing and shutting down.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use agent_telemetry_contract::config as config_defaults;
use agent_telemetry_contract::retry::LONGEST_DEADLINE;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

/// How long uploads of counts may take when they are sent beside a running program.
const UPLOAD_DEADLINE: Duration = Duration::from_secs(30);
/// How often a long-running program looks for periods that are over.
const UPLOAD_EVERY: Duration = Duration::from_secs(3600);

use super::handoff::{Command, Handoff, until};
use super::worker::{self, Worker};
use crate::agent::Recorder;
use crate::delivery::counts::{CountsBook, Uploader};
use crate::delivery::sender::{SpoolSender, nothing_flushed};
use crate::delivery::spool::{SPOOL_DIR, Spool};
use crate::egress::ledger::LedgerEntry;
use crate::egress::ledger::{LEDGER_FILE, Ledger};
use crate::egress::policy::{AllowedEndpoint, EgressCounters, EgressPolicy};
use crate::error::Error;
use crate::otel::Dropped;
use crate::runtime::TelemetryRuntime;
use crate::runtime::bindings::recorder::{Event, FlushReport, StatusReport};
use crate::runtime::supervisor::{InstanceStats, Supervised};
use crate::settings::{Mode, TelemetrySettings};
use crate::trust::consent::Consent;
use crate::trust::identity::Identity;

/// A cheap, cloneable handle; all clones feed the same component instance.
#[derive(Clone)]
pub struct Telemetry {
    pub(super) consent: Consent,
    pub(super) identity: Option<Identity>,
    pub(super) endpoint: Option<String>,
    pub(super) egress: Arc<EgressCounters>,
    pub(super) ledger: Option<Arc<Ledger>>,
    pub(super) spool: Option<Arc<Spool>>,
    /// Where debug mode writes; `None` when requests are really sent.
    pub(super) debug_log: Option<Arc<PathBuf>>,
    pub(super) worker: Option<Arc<WorkerHandle>>,
    /// Counts-only mode's counters, and how their uploads are sent.
    pub(super) counts: Option<(Arc<CountsBook>, Option<Arc<Uploader>>)>,
    /// Where these settings keep state (identity, choice, debug log): refused to agents.
    pub(super) state_dirs: Arc<[PathBuf]>,
}

/// The caller's end of one worker.
pub(super) struct WorkerHandle {
    pub(super) handoff: Handoff,
    pub(super) stats: Arc<InstanceStats>,
    /// Set by `shutdown`: a background delivery in progress gives way at once.
    stopping: watch::Sender<bool>,
    /// What the OpenTelemetry mapping dropped: in all, and since the ledger last noted it.
    pub(super) inbound: std::sync::Mutex<Inbound>,
}

/// See [`WorkerHandle::inbound`].
#[derive(Default)]
pub(super) struct Inbound {
    pub(super) total: Dropped,
    unnoted: Dropped,
}

impl Telemetry {
    /// Starts telemetry with the process-wide runtime (the embedded component). Must be
    /// called within a tokio runtime. When consent is off, nothing is created: no identity,
    /// no component, and every call is a no-op. It returns at once: the component is loaded
    /// (from the code cache, or compiled) in the background, and what is recorded meanwhile
    /// waits in the bounded hand-off.
    pub async fn start(settings: TelemetrySettings) -> Result<Telemetry, Error> {
        Telemetry::launch(None, settings)
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
            counts: None,
            worker: None,
            state_dirs: Arc::new([]),
        }
    }

    /// [`start`](Self::start) with a runtime of the caller's (another build of the component,
    /// say).
    pub async fn start_with(
        runtime: Arc<TelemetryRuntime>,
        settings: TelemetrySettings,
    ) -> Result<Telemetry, Error> {
        Telemetry::launch(Some(runtime), settings)
    }

    /// Sets up everything but the component, and a worker that gets the component (from
    /// `runtime`, else the shared runtime) before it takes its first command.
    fn launch(
        runtime: Option<Arc<TelemetryRuntime>>,
        settings: TelemetrySettings,
    ) -> Result<Telemetry, Error> {
        let consent = settings.decision();
        let (true, Some(url)) = (consent.enabled, &settings.endpoint) else {
            // After `telemetry off`, what this program had spooled is never sent.
            if let Some(dir) = settings
                .identity_dir
                .as_ref()
                .filter(|_| settings.chose_off())
            {
                let discarded =
                    Spool::new(dir.join(SPOOL_DIR), settings.spool_limits).discard_all();
                if discarded > 0 {
                    tracing::info!(
                        events = discarded,
                        "telemetry is off: discarded what waited in the spool"
                    );
                }
            }
            return Ok(Telemetry {
                state_dirs: settings.state_dirs().into(),
                ..Telemetry::disabled(consent)
            });
        };
        let endpoint = Arc::new(AllowedEndpoint::parse(url)?);
        settings.check()?;
        let identity = Identity::for_run(
            settings.identity_dir.as_deref(),
            settings.installation_id.as_deref(),
            settings.passing(),
        );
        let egress = Arc::new(EgressCounters::default());
        let ledger = Ledger::open(
            identity.dir.as_ref().map(|d| d.join(LEDGER_FILE)),
            settings.ledger_max_bytes,
        );
        // Debug mode captures every request, in the ledger (kept in memory too) and, where
        // there is a private place for it, in the debug log.
        let debug_log = settings
            .debug
            .then(|| Arc::new(settings.debug_log_path().unwrap_or_default()));
        // Debug mode leaves the spool alone: it must neither send what real runs left nor
        // leave anything a real run would send.
        let spool = identity
            .dir
            .as_ref()
            .filter(|_| !settings.debug)
            .map(|d| Arc::new(Spool::new(d.join(SPOOL_DIR), settings.spool_limits)));
        if settings.show_notice {
            crate::trust::privacy::show_notice_once(
                identity.dir.as_deref(),
                &settings.notice_words,
                &settings.product,
                url,
                debug_log.as_deref().map(|p| p.as_path()),
            );
        }
        let mut policy = EgressPolicy::new(
            endpoint,
            settings.request_timeout,
            egress.clone(),
            ledger.clone(),
            debug_log.clone(),
            settings.format,
        );
        // Counts-only mode: batches are folded here, kept in the identity directory (in memory
        // without one, or in debug mode, which must leave nothing a real run would send).
        let mode = settings.effective_mode();
        let counts = (mode == Mode::Aggregate).then(|| {
            let dir = identity.dir.clone().filter(|_| !settings.debug);
            let book = Arc::new(CountsBook::new(
                dir,
                settings.counts_period,
                settings.clock.clone(),
            ));
            // Uploads are this project's document, for a native endpoint (`collect`) only: an
            // endpoint of another format could take one and store nothing.
            let native = settings.format == agent_telemetry_contract::config::Format::Native;
            if !native {
                tracing::warn!(
                    format = settings.format.as_str(),
                    "counts-only mode uploads to a native endpoint only; with this format the counts are kept on this machine and not sent"
                );
            }
            let uploader = native.then(|| {
                Arc::new(Uploader {
                    url: url.clone(),
                    headers: settings.headers.0.clone(),
                    timeout: settings.request_timeout,
                    ledger: ledger.clone(),
                    debug_log: debug_log.clone(),
                })
            });
            (book, uploader)
        });
        if let Some((book, _)) = &counts {
            policy = policy.folding_into(book.clone());
        }
        let clock = settings.clock.clone();
        let stats = Arc::new(InstanceStats::default());
        let config = settings.config_vars(&identity, mode);
        let (handoff, commands) =
            Handoff::new(settings.handoff_capacity, settings.handoff_max_bytes);
        let stopping = watch::Sender::new(false);
        if let Some((book, Some(uploader))) = counts.clone().filter(|(book, _)| book.kept()) {
            // Periods that ended since the last run are sent now, beside the agent, and then
            // every hour for as long as the program runs.
            let mut stop = stopping.subscribe();
            tokio::spawn(async move {
                loop {
                    book.send_due(&uploader, false, UPLOAD_DEADLINE).await;
                    tokio::select! {
                        _ = tokio::time::sleep(UPLOAD_EVERY) => {}
                        _ = stop.wait_for(|stopping| *stopping) => break,
                    }
                }
            });
        }
        let sender = spool
            .clone()
            .map(|spool| SpoolSender::new(spool, stopping.subscribe(), settings.request_timeout));
        let (timeout, interval) = (settings.request_timeout, settings.flush_interval);
        let batch_max = settings.batch_max_events.max(1) as usize;
        // The bound the component applies: the configured one, or its default when that is
        // out of range (the component reports it and keeps the default).
        let queue_max = Some(settings.queue_max_events as usize)
            .filter(|n| config_defaults::QUEUE_MAX_EVENTS_RANGE.contains(n))
            .unwrap_or(config_defaults::DEFAULT_QUEUE_MAX_EVENTS);
        let worker_stats = stats.clone();
        let notes = (ledger.clone(), url.to_string());
        tokio::spawn(async move {
            let instance = async {
                let runtime = match runtime {
                    Some(runtime) => runtime,
                    // Loading is CPU work (reading or compiling code): off the async threads.
                    None => tokio::task::spawn_blocking(TelemetryRuntime::shared).await??,
                };
                anyhow::Ok(
                    Supervised::start(runtime, config, policy, clock, worker_stats.clone()).await?,
                )
            };
            match instance.await {
                Ok(instance) => {
                    Worker::new(instance, sender, timeout, (batch_max, queue_max), notes)
                        .run(commands, interval)
                        .await
                }
                Err(error) => worker::without_component(&error, commands, &worker_stats).await,
            }
        });
        Ok(Telemetry {
            consent,
            state_dirs: settings.state_dirs().into(),
            endpoint: settings.endpoint,
            identity: Some(identity),
            egress,
            ledger: Some(ledger),
            spool,
            debug_log,
            counts,
            worker: Some(Arc::new(WorkerHandle {
                handoff,
                stats,
                stopping,
                inbound: Default::default(),
            })),
        })
    }

    /// Whether this handle records: consent was given, an endpoint set, and a worker started.
    pub fn is_enabled(&self) -> bool {
        self.worker.is_some()
    }

    /// Records one event. Returns at once: the event is handed to the worker, or, when the
    /// hand-off is full (the component is stalled), dropped and counted; it never waits on
    /// the component or the network.
    pub fn record(&self, event: Event) {
        self.record_many(vec![event]);
    }

    /// Records several events at once, as [`record`](Self::record) does one.
    pub fn record_many(&self, events: Vec<Event>) {
        let Some(worker) = &self.worker else { return };
        if events.is_empty() {
            return;
        }
        if let Err(n) = worker.handoff.record(events) {
            worker.stats.add_dropped(n as u64);
        }
    }

    /// Counts what an OpenTelemetry door's mapping dropped (see [`crate::otel`]): shown by
    /// [`status`](Self::status), and noted in the egress ledger at the next flush.
    pub fn inbound_dropped(&self, dropped: &Dropped) {
        let Some(worker) = &self.worker else { return };
        let mut inbound = worker.inbound.lock().unwrap_or_else(|e| e.into_inner());
        inbound.total.add(dropped);
        inbound.unnoted.add(dropped);
    }

    /// Notes in the ledger what the OpenTelemetry mapping dropped since the last note.
    fn note_inbound(&self) {
        let (Some(worker), Some(ledger)) = (&self.worker, &self.ledger) else {
            return;
        };
        let unnoted = std::mem::take(
            &mut worker
                .inbound
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unnoted,
        );
        if unnoted.total() > 0 {
            ledger.append(LedgerEntry::inbound_dropped(
                self.endpoint.clone().unwrap_or_default(),
                &unnoted,
            ));
        }
    }

    /// Sends what is queued; returns within `deadline` whatever the collector does.
    pub async fn flush(&self, deadline: Duration) -> FlushReport {
        self.note_inbound();
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
        command: impl FnOnce(Instant, oneshot::Sender<FlushReport>) -> Command,
    ) -> Result<FlushReport, FlushReport> {
        let Some(worker) = &self.worker else {
            return Ok(nothing_flushed());
        };
        let deadline = deadline.min(LONGEST_DEADLINE);
        let (reply, answer) = oneshot::channel();
        if !worker.handoff.send(command(until(deadline), reply)) {
            return Ok(nothing_flushed());
        }
        match tokio::time::timeout(deadline, answer).await {
            Ok(Ok(report)) => Ok(report),
            _ => Err(self.pending_report()),
        }
    }

    /// Flushes within `deadline` (what is not delivered stays in the spool, if there is one),
    /// then stops the worker. Returns within `deadline`. Other clones become no-ops.
    pub async fn shutdown(&self, deadline: Duration) -> FlushReport {
        // A background delivery in progress gives way; what it was sending stays spooled.
        if let Some(worker) = &self.worker {
            worker.stopping.send_replace(true);
        }
        self.note_inbound();
        let started = Instant::now();
        let report = self
            .ask(deadline, |until, reply| Command::Shutdown { until, reply })
            .await
            .unwrap_or_else(|pending| {
                tracing::warn!(
                    ?deadline,
                    "telemetry did not finish within the deadline; events still in the component when the process ends are lost"
                );
                pending
            });
        if let Some((book, Some(uploader))) = &self.counts {
            // Counts that cannot outlive the process (no identity directory) are sent now,
            // the day unfinished; kept ones only for the periods that are over.
            let left = deadline.saturating_sub(started.elapsed());
            book.send_due(uploader, !book.kept(), left).await;
        }
        report
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
            left_out: 0,
        };
        let Some(worker) = &self.worker else {
            return blank;
        };
        let mut report = worker.stats.snapshot().unwrap_or(blank);
        report.dropped = report
            .dropped
            .saturating_add(worker.stats.dropped.load(Ordering::Relaxed));
        report
    }

    /// What is known to be pending without asking the worker: handed off, in the component
    /// at the last snapshot, and in the spool.
    pub(super) fn pending_report(&self) -> FlushReport {
        let Some(worker) = &self.worker else {
            return nothing_flushed();
        };
        let pending = (worker.handoff.in_flight() as u64)
            .saturating_add(worker.stats.queued_in_component())
            .saturating_add(self.spool.as_ref().map_or(0, |s| s.pending_events()));
        FlushReport {
            pending: u32::try_from(pending).unwrap_or(u32::MAX),
            ..nothing_flushed()
        }
    }
}

/// An agent's `recorder` import, served by this handle.
impl Recorder for Telemetry {
    fn record(&self, event: Event) {
        Telemetry::record(self, event);
    }

    fn record_many(&self, events: Vec<Event>) {
        Telemetry::record_many(self, events);
    }

    fn dropped(&self, events: u64) {
        if let Some(worker) = &self.worker {
            worker.stats.add_dropped(events);
        }
    }

    fn inbound_dropped(&self, dropped: &crate::otel::Dropped) {
        Telemetry::inbound_dropped(self, dropped);
    }

    fn flush(
        &self,
        deadline: Duration,
    ) -> std::pin::Pin<Box<dyn Future<Output = FlushReport> + Send + '_>> {
        Box::pin(Telemetry::flush(self, deadline))
    }

    fn status(&self) -> StatusReport {
        self.component_status()
    }

    fn state_dirs(&self) -> Vec<PathBuf> {
        self.state_dirs.to_vec()
    }
}
