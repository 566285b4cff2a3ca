//! Responses: `GenerateContentResponse` → `chat.completion`, and the parts,
//! finish-reason and usage readings the stream shares.

use crate::dialect::{count, openai_usage, str_of};
use serde_json::{json, Value};

/// Gemini's `finishReason` → OpenAI's `finish_reason` (`calls`: the candidate
/// called a function).
pub(crate) fn finish_reason(reason: &str, calls: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => "content_filter",
        _ if calls => "tool_calls",
        _ => "stop",
    }
}

/// `usageMetadata` → OpenAI `usage`: completion = candidates + thoughts tokens,
/// `cached_tokens` = `cachedContentTokenCount`, `reasoning_tokens` = thoughts.
pub(crate) fn usage(meta: &Value) -> Value {
    let thoughts = count(meta, "thoughtsTokenCount");
    openai_usage(
        count(meta, "promptTokenCount"),
        count(meta, "candidatesTokenCount").saturating_add(thoughts),
        Some(count(meta, "cachedContentTokenCount")),
        (thoughts > 0).then_some(thoughts),
    )
}

/// A candidate's parts (a list, or the single object the REST API also accepts).
pub(crate) fn parts(candidate: &Value) -> Vec<&Value> {
    match candidate.get("content").and_then(|c| c.get("parts")) {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(p @ Value::Object(_)) => vec![p],
        _ => Vec::new(),
    }
}

/// What one part says: its text (and whether it is a thought), or a function
/// call `(id, name, arguments as JSON text)`.
pub(crate) enum Part<'a> {
    Text {
        text: &'a str,
        thought: bool,
    },
    Call {
        id: Option<&'a str>,
        name: &'a str,
        args: String,
    },
    Other,
}

pub(crate) fn read_part(p: &Value) -> Part<'_> {
    if let Some(f) = p.get("functionCall").filter(|f| f.is_object()) {
        let args = f.get("args").cloned().unwrap_or_else(|| json!({}));
        return Part::Call {
            id: str_of(f, "id").filter(|i| !i.is_empty()),
            name: str_of(f, "name").unwrap_or(""),
            args: args.to_string(),
        };
    }
    match str_of(p, "text") {
        Some(text) => Part::Text {
            text,
            thought: p.get("thought").and_then(Value::as_bool) == Some(true),
        },
        None => Part::Other,
    }
}

/// A `GenerateContentResponse` → an OpenAI `chat.completion` (one choice per
/// candidate): text parts joined as `content`, thought parts as
/// `reasoning_content`, `functionCall` parts → `tool_calls` (ids `call_0`,
/// `call_1`, … unless the call has its own `id`; args as JSON text);
/// `finishReason` STOP → stop, MAX_TOKENS → length, SAFETY / RECITATION /
/// BLOCKLIST / PROHIBITED_CONTENT / SPII / IMAGE_SAFETY → content_filter, a
/// function call → tool_calls, others → stop. A prompt blocked by
/// `promptFeedback.blockReason` (no candidates) is an empty answer with
/// `finish_reason: "content_filter"`. `usageMetadata` → `usage`; `id` from
/// `responseId`; `model` is `model`, else the response's `modelVersion`.
///
/// `Err` (the body as text) when it is not a response: an `error` envelope, a
/// list, or not an object.
pub fn completion_from_response(resp: &Value, model: &str) -> Result<Value, String> {
    if !resp.is_object() || resp.get("error").is_some_and(|e| !e.is_null()) {
        return Err(resp.to_string());
    }
    let candidates = resp
        .get("candidates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut choices = Vec::new();
    for (n, c) in candidates.iter().enumerate() {
        let (mut text, mut reasoning, mut calls) = (String::new(), String::new(), Vec::new());
        for p in parts(c) {
            match read_part(p) {
                Part::Text {
                    text: t,
                    thought: true,
                } => reasoning.push_str(t),
                Part::Text { text: t, .. } => text.push_str(t),
                Part::Call { id, name, args } => {
                    let id = id.map_or_else(|| format!("call_{}", calls.len()), str::to_string);
                    calls.push(json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}));
                }
                Part::Other => {}
            }
        }
        let finish = finish_reason(
            str_of(c, "finishReason").unwrap_or("STOP"),
            !calls.is_empty(),
        );
        let message = crate::dialect::assistant_message(text, calls, reasoning);
        let index = c.get("index").and_then(Value::as_u64).unwrap_or(n as u64);
        choices.push(
            json!({"index": index, "message": message, "logprobs": null, "finish_reason": finish}),
        );
    }
    if choices.is_empty() {
        let blocked = resp
            .get("promptFeedback")
            .and_then(|f| f.get("blockReason"))
            .is_some_and(|b| !b.is_null());
        let finish = if blocked { "content_filter" } else { "stop" };
        choices.push(json!({"index": 0, "message": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": finish}));
    }
    let model = if model.is_empty() {
        str_of(resp, "modelVersion").unwrap_or("")
    } else {
        model
    };
    let mut out = json!({
        "id": str_of(resp, "responseId").unwrap_or(""),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": choices,
    });
    if let Some(u) = resp.get("usageMetadata").filter(|u| u.is_object()) {
        out["usage"] = usage(u);
    }
    Ok(out)
}
