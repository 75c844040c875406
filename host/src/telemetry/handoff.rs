//! The hand-off between callers and the worker: an unbounded channel of commands whose events
//! are bounded, in number and in bytes, by two semaphores. Recording takes one permit per
//! event and one per byte without waiting, and the permits travel with the events until the
//! component has them; when there is no room (the component is stalled, or a caller hands over
//! too much at once) the events are refused, and the caller counts them as dropped.

use std::sync::Arc;
use std::time::Duration;

use agent_telemetry_contract::retry::LONGEST_DEADLINE;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;

use crate::runtime::bindings::recorder::{Event, FlushReport, StatusReport};

/// An absolute deadline `deadline` from now, "no deadline" (`Duration::MAX`) being one day.
pub(super) fn until(deadline: Duration) -> Instant {
    Instant::now() + deadline.min(LONGEST_DEADLINE)
}

/// The room a command's events take in the hand-off, given back when it is dropped.
pub(super) struct Room {
    _events: OwnedSemaphorePermit,
    _bytes: OwnedSemaphorePermit,
}

pub(super) enum Command {
    /// Events, with the room they take in the hand-off.
    Record(Vec<Event>, Room),
    Flush {
        until: Instant,
        reply: oneshot::Sender<FlushReport>,
    },
    Status(oneshot::Sender<Option<StatusReport>>),
    /// Flush, move what is left to the spool, reply, and end.
    Shutdown {
        until: Instant,
        reply: oneshot::Sender<FlushReport>,
    },
}

pub(super) struct Handoff {
    tx: mpsc::UnboundedSender<Command>,
    events: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    capacity: usize,
}

impl Handoff {
    /// A hand-off for at most `capacity` events and `capacity_bytes` bytes of them at once,
    /// and the worker's end of it.
    pub fn new(
        capacity: usize,
        capacity_bytes: usize,
    ) -> (Handoff, mpsc::UnboundedReceiver<Command>) {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        let capacity_bytes = capacity_bytes.clamp(1, Semaphore::MAX_PERMITS);
        let (tx, rx) = mpsc::unbounded_channel();
        let handoff = Handoff {
            tx,
            events: Arc::new(Semaphore::new(capacity)),
            bytes: Arc::new(Semaphore::new(capacity_bytes)),
            capacity,
        };
        (handoff, rx)
    }

    /// Hands `events` over without waiting; `Err` with their number when there is no room,
    /// or no worker to take them.
    pub fn record(&self, events: Vec<Event>) -> Result<(), usize> {
        let n = events.len();
        let bytes: usize = events
            .iter()
            .map(event_bytes)
            .fold(0, usize::saturating_add);
        let take = |semaphore: &Arc<Semaphore>, amount: usize| {
            u32::try_from(amount)
                .ok()
                .and_then(|amount| semaphore.clone().try_acquire_many_owned(amount).ok())
        };
        let room = match (take(&self.events, n), take(&self.bytes, bytes)) {
            (Some(events), Some(bytes)) => Room {
                _events: events,
                _bytes: bytes,
            },
            _ => return Err(n),
        };
        self.tx.send(Command::Record(events, room)).map_err(|_| n)
    }

    /// Sends a command; false when the worker is gone.
    pub fn send(&self, command: Command) -> bool {
        self.tx.send(command).is_ok()
    }

    /// Events handed over and not yet taken by the component.
    pub fn in_flight(&self) -> usize {
        self.capacity - self.events.available_permits()
    }
}

/// What an event takes in memory, about: its own size and its strings'.
fn event_bytes(event: &Event) -> usize {
    let s = |v: &String| v.len();
    let o = |v: &Option<String>| v.as_ref().map_or(0, String::len);
    let list = |v: &Vec<String>| {
        v.iter()
            .map(|s| s.len() + size_of::<String>())
            .sum::<usize>()
    };
    size_of::<Event>()
        + match event {
            Event::Command(c) => s(&c.action) + list(&c.flags),
            Event::ToolCall(t) => s(&t.tool) + o(&t.session_id) + o(&t.agent),
            Event::TokenUsage(t) => s(&t.model) + o(&t.session_id) + o(&t.agent),
            Event::SessionStart(e) => s(&e.session_id) + o(&e.agent) + o(&e.task_id),
            Event::SessionEnd(e) => s(&e.session_id) + o(&e.agent) + o(&e.task_id),
            Event::SessionCost(e) => s(&e.session_id) + o(&e.agent) + o(&e.model),
            Event::SessionFailure(e) => s(&e.session_id) + o(&e.agent) + o(&e.provider),
            Event::Server(_) => 0,
            Event::AgentRegistered(a) => s(&a.agent) + o(&a.role) + list(&a.capabilities),
            Event::Task(t) => s(&t.task_id) + o(&t.agent) + o(&t.source) + list(&t.tags),
            Event::TaskSessionCompleted(t) => {
                s(&t.task_id) + o(&t.agent) + o(&t.provider) + o(&t.harness) + o(&t.model)
            }
            Event::Workflow(w) => s(&w.workflow_id) + o(&w.source) + o(&w.trigger),
            Event::Schedule(e) => o(&e.schedule_type),
            Event::Compaction(c) => o(&c.session_id) + o(&c.agent),
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::recorder::{Server, ServerState};

    fn events(n: usize) -> Vec<Event> {
        let server = Event::Server(Server {
            state: ServerState::Started,
            uptime_ms: None,
            sessions_processed: None,
        });
        vec![server; n]
    }

    #[test]
    fn events_beyond_the_capacity_are_refused_until_the_worker_takes_some() {
        let (handoff, mut rx) = Handoff::new(10, 1 << 20);
        assert_eq!(handoff.record(events(6)), Ok(()));
        assert_eq!(handoff.record(events(5)), Err(5), "6 + 5 is over 10");
        assert_eq!(handoff.record(events(4)), Ok(()));
        assert_eq!(handoff.in_flight(), 10);
        // The worker takes the first command: its permits come back with its events.
        let Ok(Command::Record(taken, permit)) = rx.try_recv() else {
            panic!("a record command");
        };
        assert_eq!(taken.len(), 6);
        drop(permit);
        assert_eq!(handoff.in_flight(), 4);
        assert_eq!(handoff.record(events(6)), Ok(()));
        drop(rx);
        assert_eq!(handoff.record(events(1)), Err(1), "no worker to take them");
    }

    #[test]
    fn events_beyond_the_byte_bound_are_refused_however_few() {
        let big = |n: usize| {
            Event::AgentRegistered(crate::runtime::bindings::recorder::AgentRegistered {
                agent: "x".repeat(n),
                role: None,
                capabilities: Vec::new(),
                is_reconnect: false,
            })
        };
        let (handoff, _rx) = Handoff::new(1000, 64 << 10);
        assert_eq!(
            handoff.record(vec![big(1 << 20)]),
            Err(1),
            "one event of a MiB"
        );
        assert_eq!(handoff.record(vec![big(1000); 10]), Ok(()));
        assert_eq!(
            handoff.record(vec![big(1000); 100]),
            Err(100),
            "100 KB is over 64 KiB"
        );
    }
}
