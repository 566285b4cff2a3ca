//! The APIs whose answers pass through unchanged (OpenAI Responses, embeddings):
//! what their bodies and events mean for the exchange's rules.

use crate::classify::classify;
use crate::failure::{Classification, FailureKind, Outcome, Scope};
use crate::provider::Dialect;
use crate::time::Timestamp;
use serde_json::Value;

/// What a Responses stream event means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Event {
    /// Output arrives (text, a refusal, function-call arguments, reasoning).
    Content,
    /// Bookkeeping (`response.created`, `…added`, `…done`).
    Other,
    /// The response is complete (`response.completed`, `response.incomplete`).
    Complete,
    /// It failed (`response.failed`, `error`).
    Failed,
}

/// Reads one Responses event's `type`.
pub(super) fn responses_event(value: &Value) -> Event {
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "response.completed" | "response.incomplete" => Event::Complete,
        "response.failed" | "error" => Event::Failed,
        k if k.ends_with(".delta") => Event::Content,
        _ => Event::Other,
    }
}

fn invalid(reason: &str) -> Option<Classification> {
    let mut c = Classification::observed(FailureKind::InvalidResponse, Scope::Model, reason);
    c.status = Some(200);
    Some(c)
}

/// Checks a 200 Responses body: `None` if it is a response that completed (or
/// stopped early, `incomplete`), else what is wrong.
pub(super) fn inspect_response(
    dialect: Dialect,
    body: &str,
    now: Timestamp,
) -> Option<Classification> {
    let Ok(value) = serde_json::from_str::<Value>(body.trim()) else {
        return invalid("200 response body is not valid JSON");
    };
    match value.get("status").and_then(Value::as_str) {
        Some("completed" | "incomplete") => None,
        Some("failed") => {
            let data =
                serde_json::json!({"type": "response.failed", "response": value}).to_string();
            Some(classify(dialect, &Outcome::StreamError { data }, now))
        }
        _ if value.get("error").is_some_and(|e| !e.is_null()) => Some(classify(
            dialect,
            &Outcome::StreamError {
                data: body.to_string(),
            },
            now,
        )),
        Some(other) => invalid(&format!("200 response has status `{other}`")),
        None => invalid("200 response is not a Responses object (no `status`)"),
    }
}

/// Checks a 200 embeddings body: `None` if it has a non-empty `data` list.
pub(super) fn inspect_embeddings(
    dialect: Dialect,
    body: &str,
    now: Timestamp,
) -> Option<Classification> {
    let Ok(value) = serde_json::from_str::<Value>(body.trim()) else {
        return invalid("200 response body is not valid JSON");
    };
    if value.get("error").is_some_and(|e| !e.is_null()) {
        return Some(classify(
            dialect,
            &Outcome::StreamError {
                data: body.to_string(),
            },
            now,
        ));
    }
    match value.get("data").and_then(Value::as_array) {
        Some(d) if !d.is_empty() => None,
        Some(_) => invalid("200 response has an empty `data` list"),
        None => invalid("200 response has no `data` list"),
    }
}
