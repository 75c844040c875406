//! The guards, and the list of those open in this thread that the panic hook ends.
//!
//! The events built here name only the fields they set; `..Default::default()` fills the rest,
//! also where today every field is named, so that a field the event catalogue adds needs
//! nothing here.
#![allow(clippy::needless_update)]

use std::cell::{Cell, RefCell};
use std::sync::Once;
use std::time::Instant;

use crate::events::{self as e, ErrorKind, Event, Outcome};
use crate::sink;

/// What an open guard will record when it ends.
enum Open {
    Session {
        id: String,
        agent: Option<String>,
        task_id: Option<String>,
        tasks_processed: Option<u32>,
    },
    Tool {
        tool: String,
        session_id: Option<String>,
        agent: Option<String>,
        started: Instant,
    },
}

impl Open {
    fn ended(self, outcome: Outcome, error: Option<ErrorKind>) -> Event {
        match self {
            Open::Session {
                id,
                agent,
                task_id,
                tasks_processed,
            } => Event::SessionEnd(e::SessionEnd {
                session_id: id,
                agent,
                task_id,
                outcome,
                error,
                tasks_processed,
                ..Default::default()
            }),
            Open::Tool {
                tool,
                session_id,
                agent,
                started,
            } => Event::ToolCall(e::ToolCall {
                tool,
                session_id,
                agent,
                duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                outcome,
                error,
                ..Default::default()
            }),
        }
    }
}

thread_local! {
    /// The guards open in this thread, oldest first, by slot.
    static OPEN: RefCell<Vec<(u64, Open)>> = const { RefCell::new(Vec::new()) };
    static NEXT_SLOT: Cell<u64> = const { Cell::new(0) };
}

fn open(what: Open) -> u64 {
    install_panic_hook();
    let slot = NEXT_SLOT.with(|n| {
        let slot = n.get();
        n.set(slot.wrapping_add(1));
        slot
    });
    OPEN.with(|open| open.borrow_mut().push((slot, what)));
    slot
}

/// Takes a guard off the list: `None` if it was ended already (by the panic hook).
fn close(slot: u64) -> Option<Open> {
    OPEN.with(|open| {
        let mut open = open.borrow_mut();
        let i = open.iter().rposition(|(s, _)| *s == slot)?;
        Some(open.remove(i).1)
    })
}

fn end(slot: u64, outcome: Outcome, error: Option<ErrorKind>) {
    if let Some(open) = close(slot) {
        sink::record(&[open.ended(outcome, error)]);
    }
}

fn install_panic_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            fail_open_guards();
            previous(info);
        }));
    });
}

/// Ends every guard open in this thread as failed, innermost first (the panic hook).
fn fail_open_guards() {
    let taken = OPEN.try_with(|open| match open.try_borrow_mut() {
        Ok(mut open) => std::mem::take(&mut *open),
        // The panic came from inside the kit, with the list in use: leave it.
        Err(_) => Vec::new(),
    });
    let events: Vec<Event> = taken
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|(_, open)| open.ended(Outcome::Failure, Some(ErrorKind::Internal)))
        .collect();
    sink::record(&events);
}

/// A guard's place in the list of open guards. Dropped with the guard still open (no outcome
/// given), it ends it as a failure.
struct Slot(u64);

impl Drop for Slot {
    fn drop(&mut self) {
        end(self.0, Outcome::Failure, None);
    }
}

/// The outcomes a guard ends with, the same for a session and a tool call.
macro_rules! endings {
    () => {
        /// Ends it as a success.
        pub fn succeed(self) {
            self.end(Outcome::Success, None);
        }

        /// Ends it as a failure, for the reason `error`.
        pub fn fail(self, error: ErrorKind) {
            self.end(Outcome::Failure, Some(error));
        }

        /// Ends it as cancelled.
        pub fn cancel(self) {
            self.end(Outcome::Cancelled, None);
        }

        /// Ends it with `outcome` and, for a failure, its `error`.
        pub fn end(self, outcome: Outcome, error: Option<ErrorKind>) {
            end(self.slot.0, outcome, error);
        }
    };
}

/// A session about to start: its agent and task are set before [`start`](Self::start).
#[must_use = "a session is recorded by `start`"]
pub struct SessionBuilder {
    id: String,
    agent: Option<String>,
    task_id: Option<String>,
}

impl SessionBuilder {
    /// The agent whose session it is.
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// The task the session works on.
    pub fn task(mut self, task_id: impl Into<String>) -> Self {
        self.task_id = Some(task_id.into());
        self
    }

    /// Records `session-start` and returns the guard that records its end.
    pub fn start(self) -> Session {
        sink::record(&[Event::SessionStart(e::SessionStart {
            session_id: self.id.clone(),
            agent: self.agent.clone(),
            task_id: self.task_id.clone(),
            ..Default::default()
        })]);
        let slot = open(Open::Session {
            id: self.id.clone(),
            agent: self.agent.clone(),
            task_id: self.task_id,
            tasks_processed: None,
        });
        Session {
            slot: Slot(slot),
            id: self.id,
            agent: self.agent,
        }
    }
}

/// A running session. It records `session-end` when ended with [`succeed`](Self::succeed),
/// [`fail`](Self::fail), [`cancel`](Self::cancel) or [`end`](Self::end); dropped without
/// one, or open when the agent panics, it ends as a failure. The component computes the
/// session's totals (duration, tool calls, tokens, cost) from the events between.
#[must_use = "dropping a session ends it as a failure"]
pub struct Session {
    slot: Slot,
    id: String,
    agent: Option<String>,
}

impl Session {
    /// A session to start, with its agent or task set first.
    pub fn builder(id: impl Into<String>) -> SessionBuilder {
        SessionBuilder {
            id: id.into(),
            agent: None,
            task_id: None,
        }
    }

    /// Records `session-start` for a session with no agent or task named.
    pub fn start(id: impl Into<String>) -> Session {
        Session::builder(id).start()
    }

    /// The session's id, as given (the component hashes it before it is sent).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A tool call in this session, timed from now.
    pub fn tool(&self, tool: impl Into<String>) -> ToolTimer {
        ToolTimer::open(tool.into(), Some(self.id.clone()), self.agent.clone())
    }

    /// Runs `call` as the tool call `tool` in this session: a success if it returns `Ok`, a
    /// failure (`error: tool`) if it returns `Err`, and one with `error: internal` if it
    /// panics.
    pub fn time<T, E>(
        &self,
        tool: impl Into<String>,
        call: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        self.tool(tool).time(call)
    }

    /// One model call's token use in this session, recorded by [`Tokens::record`].
    pub fn tokens(&self, model: impl Into<String>) -> Tokens {
        let mut tokens = Tokens::new(model);
        tokens.usage.session_id = Some(self.id.clone());
        tokens.usage.agent = self.agent.clone();
        tokens
    }

    /// How many tasks the session worked through, sent with its end.
    pub fn set_tasks_processed(&mut self, tasks: u32) {
        OPEN.with(|open| {
            let mut open = open.borrow_mut();
            if let Some((
                _,
                Open::Session {
                    tasks_processed, ..
                },
            )) = open.iter_mut().find(|(s, _)| *s == self.slot.0)
            {
                *tasks_processed = Some(tasks);
            }
        });
    }

    endings!();
}

/// A tool call being timed. It records `tool-call` with the time since it was made when
/// ended; dropped without an outcome, or open when the agent panics, it is a failure.
#[must_use = "dropping a tool timer records a failed call"]
pub struct ToolTimer {
    slot: Slot,
}

impl ToolTimer {
    /// A tool call outside any session, timed from now.
    pub fn start(tool: impl Into<String>) -> ToolTimer {
        ToolTimer::open(tool.into(), None, None)
    }

    fn open(tool: String, session_id: Option<String>, agent: Option<String>) -> ToolTimer {
        let slot = open(Open::Tool {
            tool,
            session_id,
            agent,
            started: Instant::now(),
        });
        ToolTimer { slot: Slot(slot) }
    }

    /// Runs `call` and ends the timer by its result: `Ok` a success, `Err` a failure with
    /// `error: tool`.
    pub fn time<T, E>(self, call: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let result = call();
        match &result {
            Ok(_) => self.succeed(),
            Err(_) => self.fail(ErrorKind::Tool),
        }
        result
    }

    endings!();
}

/// One model call's token use and cost. The cost is this call's alone, never a running
/// total.
#[must_use = "token use is recorded by `record`"]
pub struct Tokens {
    usage: e::TokenUsage,
}

impl Tokens {
    /// Token use outside any session.
    pub fn new(model: impl Into<String>) -> Tokens {
        Tokens {
            usage: e::TokenUsage {
                model: model.into(),
                ..Default::default()
            },
        }
    }

    /// Prompt tokens sent to the model.
    pub fn input(mut self, tokens: u64) -> Self {
        self.usage.input_tokens = tokens;
        self
    }

    /// Tokens the model produced.
    pub fn output(mut self, tokens: u64) -> Self {
        self.usage.output_tokens = tokens;
        self
    }

    /// Prompt tokens served from the provider's cache.
    pub fn cached(mut self, tokens: u64) -> Self {
        self.usage.cached_tokens = tokens;
        self
    }

    /// Reasoning (thinking) tokens the model produced.
    pub fn reasoning(mut self, tokens: u64) -> Self {
        self.usage.reasoning_tokens = tokens;
        self
    }

    /// This call's cost in US dollars (not a running total).
    pub fn cost_usd(mut self, cost: f64) -> Self {
        self.usage.cost_usd = Some(cost);
        self
    }

    /// The agent that made the call.
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.usage.agent = Some(agent.into());
        self
    }

    /// Records the `token-usage` event.
    pub fn record(self) {
        sink::record(&[Event::TokenUsage(self.usage)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::take;
    use std::time::Duration;

    fn end_of(event: &Event) -> (Outcome, Option<ErrorKind>) {
        match event {
            Event::SessionEnd(e) => (e.outcome, e.error),
            Event::ToolCall(t) => (t.outcome, t.error),
            other => panic!("not an end: {other:?}"),
        }
    }

    #[test]
    fn a_session_records_its_start_and_its_end_with_the_outcome_given() {
        take();
        let mut session = Session::builder("s-1").agent("planner").task("t-1").start();
        session.set_tasks_processed(3);
        session.succeed();
        let events = take();
        assert_eq!(events.len(), 2, "{events:?}");
        let Event::SessionStart(start) = &events[0] else {
            panic!("{events:?}")
        };
        assert_eq!(start.session_id, "s-1");
        assert_eq!(start.agent.as_deref(), Some("planner"));
        assert_eq!(start.task_id.as_deref(), Some("t-1"));
        let Event::SessionEnd(end) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(
            (end.session_id.as_str(), end.tasks_processed),
            ("s-1", Some(3))
        );
        assert_eq!((end.outcome, end.error), (Outcome::Success, None));
        for (finish, expected) in [
            (
                Box::new(|s: Session| s.fail(ErrorKind::RateLimited)) as Box<dyn Fn(Session)>,
                (Outcome::Failure, Some(ErrorKind::RateLimited)),
            ),
            (
                Box::new(|s: Session| s.cancel()),
                (Outcome::Cancelled, None),
            ),
        ] {
            finish(Session::start("s-2"));
            let events = take();
            assert_eq!(events.len(), 2);
            assert_eq!(end_of(&events[1]), expected);
        }
    }

    #[test]
    fn an_early_return_ends_the_session_and_the_tool_call_as_failures() {
        take();
        fn work(session: &Session) -> Result<(), &'static str> {
            let _call = session.tool("shell");
            Err("no shell")?;
            unreachable!()
        }
        let session = Session::start("s-3");
        assert!(work(&session).is_err());
        drop(session);
        let events = take();
        assert_eq!(events.len(), 3, "{events:?}");
        let Event::ToolCall(call) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(call.tool, "shell");
        assert_eq!(call.session_id.as_deref(), Some("s-3"));
        assert_eq!((call.outcome, call.error), (Outcome::Failure, None));
        assert_eq!(end_of(&events[2]), (Outcome::Failure, None));
    }

    #[test]
    fn a_tool_call_records_how_long_it_took() {
        take();
        let call = ToolTimer::start("read_file");
        std::thread::sleep(Duration::from_millis(30));
        call.succeed();
        let events = take();
        let [Event::ToolCall(call)] = events.as_slice() else {
            panic!("{events:?}")
        };
        assert!(call.duration_ms >= 30, "{}", call.duration_ms);
        assert!(call.duration_ms < 30_000, "{}", call.duration_ms);
        assert_eq!(
            (call.outcome, call.error, call.session_id.as_deref()),
            (Outcome::Success, None, None)
        );
    }

    #[test]
    fn a_timed_call_ends_as_its_result_says() {
        take();
        let session = Session::start("s-4");
        assert_eq!(session.time("fetch", || Ok::<_, ()>(7)), Ok(7));
        assert_eq!(session.time("fetch", || Err::<(), _>("down")), Err("down"));
        session.succeed();
        let events = take();
        assert_eq!(events.len(), 4, "{events:?}");
        assert_eq!(end_of(&events[1]), (Outcome::Success, None));
        assert_eq!(
            end_of(&events[2]),
            (Outcome::Failure, Some(ErrorKind::Tool))
        );
    }

    #[test]
    fn a_panic_ends_every_open_guard_as_failed_once_innermost_first() {
        take();
        let result = std::panic::catch_unwind(|| {
            let session = Session::start("s-5");
            let _outer = session.tool("plan");
            let _inner = session.tool("edit");
            panic!("the agent broke");
        });
        assert!(result.is_err());
        let events = take();
        // Start, then the hook's three ends; the destructors that ran while unwinding
        // found nothing left to record.
        assert_eq!(events.len(), 4, "{events:?}");
        let tools: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                Event::ToolCall(t) => Some(t.tool.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(tools, ["edit", "plan"]);
        for end in &events[1..] {
            assert_eq!(end_of(end), (Outcome::Failure, Some(ErrorKind::Internal)));
        }
        assert!(matches!(events[3], Event::SessionEnd(_)));
        // Nothing is left open to be ended again.
        Session::start("s-6").succeed();
        assert_eq!(take().len(), 2);
    }

    #[test]
    fn token_use_carries_the_session_and_every_count() {
        take();
        let session = Session::builder("s-7").agent("coder").start();
        session
            .tokens("gpt-4o")
            .input(1200)
            .output(300)
            .cached(800)
            .reasoning(20)
            .cost_usd(0.0105)
            .record();
        Tokens::new("claude").input(1).record();
        session.succeed();
        let events = take();
        let Event::TokenUsage(usage) = &events[1] else {
            panic!("{events:?}")
        };
        assert_eq!(usage.model, "gpt-4o");
        assert_eq!(usage.session_id.as_deref(), Some("s-7"));
        assert_eq!(usage.agent.as_deref(), Some("coder"));
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_tokens,
                usage.reasoning_tokens
            ),
            (1200, 300, 800, 20)
        );
        assert_eq!(usage.cost_usd, Some(0.0105));
        let Event::TokenUsage(bare) = &events[2] else {
            panic!("{events:?}")
        };
        assert_eq!((bare.session_id.as_deref(), bare.cost_usd), (None, None));
    }
}
