//! The WebAssembly component (feature `component`): the WIT world `failover` of
//! `wit/llm-failover.wit`, implemented over the same core as every other host.
//!
//! Built for `wasm32-wasip2` by `scripts/build-component` into
//! `build/component/llm_failover.wasm` (see `docs/COMPONENT.md`). These modules only
//! convert between the WIT types and the core's: every decision is the core's.
//! Nothing here panics on input: unknown `other` cases and bad JSON come back as
//! `error` values.
//!
//! - [`convert`]: the shared types, both ways (`types`, `fallback`'s records);
//! - [`trace`]: the decision trace and the attempt records;
//! - [`fallback`]: the `classifier`, `cooldowns` and `fallback` exports;
//! - [`session`]: the `session` export over [`crate::session::Session`].
//!
//! The core's enums are `#[non_exhaustive]` for other crates; in this crate the
//! compiler sees them whole, so the final arms that map a case added later to the
//! WIT `other(name)` case are unreachable today (`unreachable_patterns` allowed).

mod convert;
mod fallback;
mod session;
mod trace;

use crate::api::ApiError;
use crate::config::{ConfigError, RouteError};
use crate::run::RunError;

/// The bindings wit-bindgen generates from `wit/`, and the export glue. The glue is
/// the only `unsafe` code of the crate (the canonical ABI's raw pointers), so it is
/// allowed here and nowhere else.
#[allow(unsafe_code)]
mod bindings {
    use super::Component;

    wit_bindgen::generate!({
        path: "wit",
        world: "failover",
    });

    export!(Component);
}

use bindings::exports::llm_failover::core::types as wit;

/// The component: its exports are implemented on this type.
struct Component;

// ---------------------------------------------------------------------------
// Errors.

fn error(kind: wit::ErrorKind, message: impl Into<String>) -> wit::Error {
    wit::Error {
        kind,
        message: message.into(),
    }
}

fn unsupported(message: impl Into<String>) -> wit::Error {
    error(wit::ErrorKind::Unsupported, message)
}

fn config_error(e: ConfigError) -> wit::Error {
    let message = e.to_string();
    error(wit::ErrorKind::InvalidConfig(e.path), message)
}

fn route_error(e: RouteError) -> wit::Error {
    let message = e.to_string();
    match e {
        RouteError::Unknown { valid, .. } => error(wit::ErrorKind::UnknownModel(valid), message),
        RouteError::NoConcreteModel { .. } => error(wit::ErrorKind::NoConcreteModel, message),
        #[allow(unreachable_patterns)]
        _ => error(wit::ErrorKind::Other(case_name(&e)), message),
    }
}

fn run_error(e: RunError) -> wit::Error {
    let message = e.to_string();
    match e {
        RunError::NotInFlight(a) => error(wit::ErrorKind::NotInFlight(a.0), message),
        RunError::Finished => error(wit::ErrorKind::Finished, message),
        #[allow(unreachable_patterns)]
        _ => error(wit::ErrorKind::Other(case_name(&e)), message),
    }
}

/// A client request the core refused, with the answer the client gets.
fn bad_request(e: ApiError) -> wit::Error {
    let request = wit::RequestError {
        status: e.status,
        type_: e.kind.to_string(),
        body: e.body(),
        code: e.code,
        param: e.param,
    };
    error(wit::ErrorKind::BadRequest(request), e.message)
}

// ---------------------------------------------------------------------------
// Names.

/// Reads a snake_case name (an `other` case passed in) with the core's serde names.
fn by_name<T: serde::de::DeserializeOwned>(what: &str, name: &str) -> Result<T, wit::Error> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| unsupported(format!("unknown {what} `{name}`")))
}

/// The snake_case name of an enum value's case (`RetryCancelled { .. }` ->
/// `retry_cancelled`): the core's serde names, for the `other(name)` arms.
fn case_name(v: &impl std::fmt::Debug) -> String {
    let debug = format!("{v:?}");
    let mut out = String::new();
    for (i, c) in debug
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .enumerate()
    {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}
