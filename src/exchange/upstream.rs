//! Addressing an upstream: the HTTP request one attempt sends, per dialect.
//!
//! The request never holds a key's value: it names the key and says how it is
//! sent ([`KeyUse`]); the host, which holds the secrets, adds the header.

use crate::api::{ClientApi, ClientRequest};
use crate::config::Target;
use crate::dialect::{anthropic, gemini, Untranslatable};
use crate::provider::{Dialect, ProviderApi};
use crate::run::{AttemptId, AttemptPlan, Continuation};
use serde_json::{json, Value};

/// How the key is sent upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyHeader {
    /// `Authorization: Bearer KEY`.
    Bearer,
    /// Azure's `api-key: KEY`.
    ApiKey,
    /// Anthropic's `x-api-key: KEY`.
    XApiKey,
    /// Google's `x-goog-api-key: KEY`.
    GoogApiKey,
}

impl KeyHeader {
    /// The header's name.
    pub fn name(self) -> &'static str {
        match self {
            KeyHeader::Bearer => "authorization",
            KeyHeader::ApiKey => "api-key",
            KeyHeader::XApiKey => "x-api-key",
            KeyHeader::GoogApiKey => "x-goog-api-key",
        }
    }

    /// What goes before the key in the header's value.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyHeader::Bearer => "Bearer ",
            KeyHeader::ApiKey | KeyHeader::XApiKey | KeyHeader::GoogApiKey => "",
        }
    }

    /// The header that carries `key`: `(name, value)`.
    pub fn header(self, key: &str) -> (&'static str, String) {
        (self.name(), format!("{}{key}", self.prefix()))
    }
}

/// Which key an upstream request uses, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    /// The key's name in the config (the host resolves it to its value).
    pub name: String,
    /// How the value is sent.
    pub header: KeyHeader,
}

/// One upstream HTTP request, without the key's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// The attempt it belongs to.
    pub attempt: AttemptId,
    /// `POST`.
    pub method: &'static str,
    /// The full URL.
    pub url: String,
    /// Headers to send (never the key).
    pub headers: Vec<(String, String)>,
    /// The key to add, if the provider has keys.
    pub key: Option<KeyUse>,
    /// The JSON body.
    pub body: String,
    /// The response is a stream.
    pub stream: bool,
}

/// Whether a target (its dialect and API) can serve a request of `api` at all;
/// `Err` says why not. (A request may still use a parameter the target's API
/// cannot express: [`upstream_request`] says so.)
pub fn serves(dialect: Dialect, target_api: ProviderApi, api: ClientApi) -> Result<(), String> {
    let native = target_api == ProviderApi::Native && dialect.has_native_api();
    match api {
        ClientApi::Chat | ClientApi::Messages => Ok(()),
        ClientApi::Responses if native => Err(format!(
            "its API ({dialect} native) cannot serve the Responses API: only OpenAI-compatible targets can"
        )),
        ClientApi::Embeddings if native => Err(format!(
            "its API ({dialect} native) cannot serve embeddings: use its OpenAI-compatible endpoint"
        )),
        _ => Ok(()),
    }
}

/// A client request translated for one target, once (retries and continuations
/// reuse it). A target that speaks the client's API takes the client's own body
/// with its model: that body is neither copied nor patched, only written out
/// with the model field changed ([`upstream_request`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The body for the target's API where it differs from the client's
    /// (`None`: the client's body).
    body: Option<serde_json::Map<String, Value>>,
    /// What becomes of the body's `model` field.
    model: ModelField,
    /// Which endpoint of the target's API.
    pub endpoint: Endpoint,
    /// A translated stream reports usage (the client asked for it, or its API
    /// always has it).
    pub include_usage: bool,
}

/// The `model` field of an upstream body.
#[derive(Debug, Clone, PartialEq)]
enum ModelField {
    /// Set to the target's concrete model.
    Set(String),
    /// Left out (Azure names the deployment in the URL).
    Remove,
    /// As the body has it (Gemini names the model in the URL).
    Keep,
}

impl Prepared {
    /// The body as a map, `model` applied (for the rare attempt that must add to
    /// it: a continuation's prefill).
    fn owned_body(
        &self,
        client: &serde_json::Map<String, Value>,
    ) -> serde_json::Map<String, Value> {
        let mut body = self.body.as_ref().unwrap_or(client).clone();
        match &self.model {
            ModelField::Set(m) => {
                body.insert("model".into(), Value::String(m.clone()));
            }
            ModelField::Remove => {
                body.remove("model");
            }
            ModelField::Keep => {}
        }
        body
    }

    /// The body's JSON text, `model` applied, written in one pass.
    fn body_text(&self, client: &serde_json::Map<String, Value>) -> String {
        let body = WithModel {
            map: self.body.as_ref().unwrap_or(client),
            model: &self.model,
        };
        serde_json::to_string(&body).unwrap_or_else(|_| "{}".into())
    }
}

/// A body map written with its `model` field replaced or left out, in the map's
/// own key order.
struct WithModel<'a> {
    map: &'a serde_json::Map<String, Value>,
    model: &'a ModelField,
}

impl serde::Serialize for WithModel<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let set = match self.model {
            ModelField::Set(m) => Some(m.as_str()),
            _ => None,
        };
        let keep = matches!(self.model, ModelField::Keep);
        let mut out = s.serialize_map(None)?;
        let mut model_written = false;
        for (k, v) in self.map {
            if let Some(m) = set.filter(|_| !model_written && k.as_str() >= "model") {
                out.serialize_entry("model", m)?;
                model_written = true;
            }
            if k == "model" && !keep {
                continue;
            }
            out.serialize_entry(k, v)?;
        }
        if let Some(m) = set.filter(|_| !model_written) {
            out.serialize_entry("model", m)?;
        }
        out.end()
    }
}

/// The upstream endpoint a prepared request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `…/chat/completions`.
    ChatCompletions,
    /// `…/responses`.
    Responses,
    /// `…/embeddings`.
    Embeddings,
    /// Anthropic's native `…/messages`.
    Messages,
    /// Gemini's native `…/models/{model}:generateContent` (or
    /// `:streamGenerateContent?alt=sse`).
    GenerateContent,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat/completions",
            Endpoint::Responses => "responses",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Messages => "messages",
            Endpoint::GenerateContent => "models",
        }
    }

    /// How its answers are read.
    pub fn wire(self) -> super::Wire {
        match self {
            Endpoint::ChatCompletions => super::Wire::Chat,
            Endpoint::Responses => super::Wire::Responses,
            Endpoint::Embeddings => super::Wire::Embeddings,
            Endpoint::Messages => super::Wire::Anthropic,
            Endpoint::GenerateContent => super::Wire::Gemini,
        }
    }
}

/// Translates `req` for `target` (its dialect and API), or says why it cannot go
/// there.
pub fn prepare(req: &ClientRequest, target: &Target) -> Result<Prepared, Untranslatable> {
    serves(target.dialect, target.api, req.api).map_err(|m| Untranslatable {
        param: None,
        message: m,
    })?;
    let native = target.api == ProviderApi::Native && target.dialect.has_native_api();
    let stream = req.stream;
    // A Messages client's request to anything but Anthropic's own API is first
    // read as the canonical chat request.
    let chat = match req.api {
        ClientApi::Messages if !(native && target.dialect == Dialect::Anthropic) => {
            std::borrow::Cow::Owned(anthropic::chat_from_request(&req.body)?)
        }
        _ => std::borrow::Cow::Borrowed(&req.body),
    };
    let include_usage = req.api == ClientApi::Messages
        || chat
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true);
    let (endpoint, body) = match req.api {
        ClientApi::Responses => (Endpoint::Responses, None),
        ClientApi::Embeddings => (Endpoint::Embeddings, None),
        ClientApi::Messages if native && target.dialect == Dialect::Anthropic => {
            (Endpoint::Messages, None)
        }
        _ if native && target.dialect == Dialect::Anthropic => (
            Endpoint::Messages,
            Some(anthropic::request_from_chat(&chat, &target.model, stream)?),
        ),
        _ if native && target.dialect == Dialect::Gemini => (
            Endpoint::GenerateContent,
            Some(gemini::request_from_chat(&chat, stream)?),
        ),
        _ => match chat {
            std::borrow::Cow::Owned(chat) => (Endpoint::ChatCompletions, Some(chat)),
            std::borrow::Cow::Borrowed(_) => (Endpoint::ChatCompletions, None),
        },
    };
    let model = if endpoint == Endpoint::GenerateContent {
        // The model is in the URL.
        ModelField::Keep
    } else if target.dialect == Dialect::Azure && endpoint != Endpoint::Responses {
        ModelField::Remove
    } else {
        ModelField::Set(target.model.clone())
    };
    Ok(Prepared {
        body,
        model,
        endpoint,
        include_usage,
    })
}

fn openai_url(plan: &AttemptPlan, endpoint: Endpoint) -> (String, KeyHeader) {
    let path = endpoint.path();
    match plan.dialect {
        Dialect::Azure => {
            let version = plan.api_version.as_deref().unwrap_or("2024-10-21");
            let url = match endpoint {
                Endpoint::Responses => format!("{}/responses?api-version={version}", plan.base_url),
                _ => format!(
                    "{}/deployments/{}/{path}?api-version={version}",
                    plan.base_url, plan.model
                ),
            };
            (url, KeyHeader::ApiKey)
        }
        _ => (format!("{}/{path}", plan.base_url), KeyHeader::Bearer),
    }
}

/// The request of `plan`'s attempt, from the prepared body. A continuation
/// attempt adds the text the client already has: as a trailing assistant message
/// (prefill, with the dialect's own flag where it has one), or not at all (a
/// fresh attempt, whose answer must begin with that text).
pub fn upstream_request(
    plan: &AttemptPlan,
    prepared: &Prepared,
    client: &serde_json::Map<String, Value>,
    sent: &str,
) -> UpstreamRequest {
    let prefill = plan.continuation == Some(Continuation::Prefill);
    // Only a prefill changes the body beyond its model: the others write the
    // prepared body out as it is.
    let body = |patch: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        if prefill {
            let mut body = prepared.owned_body(client);
            patch(&mut body);
            Value::Object(body).to_string()
        } else {
            prepared.body_text(client)
        }
    };
    match prepared.endpoint {
        Endpoint::Messages => {
            let body = body(&|b| add_native_prefill(b, "messages", anthropic_turn(sent)));
            let url = format!("{}/messages", plan.base_url);
            // The second header lets a browser page call Anthropic directly (its
            // CORS opt-in); servers ignore it.
            let version = vec![
                (
                    "anthropic-version".to_string(),
                    anthropic::API_VERSION.to_string(),
                ),
                (
                    "anthropic-dangerous-direct-browser-access".to_string(),
                    "true".to_string(),
                ),
            ];
            request(plan, url, KeyHeader::XApiKey, version, body)
        }
        Endpoint::GenerateContent => {
            let body = body(&|b| {
                let turn = json!({"role": "model", "parts": [{"text": sent}]});
                add_native_prefill(b, "contents", Some(turn));
            });
            let url = gemini::url(&plan.base_url, &plan.model, plan.stream);
            request(plan, url, KeyHeader::GoogApiKey, Vec::new(), body)
        }
        _ => {
            let body = body(&|b| add_prefill(plan.dialect, b, sent));
            let (url, key_header) = openai_url(plan, prepared.endpoint);
            request(plan, url, key_header, Vec::new(), body)
        }
    }
}

/// Anthropic's prefill turn: the text sent, without trailing whitespace (the API
/// refuses a final assistant turn ending in whitespace; the splice removes the
/// overlap the continuation repeats).
fn anthropic_turn(sent: &str) -> Option<Value> {
    let text = sent.trim_end();
    (!text.is_empty()).then(|| json!({"role": "assistant", "content": text}))
}

/// Appends a final assistant turn to a native body's list `key`.
fn add_native_prefill(body: &mut serde_json::Map<String, Value>, key: &str, turn: Option<Value>) {
    if let (Some(turn), Some(Value::Array(list))) = (turn, body.get_mut(key)) {
        list.push(turn);
    }
}

/// The request with the common headers.
fn request(
    plan: &AttemptPlan,
    url: String,
    key_header: KeyHeader,
    extra_headers: Vec<(String, String)>,
    body: String,
) -> UpstreamRequest {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    if plan.stream {
        headers.push(("accept".into(), "text/event-stream".into()));
    }
    headers.extend(extra_headers);
    UpstreamRequest {
        attempt: plan.attempt,
        method: "POST",
        url,
        headers,
        key: plan.key.as_ref().map(|name| KeyUse {
            name: name.clone(),
            header: key_header,
        }),
        body,
        stream: plan.stream,
    }
}

/// Appends the assistant prefill `sent` the way `dialect` documents it.
fn add_prefill(dialect: Dialect, body: &mut serde_json::Map<String, Value>, sent: &str) {
    let mut message = json!({"role": "assistant", "content": sent});
    match dialect {
        // Mistral and DeepSeek continue a final assistant message marked `prefix`.
        Dialect::Mistral | Dialect::DeepSeek => message["prefix"] = Value::Bool(true),
        // vLLM continues it when asked to, without a new generation prompt.
        Dialect::Vllm => {
            body.insert("continue_final_message".into(), Value::Bool(true));
            body.insert("add_generation_prompt".into(), Value::Bool(false));
        }
        // Anthropic, OpenRouter and Groq continue a trailing assistant message as is.
        _ => {}
    }
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        messages.push(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::parse_chat_request;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn target(dialect: Dialect) -> Target {
        let config = crate::config::Config::from_json(&format!(
            r#"{{"providers": [{{"name": "p", "dialect": "{dialect}", "base_url": "https://h.test/v1", "keys": ["K"], "api_version": "2024-10-21"}}],
                "chains": [{{"name": "c", "targets": [{{"provider": "p", "model": "real-model"}}]}}]}}"#
        ))
        .unwrap();
        config.chains[0].targets[0].clone()
    }

    fn send(p: &AttemptPlan, req: &ClientRequest, sent: &str) -> UpstreamRequest {
        upstream_request(
            p,
            &prepare(req, &target(p.dialect)).unwrap(),
            &req.body,
            sent,
        )
    }

    fn plan(dialect: Dialect) -> AttemptPlan {
        AttemptPlan {
            attempt: AttemptId(0),
            target: 0,
            provider: "p".into(),
            dialect,
            base_url: "https://h.test/v1".into(),
            model: "real-model".into(),
            key: Some("K".into()),
            api_version: Some("2024-10-21".into()),
            stream: true,
            header_timeout_ms: 1,
            first_token_timeout_ms: 1,
            idle_timeout_ms: 1,
            deadline: 1,
            probe: false,
            continuation: None,
        }
    }

    #[test]
    fn upstream_requests_carry_the_concrete_model_and_the_right_key_header() {
        let req = parse_chat_request(
            br#"{"model":"chain","messages":[{"role":"user","content":"hi"}],"temperature":0.2}"#,
        )
        .unwrap();
        let u = send(&plan(Dialect::OpenAi), &req, "");
        assert_eq!(u.url, "https://h.test/v1/chat/completions");
        assert_eq!(u.key.as_ref().unwrap().header, KeyHeader::Bearer);
        assert_eq!(
            KeyHeader::Bearer.header("sk-1"),
            ("authorization", "Bearer sk-1".into())
        );
        let body: Value = serde_json::from_str(&u.body).unwrap();
        assert_eq!(
            (body["model"].as_str(), body["temperature"].as_f64()),
            (Some("real-model"), Some(0.2))
        );
        assert!(!u.body.contains("sk-"), "no key value in the request");
        let a = send(&plan(Dialect::Azure), &req, "");
        assert_eq!(
            a.url,
            "https://h.test/v1/deployments/real-model/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(a.key.unwrap().header, KeyHeader::ApiKey);
        assert!(serde_json::from_str::<Value>(&a.body)
            .unwrap()
            .get("model")
            .is_none());
    }

    #[test]
    fn the_body_written_with_its_model_is_the_patched_map_written_out() {
        // Keys on both sides of `model` in the map's order, `model` absent or not,
        // set, removed or kept: the one-pass writer and the patched copy agree.
        let bodies = [
            r#"{"model":"chain","messages":[{"role":"user","content":"hi"}],"n":1}"#,
            r#"{"messages":[],"mod":1,"model_x":2,"stream":true}"#,
            r#"{"a":1}"#,
            r#"{"zz":{"model":"inner"}}"#,
            r#"{"model":null}"#,
            r#"{}"#,
        ];
        let fields = [
            ModelField::Set("real-model".into()),
            ModelField::Remove,
            ModelField::Keep,
        ];
        for text in bodies {
            let client: serde_json::Map<String, Value> = serde_json::from_str(text).unwrap();
            for model in &fields {
                for body in [None, Some(client.clone())] {
                    let p = Prepared {
                        body,
                        model: model.clone(),
                        endpoint: Endpoint::ChatCompletions,
                        include_usage: false,
                    };
                    assert_eq!(
                        p.body_text(&client),
                        Value::Object(p.owned_body(&client)).to_string(),
                        "{text} with {model:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_prefill_continuation_ends_with_the_text_sent_in_the_dialects_way() {
        let req =
            parse_chat_request(br#"{"model":"c","messages":[{"role":"user","content":"hi"}]}"#)
                .unwrap();
        let mut p = plan(Dialect::OpenRouter);
        p.continuation = Some(Continuation::Prefill);
        let body: Value = serde_json::from_str(&send(&p, &req, "Once upon").body).unwrap();
        assert_eq!(
            body["messages"][1],
            json!({"role": "assistant", "content": "Once upon"})
        );
        p.dialect = Dialect::Mistral;
        let body: Value = serde_json::from_str(&send(&p, &req, "Once").body).unwrap();
        assert_eq!(body["messages"][1]["prefix"], json!(true));
        p.dialect = Dialect::Vllm;
        let body: Value = serde_json::from_str(&send(&p, &req, "Once").body).unwrap();
        assert_eq!(body["continue_final_message"], json!(true));
        assert_eq!(body["add_generation_prompt"], json!(false));
        p.continuation = Some(Continuation::Fresh);
        let body: Value = serde_json::from_str(&send(&p, &req, "Once").body).unwrap();
        assert_eq!(
            body["messages"].as_array().unwrap().len(),
            1,
            "a fresh attempt asks afresh"
        );
    }
}
