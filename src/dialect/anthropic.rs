//! Anthropic's Messages API (`POST /v1/messages`) ⇄ the canonical OpenAI chat
//! shape: requests both ways ([`request_from_chat`], [`chat_from_request`]),
//! responses both ways ([`completion_from_message`], [`message_from_completion`]),
//! the SSE stream both ways ([`StreamDecoder`], [`StreamEncoder`]) and the error
//! envelope ([`error_type`], [`error_status`], [`error_body`]).
//!
//! Requests to Anthropic carry the `anthropic-version: ` [`API_VERSION`] header.

mod decode;
mod encode;
mod request;
mod response;
mod reverse;

pub use decode::StreamDecoder;
pub use encode::StreamEncoder;
pub use request::request_from_chat;
pub use response::{completion_from_message, message_from_completion};
pub use reverse::chat_from_request;

use crate::failure::FailureKind;
use serde_json::{json, Value};

/// The `max_tokens` sent when the chat request has neither `max_tokens` nor
/// `max_completion_tokens` (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The `anthropic-version` header value the translation is written against.
pub const API_VERSION: &str = "2023-06-01";

/// The Anthropic `error.type` for a failure, after Anthropic's documented error
/// types (<https://docs.claude.com/en/api/errors>):
///
/// | kind | type | status ([`error_status`]) |
/// | --- | --- | --- |
/// | `invalid_request`, `context_length`, `content_filtered` | `invalid_request_error` | 400 |
/// | `auth` | `authentication_error` | 401 |
/// | `quota_exhausted` | `billing_error` | 402 |
/// | `model_not_found` | `not_found_error` | 404 |
/// | `request_too_large` | `request_too_large` | 413 |
/// | `rate_limited` | `rate_limit_error` | 429 |
/// | `server_error`, `unknown` | `api_error` | 500 |
/// | `connection`, `invalid_response` | `api_error` | 502 |
/// | `timeout` | `timeout_error` | 504 |
/// | `overloaded` | `overloaded_error` | 529 |
pub fn error_type(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::InvalidRequest | FailureKind::ContextLength | FailureKind::ContentFiltered => {
            "invalid_request_error"
        }
        FailureKind::Auth => "authentication_error",
        FailureKind::QuotaExhausted => "billing_error",
        FailureKind::ModelNotFound => "not_found_error",
        FailureKind::RequestTooLarge => "request_too_large",
        FailureKind::RateLimited => "rate_limit_error",
        FailureKind::ServerError
        | FailureKind::Unknown
        | FailureKind::Connection
        | FailureKind::InvalidResponse => "api_error",
        FailureKind::Timeout => "timeout_error",
        FailureKind::Overloaded => "overloaded_error",
    }
}

/// The HTTP status that goes with [`error_type`] (see its table).
pub fn error_status(kind: FailureKind) -> u16 {
    match kind {
        FailureKind::InvalidRequest | FailureKind::ContextLength | FailureKind::ContentFiltered => {
            400
        }
        FailureKind::Auth => 401,
        FailureKind::QuotaExhausted => 402,
        FailureKind::ModelNotFound => 404,
        FailureKind::RequestTooLarge => 413,
        FailureKind::RateLimited => 429,
        FailureKind::ServerError | FailureKind::Unknown => 500,
        FailureKind::Connection | FailureKind::InvalidResponse => 502,
        FailureKind::Timeout => 504,
        FailureKind::Overloaded => 529,
    }
}

/// Anthropic's error body: `{"type":"error","error":{"type","message"}}`.
pub fn error_body(kind: FailureKind, message: &str) -> String {
    json!({"type": "error", "error": {"type": error_type(kind), "message": message}}).to_string()
}

/// The event is an in-stream error: `event: error`, or data whose `type` is
/// `error`.
pub fn is_error_event(event: Option<&str>, data: &Value) -> bool {
    event == Some("error") || data.get("type").and_then(Value::as_str) == Some("error")
}
