//! `streamGenerateContent?alt=sse` events → canonical OpenAI chunks.

use super::response::{finish_reason, parts, read_part, usage, Part};
use crate::dialect::{chunk, str_of, usage_chunk, Decoded};
use serde_json::{json, Value};

/// Reads one Gemini stream (the `data:` objects of one response) into canonical
/// `chat.completion.chunk` objects. Only the first candidate is read (a streaming
/// request with `n > 1` is not translated).
///
/// State: the `responseId` (stamped on every chunk), whether the role chunk went
/// out, how many function calls came (their indexes and `call_N` ids), the last
/// `finishReason` and the last `usageMetadata`.
///
/// The finish chunk is held until [`StreamDecoder::finish`]: older models repeat
/// `finishReason: STOP` on every chunk of a stream, so only the body's end tells
/// the last one.
#[derive(Debug, Clone, Default)]
pub struct StreamDecoder {
    model: String,
    include_usage: bool,
    id: String,
    started: bool,
    calls: u64,
    reason: Option<String>,
    blocked: bool,
    usage: Option<Value>,
    finished: bool,
}

impl StreamDecoder {
    /// A decoder for one stream; chunks report `model`; `include_usage` (the
    /// client's `stream_options.include_usage`) adds the usage chunk at the end.
    pub fn new(model: &str, include_usage: bool) -> Self {
        StreamDecoder {
            model: model.to_string(),
            include_usage,
            ..StreamDecoder::default()
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Decoded {
        Decoded::Chunk(chunk(&self.id, &self.model, delta, finish))
    }

    /// One `data:` object → a role chunk first, then a content (or
    /// `reasoning_content`) chunk per text part and a complete `tool_calls` chunk
    /// per function call (indexes from 0). An object with an `error` member is a
    /// [`Decoded::Error`] (its text).
    pub fn decode(&mut self, data: &Value) -> Vec<Decoded> {
        if data.get("error").is_some_and(|e| !e.is_null()) {
            return vec![Decoded::Error(data.to_string())];
        }
        let mut out = Vec::new();
        if !data.is_object() || self.finished {
            return out;
        }
        if self.id.is_empty() {
            self.id = str_of(data, "responseId").unwrap_or("").to_string();
        }
        if !self.started {
            self.started = true;
            out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
        }
        let candidate = data
            .get("candidates")
            .and_then(Value::as_array)
            .and_then(|c| c.first());
        if let Some(c) = candidate {
            for p in parts(c) {
                match read_part(p) {
                    Part::Text { text: "", .. } => {}
                    Part::Text {
                        text,
                        thought: true,
                    } => {
                        out.push(self.chunk(json!({"reasoning_content": text}), None));
                    }
                    Part::Text { text, .. } => out.push(self.chunk(json!({"content": text}), None)),
                    Part::Call { id, name, args } => {
                        let index = self.calls;
                        self.calls += 1;
                        let id = id.map_or_else(|| format!("call_{index}"), str::to_string);
                        let call = json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": args}});
                        out.push(self.chunk(json!({"tool_calls": [call]}), None));
                    }
                    Part::Other => {}
                }
            }
            if let Some(r) = str_of(c, "finishReason") {
                self.reason = Some(r.to_string());
            }
        }
        if data
            .get("promptFeedback")
            .and_then(|f| f.get("blockReason"))
            .is_some_and(|b| !b.is_null())
        {
            self.blocked = true;
        }
        if let Some(u) = data.get("usageMetadata").filter(|u| u.is_object()) {
            self.usage = Some(usage(u));
        }
        out
    }

    /// The HTTP body ended: the finish chunk (when a `finishReason` or a prompt
    /// block came), the usage chunk (when asked for and a `usageMetadata` came),
    /// then [`Decoded::Done`] if the stream finished. Nothing more after that; a
    /// stream with no finish gives no `Done` (it was cut).
    pub fn finish(&mut self) -> Vec<Decoded> {
        let mut out = Vec::new();
        if self.finished {
            return out;
        }
        self.finished = true;
        let finish = match (&self.reason, self.blocked) {
            (_, true) => Some("content_filter"),
            (Some(r), false) => Some(finish_reason(r, self.calls > 0)),
            (None, false) => None,
        };
        if let Some(f) = finish {
            out.push(self.chunk(json!({}), Some(f)));
        }
        if let (true, Some(u)) = (self.include_usage, &self.usage) {
            out.push(Decoded::Chunk(usage_chunk(
                &self.id,
                &self.model,
                u.clone(),
            )));
        }
        if finish.is_some() {
            out.push(Decoded::Done);
        }
        out
    }
}
