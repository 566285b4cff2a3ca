//! The OpenAI-compatible edge of the gateway, shared by every host: parsing and
//! validating client requests, addressing upstreams, and shaping the answers and
//! errors clients see. Pure functions, no I/O: the Worker and the browser package
//! call the same code.

use crate::config::{Config, RouteError};
use crate::cooldown::CooldownTable;
use crate::provider::Dialect;
use crate::redact::redact;
use crate::run::{AttemptPlan, AttemptRecord, RunFailure};
use crate::Timestamp;
use serde_json::{json, Map, Value};

/// The largest client request body accepted (bytes).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// A client-facing error: HTTP status plus an OpenAI-style body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// OpenAI's `error.type` (`invalid_request_error`, `authentication_error`, …).
    pub kind: &'static str,
    /// OpenAI's `error.code`, when there is one.
    pub code: Option<String>,
    pub param: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            code: None,
            param: None,
            message: message.into(),
        }
    }
    pub fn code(mut self, code: &str) -> ApiError {
        self.code = Some(code.to_string());
        self
    }
    pub fn param(mut self, param: &str) -> ApiError {
        self.param = Some(param.to_string());
        self
    }
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_request_error", message)
    }
    /// The JSON body: `{"error": {"message", "type", "param", "code"}}`.
    pub fn body(&self) -> String {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}).to_string()
    }
}

/// A validated chat-completions request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// What the client asked for: a chain or `provider/model`.
    pub model: String,
    pub stream: bool,
    /// The whole request object, forwarded upstream with `model` replaced.
    pub body: Map<String, Value>,
}

/// The 413 for a body of `len` bytes (hosts call it early from `content-length`).
pub fn body_too_large(len: usize) -> ApiError {
    ApiError::new(
        413,
        "invalid_request_error",
        format!("request body is {len} bytes; the limit is {MAX_REQUEST_BYTES} bytes"),
    )
    .code("request_too_large")
}

/// Parses and validates a `POST /v1/chat/completions` body.
pub fn parse_chat_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(body_too_large(body.len()));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "request body is empty; send a JSON object with `model` and `messages`",
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(format!("request body is not valid JSON: {e}")).code("invalid_json")
    })?;
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid("request body must be a JSON object"));
    };
    let model = match obj.get("model") {
        None => return Err(ApiError::invalid("missing required field `model`").param("model")),
        Some(Value::String(m)) if !m.trim().is_empty() => m.trim().to_string(),
        Some(Value::String(_)) => {
            return Err(ApiError::invalid("`model` must not be empty").param("model"))
        }
        Some(_) => return Err(ApiError::invalid("`model` must be a string").param("model")),
    };
    match obj.get("messages") {
        None => {
            return Err(ApiError::invalid("missing required field `messages`").param("messages"))
        }
        Some(Value::Array(a)) if a.is_empty() => {
            return Err(
                ApiError::invalid("`messages` must contain at least one message").param("messages"),
            )
        }
        Some(Value::Array(a)) => {
            if let Some(i) = a.iter().position(|m| !m.is_object()) {
                return Err(
                    ApiError::invalid(format!("`messages[{i}]` must be an object"))
                        .param("messages"),
                );
            }
        }
        Some(_) => return Err(ApiError::invalid("`messages` must be an array").param("messages")),
    }
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid("`stream` must be a boolean").param("stream")),
    };
    Ok(ChatRequest {
        model,
        stream,
        body: obj,
    })
}

/// The error for a `model` that names neither a chain nor a provider.
pub fn route_error(e: &RouteError) -> ApiError {
    ApiError::new(404, "invalid_request_error", e.to_string())
        .param("model")
        .code("model_not_found")
}

/// How the key is sent upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHeader {
    /// `Authorization: Bearer KEY`.
    Bearer,
    /// Azure's `api-key: KEY`.
    ApiKey,
}

/// One upstream HTTP request, without the key's value (the host adds it).
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub key_header: KeyHeader,
    pub body: String,
}

/// Addresses `plan`'s target with the client's request: the model is replaced by
/// the target's concrete model; everything else goes as the client sent it.
pub fn upstream_request(plan: &AttemptPlan, req: &ChatRequest) -> UpstreamRequest {
    let mut body = req.body.clone();
    let (url, key_header) = match plan.dialect {
        Dialect::Azure => {
            body.remove("model");
            let version = plan.api_version.as_deref().unwrap_or("2024-10-21");
            (
                format!(
                    "{}/deployments/{}/chat/completions?api-version={version}",
                    plan.base_url, plan.model
                ),
                KeyHeader::ApiKey,
            )
        }
        _ => {
            body.insert("model".into(), Value::String(plan.model.clone()));
            (
                format!("{}/chat/completions", plan.base_url),
                KeyHeader::Bearer,
            )
        }
    };
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if plan.stream {
        headers.push(("accept".into(), "text/event-stream".into()));
    }
    UpstreamRequest {
        url,
        headers,
        key_header,
        body: Value::Object(body).to_string(),
    }
}

/// `provider/model=kind` per attempt, comma-separated (the `x-llm-failover-attempts`
/// header). Key names are left out.
pub fn attempts_header(attempts: &[AttemptRecord]) -> String {
    attempts
        .iter()
        .map(|a| {
            let outcome = match (a.kind, a.ended_at) {
                (Some(k), _) => k.as_str(),
                (None, Some(_)) => "ok",
                (None, None) => "streaming",
            };
            format!("{}/{}={}", a.provider, a.model, outcome)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a failed run answers: the upstream's own error when the run says to pass it
/// on (`upstream` holds that attempt's status and body, keys redacted with
/// `secrets`), else an OpenAI-style error naming every attempt.
pub fn failure_response(
    f: &RunFailure,
    upstream: Option<(u16, &str)>,
    secrets: &[&str],
) -> (u16, String) {
    if let (Some(_), Some((status, body))) = (f.propagate, upstream) {
        let body = redact(body, secrets);
        // Pass the provider's body through when it is JSON; wrap anything else.
        if serde_json::from_str::<Value>(&body).is_ok_and(|v| v.is_object()) {
            return (status, body);
        }
    }
    let kind = match f.http_status {
        401 => "authentication_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "upstream_error",
    };
    let e = ApiError::new(f.http_status, kind, redact(&f.message, secrets)).code(f.kind.as_str());
    (f.http_status, e.body())
}

/// The SSE event that ends a client's stream after a failure: an OpenAI-style
/// `error` object, never `[DONE]`.
pub fn stream_error_event(kind: &str, message: &str) -> String {
    let body = json!({"error": {"message": message, "type": "upstream_error", "code": kind, "param": null}});
    format!("data: {body}\n\n")
}

/// The `[DONE]` marker.
pub const DONE_EVENT: &str = "data: [DONE]\n\n";

/// `GET /v1/models`: every chain and every `provider/model` a client may name.
pub fn models_body(config: &Config) -> String {
    let data: Vec<Value> = config
        .model_names()
        .into_iter()
        .map(|id| {
            let owned_by = if config.chain(&id).is_some() {
                "llm-failover chain"
            } else {
                "llm-failover pinned"
            };
            json!({"id": id, "object": "model", "created": 0, "owned_by": owned_by})
        })
        .collect();
    json!({"object": "list", "data": data}).to_string()
}

/// `GET /v1/status` (and the browser package's `status()`): the scopes that are
/// not closed at `now`, with their state, end of cooldown, streak and last failure.
pub fn status_body(table: &CooldownTable, now: Timestamp) -> Value {
    let open: Vec<Value> = table
        .open_scopes(now)
        .into_iter()
        .map(|(scope, state, entry)| {
            json!({
                "scope": scope.as_str(),
                "state": state,
                "until": entry.until,
                "streak": entry.streak,
                "kind": entry.kind,
                "reason": entry.reason,
            })
        })
        .collect();
    json!({"now": now, "scopes": open})
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

/// Whether `authorization` (the header's value) carries one of `tokens`.
pub fn authorized(authorization: Option<&str>, tokens: &[&str]) -> bool {
    let Some(given) = authorization.and_then(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
    }) else {
        return false;
    };
    let given = given.trim().as_bytes();
    // Compare against every (non-empty) token, with no early exit.
    tokens
        .iter()
        .filter(|t| !t.is_empty())
        .fold(false, |ok, t| constant_time_eq(given, t.as_bytes()) | ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::FailureKind;
    use crate::run::AttemptId;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn requests_are_validated_with_precise_messages() {
        let err = |b: &str| parse_chat_request(b.as_bytes()).unwrap_err();
        assert!(err("").message.contains("empty"));
        assert!(err("{")
            .message
            .starts_with("request body is not valid JSON"));
        assert_eq!(err("[1]").message, "request body must be a JSON object");
        assert_eq!(err(r#"{"messages":[{}]}"#).param.as_deref(), Some("model"));
        assert_eq!(
            err(r#"{"model":3,"messages":[{}]}"#).message,
            "`model` must be a string"
        );
        assert_eq!(
            err(r#"{"model":"m"}"#).message,
            "missing required field `messages`"
        );
        assert_eq!(
            err(r#"{"model":"m","messages":[]}"#).param.as_deref(),
            Some("messages")
        );
        assert_eq!(
            err(r#"{"model":"m","messages":[1]}"#).message,
            "`messages[0]` must be an object"
        );
        assert_eq!(
            err(r#"{"model":"m","messages":[{}],"stream":"yes"}"#).message,
            "`stream` must be a boolean"
        );
        let big = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert_eq!(parse_chat_request(&big).unwrap_err().status, 413);
        let ok = parse_chat_request(
            br#"{"model":" fast ","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        )
        .unwrap();
        assert_eq!((ok.model.as_str(), ok.stream), ("fast", true));
        let e = err("{");
        let v: Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }

    fn plan(dialect: Dialect) -> AttemptPlan {
        AttemptPlan {
            attempt: AttemptId(0),
            target: 0,
            provider: "p".into(),
            dialect,
            base_url: "https://h.test/v1".into(),
            model: "real-model".into(),
            key: Some("K".into()),
            api_version: Some("2024-10-21".into()),
            stream: true,
            header_timeout_ms: 1,
            first_token_timeout_ms: 1,
            idle_timeout_ms: 1,
            deadline: 1,
            probe: false,
        }
    }

    #[test]
    fn upstream_requests_carry_the_concrete_model_and_the_right_key_header() {
        let req = parse_chat_request(
            br#"{"model":"chain","messages":[{"role":"user","content":"hi"}],"temperature":0.2}"#,
        )
        .unwrap();
        let u = upstream_request(&plan(Dialect::OpenAi), &req);
        assert_eq!(u.url, "https://h.test/v1/chat/completions");
        assert_eq!(u.key_header, KeyHeader::Bearer);
        let body: Value = serde_json::from_str(&u.body).unwrap();
        assert_eq!(
            (body["model"].as_str(), body["temperature"].as_f64()),
            (Some("real-model"), Some(0.2))
        );
        let a = upstream_request(&plan(Dialect::Azure), &req);
        assert_eq!(
            a.url,
            "https://h.test/v1/deployments/real-model/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(a.key_header, KeyHeader::ApiKey);
        assert!(serde_json::from_str::<Value>(&a.body)
            .unwrap()
            .get("model")
            .is_none());
    }

    #[test]
    fn failures_propagate_the_upstream_error_redacted_or_explain_every_attempt() {
        let f = RunFailure {
            kind: FailureKind::InvalidRequest,
            message: "m".into(),
            http_status: 400,
            propagate: Some(AttemptId(0)),
            after_commit: false,
            retry_after_ms: None,
        };
        let upstream = r#"{"error":{"message":"bad key sk-live-secret-value-123 here"}}"#;
        let (s, b) = failure_response(&f, Some((400, upstream)), &["sk-live-secret-value-123"]);
        assert_eq!(s, 400);
        assert!(!b.contains("secret-value") && b.contains("[redacted]"));
        let g = RunFailure {
            propagate: None,
            http_status: 502,
            kind: FailureKind::ServerError,
            message: "all targets failed".into(),
            ..f
        };
        let (s, b) = failure_response(&g, None, &[]);
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (502, Some("server_error"))
        );
    }

    #[test]
    fn bearer_tokens_compare_in_constant_time() {
        assert!(authorized(Some("Bearer abc"), &["x", "abc"]));
        assert!(!authorized(Some("Bearer abd"), &["abc"]));
        assert!(!authorized(Some("Bearer ab"), &["abc"]));
        assert!(!authorized(Some("abc"), &["abc"]));
        assert!(!authorized(None, &["abc"]));
        assert!(!authorized(Some("Bearer "), &[""]));
    }
}
