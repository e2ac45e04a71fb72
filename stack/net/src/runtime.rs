//! The small runtime the direct backend is generic over: a clock, timers and a spawner.
//!
//! Two implementations: [`crate::tokio_rt::TokioRuntime`] (feature `tokio`: the real clock,
//! `spawn_local`) and the simulator's virtual-time executor (weft-sim). The direct backend
//! asks for nothing else, so the same backend runs in both unchanged.

use core::future::Future;
use core::pin::Pin;
use weft_core::Instant;

/// A boxed task, as [`Runtime::spawn`] takes it (not `Send`: see the crate docs).
pub type Task = Pin<Box<dyn Future<Output = ()> + 'static>>;

/// Clock, timers and spawning for the direct backend.
pub trait Runtime: Clone + 'static {
    /// A timer future.
    type Sleep: Future<Output = ()> + 'static;

    /// The current time. Must never go backwards.
    fn now(&self) -> Instant;

    /// A future that completes once `now() >= deadline`.
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Runs `task` concurrently with the caller, on the caller's thread.
    fn spawn(&self, task: Task);
}
