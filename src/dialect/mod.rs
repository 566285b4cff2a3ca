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

// ---------------------------------------------------------------------------
// Small helpers both dialects share (crate-private).

use serde_json::{json, Map};

/// An OpenAI `chat.completion.chunk` with one choice (index 0): `delta`, and
/// `finish_reason` (null unless given).
pub(crate) fn chunk(id: &str, model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

/// The `choices: []` chunk that carries `usage` (what OpenAI sends last when
/// `stream_options.include_usage` is on).
pub(crate) fn usage_chunk(id: &str, model: &str, usage: Value) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [],
        "usage": usage,
    })
}

/// An OpenAI `usage` object; `cached` becomes `prompt_tokens_details.cached_tokens`,
/// `reasoning` `completion_tokens_details.reasoning_tokens`.
pub(crate) fn openai_usage(
    prompt: u64,
    completion: u64,
    cached: Option<u64>,
    reasoning: Option<u64>,
) -> Value {
    let mut u = Map::new();
    u.insert("prompt_tokens".into(), prompt.into());
    u.insert("completion_tokens".into(), completion.into());
    u.insert(
        "total_tokens".into(),
        prompt.saturating_add(completion).into(),
    );
    if let Some(c) = cached {
        u.insert("prompt_tokens_details".into(), json!({"cached_tokens": c}));
    }
    if let Some(r) = reasoning {
        u.insert(
            "completion_tokens_details".into(),
            json!({"reasoning_tokens": r}),
        );
    }
    Value::Object(u)
}

/// A non-negative integer field (`0` when absent or of another type).
pub(crate) fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// `v[key]` as a string.
pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// A `data:` URL split into its media type and base64 payload; `None` for any other
/// URL, or a data URL that is not base64.
pub(crate) fn data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media = meta.strip_suffix(";base64")?;
    Some((
        if media.is_empty() {
            "application/octet-stream"
        } else {
            media
        },
        data,
    ))
}

/// An `image_url` part's URL (`{"image_url": {"url"}}`, or the bare string some
/// clients send).
pub(crate) fn image_url_of(part: &Value) -> Option<&str> {
    let v = part.get("image_url")?;
    v.as_str().or_else(|| str_of(v, "url"))
}

/// The chat request's output-token limit: `max_completion_tokens`, else `max_tokens`.
pub(crate) fn max_tokens(chat: &Map<String, Value>) -> Option<u64> {
    chat.get("max_completion_tokens")
        .and_then(Value::as_u64)
        .or_else(|| chat.get("max_tokens").and_then(Value::as_u64))
}

/// `stop` as a list of strings (a string, or a list; empty strings dropped).
pub(crate) fn stop_list(v: Option<&Value>) -> Vec<String> {
    let list: Vec<&Value> = match v {
        Some(Value::String(_)) => v.into_iter().collect(),
        Some(Value::Array(a)) => a.iter().collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The parameters no dialect here can honour, checked once for both: `n > 1`
/// (unless `allow_n`), `logprobs` / `top_logprobs`, audio output, the legacy
/// `functions` / `function_call`, and `web_search_options`.
pub(crate) fn common_untranslatable(
    chat: &Map<String, Value>,
    target: &str,
    allow_n: bool,
) -> Result<(), Untranslatable> {
    let n = chat.get("n").and_then(Value::as_f64).unwrap_or(1.0);
    if n > 1.0 && !allow_n {
        return Err(Untranslatable::new(
            "n",
            format!("{target} cannot return several choices (n = {n})"),
        ));
    }
    if chat.get("logprobs").and_then(Value::as_bool) == Some(true)
        || chat
            .get("top_logprobs")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            > 0
    {
        return Err(Untranslatable::new(
            "logprobs",
            format!("{target} returns no log probabilities through this translation"),
        ));
    }
    let audio_out = chat.get("audio").is_some_and(|a| !a.is_null())
        || chat
            .get("modalities")
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|x| x.as_str() == Some("audio")));
    if audio_out {
        return Err(Untranslatable::new(
            "audio",
            format!("{target} cannot answer with audio"),
        ));
    }
    for key in ["functions", "function_call"] {
        if chat.get(key).is_some_and(|f| !f.is_null()) {
            return Err(Untranslatable::new(
                key,
                format!("the legacy `{key}` parameter is not translated to {target}; use `tools`"),
            ));
        }
    }
    if chat.get("web_search_options").is_some_and(|w| !w.is_null()) {
        return Err(Untranslatable::new(
            "web_search_options",
            format!("{target} has no OpenAI-style web search"),
        ));
    }
    Ok(())
}

/// The `messages` list of a chat request.
pub(crate) fn messages(chat: &Map<String, Value>) -> Result<&Vec<Value>, Untranslatable> {
    chat.get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| Untranslatable::new("messages", "`messages` must be a list"))
}

/// A message's role.
pub(crate) fn role_of(m: &Value, i: usize) -> Result<&str, Untranslatable> {
    str_of(m, "role").ok_or_else(|| {
        Untranslatable::new(
            &format!("messages[{i}].role"),
            format!("messages[{i}] has no `role`"),
        )
    })
}

/// The text of a chat message's `content`: the string, or its text parts joined
/// (`None` when a part is not text).
pub(crate) fn plain_text(content: Option<&Value>) -> Option<String> {
    match content {
        None | Some(Value::Null) => Some(String::new()),
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for p in parts {
                match str_of(p, "type") {
                    Some("text") | Some("refusal") | None => {
                        out.push_str(str_of(p, "text").or(str_of(p, "refusal")).unwrap_or(""));
                    }
                    _ => return None,
                }
            }
            Some(out)
        }
        Some(_) => None,
    }
}

/// Tool-call `arguments` (a JSON string) parsed to an object (`""` is `{}`).
pub(crate) fn parse_arguments(args: Option<&Value>, param: &str) -> Result<Value, Untranslatable> {
    let text = match args {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(v @ Value::Object(_)) => return Ok(v.clone()),
        Some(_) => {
            return Err(Untranslatable::new(
                param,
                "tool-call arguments must be a JSON string",
            ))
        }
    };
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Untranslatable::new(
            param,
            "tool-call arguments must be a JSON object",
        )),
        Err(e) => Err(Untranslatable::new(
            param,
            format!("tool-call arguments are not valid JSON: {e}"),
        )),
    }
}

/// One function call of an assistant message: `(id, name, arguments as an object)`.
pub(crate) type FunctionCall<'a> = (&'a str, &'a str, Value);

/// An assistant message's `tool_calls` read for translation: only function calls,
/// their arguments parsed to an object (the parameter named otherwise).
pub(crate) fn function_calls(m: &Value, i: usize) -> Result<Vec<FunctionCall<'_>>, Untranslatable> {
    let Some(calls) = m.get("tool_calls").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(calls.len());
    for (k, call) in calls.iter().enumerate() {
        let param = format!("messages[{i}].tool_calls[{k}]");
        if str_of(call, "type").is_some_and(|t| t != "function") {
            return Err(Untranslatable::new(
                &param,
                "only function tool calls translate",
            ));
        }
        let f = call.get("function");
        let name = f.and_then(|f| str_of(f, "name")).unwrap_or("");
        let args = parse_arguments(f.and_then(|f| f.get("arguments")), &param)?;
        out.push((str_of(call, "id").unwrap_or(""), name, args));
    }
    Ok(out)
}

/// The OpenAI assistant message of a translated answer: its text (`null` when it
/// only calls tools), `tool_calls` and `reasoning_content` when there are any.
pub(crate) fn assistant_message(text: String, calls: Vec<Value>, reasoning: String) -> Value {
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        if message["content"] == "" {
            message["content"] = Value::Null;
        }
        message["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = Value::String(reasoning);
    }
    message
}

/// Conversation turns being built for an API that wants roles to alternate:
/// `(role, items)`, consecutive same-role items merged.
pub(crate) type Turns = Vec<(&'static str, Vec<Value>)>;

/// Adds `items` of `role` to `turns`, merged into the last turn when it has the
/// same role; empty items add nothing.
pub(crate) fn push_turn(turns: &mut Turns, role: &'static str, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((r, b)) if *r == role => b.extend(items),
        _ => turns.push((role, items)),
    }
}

/// `messages[i]` has a role `target` has no equivalent for.
pub(crate) fn unknown_role(i: usize, role: &str, target: &str) -> Untranslatable {
    Untranslatable::new(
        &format!("messages[{i}].role"),
        format!("role `{role}` has no {target} equivalent"),
    )
}
