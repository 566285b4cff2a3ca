//! Time, as the core sees it: Unix milliseconds passed in by the host.
//!
//! The core never reads a clock (`Instant::now()` panics on `wasm32-unknown-unknown`,
//! and a Worker's `Date.now()` only moves on I/O). Every input that depends on time
//! takes a `now: Timestamp`; tests drive a fake clock that jumps straight to the next
//! timer.

/// A point in time: Unix milliseconds, passed in by the host.
pub type Timestamp = u64;

/// Milliseconds in a second, a minute and an hour (for readable defaults).
pub const SEC: u64 = 1000;
/// Milliseconds in a minute.
pub const MIN: u64 = 60 * SEC;
/// Milliseconds in an hour.
pub const HOUR: u64 = 60 * MIN;
