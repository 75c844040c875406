//! The hand-off between callers and the worker: an unbounded channel of commands whose events
//! are bounded by a semaphore. Recording takes one permit per event without waiting, and the
//! permits travel with the events until the component has them; when none are left (the
//! component is stalled) the events are refused, and the caller counts them as dropped.

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

pub(super) enum Command {
    /// Events, with the permits they hold in the hand-off.
    Record(Vec<Event>, OwnedSemaphorePermit),
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
    permits: Arc<Semaphore>,
    capacity: usize,
}

impl Handoff {
    /// A hand-off for at most `capacity` events at once, and the worker's end of it.
    pub fn new(capacity: usize) -> (Handoff, mpsc::UnboundedReceiver<Command>) {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        let (tx, rx) = mpsc::unbounded_channel();
        let handoff = Handoff {
            tx,
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
        };
        (handoff, rx)
    }

    /// Hands `events` over without waiting; `Err` with their number when there is no room,
    /// or no worker to take them.
    pub fn record(&self, events: Vec<Event>) -> Result<(), usize> {
        let n = events.len();
        let permit = u32::try_from(n)
            .ok()
            .and_then(|n| self.permits.clone().try_acquire_many_owned(n).ok())
            .ok_or(n)?;
        self.tx.send(Command::Record(events, permit)).map_err(|_| n)
    }

    /// Sends a command; false when the worker is gone.
    pub fn send(&self, command: Command) -> bool {
        self.tx.send(command).is_ok()
    }

    /// Events handed over and not yet taken by the component.
    pub fn in_flight(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::recorder::{Server, ServerState};

    fn events(n: usize) -> Vec<Event> {
        let server = Event::Server(Server {
            state: ServerState::Started,
        });
        vec![server; n]
    }

    #[test]
    fn events_beyond_the_capacity_are_refused_until_the_worker_takes_some() {
        let (handoff, mut rx) = Handoff::new(10);
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
}
