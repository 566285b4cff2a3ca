//! Client requests: the APIs clients speak to the gateway, each validated with
//! precise errors, into one [`ClientRequest`].

use super::ApiError;
use super::MAX_REQUEST_BYTES;
use serde_json::{json, Map, Value};

/// The API a client speaks to the gateway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientApi {
    /// OpenAI chat completions (`POST /v1/chat/completions`).
    #[default]
    Chat,
    /// Anthropic Messages (`POST /v1/messages`): Anthropic's request, response,
    /// event and error shapes.
    Messages,
    /// OpenAI Responses (`POST /v1/responses`), passed through to OpenAI-dialect
    /// targets.
    Responses,
    /// OpenAI embeddings (`POST /v1/embeddings`).
    Embeddings,
}

impl ClientApi {
    /// The API's path under the gateway.
    pub fn path(self) -> &'static str {
        match self {
            ClientApi::Chat => "/v1/chat/completions",
            ClientApi::Messages => "/v1/messages",
            ClientApi::Responses => "/v1/responses",
            ClientApi::Embeddings => "/v1/embeddings",
        }
    }

    /// The name used in `/v1/models` and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientApi::Chat => "chat.completions",
            ClientApi::Messages => "messages",
            ClientApi::Responses => "responses",
            ClientApi::Embeddings => "embeddings",
        }
    }

    /// Every client API.
    pub const ALL: [ClientApi; 4] = [
        ClientApi::Chat,
        ClientApi::Messages,
        ClientApi::Responses,
        ClientApi::Embeddings,
    ];
}

/// A validated client request.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientRequest {
    /// The API it came in.
    pub api: ClientApi,
    /// What the client asked for: a chain or `provider/model`.
    pub model: String,
    /// The client asked for a stream.
    pub stream: bool,
    /// The whole request object, forwarded upstream with `model` replaced (or
    /// translated for a target of another API).
    pub body: Map<String, Value>,
}

/// A chat-completions request (the canonical client request).
pub type ChatRequest = ClientRequest;

/// Parses and validates a `POST /v1/chat/completions` body.
pub fn parse_chat_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    parse_request(ClientApi::Chat, body)
}

fn field_error(message: impl Into<String>, param: &str) -> ApiError {
    ApiError::invalid(message).param(param)
}

/// Parses and validates a request body of `api`.
pub fn parse_request(api: ClientApi, body: &[u8]) -> Result<ClientRequest, ApiError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(super::body_too_large(body.len()));
    }
    let needs = match api {
        ClientApi::Chat => "`model` and `messages`",
        ClientApi::Messages => "`model`, `max_tokens` and `messages`",
        ClientApi::Responses | ClientApi::Embeddings => "`model` and `input`",
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(format!(
            "request body is empty; send a JSON object with {needs}"
        )));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(format!("request body is not valid JSON: {e}")).code("invalid_json")
    })?;
    let Value::Object(obj) = value else {
        return Err(ApiError::invalid("request body must be a JSON object"));
    };
    let model = match obj.get("model") {
        None => return Err(field_error("missing required field `model`", "model")),
        Some(Value::String(m)) if !m.trim().is_empty() => m.trim().to_string(),
        Some(Value::String(_)) => return Err(field_error("`model` must not be empty", "model")),
        Some(_) => return Err(field_error("`model` must be a string", "model")),
    };
    match api {
        ClientApi::Chat | ClientApi::Messages => check_messages(&obj)?,
        ClientApi::Responses => check_input(&obj, false)?,
        ClientApi::Embeddings => check_input(&obj, true)?,
    }
    if api == ClientApi::Messages {
        match obj.get("max_tokens") {
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n > 0) => {}
            None => {
                return Err(field_error(
                    "missing required field `max_tokens`",
                    "max_tokens",
                ))
            }
            Some(_) => {
                return Err(field_error(
                    "`max_tokens` must be a positive integer",
                    "max_tokens",
                ))
            }
        }
    }
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(field_error("`stream` must be a boolean", "stream")),
    };
    if stream && api == ClientApi::Embeddings {
        return Err(field_error("embeddings cannot be streamed", "stream"));
    }
    Ok(ClientRequest {
        api,
        model,
        stream,
        body: obj,
    })
}

fn check_messages(obj: &Map<String, Value>) -> Result<(), ApiError> {
    match obj.get("messages") {
        None => Err(field_error("missing required field `messages`", "messages")),
        Some(Value::Array(a)) if a.is_empty() => Err(field_error(
            "`messages` must contain at least one message",
            "messages",
        )),
        Some(Value::Array(a)) => match a.iter().position(|m| !m.is_object()) {
            Some(i) => Err(field_error(
                format!("`messages[{i}]` must be an object"),
                "messages",
            )),
            None => Ok(()),
        },
        Some(_) => Err(field_error("`messages` must be an array", "messages")),
    }
}

fn check_input(obj: &Map<String, Value>, embeddings: bool) -> Result<(), ApiError> {
    match obj.get("input") {
        None => Err(field_error("missing required field `input`", "input")),
        Some(Value::String(s)) if embeddings && s.is_empty() => {
            Err(field_error("`input` must not be empty", "input"))
        }
        Some(Value::String(_)) => Ok(()),
        Some(Value::Array(a)) if a.is_empty() => {
            Err(field_error("`input` must not be an empty list", "input"))
        }
        Some(Value::Array(_)) => Ok(()),
        Some(_) => Err(field_error(
            if embeddings {
                "`input` must be a string or a list (of strings or token lists)"
            } else {
                "`input` must be a string or a list of input items"
            },
            "input",
        )),
    }
}

/// The SSE event that ends a chat-completions client's stream after a failure: an
/// OpenAI-style `error` object, never `[DONE]`.
pub fn stream_error_event(kind: &str, message: &str) -> String {
    let body = json!({"error": {"message": message, "type": "upstream_error", "code": kind, "param": null}});
    format!("data: {body}\n\n")
}

/// The `[DONE]` marker.
pub const DONE_EVENT: &str = "data: [DONE]\n\n";
