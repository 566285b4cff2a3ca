//! `POST /v1/chat/completions`: the OpenAI chat shape clients send, validated.

use super::ApiError;
use super::MAX_REQUEST_BYTES;
use serde_json::{json, Map, Value};

/// A validated chat-completions request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// What the client asked for: a chain or `provider/model`.
    pub model: String,
    /// The client asked for a stream.
    pub stream: bool,
    /// The whole request object, forwarded upstream with `model` replaced.
    pub body: Map<String, Value>,
}

/// Parses and validates a `POST /v1/chat/completions` body.
pub fn parse_chat_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(super::body_too_large(body.len()));
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

/// The SSE event that ends a client's stream after a failure: an OpenAI-style
/// `error` object, never `[DONE]`.
pub fn stream_error_event(kind: &str, message: &str) -> String {
    let body = json!({"error": {"message": message, "type": "upstream_error", "code": kind, "param": null}});
    format!("data: {body}\n\n")
}

/// The `[DONE]` marker.
pub const DONE_EVENT: &str = "data: [DONE]\n\n";
