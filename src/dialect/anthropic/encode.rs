//! Canonical OpenAI chunks → Anthropic's SSE event stream (for `/v1/messages`
//! clients whose answer came from another dialect).

use super::error_type;
use super::response::{anthropic_usage, stop_reason};
use crate::dialect::{count, str_of};
use crate::failure::FailureKind;
use crate::sse::SseEvent;
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool_use block for the OpenAI tool call of this index.
    Tool(u64),
}

/// Writes canonical chunks as the Anthropic Messages event stream, in the
/// documented order: `message_start`; per text, thinking or tool_use block
/// `content_block_start`, its `content_block_delta`s (`text_delta`,
/// `thinking_delta`, `input_json_delta`) and `content_block_stop`; then (from
/// [`StreamEncoder::finish`]) `message_delta` with the `stop_reason` and
/// `usage.output_tokens` (with `input_tokens` when a usage chunk came) and
/// `message_stop`. No `ping`s.
///
/// State: the message id (the first chunk's `id`), the open block and the next
/// block index, the mapped finish reason, the last usage seen, and whether the
/// stream has ended (after [`StreamEncoder::finish`] or
/// [`StreamEncoder::error`] nothing more is written).
#[derive(Debug, Clone)]
pub struct StreamEncoder {
    model: String,
    id: Option<String>,
    started: bool,
    open: Option<(u64, Block)>,
    next: u64,
    stop: Option<&'static str>,
    usage: Option<Value>,
    ended: bool,
}

fn event(name: &str, data: Value) -> SseEvent {
    SseEvent {
        event: Some(name.to_string()),
        data: data.to_string(),
    }
}

impl StreamEncoder {
    /// An encoder for one answer, reporting `model` (the model the client asked for).
    pub fn new(model: &str) -> Self {
        StreamEncoder {
            model: model.to_string(),
            id: None,
            started: false,
            open: None,
            next: 0,
            stop: None,
            usage: None,
            ended: false,
        }
    }

    /// One canonical chunk → the events it completes. Only the first choice is
    /// read; a usage chunk (`choices: []`) is remembered for `message_delta`.
    pub fn encode(&mut self, chunk: &Value) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.ended || !chunk.is_object() {
            return out;
        }
        if self.id.is_none() {
            self.id = str_of(chunk, "id").map(str::to_string);
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(u.clone());
        }
        self.start(&mut out);
        let choice = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first());
        let Some(choice) = choice else {
            return out;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        let text = |k: &str| str_of(delta, k).filter(|t| !t.is_empty());
        if let Some(t) = text("reasoning_content").or_else(|| text("reasoning")) {
            self.open_block(Block::Thinking, None, &mut out);
            self.delta(json!({"type": "thinking_delta", "thinking": t}), &mut out);
        }
        if let Some(t) = text("content").or_else(|| text("refusal")) {
            self.open_block(Block::Text, None, &mut out);
            self.delta(json!({"type": "text_delta", "text": t}), &mut out);
        }
        let calls = delta.get("tool_calls").and_then(Value::as_array);
        for call in calls.into_iter().flatten() {
            self.tool_call(call, &mut out);
        }
        if let Some(f) = str_of(choice, "finish_reason") {
            self.close(&mut out);
            self.stop = Some(stop_reason(Some(f)));
        }
        out
    }

    /// The canonical stream ended well (`[DONE]`, or the body's end after a
    /// finish): the open block's `content_block_stop`, `message_delta` and
    /// `message_stop` (and `message_start` first if nothing came at all).
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.start(&mut out);
        self.close(&mut out);
        self.ended = true;
        let mut usage = json!({"output_tokens": 0});
        if let Some(u) = &self.usage {
            let a = anthropic_usage(u);
            usage = json!({
                "input_tokens": count(&a, "input_tokens"),
                "cache_read_input_tokens": count(&a, "cache_read_input_tokens"),
                "output_tokens": count(&a, "output_tokens"),
            });
        }
        out.push(event(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": self.stop.unwrap_or("end_turn"), "stop_sequence": null},
                "usage": usage,
            }),
        ));
        out.push(event("message_stop", json!({"type": "message_stop"})));
        out
    }

    /// The answer failed (before or after content): Anthropic's in-stream `error`
    /// event, `{"type":"error","error":{"type": error_type(kind), "message"}}`.
    /// The stream ends there.
    pub fn error(&mut self, kind: FailureKind, message: &str) -> SseEvent {
        self.ended = true;
        event(
            "error",
            json!({"type": "error", "error": {"type": error_type(kind), "message": message}}),
        )
    }

    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = self.id.clone().unwrap_or_else(|| "msg_gateway".to_string());
        out.push(event(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": self.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }}),
        ));
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    /// Opens a block of `kind` unless it is the one open (`start`: a tool_use
    /// block's `content_block` to announce).
    fn open_block(&mut self, kind: Block, start: Option<Value>, out: &mut Vec<SseEvent>) {
        if self.open.map(|(_, k)| k) == Some(kind) {
            return;
        }
        self.close(out);
        let index = self.next;
        self.next += 1;
        self.open = Some((index, kind));
        let block = match (kind, start) {
            (_, Some(b)) => b,
            (Block::Thinking, None) => json!({"type": "thinking", "thinking": "", "signature": ""}),
            _ => json!({"type": "text", "text": ""}),
        };
        out.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
    }

    fn delta(&mut self, delta: Value, out: &mut Vec<SseEvent>) {
        if let Some((index, _)) = self.open {
            out.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
    }

    fn tool_call(&mut self, call: &Value, out: &mut Vec<SseEvent>) {
        let index = count(call, "index");
        let f = call.get("function").unwrap_or(&Value::Null);
        if self.open.map(|(_, k)| k) != Some(Block::Tool(index)) {
            let id = str_of(call, "id")
                .filter(|i| !i.is_empty())
                .map_or_else(|| format!("toolu_{index}"), str::to_string);
            let block = json!({
                "type": "tool_use",
                "id": id,
                "name": str_of(f, "name").unwrap_or(""),
                "input": {},
            });
            self.open_block(Block::Tool(index), Some(block), out);
        }
        if let Some(args) = str_of(f, "arguments").filter(|a| !a.is_empty()) {
            self.delta(
                json!({"type": "input_json_delta", "partial_json": args}),
                out,
            );
        }
    }
}
