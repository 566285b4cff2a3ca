//! Requests: OpenAI chat → `generateContent`.

use crate::dialect::{
    common_untranslatable, data_url, image_url_of, max_tokens, messages, plain_text, role_of,
    stop_list, str_of, Untranslatable,
};
use serde_json::{json, Map, Value};

/// The documented placeholder for a function call whose thought signature was not
/// kept (the call came from another model, or through a shape that has no field
/// for it): Gemini 3 refuses a function-call turn without one.
const NO_SIGNATURE: &str = "skip_thought_signature_validator";

/// An OpenAI chat request → a Gemini `generateContent` body (the same body for
/// `streamGenerateContent`: [`super::url`] chooses).
///
/// Translated: `system` / `developer` messages → `systemInstruction` (one part per
/// text part); user and assistant messages → `contents` with roles `user` /
/// `model` (consecutive same-role turns merged; a trailing assistant message is
/// the final `model` turn); text parts; `image_url` with a base64 `data:` URL,
/// `input_audio` and `file` with `file_data` → `inlineData`; assistant `tool_calls` →
/// `functionCall` parts (the first of a turn carries the documented
/// `skip_thought_signature_validator` signature, as the real one is not kept);
/// `tool` messages → `functionResponse` parts in a user turn (the name from the
/// matching tool call; the response is the content when it is a JSON object, else
/// `{"content": …}`); `tools` → one `functionDeclarations` tool, each function's
/// JSON Schema unchanged as `parametersJsonSchema`; `tool_choice` →
/// `toolConfig.functionCallingConfig` (`AUTO`, `NONE`, `ANY`, a named function →
/// `ANY` + `allowedFunctionNames`); `generationConfig`: `temperature`, `topP`,
/// `maxOutputTokens` (`max_completion_tokens` / `max_tokens`), `stopSequences`,
/// `candidateCount` (`n`), `responseMimeType` + `responseJsonSchema`
/// (`response_format` `json_schema`; `json_object` sets only the MIME type),
/// `seed` (when it fits Gemini's 32 bits), `presencePenalty` and
/// `frequencyPenalty` (when not 0: some models refuse penalties at all).
///
/// [`Untranslatable`]: `n > 1` when streaming (the stream decoder reads one
/// candidate); http(s) image URLs (Gemini only fetches its own file URIs) and
/// `file_id` files; `logprobs` / `top_logprobs`; audio output; the legacy
/// `functions` / `function_call`; `web_search_options`; non-function tools;
/// tool-call `arguments` that are not a JSON object; a tool message answering no
/// earlier tool call; an unknown role, content part or `tool_choice`.
///
/// Dropped: `user`, `metadata`, `store`, `service_tier`, `stream_options`,
/// `logit_bias`, `parallel_tool_calls`, `prediction`, `reasoning_effort`,
/// `verbosity`, `prompt_cache_key`, `safety_identifier`, a tool's `strict`,
/// message `name`s, assistant `reasoning_content`, and any field not listed.
pub fn request_from_chat(
    chat: &Map<String, Value>,
    stream: bool,
) -> Result<Map<String, Value>, Untranslatable> {
    common_untranslatable(chat, "Gemini", !stream)?;
    let mut out = Map::new();
    let (system, contents) = convert_messages(messages(chat)?)?;
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    out.insert("contents".into(), Value::Array(contents));
    tools(chat, &mut out)?;
    let config = generation_config(chat);
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(out)
}

fn convert_messages(msgs: &[Value]) -> Result<(Vec<Value>, Vec<Value>), Untranslatable> {
    let mut system = Vec::new();
    let mut turns = crate::dialect::Turns::new();
    let mut names: Vec<(String, String)> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let (role, parts) = match role_of(m, i)? {
            "system" | "developer" => {
                system.extend(system_parts(m.get("content"), i)?);
                continue;
            }
            "user" => ("user", content_parts(m.get("content"), i)?),
            "assistant" => {
                let mut parts = content_parts(m.get("content"), i)?;
                parts.extend(function_calls(m, i, &mut names)?);
                ("model", parts)
            }
            "tool" => ("user", vec![function_response(m, i, &names)?]),
            other => return Err(crate::dialect::unknown_role(i, other, "Gemini")),
        };
        crate::dialect::push_turn(&mut turns, role, parts);
    }
    let contents = turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect();
    Ok((system, contents))
}

/// A system message as `systemInstruction` parts: one per text part, as the client
/// sent them (joining them would glue the last sentence of one to the next).
fn system_parts(content: Option<&Value>, i: usize) -> Result<Vec<Value>, Untranslatable> {
    let text = |c: Option<&Value>| {
        plain_text(c).ok_or_else(|| {
            Untranslatable::new(
                &format!("messages[{i}].content"),
                "a system message must be text",
            )
        })
    };
    let texts = match content {
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| text(Some(&Value::Array(vec![p.clone()]))))
            .collect::<Result<Vec<_>, _>>()?,
        other => vec![text(other)?],
    };
    Ok(texts
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|t| json!({ "text": t }))
        .collect())
}

fn part_param(i: usize, j: usize) -> String {
    format!("messages[{i}].content[{j}]")
}

fn content_parts(content: Option<&Value>, i: usize) -> Result<Vec<Value>, Untranslatable> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![json!({ "text": s })]),
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
        let inline =
            |mime: &str, data: &str| json!({"inlineData": {"mimeType": mime, "data": data}});
        let part = match str_of(p, "type") {
            Some("text") | Some("refusal") => {
                match str_of(p, "text")
                    .or(str_of(p, "refusal"))
                    .filter(|t| !t.is_empty())
                {
                    Some(t) => json!({ "text": t }),
                    None => continue,
                }
            }
            Some("image_url") => match data_url(image_url_of(p).unwrap_or("")) {
                Some((mime, data)) => inline(mime, data),
                None => {
                    return Err(Untranslatable::new(
                        &part_param(i, j),
                        "Gemini takes images inline: only base64 `data:` image URLs translate",
                    ))
                }
            },
            Some("input_audio") => {
                let a = p.get("input_audio").unwrap_or(&Value::Null);
                let format = str_of(a, "format").unwrap_or("wav");
                inline(&format!("audio/{format}"), str_of(a, "data").unwrap_or(""))
            }
            Some("file") => {
                let f = p.get("file").unwrap_or(&Value::Null);
                match str_of(f, "file_data").and_then(data_url) {
                    Some((mime, data)) => inline(mime, data),
                    None => {
                        return Err(Untranslatable::new(
                            &part_param(i, j),
                            "only files sent inline as base64 `file_data` translate to Gemini",
                        ))
                    }
                }
            }
            other => {
                return Err(Untranslatable::new(
                    &part_param(i, j),
                    format!(
                        "a `{}` content part has no Gemini equivalent",
                        other.unwrap_or("untyped")
                    ),
                ))
            }
        };
        out.push(part);
    }
    Ok(out)
}

/// An assistant message's tool calls as `functionCall` parts; remembers each
/// call's `(id, name)` for the tool messages that answer it.
fn function_calls(
    m: &Value,
    i: usize,
    names: &mut Vec<(String, String)>,
) -> Result<Vec<Value>, Untranslatable> {
    let mut out = Vec::new();
    for (k, (id, name, args)) in crate::dialect::function_calls(m, i)?
        .into_iter()
        .enumerate()
    {
        names.push((id.to_string(), name.to_string()));
        let mut part = json!({"functionCall": {"name": name, "args": args}});
        if k == 0 {
            part["thoughtSignature"] = NO_SIGNATURE.into();
        }
        out.push(part);
    }
    Ok(out)
}

fn function_response(
    m: &Value,
    i: usize,
    names: &[(String, String)],
) -> Result<Value, Untranslatable> {
    let id = str_of(m, "tool_call_id").unwrap_or("");
    let Some((_, name)) = names.iter().rev().find(|(c, _)| c == id) else {
        return Err(Untranslatable::new(
            &format!("messages[{i}].tool_call_id"),
            format!("tool message answers `{id}`, which no earlier assistant message called (Gemini needs the function's name)"),
        ));
    };
    let text = plain_text(m.get("content")).ok_or_else(|| {
        Untranslatable::new(
            &format!("messages[{i}].content"),
            "a tool message's content must be text",
        )
    })?;
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => v,
        Ok(v) => json!({ "content": v }),
        Err(_) => json!({ "content": text }),
    };
    Ok(json!({"functionResponse": {"name": name, "response": response}}))
}

fn tools(chat: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), Untranslatable> {
    let Some(list) = chat
        .get("tools")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
    else {
        return Ok(());
    };
    let mut decls = Vec::new();
    for (k, t) in list.iter().enumerate() {
        let f = t
            .get("function")
            .filter(|_| str_of(t, "type").unwrap_or("function") == "function");
        let Some((f, name)) = f.and_then(|f| Some((f, str_of(f, "name")?))) else {
            return Err(Untranslatable::new(
                &format!("tools[{k}]"),
                "only function tools with a name translate to Gemini",
            ));
        };
        let mut decl = json!({ "name": name });
        if let Some(d) = f.get("description").filter(|d| d.is_string()) {
            decl["description"] = d.clone();
        }
        if let Some(p) = f.get("parameters").filter(|p| p.is_object()) {
            decl["parametersJsonSchema"] = p.clone();
        }
        decls.push(decl);
    }
    out.insert("tools".into(), json!([{ "functionDeclarations": decls }]));
    let config = match chat.get("tool_choice") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => json!({"mode": "AUTO"}),
            "none" => json!({"mode": "NONE"}),
            "required" => json!({"mode": "ANY"}),
            other => {
                return Err(Untranslatable::new(
                    "tool_choice",
                    format!("tool_choice `{other}` has no Gemini equivalent"),
                ))
            }
        },
        Some(c) => match c.get("function").and_then(|f| str_of(f, "name")) {
            Some(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
            None => {
                return Err(Untranslatable::new(
                    "tool_choice",
                    "tool_choice must name a function",
                ))
            }
        },
    };
    out.insert(
        "toolConfig".into(),
        json!({ "functionCallingConfig": config }),
    );
    Ok(())
}

fn generation_config(chat: &Map<String, Value>) -> Map<String, Value> {
    let mut g = Map::new();
    let number = |k: &str| chat.get(k).filter(|v| v.is_number()).cloned();
    if let Some(t) = number("temperature") {
        g.insert("temperature".into(), t);
    }
    if let Some(p) = number("top_p") {
        g.insert("topP".into(), p);
    }
    if let Some(m) = max_tokens(chat) {
        g.insert("maxOutputTokens".into(), m.into());
    }
    let stops = stop_list(chat.get("stop"));
    if !stops.is_empty() {
        g.insert("stopSequences".into(), json!(stops));
    }
    if let Some(n) = chat.get("n").and_then(Value::as_u64).filter(|n| *n > 1) {
        g.insert("candidateCount".into(), n.into());
    }
    let format = chat.get("response_format");
    match format.and_then(|f| str_of(f, "type")) {
        Some("json_schema") => {
            g.insert("responseMimeType".into(), "application/json".into());
            let schema = format
                .and_then(|f| f.get("json_schema"))
                .and_then(|j| j.get("schema"))
                .filter(|s| s.is_object());
            if let Some(s) = schema {
                g.insert("responseJsonSchema".into(), s.clone());
            }
        }
        Some("json_object") => {
            g.insert("responseMimeType".into(), "application/json".into());
        }
        _ => {}
    }
    let seed = chat.get("seed").and_then(Value::as_i64);
    if let Some(s) = seed.filter(|s| i32::try_from(*s).is_ok()) {
        g.insert("seed".into(), s.into());
    }
    for (from, to) in [
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ] {
        if let Some(p) = number(from).filter(|p| p.as_f64() != Some(0.0)) {
            g.insert(to.into(), p);
        }
    }
    g
}
