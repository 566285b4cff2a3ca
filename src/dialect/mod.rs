//! Translation between the OpenAI chat-completions shape (the gateway's canonical
//! form: every stream the session reads is OpenAI chunks) and the providers' own
//! APIs. Pure functions and small state machines, one module per dialect, no I/O.
//!
//! - [`anthropic`]: the Messages API (requests both ways, responses both ways, the
//!   SSE event stream both ways, the error shape).
//! - [`gemini`]: `generateContent` / `streamGenerateContent?alt=sse`.

pub mod anthropic;
pub mod gemini;

use serde_json::Value;

/// A request uses something the target's API cannot express: the target is not
/// eligible for it (the run moves on), and the message says what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untranslatable {
    /// The request field at fault.
    pub param: Option<String>,
    /// What cannot be translated, and why.
    pub message: String,
}

impl Untranslatable {
    /// `param` cannot be translated: `message`.
    pub fn new(param: &str, message: impl Into<String>) -> Untranslatable {
        Untranslatable {
            param: Some(param.to_string()),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Untranslatable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a native stream event means in the canonical stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Decoded {
    /// An OpenAI `chat.completion.chunk` object.
    Chunk(Value),
    /// The native stream says it is complete (Anthropic's `message_stop`).
    Done,
    /// An in-band error event: its data as it came (the classifier reads the
    /// provider's own envelope).
    Error(String),
}
