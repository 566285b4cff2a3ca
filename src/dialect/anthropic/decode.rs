//! Anthropic's SSE event stream → canonical OpenAI chunks.

use super::is_error_event;
use super::response::{finish_reason, prompt_tokens};
use crate::dialect::{chunk, count, openai_usage, str_of, usage_chunk, Decoded};
use serde_json::{json, Value};

/// Reads one Anthropic Messages stream (the events of one response) into
/// canonical `chat.completion.chunk` objects.
///
/// State: the message's `id` and `model` (from `message_start`, stamped on every
/// chunk), the input and output token counts (from `message_start` and the
/// cumulative `message_delta` usage), and which content block is which tool call
/// (tool calls are numbered from 0 in the order their blocks start).
#[derive(Debug, Clone, Default)]
pub struct StreamDecoder {
    include_usage: bool,
    id: String,
    model: String,
    prompt: u64,
    cached: u64,
    output: u64,
    /// `(content block index, tool call index)` of every tool_use block so far.
    tools: Vec<(u64, u64)>,
}

impl StreamDecoder {
    /// A decoder for one stream; `include_usage` (the client's
    /// `stream_options.include_usage`) adds the `choices: []` usage chunk before
    /// the end.
    pub fn new(include_usage: bool) -> Self {
        StreamDecoder {
            include_usage,
            ..StreamDecoder::default()
        }
    }

    /// One native event (`event` is the SSE `event:` field, `data` its parsed data)
    /// → what it means: `message_start` → a role chunk; text deltas → content
    /// chunks; a `tool_use` block start → a `tool_calls` chunk (index, id, name,
    /// empty arguments), its `input_json_delta`s → argument chunks;
    /// `thinking_delta` → `reasoning_content` chunks; `message_delta` with a
    /// `stop_reason` → the finish chunk; `message_stop` → the usage chunk (when
    /// asked for) and [`Decoded::Done`]; an `error` event → [`Decoded::Error`].
    /// `ping`, `content_block_stop`, `signature_delta`, citations and unknown
    /// events give nothing. The data's `type` decides; the `event:` name is the
    /// fallback (streams without `event:` lines exist).
    pub fn decode(&mut self, event: Option<&str>, data: &Value) -> Vec<Decoded> {
        if is_error_event(event, data) {
            return vec![Decoded::Error(data.to_string())];
        }
        let kind = str_of(data, "type").or(event).unwrap_or("");
        match kind {
            "message_start" => self.message_start(data),
            "content_block_start" => self.block_start(data),
            "content_block_delta" => self.block_delta(data),
            "message_delta" => self.message_delta(data),
            "message_stop" => {
                let mut out = Vec::new();
                if self.include_usage {
                    let usage = openai_usage(self.prompt, self.output, Some(self.cached), None);
                    out.push(Decoded::Chunk(usage_chunk(&self.id, &self.model, usage)));
                }
                out.push(Decoded::Done);
                out
            }
            _ => Vec::new(),
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Vec<Decoded> {
        vec![Decoded::Chunk(chunk(&self.id, &self.model, delta, finish))]
    }

    fn message_start(&mut self, data: &Value) -> Vec<Decoded> {
        let msg = data.get("message").unwrap_or(&Value::Null);
        self.id = str_of(msg, "id").unwrap_or("").to_string();
        self.model = str_of(msg, "model").unwrap_or("").to_string();
        if let Some(u) = msg.get("usage").filter(|u| u.is_object()) {
            (self.prompt, self.cached) = prompt_tokens(u);
            self.output = count(u, "output_tokens");
        }
        self.chunk(json!({"role": "assistant", "content": ""}), None)
    }

    fn block_start(&mut self, data: &Value) -> Vec<Decoded> {
        let block = data.get("content_block").unwrap_or(&Value::Null);
        match str_of(block, "type") {
            Some("text") => match str_of(block, "text").filter(|t| !t.is_empty()) {
                Some(t) => self.chunk(json!({"content": t}), None),
                None => Vec::new(),
            },
            Some("thinking") => match str_of(block, "thinking").filter(|t| !t.is_empty()) {
                Some(t) => self.chunk(json!({"reasoning_content": t}), None),
                None => Vec::new(),
            },
            Some("tool_use") => {
                let index = self.tools.len() as u64;
                self.tools.push((count(data, "index"), index));
                let call = json!({
                    "index": index,
                    "id": str_of(block, "id").unwrap_or(""),
                    "type": "function",
                    "function": {"name": str_of(block, "name").unwrap_or(""), "arguments": ""},
                });
                self.chunk(json!({"tool_calls": [call]}), None)
            }
            _ => Vec::new(),
        }
    }

    fn block_delta(&mut self, data: &Value) -> Vec<Decoded> {
        let delta = data.get("delta").unwrap_or(&Value::Null);
        let text = |k: &str| str_of(delta, k).filter(|t| !t.is_empty());
        match str_of(delta, "type") {
            Some("text_delta") => match text("text") {
                Some(t) => self.chunk(json!({"content": t}), None),
                None => Vec::new(),
            },
            Some("thinking_delta") => match text("thinking") {
                Some(t) => self.chunk(json!({"reasoning_content": t}), None),
                None => Vec::new(),
            },
            Some("input_json_delta") => {
                let block = count(data, "index");
                let tool = self
                    .tools
                    .iter()
                    .find(|(b, _)| *b == block)
                    .map(|(_, t)| *t);
                match (tool, text("partial_json")) {
                    (Some(index), Some(part)) => self.chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": part}}]}),
                        None,
                    ),
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    fn message_delta(&mut self, data: &Value) -> Vec<Decoded> {
        if let Some(u) = data.get("usage").filter(|u| u.is_object()) {
            if u.get("output_tokens").is_some() {
                self.output = count(u, "output_tokens");
            }
            if u.get("input_tokens").is_some() {
                (self.prompt, self.cached) = prompt_tokens(u);
            }
        }
        let stop = data.get("delta").and_then(|d| str_of(d, "stop_reason"));
        match stop {
            Some(s) => self.chunk(json!({}), Some(finish_reason(Some(s)))),
            None => Vec::new(),
        }
    }
}
