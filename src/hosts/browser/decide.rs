//! The package's decisions alone (no request is sent): classify an outcome, replay
//! a script through the state machine, list the policy.

use super::{config_from, error, from_js, now, report, to_js};
use crate::api::{self, report::ErrorClass, report::ErrorReport};
use crate::cooldown::Snapshot;
use crate::dry_run::{dry_run, Script};
use crate::explain::OutcomeSpec;
use wasm_bindgen::prelude::*;

/// Classifies one outcome: `{provider, status, headers, body}`,
/// `{provider, stream_error}` or `{provider, transport}` (see the CLI
/// `llm-failover-classify`). Returns `{kind, retry_after_ms, scope, reason,
/// status, action}`.
#[wasm_bindgen]
pub fn classify(outcome: JsValue) -> Result<JsValue, JsValue> {
    let spec: OutcomeSpec = from_js(&outcome, "outcome", ErrorClass::Request, "invalid_outcome")?;
    let policy = crate::policy::FailurePolicy::default();
    spec.explain(&policy, now())
        .map(|v| to_js(&v))
        .map_err(|m| error(ErrorClass::Request, "invalid_outcome", m))
}

/// Replays a script of outcomes through the real state machine with a fake clock
/// (see `llm-failover-dry-run`): `{result, trace, attempts, snapshot, ended_at}`.
#[wasm_bindgen(js_name = dryRun)]
pub fn dry_run_js(config: JsValue, script: JsValue, snapshot: JsValue) -> Result<JsValue, JsValue> {
    let config = config_from(&config)?;
    let script: Script = from_js(&script, "script", ErrorClass::Request, "invalid_script")?;
    let snapshot: Snapshot = if snapshot.is_undefined() || snapshot.is_null() {
        Snapshot::default()
    } else {
        from_js(
            &snapshot,
            "snapshot",
            ErrorClass::Request,
            "invalid_snapshot",
        )?
    };
    let out = dry_run(&config, &snapshot, &script).map_err(|e| {
        report(&ErrorReport::from_api(
            ErrorClass::Request,
            &api::route_error(&e),
        ))
    })?;
    Ok(to_js(&out))
}

/// The failure kinds and what the default policy does about each:
/// `[{kind, request_error, action}]`.
#[wasm_bindgen(js_name = failurePolicy)]
pub fn failure_policy() -> JsValue {
    to_js(&crate::explain::policy_rows(
        &crate::policy::FailurePolicy::default(),
    ))
}
