//! # llm-failover core
//!
//! The sans-IO heart of the llm-failover gateway: it decides, the hosts act.
//!
//! - [`classify`]: what an upstream failure means ([`FailureKind`], retry hint, [`Scope`]).
//! - [`policy`]: what to do about each kind (retry, rotate key, fall back, cool down).
//! - [`cooldown`]: a circuit breaker per scope, shareable as mergeable snapshots.
//! - [`run`]: the fallback-chain state machine, one [`FallbackRun`] per client request,
//!   driven with `poll_action` / `handle_outcome`.
//! - [`config`]: providers, chains, budgets; validated with errors that name the field.
//! - [`dry_run`]: replays a scripted list of outcomes and returns the decision trace.
//! - [`sse`]: an incremental SSE parser and a stream inspector for the commit rule.
//!
//! No I/O, no clock (time is passed in as Unix milliseconds), no threads, no async:
//! the same code runs in the Cloudflare Worker, the browser package and the WIT
//! component, and natively in tests.
// No unsafe code, except the WebAssembly component's wit-bindgen export glue,
// which src/hosts/component.rs allows in its `bindings` module only.
#![cfg_attr(not(feature = "component"), forbid(unsafe_code))]
#![cfg_attr(feature = "component", deny(unsafe_code))]

pub mod api;
pub mod classify;
pub mod config;
pub mod cooldown;
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
