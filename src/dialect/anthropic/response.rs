//! Non-streaming responses both ways, and the stop-reason and usage mappings the
//! streams share.

use crate::dialect::{count, openai_usage, str_of};
use serde_json::{json, Value};

/// Anthropic's `stop_reason` → OpenAI's `finish_reason`.
pub(crate) fn finish_reason(stop_reason: Option<&str>) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") => "tool_calls",
        Some("refusal") => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's `finish_reason` → Anthropic's `stop_reason`.
pub(crate) fn stop_reason(finish_reason: Option<&str>) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic `usage` → `(prompt, cached)`: the prompt counts every input token,
/// cache writes and reads included.
pub(crate) fn prompt_tokens(usage: &Value) -> (u64, u64) {
    let cached = count(usage, "cache_read_input_tokens");
    let prompt = count(usage, "input_tokens")
        .saturating_add(count(usage, "cache_creation_input_tokens"))
        .saturating_add(cached);
    (prompt, cached)
}

/// A Messages API response (a `message`) → an OpenAI `chat.completion`: text blocks
/// joined as `content` (null when there are only tool calls), `tool_use` blocks →
/// `tool_calls` (input as JSON text), `thinking` → `reasoning_content`;
/// `stop_reason` → `finish_reason` (end_turn / stop_sequence / pause_turn → stop,
/// max_tokens → length, tool_use → tool_calls, refusal → content_filter); `usage`
/// with `prompt_tokens` = input + cache writes + cache reads and
/// `prompt_tokens_details.cached_tokens` = cache reads (no `usage` when the message
/// has none). Other blocks (server tool results, redacted thinking) are left out.
///
/// `Err` (the body as text) when it is not a message: an error envelope, a
/// non-object, or no `content` list.
pub fn completion_from_message(msg: &Value) -> Result<Value, String> {
    let is_message = msg.is_object()
        && str_of(msg, "type").map_or(true, |t| t == "message")
        && msg.get("content").is_some_and(Value::is_array);
    if !is_message {
        return Err(msg.to_string());
    }
    let blocks = msg
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for b in blocks {
        match str_of(b, "type") {
            Some("text") => text.push_str(str_of(b, "text").unwrap_or("")),
            Some("thinking") => reasoning.push_str(str_of(b, "thinking").unwrap_or("")),
            Some("tool_use") => {
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": str_of(b, "id").unwrap_or(""),
                    "type": "function",
                    "function": {"name": str_of(b, "name").unwrap_or(""), "arguments": input.to_string()},
                }));
            }
            _ => {}
        }
    }
    let message = crate::dialect::assistant_message(text, calls, reasoning);
    let finish = finish_reason(str_of(msg, "stop_reason"));
    let mut out = json!({
        "id": str_of(msg, "id").unwrap_or(""),
        "object": "chat.completion",
        "created": 0,
        "model": str_of(msg, "model").unwrap_or(""),
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
    });
    if let Some(u) = msg.get("usage").filter(|u| u.is_object()) {
        let (prompt, cached) = prompt_tokens(u);
        out["usage"] = openai_usage(prompt, count(u, "output_tokens"), Some(cached), None);
    }
    Ok(out)
}

/// An OpenAI `chat.completion` → an Anthropic `message` for a `/v1/messages`
/// client asking for `model`: `reasoning_content` → a `thinking` block (with an
/// empty `signature`), content → a `text` block, `tool_calls` → `tool_use` blocks
/// (arguments that are not a JSON object become `{}`); `finish_reason` →
/// `stop_reason` (stop → end_turn, length → max_tokens, tool_calls → tool_use,
/// content_filter → refusal); `usage` → `input_tokens` (less the cached),
/// `cache_read_input_tokens` (the cached) and `output_tokens`. Never fails: a
/// value that is not a completion gives an empty message.
pub fn message_from_completion(c: &Value, model: &str) -> Value {
    let choice = c
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    let message = choice.and_then(|ch| ch.get("message"));
    let mut content = Vec::new();
    if let Some(r) = message
        .and_then(|m| str_of(m, "reasoning_content").or(str_of(m, "reasoning")))
        .filter(|r| !r.is_empty())
    {
        content.push(json!({"type": "thinking", "thinking": r, "signature": ""}));
    }
    let text = message
        .and_then(|m| crate::dialect::plain_text(m.get("content")))
        .unwrap_or_default();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    let calls = message
        .and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array);
    for call in calls.into_iter().flatten() {
        let f = call.get("function");
        let input = f
            .and_then(|f| str_of(f, "arguments"))
            .and_then(|a| serde_json::from_str::<Value>(a).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        content.push(json!({
            "type": "tool_use",
            "id": str_of(call, "id").unwrap_or(""),
            "name": f.and_then(|f| str_of(f, "name")).unwrap_or(""),
            "input": input,
        }));
    }
    let stop = stop_reason(choice.and_then(|ch| str_of(ch, "finish_reason")));
    let usage = c.get("usage").cloned().unwrap_or(Value::Null);
    json!({
        "id": str_of(c, "id").unwrap_or(""),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": anthropic_usage(&usage),
    })
}

/// OpenAI `usage` → Anthropic `usage`.
pub(crate) fn anthropic_usage(u: &Value) -> Value {
    let cached = u
        .get("prompt_tokens_details")
        .map_or(0, |d| count(d, "cached_tokens"));
    let prompt = count(u, "prompt_tokens");
    json!({
        "input_tokens": prompt.saturating_sub(cached),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": count(u, "completion_tokens"),
    })
}
