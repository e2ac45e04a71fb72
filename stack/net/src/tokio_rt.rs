//! The tokio runtime for the direct backend: the real clock (tokio's, so paused-time tests and
//! turmoil work too) and `spawn_local` on the current thread's `LocalSet`.

use crate::runtime::{Runtime, Task};
use std::future::Future;
use weft_core::{Duration, Instant};

/// Real time and tokio's local tasks. Time counts from the moment the runtime was created.
#[derive(Debug, Clone, Copy)]
pub struct TokioRuntime {
    origin: tokio::time::Instant,
}

impl TokioRuntime {
    /// A runtime whose time zero is now. Call inside a tokio runtime.
    pub fn new() -> TokioRuntime {
        TokioRuntime {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioRuntime {
    fn default() -> Self {
        TokioRuntime::new()
    }
}

impl Runtime for TokioRuntime {
    type Sleep = tokio::time::Sleep;

    fn now(&self) -> Instant {
        let since = tokio::time::Instant::now().saturating_duration_since(self.origin);
        Instant::from_nanos(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    fn sleep_until(&self, deadline: Instant) -> tokio::time::Sleep {
        let at = self
            .origin
            .checked_add(Duration::from_nanos(deadline.as_nanos()))
            // Beyond tokio's range: far enough to mean never.
            .unwrap_or_else(|| self.origin + Duration::from_secs(86_400 * 365 * 30));
        tokio::time::sleep_until(at)
    }

    /// # Panics
    ///
    /// Outside a tokio `LocalSet` (tokio's `spawn_local` rule); [`block_on_local`] provides
    /// one.
    fn spawn(&self, task: Task) {
        tokio::task::spawn_local(task);
    }
}

/// Runs `fut` to completion on a new current-thread tokio runtime inside a `LocalSet`, with
/// IO and timers enabled: the setting every non-`Send` backend here runs in.
pub fn block_on_local<F: Future>(fut: F) -> std::io::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    Ok(local.block_on(&rt, fut))
}
