//! Classification for people and tools: one outcome described as JSON in, the
//! classification and what the gateway will do about it out. The
//! `llm-failover-classify` command and the browser package's `classify` share it.
//!
//! Input (`body` may be a string or any JSON value; one of `status`,
//! `stream_error`, `transport`):
//!
//! ```text
//! {"provider": "openrouter", "status": 403, "headers": {"retry-after": "5"}, "body": "…"}
//! {"provider": "anthropic", "stream_error": "{\"type\":\"error\",…}"}
//! {"provider": "openai", "transport": "first_token_timeout"}
//! ```
//!
//! Output: `{"kind", "retry_after_ms", "scope", "reason", "status", "action"}`.

use crate::classify::{classify, Outcome, TransportFailure};
use crate::policy::FailurePolicy;
use crate::provider::Dialect;
use crate::{FailureKind, Timestamp};
use serde::Deserialize;
use serde_json::{json, Value};

/// One outcome to classify, as a person or a tool writes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeSpec {
    /// The provider's dialect.
    pub provider: Dialect,
    /// An HTTP status (with `body`).
    #[serde(default)]
    pub status: Option<u16>,
    /// Response headers.
    #[serde(default)]
    pub headers: Option<serde_json::Map<String, Value>>,
    /// The body: a string or any JSON value.
    #[serde(default)]
    pub body: Option<Value>,
    /// An error event's data inside a 200 stream.
    #[serde(default)]
    pub stream_error: Option<Value>,
    /// A transport failure.
    #[serde(default)]
    pub transport: Option<TransportFailure>,
    /// Unix ms "now" for HTTP-date hints; the caller's clock when absent.
    #[serde(default)]
    pub now_ms: Option<u64>,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl OutcomeSpec {
    /// The core's [`Outcome`] for this spec.
    pub fn outcome(&self) -> Result<Outcome, String> {
        if let Some(t) = self.transport {
            return Ok(Outcome::Transport(t));
        }
        if let Some(data) = &self.stream_error {
            return Ok(Outcome::StreamError {
                data: text_of(data),
            });
        }
        let status = self
            .status
            .ok_or("an outcome needs `status` (with `body`), `stream_error` or `transport`")?;
        let headers = self
            .headers
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), text_of(v)))
            .collect();
        let body = self.body.as_ref().map(text_of).unwrap_or_default();
        Ok(Outcome::Http {
            status,
            headers,
            body,
        })
    }

    /// Classifies the outcome (at `now_ms`, else `now`) and says what `policy` does.
    pub fn explain(&self, policy: &FailurePolicy, now: Timestamp) -> Result<Value, String> {
        let outcome = self.outcome()?;
        let c = classify(self.provider, &outcome, self.now_ms.unwrap_or(now));
        Ok(json!({
            "kind": c.kind,
            "retry_after_ms": c.retry_after_ms,
            "scope": c.scope,
            "reason": c.reason,
            "status": c.status,
            "action": action_text(policy, c.kind),
        }))
    }
}

/// Every failure kind with what `policy` does about it: `{kind, request_error,
/// action}` (the browser package's `failurePolicy()`, the demo page's legend).
pub fn policy_rows(policy: &FailurePolicy) -> Vec<Value> {
    FailureKind::ALL
        .iter()
        .map(|k| {
            json!({
                "kind": k,
                "request_error": k.is_request_error(),
                "action": action_text(policy, *k),
            })
        })
        .collect()
}

/// What `policy` does about `kind`, in words.
pub fn action_text(policy: &FailurePolicy, kind: FailureKind) -> String {
    let r = policy.rule(kind);
    let mut parts = Vec::new();
    if r.retries > 0 {
        parts.push(format!("retry the same target up to {}x", r.retries));
    }
    if r.rotate_key {
        parts.push("rotate to the next key".to_string());
    }
    parts.push(if r.fallback {
        "fall back to the next target".into()
    } else {
        "return the error to the client".into()
    });
    parts.push(match r.cooldown {
        Some(b) => format!(
            "cool the scope down (hint, else {}s doubling to {}s)",
            b.base_ms / 1000,
            b.max_ms / 1000
        ),
        None => "no cooldown".into(),
    });
    parts.join(", then ")
}
