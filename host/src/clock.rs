//! The wall-clock time telemetry reads: the system's, or one the program gives (a simulation,
//! or a test that lives a week in a second). The telemetry component sees it as `wasi:clocks`
//! (its events' times), and counts-only mode decides from it which periods are over.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time; [`Clock::system`] by default.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<dyn Fn() -> SystemTime + Send + Sync>>);

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock(None)
    }

    /// A clock that reads `now`.
    pub fn from_fn(now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Clock {
        Clock(Some(Arc::new(now)))
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        self.0.as_ref().map_or_else(SystemTime::now, |now| now())
    }

    /// The clock as the component's `wasi:clocks/wall-clock` (`None` for the system's, which
    /// is WASI's default).
    pub(crate) fn wasi(&self) -> Option<impl wasmtime_wasi::HostWallClock + 'static> {
        self.0.is_some().then(|| WasiClock(self.clone()))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(given)"
        } else {
            "Clock(system)"
        })
    }
}

struct WasiClock(Clock);

impl wasmtime_wasi::HostWallClock for WasiClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }

    fn now(&self) -> Duration {
        self.0.now().duration_since(UNIX_EPOCH).unwrap_or_default()
    }
}
