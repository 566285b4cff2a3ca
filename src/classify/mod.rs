//! The classifier: what an upstream failure *means*.
//!
//! Input is the target's [`Dialect`] and an [`Outcome`] (an HTTP response, a
//! transport failure, an error event inside a 200 stream, or a 200 whose body is not
//! a completion). Output is a [`Classification`]: plain data saying the
//! [`FailureKind`], any retry hint, the [`Scope`] the failure belongs to, and a short
//! reason that is safe to show (keys are redacted). What to *do* about it is the
//! failure policy's business ([`crate::policy`]), not the classifier's.
//!
//! The classifier reads every provider's error envelope regardless of the dialect
//! (OpenAI `{"error":{type,code,message}}`, Anthropic `{"type":"error","error":{…}}`,
//! Gemini `{"error":{status,details[]}}` possibly wrapped in a list, OpenRouter
//! `error.metadata.raw` as a string or an object, Ollama `{"error":"…"}`, vLLM and
//! Mistral top-level `{"object":"error","message":…}`, HTML error pages), because
//! OpenAI-compatible endpoints forward other providers' shapes verbatim.

mod decide;
mod envelope;
mod phrases;
mod reason;
pub mod retry_hint;

pub use crate::failure::{Classification, FailureKind, Outcome, Scope, TransportFailure};

use crate::provider::Dialect;
use crate::time::Timestamp;
use envelope::Facts;
use phrases::sig;
use serde_json::Value;

/// How much of a body the classifier reads. Error bodies are small; a huge one is
/// read only this far (its JSON then fails to parse and the text is searched).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Classifies one outcome. `now` turns HTTP-dates and reset timestamps into waits.
pub fn classify(dialect: Dialect, outcome: &Outcome, now: Timestamp) -> Classification {
    match outcome {
        Outcome::Transport(t) => classify_transport(*t),
        Outcome::Http {
            status,
            headers,
            body,
        } => {
            if (200..300).contains(status) {
                return invalid_success(dialect, body, now);
            }
            classify_error(dialect, Some(*status), headers, body, now)
        }
        Outcome::StreamError { data } => classify_error(dialect, None, &[], data, now),
        Outcome::InvalidSuccess { body } => invalid_success(dialect, body, now),
    }
}

fn classify_transport(t: TransportFailure) -> Classification {
    let (kind, scope) = match t {
        TransportFailure::ConnectionRefused
        | TransportFailure::Dns
        | TransportFailure::ResetBeforeHeaders
        | TransportFailure::Tls => (FailureKind::Connection, Scope::Endpoint),
        TransportFailure::HeaderTimeout
        | TransportFailure::FirstTokenTimeout
        | TransportFailure::StreamIdleTimeout => (FailureKind::Timeout, Scope::Model),
        TransportFailure::StreamEndedEarly => (FailureKind::Connection, Scope::Model),
    };
    Classification {
        kind,
        retry_after_ms: None,
        scope,
        reason: t.as_str().to_string(),
        status: None,
    }
}

fn invalid_success(dialect: Dialect, body: &str, now: Timestamp) -> Classification {
    match inspect_completion(dialect, body, now) {
        Some(c) => c,
        None => Classification {
            kind: FailureKind::InvalidResponse,
            retry_after_ms: None,
            scope: Scope::Model,
            reason: "the upstream answered 200 but the host reported the body as unusable".into(),
            status: Some(200),
        },
    }
}

/// Checks a 200 non-streaming body: `None` if it is a usable chat completion,
/// else the classification (unparseable, an `error` object inside a 200, no choices).
pub fn inspect_completion(dialect: Dialect, body: &str, now: Timestamp) -> Option<Classification> {
    let invalid = |reason: &str| {
        Some(Classification {
            kind: FailureKind::InvalidResponse,
            retry_after_ms: None,
            scope: Scope::Model,
            reason: reason.to_string(),
            status: Some(200),
        })
    };
    let value: Value = match serde_json::from_str(body.trim()) {
        Ok(v) => v,
        Err(_) => return invalid("200 response body is not valid JSON"),
    };
    let Some(obj) = value.as_object() else {
        return invalid("200 response body is not a JSON object");
    };
    if obj.get("error").is_some_and(|e| !e.is_null())
        && obj.get("choices").map_or(true, is_empty_choices)
    {
        let mut c = classify_error(dialect, None, &[], body, now);
        c.status = c.status.or(Some(200));
        return Some(c);
    }
    match obj.get("choices") {
        None => invalid("200 response has no `choices`"),
        Some(Value::Array(a)) if a.is_empty() => {
            invalid("200 response has an empty `choices` list")
        }
        Some(Value::Array(_)) => None,
        Some(_) => invalid("200 response `choices` is not a list"),
    }
}

fn is_empty_choices(v: &Value) -> bool {
    v.as_array().map_or(true, |a| a.is_empty())
}

pub(crate) fn classify_error(
    dialect: Dialect,
    http_status: Option<u16>,
    headers: &[(String, String)],
    body: &str,
    now: Timestamp,
) -> Classification {
    let body = reason::truncate_str(body, MAX_BODY_BYTES);
    let mut facts = Facts::default();
    let trimmed = body.trim_start();
    let parsed = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        serde_json::from_str::<Value>(trimmed).ok()
    } else {
        None
    };
    match &parsed {
        Some(v) => envelope::gather(v, &mut facts, 0),
        None => {
            // Not JSON (HTML page, plain text, truncated JSON): the text is the message.
            let text = reason::strip_html(trimmed);
            if !text.is_empty() {
                facts.messages.push(text);
            }
        }
    }
    let signals = phrases::scan(&facts);
    // Numbers and durations are read only when a phrase says they are there.
    let text = if signals & (sig::REQUESTED | sig::RETRY_CUE) != 0 {
        phrases::lower_text(&facts)
    } else {
        String::new()
    };
    let status = http_status
        .filter(|s| !(200..300).contains(s))
        .or(facts.numeric_code)
        .or_else(|| facts.words.iter().find_map(|w| envelope::grpc_status(w)));

    let kind = decide::decide(dialect, status, &facts, signals, &text);
    let scope = decide::scope_of(kind, &facts, signals);
    let retry_after_ms = retry_hint::from_headers(headers, now)
        .or(facts.retry_delay_ms)
        .or_else(|| {
            if signals & sig::RETRY_CUE != 0 {
                retry_hint::from_text(&text)
            } else {
                None
            }
        });
    let reason = reason::reason_text(dialect, status, kind, &facts, body);
    Classification {
        kind,
        retry_after_ms,
        scope,
        reason,
        status,
    }
}
