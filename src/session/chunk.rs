//! Reading and rewriting OpenAI chat-completion chunks (the canonical stream shape
//! every dialect is read into).

use serde_json::{Map, Value};

/// Token counts as OpenAI reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// `prompt_tokens`.
    pub prompt: u64,
    /// `completion_tokens`.
    pub completion: u64,
}

impl Usage {
    /// Reads a chunk's (or completion's) `usage`.
    pub fn of(value: &Value) -> Option<Usage> {
        let u = value.get("usage").filter(|u| u.is_object())?;
        let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
        Some(Usage {
            prompt: n("prompt_tokens"),
            completion: n("completion_tokens"),
        })
    }

    /// Writes `self` into `value`'s `usage`, keeping any detail fields it has.
    pub fn write(self, value: &mut Value) {
        let Some(obj) = value.as_object_mut() else {
            return;
        };
        let usage = obj
            .entry("usage")
            .or_insert_with(|| Value::Object(Map::new()));
        if !usage.is_object() {
            *usage = Value::Object(Map::new());
        }
        usage["prompt_tokens"] = self.prompt.into();
        usage["completion_tokens"] = self.completion.into();
        usage["total_tokens"] = (self.prompt + self.completion).into();
    }
}

fn first_choice(value: &Value) -> Option<&Value> {
    value.get("choices")?.as_array()?.first()
}

fn first_delta(value: &Value) -> Option<&Value> {
    first_choice(value)?.get("delta")
}

/// The text of the first choice's delta.
pub fn delta_text(value: &Value) -> Option<&str> {
    first_delta(value)?
        .get("content")?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The first choice's `finish_reason`, when set.
pub fn finish_reason(value: &Value) -> Option<&str> {
    first_choice(value)?.get("finish_reason")?.as_str()
}

/// The chunk carries something a continuation could not reproduce: tool-call
/// deltas, a refusal, or more than one choice.
pub fn uncontinuable(value: &Value) -> bool {
    let Some(choices) = value.get("choices").and_then(Value::as_array) else {
        return false;
    };
    if choices.len() > 1
        || choices
            .iter()
            .any(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) > 0)
    {
        return true;
    }
    first_delta(value).is_some_and(|d| {
        d.get("tool_calls")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
            || d.get("function_call").is_some_and(|f| !f.is_null())
            || d.get("refusal")
                .and_then(Value::as_str)
                .is_some_and(|r| !r.is_empty())
    })
}

/// The chunk's `id`.
pub fn id(value: &Value) -> Option<&str> {
    value.get("id")?.as_str()
}

/// Sets the first choice's delta to `{"content": text}` (dropping any reasoning or
/// role a continuation repeats) and the chunk's `id`.
pub fn rewrite(value: &mut Value, text: Option<&str>, id: Option<&str>) {
    if let (Some(id), Some(obj)) = (id, value.as_object_mut()) {
        obj.insert("id".into(), Value::String(id.to_string()));
    }
    let Some(choice) = value
        .get_mut("choices")
        .and_then(Value::as_array_mut)
        .and_then(|c| c.first_mut())
    else {
        return;
    };
    let mut delta = Map::new();
    if let Some(t) = text {
        delta.insert("content".into(), Value::String(t.to_string()));
    }
    choice["delta"] = Value::Object(delta);
}

/// A content chunk shaped like `like` (same id, object, model, created) carrying
/// `text` and no finish.
pub fn text_chunk(like: &Value, text: &str, id: Option<&str>) -> Value {
    let mut v = like.clone();
    rewrite(&mut v, Some(text), id);
    if let Some(choice) = v
        .get_mut("choices")
        .and_then(Value::as_array_mut)
        .and_then(|c| c.first_mut())
    {
        choice["finish_reason"] = Value::Null;
    }
    if let Some(obj) = v.as_object_mut() {
        obj.remove("usage");
    }
    v
}
