//! What a session asks of its host, and what the client receives.

use crate::api::{self, ClientApi};
use crate::exchange::upstream::UpstreamRequest;
use crate::failure::FailureKind;
use crate::run::{AttemptId, RunFailure};
use crate::sse::SseEvent;
use serde_json::json;

/// What the host must do next.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "every output is something the host must do"]
#[non_exhaustive]
pub enum Output {
    /// Send this request upstream (adding the key it names).
    Send(UpstreamRequest),
    /// Abort this attempt's request if it is still open (stop reading its body).
    Abort(AttemptId),
    /// The whole answer, or an error before any stream started.
    Respond(ClientResponse),
    /// The client's stream starts: send this head, then the events that follow.
    StreamStart(ClientHead),
    /// One piece of the client's stream, in order.
    StreamEvent(ClientEvent),
    /// Nothing more comes: the response (or the stream's last event) went out.
    Done,
}

/// A complete response to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientResponse {
    /// The HTTP status.
    pub status: u16,
    /// Its headers (content type, trace headers, `retry-after`).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: String,
    /// Why the run failed, for an error response.
    pub failure: Option<RunFailure>,
    /// `provider/model` of the target that answered, for an answer.
    pub target: Option<String>,
}

/// The head of the client's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHead {
    /// Its headers (content type, trace headers).
    pub headers: Vec<(String, String)>,
    /// `provider/model` of the target that started the answer.
    pub target: String,
}

/// One piece of the client's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A chunk object, as JSON text (`data: …`).
    Data(String),
    /// An event in the client API's own shape (`event:` and `data:`), as it came
    /// from an upstream of the same API or as the session encoded it.
    Native(SseEvent),
    /// An SSE comment (clients ignore it; people and tools can read it).
    Comment(String),
    /// The answer is complete (`[DONE]`; only chat-completions streams have it).
    Done,
    /// The stream failed and nothing could finish it: the end, never followed by
    /// `Done`.
    Error {
        /// The run's failure kind.
        kind: FailureKind,
        /// The client-facing error code.
        code: &'static str,
        /// What happened (keys redacted).
        message: String,
        /// The client's API (the error event's shape).
        api: ClientApi,
    },
}

impl ClientEvent {
    /// The event as SSE text, in the client API's shape.
    pub fn to_sse(&self) -> String {
        match self {
            ClientEvent::Data(data) => format!("data: {data}\n\n"),
            ClientEvent::Native(ev) => ev.to_sse(),
            ClientEvent::Comment(text) => format!(": {text}\n\n"),
            ClientEvent::Done => api::DONE_EVENT.to_string(),
            ClientEvent::Error {
                kind,
                code,
                message,
                api,
            } => match api {
                ClientApi::Messages => SseEvent {
                    event: Some("error".into()),
                    data: json!({"type": "error", "error": {
                        "type": api::anthropic_error_type(kind.client_status()), "message": message}})
                    .to_string(),
                }
                .to_sse(),
                ClientApi::Responses => SseEvent {
                    event: Some("error".into()),
                    data: json!({"type": "error", "code": code, "message": message, "param": null})
                        .to_string(),
                }
                .to_sse(),
                _ => api::stream_error_event(code, message),
            },
        }
    }
}
