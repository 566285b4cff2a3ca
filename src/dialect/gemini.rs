//! Gemini's `generateContent` / `streamGenerateContent?alt=sse` ⇄ the canonical
//! OpenAI chat shape: requests ([`request_from_chat`], [`url`]), responses
//! ([`completion_from_response`]) and streams ([`StreamDecoder`]).

mod decode;
mod request;
mod response;

pub use decode::StreamDecoder;
pub use request::request_from_chat;
pub use response::completion_from_response;

/// The endpoint for `model` under `base_url` (e.g.
/// `https://generativelanguage.googleapis.com/v1beta`):
/// `{base}/models/{model}:generateContent`, or
/// `{base}/models/{model}:streamGenerateContent?alt=sse` when streaming. A model
/// already named `models/…` (or `tunedModels/…`) is not prefixed again.
pub fn url(base_url: &str, model: &str, stream: bool) -> String {
    let base = base_url.trim_end_matches('/');
    let method = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    if model.starts_with("models/") || model.starts_with("tunedModels/") {
        format!("{base}/{model}:{method}")
    } else {
        format!("{base}/models/{model}:{method}")
    }
}
