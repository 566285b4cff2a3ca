//! Requests: OpenAI chat → Messages.

use super::DEFAULT_MAX_TOKENS;
use crate::dialect::{
    common_untranslatable, data_url, image_url_of, max_tokens, messages, plain_text, role_of,
    stop_list, str_of, Untranslatable,
};
use serde_json::{json, Map, Value};

/// An OpenAI chat request → an Anthropic Messages request for `model`.
///
/// Translated: `system` / `developer` messages (wherever they are) → the top-level
/// `system` (a string, or text blocks when there are several or one carries
/// `cache_control`); user / assistant content (strings; `text`, `refusal` and
/// `image_url` parts: a `data:` URL becomes a base64 image source, an http(s) URL
/// a URL source); assistant `tool_calls` → `tool_use` blocks; `tool` messages →
/// `tool_result` blocks in a user turn (consecutive same-role turns are merged, as
/// Anthropic requires alternation, and a user turn's `tool_result` blocks come
/// first); `tools` / `tool_choice` (`auto`, `none`, `required` → `any`, a named
/// function → `tool`; `parallel_tool_calls: false` → `disable_parallel_tool_use`);
/// `max_completion_tokens` / `max_tokens` (else [`DEFAULT_MAX_TOKENS`]); `stop`
/// → `stop_sequences`; `temperature` (clamped to Anthropic's 0–1) and `top_p`;
/// `user` (or `safety_identifier`) → `metadata.user_id`; `stream`; `cache_control`
/// on content parts and on tools passes through. A trailing assistant message (a
/// prefill) stays last, its trailing whitespace trimmed (Anthropic refuses a
/// final assistant turn ending in whitespace); empty text is left out (Anthropic
/// refuses empty text blocks).
///
/// [`Untranslatable`] (naming the parameter): `n > 1`; `response_format`
/// `json_schema` / `json_object`; `logprobs` / `top_logprobs`; audio output
/// (`audio`, `modalities: ["audio"]`); `input_audio`, `file` and other unknown
/// content parts; an image URL that is neither `data:` base64 nor http(s);
/// tool-call `arguments` that are not a JSON object; non-function tools; the
/// legacy `functions` / `function_call`; `web_search_options`; a whitespace-only
/// stop sequence (Anthropic refuses them); an unknown role or `tool_choice`.
///
/// Dropped silently: `frequency_penalty`, `presence_penalty`, `seed`,
/// `stream_options`, `service_tier`, `store`, `logit_bias`, `metadata`,
/// `prediction`, `reasoning_effort`, `verbosity`, `prompt_cache_key`, a tool's
/// `strict`, assistant `reasoning_content`, message `name`s, and any other field
/// not listed above; `user` moves to `metadata`, `parallel_tool_calls` is mapped.
pub fn request_from_chat(
    chat: &Map<String, Value>,
    model: &str,
    stream: bool,
) -> Result<Map<String, Value>, Untranslatable> {
    common_untranslatable(chat, "Anthropic", false)?;
    if let Some(t) = chat.get("response_format").and_then(|r| str_of(r, "type")) {
        if t == "json_schema" || t == "json_object" {
            return Err(Untranslatable::new(
                "response_format",
                format!("`response_format` `{t}` is not translated to Anthropic"),
            ));
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), model.into());
    let (system, turns) = convert_messages(messages(chat)?)?;
    if let Some(s) = system {
        out.insert("system".into(), s);
    }
    out.insert("messages".into(), Value::Array(turns));
    out.insert(
        "max_tokens".into(),
        max_tokens(chat).unwrap_or(DEFAULT_MAX_TOKENS).into(),
    );
    let stops = stop_list(chat.get("stop"));
    if stops.iter().any(|s| s.trim().is_empty()) {
        return Err(Untranslatable::new(
            "stop",
            "Anthropic refuses whitespace-only stop sequences",
        ));
    }
    if !stops.is_empty() {
        out.insert("stop_sequences".into(), json!(stops));
    }
    if let Some(t) = chat.get("temperature").and_then(Value::as_f64) {
        out.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    if let Some(p) = chat.get("top_p").filter(|p| p.is_number()) {
        out.insert("top_p".into(), p.clone());
    }
    let user = chat
        .get("user")
        .and_then(Value::as_str)
        .or_else(|| chat.get("safety_identifier").and_then(Value::as_str));
    if let Some(u) = user.filter(|u| !u.is_empty()) {
        out.insert("metadata".into(), json!({ "user_id": u }));
    }
    tools(chat, &mut out)?;
    if stream {
        out.insert("stream".into(), true.into());
    }
    Ok(out)
}

/// `(system, messages)` of the Messages request.
fn convert_messages(msgs: &[Value]) -> Result<(Option<Value>, Vec<Value>), Untranslatable> {
    let mut system: Vec<Value> = Vec::new();
    let mut turns = crate::dialect::Turns::new();
    for (i, m) in msgs.iter().enumerate() {
        let role = role_of(m, i)?;
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.extend(content_blocks(m.get("content"), i, false)?);
                continue;
            }
            "user" => ("user", content_blocks(m.get("content"), i, true)?),
            "assistant" => {
                let mut blocks = content_blocks(m.get("content"), i, false)?;
                blocks.extend(tool_uses(m, i)?);
                ("assistant", blocks)
            }
            "tool" => ("user", vec![tool_result(m, i)?]),
            other => return Err(crate::dialect::unknown_role(i, other, "Anthropic")),
        };
        crate::dialect::push_turn(&mut turns, role, blocks);
    }
    if let Some(("assistant", blocks)) = turns.last_mut() {
        trim_prefill(blocks);
        if blocks.is_empty() {
            turns.pop();
        }
    }
    let turns = turns
        .into_iter()
        .map(|(role, mut blocks)| {
            if role == "user" {
                // tool_result blocks must open the user turn.
                blocks.sort_by_key(|b| str_of(b, "type") != Some("tool_result"));
            }
            json!({"role": role, "content": collapse(blocks)})
        })
        .collect();
    let system = match system.as_slice() {
        [] => None,
        [one] if one.get("cache_control").is_none() => one.get("text").cloned(),
        _ => Some(Value::Array(system)),
    };
    Ok((system, turns))
}

/// One text block without extra fields is sent as a plain string.
fn collapse(blocks: Vec<Value>) -> Value {
    if let [b] = blocks.as_slice() {
        if str_of(b, "type") == Some("text") && b.as_object().is_some_and(|o| o.len() == 2) {
            if let Some(t) = b.get("text") {
                return t.clone();
            }
        }
    }
    Value::Array(blocks)
}

/// Trailing whitespace off the prefill's last text block (and the block, if
/// nothing is left of it).
fn trim_prefill(blocks: &mut Vec<Value>) {
    let Some(last) = blocks.last_mut() else {
        return;
    };
    if str_of(last, "type") != Some("text") {
        return;
    }
    let trimmed = str_of(last, "text").unwrap_or("").trim_end().to_string();
    if trimmed.is_empty() {
        blocks.pop();
    } else {
        last["text"] = Value::String(trimmed);
    }
}

fn part_param(i: usize, j: usize) -> String {
    format!("messages[{i}].content[{j}]")
}

/// A chat message's `content` as Anthropic content blocks (`images`: image parts
/// are allowed).
fn content_blocks(
    content: Option<&Value>,
    i: usize,
    images: bool,
) -> Result<Vec<Value>, Untranslatable> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![json!({"type": "text", "text": s})]),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(Untranslatable::new(
                &format!("messages[{i}].content"),
                "`content` must be a string or a list of parts",
            ))
        }
    };
    let mut out = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        let mut block = match str_of(p, "type") {
            Some("text") | Some("refusal") => {
                let text = str_of(p, "text").or(str_of(p, "refusal")).unwrap_or("");
                if text.is_empty() {
                    continue;
                }
                json!({"type": "text", "text": text})
            }
            Some("image_url") if images => image_block(p, i, j)?,
            other => {
                return Err(Untranslatable::new(
                    &part_param(i, j),
                    format!(
                        "a `{}` content part cannot be sent to Anthropic here",
                        other.unwrap_or("untyped")
                    ),
                ))
            }
        };
        if let Some(cc) = p.get("cache_control").filter(|c| !c.is_null()) {
            block["cache_control"] = cc.clone();
        }
        out.push(block);
    }
    Ok(out)
}

fn image_block(part: &Value, i: usize, j: usize) -> Result<Value, Untranslatable> {
    let url = image_url_of(part).unwrap_or("");
    if let Some((media, data)) = data_url(url) {
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}),
        );
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(Untranslatable::new(
        &part_param(i, j),
        "an image URL must be a base64 `data:` URL or an http(s) URL",
    ))
}

/// An assistant message's `tool_calls` as `tool_use` blocks.
fn tool_uses(m: &Value, i: usize) -> Result<Vec<Value>, Untranslatable> {
    Ok(crate::dialect::function_calls(m, i)?
        .into_iter()
        .map(
            |(id, name, input)| json!({"type": "tool_use", "id": id, "name": name, "input": input}),
        )
        .collect())
}

/// A `tool` message as a `tool_result` block.
fn tool_result(m: &Value, i: usize) -> Result<Value, Untranslatable> {
    let id = str_of(m, "tool_call_id").unwrap_or("");
    let content = match m.get("content") {
        Some(Value::Array(_)) => {
            let blocks = content_blocks(m.get("content"), i, true)?;
            Value::Array(blocks)
        }
        other => Value::String(plain_text(other).ok_or_else(|| {
            Untranslatable::new(
                &format!("messages[{i}].content"),
                "a tool message's content must be text",
            )
        })?),
    };
    Ok(json!({"type": "tool_result", "tool_use_id": id, "content": content}))
}

/// `tools`, `tool_choice` and `parallel_tool_calls` (only when there are tools).
fn tools(chat: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), Untranslatable> {
    let list = chat.get("tools").and_then(Value::as_array);
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    let mut tools = Vec::new();
    for (k, t) in list.iter().enumerate() {
        let f = t
            .get("function")
            .filter(|_| str_of(t, "type").unwrap_or("function") == "function");
        let Some(f) = f.filter(|f| str_of(f, "name").is_some()) else {
            return Err(Untranslatable::new(
                &format!("tools[{k}]"),
                "only function tools with a name translate to Anthropic",
            ));
        };
        let schema = f
            .get("parameters")
            .filter(|p| p.is_object())
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        let mut tool = json!({"name": f.get("name"), "input_schema": schema});
        if let Some(d) = f.get("description").filter(|d| d.is_string()) {
            tool["description"] = d.clone();
        }
        if let Some(cc) = t.get("cache_control").filter(|c| !c.is_null()) {
            tool["cache_control"] = cc.clone();
        }
        tools.push(tool);
    }
    out.insert("tools".into(), Value::Array(tools));
    let mut choice = match chat.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => json!({"type": "auto"}),
            "none" => json!({"type": "none"}),
            "required" => json!({"type": "any"}),
            other => {
                return Err(Untranslatable::new(
                    "tool_choice",
                    format!("tool_choice `{other}` has no Anthropic equivalent"),
                ))
            }
        }),
        Some(c) => match c.get("function").and_then(|f| str_of(f, "name")) {
            Some(name) => Some(json!({"type": "tool", "name": name})),
            None => {
                return Err(Untranslatable::new(
                    "tool_choice",
                    "tool_choice must name a function",
                ))
            }
        },
    };
    if chat.get("parallel_tool_calls").and_then(Value::as_bool) == Some(false) {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if str_of(c, "type") != Some("none") {
            c["disable_parallel_tool_use"] = true.into();
        }
    }
    if let Some(c) = choice {
        out.insert("tool_choice".into(), c);
    }
    Ok(())
}
