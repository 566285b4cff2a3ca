//! Reading error envelopes: every provider's shape, gathered into [`Facts`].

use super::retry_hint;
use serde_json::Value;

/// What an error body says, gathered from every envelope we know.
#[derive(Debug, Default)]
pub(super) struct Facts {
    /// Lower-cased machine words: `error.type`, string `error.code`, Gemini `status`,
    /// `details[].reason`, Azure `innererror.code`.
    pub(super) words: Vec<String>,
    /// A numeric `error.code` (OpenRouter, Gemini): the status the error stands for.
    pub(super) numeric_code: Option<u16>,
    /// Human messages, original case.
    pub(super) messages: Vec<String>,
    /// Gemini quota ids and metrics, lower-cased.
    pub(super) quota_ids: Vec<String>,
    /// Gemini `RetryInfo.retryDelay`.
    pub(super) retry_delay_ms: Option<u64>,
    /// Something came from OpenRouter's `metadata.raw` (an upstream's error).
    pub(super) wrapped_upstream: bool,
    /// OpenRouter moderation metadata (`metadata.reasons` / `flagged_input`).
    pub(super) moderation: bool,
}

impl Facts {
    pub(super) fn word(&self, candidates: &[&str]) -> bool {
        self.words.iter().any(|w| candidates.iter().any(|c| w == c))
    }
}

const MAX_DEPTH: usize = 4;

pub(super) fn gather(value: &Value, facts: &mut Facts, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Array(items) => {
            for item in items.iter().take(4) {
                gather(item, facts, depth + 1);
            }
        }
        Value::Object(obj) => match obj.get("error") {
            Some(Value::String(s)) => facts.messages.push(s.clone()),
            Some(e @ Value::Object(_)) => gather_error(e, facts, depth + 1),
            // OpenAI Responses API stream: `{"type":"response.failed","response":{"error":{…}}}`.
            _ if obj
                .get("response")
                .and_then(|r| r.get("error"))
                .is_some_and(Value::is_object) =>
            {
                if let Some(e) = obj.get("response").and_then(|r| r.get("error")) {
                    gather_error(e, facts, depth + 1);
                }
            }
            _ => {
                // vLLM / Mistral / Together / FastAPI put the error at the top level.
                if obj.contains_key("message")
                    || obj.contains_key("detail")
                    || obj.contains_key("type")
                {
                    gather_error(value, facts, depth + 1);
                }
            }
        },
        Value::String(s) => facts.messages.push(s.clone()),
        _ => {}
    }
}

fn push_word(facts: &mut Facts, v: &Value) {
    match v {
        Value::String(s) if !s.is_empty() => facts.words.push(s.to_ascii_lowercase()),
        Value::Number(n) => {
            if let Some(code) = n.as_u64().filter(|c| (100..600).contains(c)) {
                facts.numeric_code.get_or_insert(code as u16);
            }
        }
        _ => {}
    }
}

fn gather_error(e: &Value, facts: &mut Facts, depth: usize) {
    let Some(obj) = e.as_object() else { return };
    for key in ["message", "detail", "msg"] {
        match obj.get(key) {
            Some(Value::String(m)) => facts.messages.push(m.clone()),
            Some(Value::Array(items)) => {
                // FastAPI-style `detail: [{msg: …}]`.
                for it in items.iter().take(4) {
                    if let Some(m) = it.get("msg").and_then(Value::as_str) {
                        facts.messages.push(m.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    for key in ["type", "code", "status"] {
        if let Some(v) = obj.get(key) {
            if key == "type" && v.as_str() == Some("error") {
                continue; // Anthropic's outer envelope
            }
            push_word(facts, v);
        }
    }
    if let Some(inner) = obj.get("innererror").and_then(Value::as_object) {
        if let Some(c) = inner.get("code") {
            push_word(facts, c);
        }
        if inner.contains_key("content_filter_result") {
            facts.words.push("content_filter".into());
        }
    }
    if let Some(Value::Array(details)) = obj.get("details") {
        for d in details.iter().take(8) {
            let Some(d) = d.as_object() else { continue };
            if let Some(r) = d.get("reason") {
                push_word(facts, r);
            }
            if let Some(delay) = d.get("retryDelay").and_then(Value::as_str) {
                facts.retry_delay_ms = retry_hint::parse_duration_ms(delay);
            }
            if let Some(Value::Array(violations)) = d.get("violations") {
                for v in violations.iter().take(8) {
                    for k in ["quotaId", "quotaMetric"] {
                        if let Some(q) = v.get(k).and_then(Value::as_str) {
                            facts.quota_ids.push(q.to_ascii_lowercase());
                        }
                    }
                    if v.get("quotaValue").and_then(Value::as_str) == Some("0") {
                        facts.quota_ids.push("limit-0".into());
                    }
                }
            }
        }
    }
    if let Some(meta) = obj.get("metadata").and_then(Value::as_object) {
        if meta.contains_key("reasons") || meta.contains_key("flagged_input") {
            facts.moderation = true;
        }
        match meta.get("raw") {
            Some(Value::String(raw)) => {
                facts.wrapped_upstream = true;
                match serde_json::from_str::<Value>(raw) {
                    Ok(v @ (Value::Object(_) | Value::Array(_))) => gather(&v, facts, depth + 1),
                    _ => facts.messages.push(raw.clone()),
                }
            }
            Some(v @ (Value::Object(_) | Value::Array(_))) => {
                facts.wrapped_upstream = true;
                gather(v, facts, depth + 1);
            }
            _ => {}
        }
    }
}

pub(super) fn grpc_status(word: &str) -> Option<u16> {
    Some(match word {
        "resource_exhausted" => 429,
        "unavailable" => 503,
        "invalid_argument" | "failed_precondition" | "out_of_range" => 400,
        "permission_denied" => 403,
        "unauthenticated" => 401,
        "not_found" => 404,
        "internal" | "unknown" | "data_loss" => 500,
        "deadline_exceeded" => 504,
        _ => return None,
    })
}
