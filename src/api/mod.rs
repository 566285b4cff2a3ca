//! The client-facing edge of the gateway, shared by every host: validating client
//! requests, gateway auth, and the shapes of the answers and errors clients see.
//! Pure functions, no I/O: the Worker and the browser package call the same code.

pub mod chat;
pub mod edge;
pub mod report;

pub use chat::{
    parse_chat_request, parse_request, stream_error_event, ChatRequest, ClientApi, ClientRequest,
    DONE_EVENT,
};

use crate::config::{Config, RouteError};
use crate::cooldown::CooldownTable;
use crate::redact::Redactor;
use crate::run::{AttemptRecord, RunFailure};
use crate::time::Timestamp;
use serde_json::{json, Value};

/// The largest client request body accepted (bytes).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// A client-facing error: HTTP status plus an OpenAI-style body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// OpenAI's `error.type` (`invalid_request_error`, `authentication_error`, …).
    pub kind: &'static str,
    /// OpenAI's `error.code`, when there is one.
    pub code: Option<String>,
    /// OpenAI's `error.param`: the request field at fault.
    pub param: Option<String>,
    /// What went wrong, precisely.
    pub message: String,
}

impl ApiError {
    /// An error with a status, a type and a message.
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            code: None,
            param: None,
            message: message.into(),
        }
    }
    /// With `error.code`.
    pub fn code(mut self, code: &str) -> ApiError {
        self.code = Some(code.to_string());
        self
    }
    /// With `error.param`.
    pub fn param(mut self, param: &str) -> ApiError {
        self.param = Some(param.to_string());
        self
    }
    /// A 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_request_error", message)
    }
    /// The body for a client of `api`: OpenAI's shape, or Anthropic's for a
    /// Messages client (`{"type": "error", "error": {"type", "message"}}`).
    pub fn body_for(&self, api: ClientApi) -> String {
        match api {
            ClientApi::Messages => json!({"type": "error", "error": {
                "type": anthropic_error_type(self.status), "message": self.message}})
            .to_string(),
            _ => self.body(),
        }
    }

    /// The JSON body: `{"error": {"message", "type", "param", "code"}}`.
    pub fn body(&self) -> String {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}).to_string()
    }
}

/// Anthropic's error type for an HTTP status (its documented table).
pub fn anthropic_error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
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

/// The error for a `model` that names neither a chain nor a provider.
pub fn route_error(e: &RouteError) -> ApiError {
    ApiError::new(404, "invalid_request_error", e.to_string())
        .param("model")
        .code("model_not_found")
}

/// `provider/model=kind` per attempt, comma-separated (the `x-llm-failover-attempts`
/// header). Key names are left out.
pub fn attempts_header(attempts: &[AttemptRecord]) -> String {
    attempts
        .iter()
        .map(|a| {
            let outcome = a.outcome().unwrap_or("streaming");
            format!("{}/{}={}", a.provider, a.model, outcome)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a failed run answers a client of `client`: the upstream's own error when
/// the run says to pass it on (`upstream` holds that attempt's status and body, when
/// it is in the client API's shape), else an error in the client API's shape naming
/// every attempt. Every key the request used is redacted, in every form.
pub fn failure_response(
    f: &RunFailure,
    upstream: Option<(u16, &str)>,
    redactor: &Redactor,
    client: ClientApi,
) -> (u16, String) {
    if let (Some(_), Some((status, body))) = (f.propagate, upstream) {
        let body = redactor.redact(body);
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
    let e = ApiError::new(f.http_status, kind, redactor.redact(&f.message)).code(f.code());
    (f.http_status, e.body_for(client))
}

/// `Retry-After` seconds for a wait of `ms` (rounded up, at least 1).
pub fn retry_after_secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

/// `GET /v1/models`: every chain and every `provider/model` a client may name,
/// each with the client APIs it can route (`apis`: an API is listed when at least
/// one of its targets can serve it, e.g. no `responses` for a chain of native
/// Anthropic targets) and its targets.
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
            let targets = config
                .route(&id)
                .map(|r| r.chain.targets.clone())
                .unwrap_or_default();
            let apis: Vec<&str> = ClientApi::ALL
                .into_iter()
                .filter(|api| {
                    targets
                        .iter()
                        .any(|t| crate::exchange::upstream::serves(t.dialect, t.api, *api).is_ok())
                })
                .map(ClientApi::as_str)
                .collect();
            let names: Vec<String> = targets
                .iter()
                .map(|t| format!("{}/{}", t.provider, t.model))
                .collect();
            json!({"id": id, "object": "model", "created": 0, "owned_by": owned_by,
                   "apis": apis, "targets": names})
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

/// Compares two secrets in time independent of where they differ (and of how
/// long the common prefix is): every byte of the longer one is read.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    diff == 0
}

/// The credential of an `Authorization` header value, when its scheme is `Bearer`
/// (case-insensitive, RFC 9110 §11.1).
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether a request carries one of `tokens`: as `Authorization: Bearer <token>`
/// (any case of the scheme), or as `x-api-key: <token>` (what the Anthropic SDK
/// and Claude Code send).
pub fn authorized(authorization: Option<&str>, x_api_key: Option<&str>, tokens: &[&str]) -> bool {
    let Some(given) = authorization
        .and_then(bearer_token)
        .or_else(|| x_api_key.map(str::trim).filter(|k| !k.is_empty()))
    else {
        return false;
    };
    // Compare against every (non-empty) token, with no early exit.
    tokens
        .iter()
        .filter(|t| !t.is_empty())
        .fold(false, |ok, t| {
            constant_time_eq(given.as_bytes(), t.as_bytes()) | ok
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::FailureKind;
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

    #[test]
    fn failures_propagate_the_upstream_error_redacted_or_explain_every_attempt() {
        let f = RunFailure {
            kind: FailureKind::InvalidRequest,
            message: "m".into(),
            http_status: 400,
            propagate: Some(AttemptId(0)),
            after_commit: false,
            retry_after_ms: None,
            cause: crate::run::EndCause::Upstream,
        };
        let upstream = r#"{"error":{"message":"bad key sk-live-secret-value-123 here"}}"#;
        let (s, b) = failure_response(
            &f,
            Some((400, upstream)),
            &Redactor::new(["sk-live-secret-value-123"]),
            ClientApi::Chat,
        );
        assert_eq!(s, 400);
        assert!(!b.contains("secret-value") && b.contains("[redacted]"));
        let g = RunFailure {
            propagate: None,
            http_status: 502,
            kind: FailureKind::ServerError,
            message: "all targets failed".into(),
            ..f
        };
        let (s, b) = failure_response(&g, None, &Redactor::default(), ClientApi::Chat);
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (502, Some("server_error"))
        );
    }

    #[test]
    fn bearer_tokens_compare_in_constant_time() {
        assert!(authorized(Some("Bearer abc"), None, &["x", "abc"]));
        assert!(authorized(Some("BEARER abc"), None, &["abc"]));
        assert!(authorized(Some("bEaReR  abc "), None, &["abc"]));
        assert!(authorized(None, Some("abc"), &["abc"]));
        assert!(!authorized(Some("Bearer abd"), None, &["abc"]));
        assert!(!authorized(Some("Bearer ab"), None, &["abc"]));
        assert!(!authorized(Some("abc"), None, &["abc"]));
        assert!(!authorized(Some("Basic abc"), None, &["abc"]));
        assert!(!authorized(None, None, &["abc"]));
        assert!(!authorized(Some("Bearer "), None, &[""]));
        // Lengths are compared in full: a prefix never matches, whatever the gap.
        let long = "a".repeat(65_536 + 3);
        assert!(!constant_time_eq(long.as_bytes(), &long.as_bytes()[..3]));
        assert!(!constant_time_eq(b"abc", long.as_bytes()));
        assert!(constant_time_eq(long.as_bytes(), long.as_bytes()));
    }

    #[test]
    fn messages_clients_get_anthropic_shaped_errors() {
        let e = ApiError::invalid("missing required field `max_tokens`").param("max_tokens");
        let v: Value = serde_json::from_str(&e.body_for(ClientApi::Messages)).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        let err = parse_request(
            ClientApi::Messages,
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("max_tokens"));
        let r = parse_request(
            ClientApi::Embeddings,
            br#"{"model":"m","input":"hi","stream":true}"#,
        )
        .unwrap_err();
        assert_eq!(r.param.as_deref(), Some("stream"));
        assert!(parse_request(
            ClientApi::Responses,
            br#"{"model":"m","input":[{"role":"user","content":"hi"}]}"#
        )
        .is_ok());
    }
}
