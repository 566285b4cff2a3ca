//! Requests: Anthropic Messages → OpenAI chat (for `/v1/messages` clients).

use crate::dialect::{str_of, Untranslatable};
use serde_json::{json, Map, Value};

/// An Anthropic Messages request → an OpenAI chat request, for clients of the
/// gateway's `/v1/messages` whose target is not Anthropic.
///
/// Translated: `system` (a string or text blocks) → one system message; user and
/// assistant content (strings; `text` blocks; `image` blocks → `image_url` parts,
/// base64 sources as `data:` URLs); `tool_use` → assistant `tool_calls` (input as
/// a JSON string); `tool_result` → `tool` messages (placed before the rest of the
/// user turn); `tools` (custom tools) / `tool_choice` (`auto`, `any` →
/// `required`, `tool` → a named function, `none`; `disable_parallel_tool_use` →
/// `parallel_tool_calls: false`); `max_tokens`; `stop_sequences` → `stop`;
/// `temperature`; `top_p`; `metadata.user_id` → `user`; `output_config.format`
/// `json_schema` → `response_format`; `stream` (with
/// `stream_options.include_usage`, so the stream reports usage).
///
/// Dropped: `cache_control` (everywhere), `thinking` (the request's and the
/// assistant's thinking blocks), `top_k`, `service_tier`, `container`, citations,
/// `is_error` on tool results, and any other field not listed.
///
/// [`Untranslatable`]: server tools (`web_search`, `bash`, … any tool with a
/// `type` other than `custom`), `mcp_servers`, content blocks other than text,
/// image, tool_use, tool_result and thinking (documents, search results, server
/// tool blocks), images inside a tool result, a non-object message or an unknown
/// role.
pub fn chat_from_request(req: &Map<String, Value>) -> Result<Map<String, Value>, Untranslatable> {
    if req
        .get("mcp_servers")
        .and_then(Value::as_array)
        .is_some_and(|m| !m.is_empty())
    {
        return Err(Untranslatable::new(
            "mcp_servers",
            "MCP servers run inside Anthropic's API; no other target can reach them",
        ));
    }
    let mut out = Map::new();
    if let Some(m) = req.get("model").filter(|m| m.is_string()) {
        out.insert("model".into(), m.clone());
    }
    let mut messages = Vec::new();
    if let Some(system) = system_message(req.get("system"))? {
        messages.push(system);
    }
    let list = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| Untranslatable::new("messages", "`messages` must be a list"))?;
    for (i, m) in list.iter().enumerate() {
        convert_message(m, i, &mut messages)?;
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(n) = req.get("max_tokens").filter(|n| n.is_u64()) {
        out.insert("max_tokens".into(), n.clone());
    }
    if let Some(s) = req.get("stop_sequences").filter(|s| s.is_array()) {
        out.insert("stop".into(), s.clone());
    }
    for key in ["temperature", "top_p"] {
        if let Some(v) = req.get(key).filter(|v| v.is_number()) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(u) = req.get("metadata").and_then(|m| str_of(m, "user_id")) {
        out.insert("user".into(), u.into());
    }
    let format = req
        .get("output_config")
        .and_then(|c| c.get("format"))
        .or_else(|| req.get("output_format"));
    if let Some(f) = format.filter(|f| str_of(f, "type") == Some("json_schema")) {
        let schema = f.get("schema").cloned().unwrap_or_else(|| json!({}));
        out.insert(
            "response_format".into(),
            json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": true}}),
        );
    }
    tools(req, &mut out)?;
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), true.into());
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Ok(out)
}

/// The system prompt as one system message.
fn system_message(system: Option<&Value>) -> Result<Option<Value>, Untranslatable> {
    let content = match system {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) if s.is_empty() => return Ok(None),
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::new();
            for (k, b) in blocks.iter().enumerate() {
                match (str_of(b, "type"), str_of(b, "text")) {
                    (Some("text"), Some(t)) => parts.push(json!({"type": "text", "text": t})),
                    _ => {
                        return Err(Untranslatable::new(
                            &format!("system[{k}]"),
                            "system blocks must be text",
                        ))
                    }
                }
            }
            match parts.as_slice() {
                [] => return Ok(None),
                [one] => one.get("text").cloned().unwrap_or(Value::Null),
                _ => Value::Array(parts),
            }
        }
        Some(_) => {
            return Err(Untranslatable::new(
                "system",
                "`system` must be a string or text blocks",
            ))
        }
    };
    Ok(Some(json!({"role": "system", "content": content})))
}

fn block_param(i: usize, k: usize) -> String {
    format!("messages[{i}].content[{k}]")
}

/// One Messages turn → chat messages (a user turn with tool results becomes the
/// `tool` messages, then the rest of the turn).
fn convert_message(m: &Value, i: usize, out: &mut Vec<Value>) -> Result<(), Untranslatable> {
    let role = match str_of(m, "role") {
        Some(r @ ("user" | "assistant")) => r,
        _ => {
            return Err(Untranslatable::new(
                &format!("messages[{i}].role"),
                "a message's role must be `user` or `assistant`",
            ))
        }
    };
    let blocks = match m.get("content") {
        Some(Value::String(s)) => {
            out.push(json!({"role": role, "content": s}));
            return Ok(());
        }
        Some(Value::Array(b)) => b,
        _ => {
            return Err(Untranslatable::new(
                &format!("messages[{i}].content"),
                "`content` must be a string or a list of blocks",
            ))
        }
    };
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for (k, b) in blocks.iter().enumerate() {
        match str_of(b, "type") {
            Some("text") => {
                let t = str_of(b, "text").unwrap_or("");
                parts.push(json!({"type": "text", "text": t}));
            }
            Some("image") if role == "user" => parts.push(image_part(b, i, k)?),
            Some("tool_use") if role == "assistant" => {
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": str_of(b, "id").unwrap_or(""),
                    "type": "function",
                    "function": {"name": str_of(b, "name").unwrap_or(""), "arguments": input.to_string()},
                }));
            }
            Some("tool_result") if role == "user" => out.push(tool_message(b, i, k)?),
            Some("thinking" | "redacted_thinking") => {}
            other => {
                return Err(Untranslatable::new(
                    &block_param(i, k),
                    format!(
                        "a `{}` block has no OpenAI chat equivalent",
                        other.unwrap_or("untyped")
                    ),
                ))
            }
        }
    }
    if role == "assistant" {
        let text: String = parts.iter().filter_map(|p| str_of(p, "text")).collect();
        let mut msg = json!({"role": "assistant", "content": text});
        if !calls.is_empty() {
            if text.is_empty() {
                msg["content"] = Value::Null;
            }
            msg["tool_calls"] = Value::Array(calls);
        }
        if !text.is_empty() || msg.get("tool_calls").is_some() {
            out.push(msg);
        }
    } else if !parts.is_empty() {
        let content = match parts.as_slice() {
            [one] if str_of(one, "type") == Some("text") => one.get("text").cloned(),
            _ => None,
        };
        out.push(json!({"role": "user", "content": content.unwrap_or(Value::Array(parts))}));
    }
    Ok(())
}

fn image_part(b: &Value, i: usize, k: usize) -> Result<Value, Untranslatable> {
    let src = b.get("source");
    let url = match src.and_then(|s| str_of(s, "type")) {
        Some("base64") => {
            let media = src
                .and_then(|s| str_of(s, "media_type"))
                .unwrap_or("image/png");
            let data = src.and_then(|s| str_of(s, "data")).unwrap_or("");
            format!("data:{media};base64,{data}")
        }
        Some("url") => src.and_then(|s| str_of(s, "url")).unwrap_or("").to_string(),
        _ => {
            return Err(Untranslatable::new(
                &block_param(i, k),
                "an image's source must be base64 or a URL",
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

fn tool_message(b: &Value, i: usize, k: usize) -> Result<Value, Untranslatable> {
    let content = match b.get("content") {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(Value::Array(inner)) => {
            let mut texts = Vec::new();
            for c in inner {
                match (str_of(c, "type"), str_of(c, "text")) {
                    (Some("text"), Some(t)) => texts.push(json!({"type": "text", "text": t})),
                    _ => {
                        return Err(Untranslatable::new(
                            &block_param(i, k),
                            "a tool result can only carry text to an OpenAI chat target",
                        ))
                    }
                }
            }
            match texts.as_slice() {
                [one] => one.get("text").cloned().unwrap_or(Value::Null),
                _ => Value::Array(texts),
            }
        }
        Some(_) => {
            return Err(Untranslatable::new(
                &block_param(i, k),
                "a tool result's content must be text",
            ))
        }
    };
    Ok(json!({
        "role": "tool",
        "tool_call_id": str_of(b, "tool_use_id").unwrap_or(""),
        "content": content,
    }))
}

fn tools(req: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), Untranslatable> {
    let Some(list) = req
        .get("tools")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return Ok(());
    };
    let mut tools = Vec::new();
    for (k, t) in list.iter().enumerate() {
        let custom = str_of(t, "type").unwrap_or("custom") == "custom";
        let Some(name) = str_of(t, "name").filter(|_| custom) else {
            return Err(Untranslatable::new(
                &format!("tools[{k}]"),
                format!(
                    "the server tool `{}` runs inside Anthropic's API only",
                    str_of(t, "type").unwrap_or("untyped")
                ),
            ));
        };
        let mut f = json!({"name": name});
        if let Some(d) = t.get("description").filter(|d| d.is_string()) {
            f["description"] = d.clone();
        }
        if let Some(s) = t.get("input_schema").filter(|s| s.is_object()) {
            f["parameters"] = s.clone();
        }
        tools.push(json!({"type": "function", "function": f}));
    }
    out.insert("tools".into(), Value::Array(tools));
    let choice = req.get("tool_choice");
    let mapped = match choice.and_then(|c| str_of(c, "type")) {
        None => None,
        Some("auto") => Some(json!("auto")),
        Some("any") => Some(json!("required")),
        Some("none") => Some(json!("none")),
        Some("tool") => {
            let name = choice.and_then(|c| str_of(c, "name")).unwrap_or("");
            Some(json!({"type": "function", "function": {"name": name}}))
        }
        Some(other) => {
            return Err(Untranslatable::new(
                "tool_choice",
                format!("tool_choice `{other}` has no OpenAI equivalent"),
            ))
        }
    };
    if let Some(c) = mapped {
        out.insert("tool_choice".into(), c);
    }
    if choice
        .and_then(|c| c.get("disable_parallel_tool_use"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        out.insert("parallel_tool_calls".into(), false.into());
    }
    Ok(())
}
