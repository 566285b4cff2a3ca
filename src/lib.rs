//! # llm-failover core
//!
//! The sans-IO heart of the llm-failover gateway: it decides, the hosts act.
//!
//! - [`session`]: one client request end to end — the run, its upstream exchanges,
//!   the client's answer (commit, dropped events, mid-stream continuation).
//! - [`run`]: the fallback-chain state machine, one [`FallbackRun`] per request,
//!   driven with `poll_action` / `handle_outcome`.
//! - [`exchange`]: one upstream attempt: its request, timers and response rules.
//! - [`classify`]: what an upstream failure means ([`FailureKind`], retry hint,
//!   [`Scope`]); the taxonomy itself is [`failure`].
//! - [`policy`]: what to do about each kind (retry, rotate key, fall back, cool down).
//! - [`cooldown`]: a circuit breaker per scope, shareable as mergeable snapshots.
//! - [`config`]: providers, chains, budgets; validated with errors that name the field.
//! - [`api`]: the client-facing edge (validation, auth, error shapes).
//! - [`sse`], [`redact`], [`time`], [`provider`]: the pieces they share.
//! - [`dry_run`] and [`sim`]: fake-clock drivers for runs and sessions.
//!
//! No I/O, no clock (time is passed in as Unix milliseconds), no threads, no async:
//! the same code runs in the Cloudflare Worker, the browser package and the WIT
//! component, and natively in tests. See `docs/ARCHITECTURE.md`.
#![warn(missing_docs)]
// No unsafe code, except the WebAssembly component's wit-bindgen export glue,
// which src/hosts/component.rs allows in its `bindings` module only.
#![cfg_attr(not(feature = "component"), forbid(unsafe_code))]
#![cfg_attr(feature = "component", deny(unsafe_code))]

pub mod api;
pub mod classify;
pub mod config;
pub mod cooldown;
pub mod dialect;
pub mod dry_run;
pub mod exchange;
pub mod explain;
pub mod failure;
pub mod hosts;
pub mod policy;
pub mod provider;
pub mod redact;
pub mod run;
pub mod session;
pub mod sim;
pub mod sse;
pub mod time;

pub use time::Timestamp;

pub use classify::{classify, inspect_completion};
pub use config::{Config, ConfigError, Route, RouteError};
pub use cooldown::{CooldownTable, ScopeKey, ScopeState, Snapshot};
pub use failure::{Classification, FailureKind, Outcome, Scope, TransportFailure};
pub use policy::{Backoff, FailurePolicy, Rule};
pub use provider::Dialect;
pub use run::{
    Action, AttemptId, AttemptOutcome, AttemptPlan, Continuation, FallbackRun, RunFailure,
    RunOptions, RunResult, TraceEvent,
};
