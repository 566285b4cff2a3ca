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

/// What a failed run answers: the upstream's own error when the run says to pass it
/// on (`upstream` holds that attempt's status and body), else an OpenAI-style error
/// naming every attempt. Every key the request used is redacted, in every form.
pub fn failure_response(
    f: &RunFailure,
    upstream: Option<(u16, &str)>,
    redactor: &Redactor,
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
    (f.http_status, e.body())
}

/// `Retry-After` seconds for a wait of `ms` (rounded up, at least 1).
pub fn retry_after_secs(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

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
