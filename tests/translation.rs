//! The dialect translation (`src/dialect/`) against sourced fixtures: OpenAI chat ⇄
//! Anthropic Messages ⇄ Gemini, requests, responses, streams and errors. Every input
//! is a real body from `tests/fixtures/translation/*.json` (see its README), compiled
//! in with `include_str!` so this file also runs on wasm32.

#[path = "translation/anthropic_requests.rs"]
mod anthropic_requests;
#[path = "translation/anthropic_responses.rs"]
mod anthropic_responses;
#[path = "translation/gemini.rs"]
mod gemini_dialect;
mod support;

use llm_failover::classify::{classify, FailureKind, Outcome};
use llm_failover::dialect::{anthropic, gemini, Decoded};
use llm_failover::provider::Dialect;
use llm_failover::sse::SseEvent;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

const FILES: [&str; 3] = [
    include_str!("fixtures/translation/anthropic.json"),
    include_str!("fixtures/translation/gemini.json"),
    include_str!("fixtures/translation/openai_chat.json"),
];
const ANTHROPIC_ERRORS: &str = include_str!("fixtures/anthropic.json");
const GEMINI_ERRORS: &str = include_str!("fixtures/gemini.json");

/// Every fixture of the three files, parsed once.
fn fixtures() -> &'static [Value] {
    static ALL: OnceLock<Vec<Value>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all = Vec::new();
        for file in FILES {
            let v: Value = serde_json::from_str(file).expect("fixture files are JSON");
            all.extend(v["fixtures"].as_array().expect("a fixtures list").clone());
        }
        all
    })
}

fn fixture(name: &str) -> Value {
    let f = fixtures().iter().find(|f| f["name"] == name);
    f.cloned().unwrap_or_else(|| panic!("no fixture {name}"))
}

fn body(name: &str) -> Value {
    fixture(name)["body"].clone()
}

/// `(name, body)` of every fixture of `kind` for `api` whose body is an object.
fn bodies(kind: &str, api: &str) -> Vec<(String, Value)> {
    let it = fixtures().iter();
    it.filter(|f| f["kind"] == kind && f["api"] == api && f["body"].is_object())
        .map(|f| {
            (
                f["name"].as_str().unwrap_or("").to_string(),
                f["body"].clone(),
            )
        })
        .collect()
}

/// `(event, parsed data)` of a stream fixture; OpenAI's `[DONE]` is left out.
fn events(name: &str) -> Vec<(Option<String>, Value)> {
    let f = fixture(name);
    let list = f["events"].as_array().expect("a stream fixture").clone();
    list.iter()
        .filter(|e| e["data"] != "[DONE]")
        .map(|e| {
            let data = e["data"].as_str().expect("data is text");
            let v = serde_json::from_str(data).unwrap_or_else(|e| panic!("{name}: {e}"));
            (e["event"].as_str().map(str::to_string), v)
        })
        .collect()
}

fn stream_names(api: &str) -> Vec<String> {
    let it = fixtures().iter();
    it.filter(|f| f["kind"] == "stream" && f["api"] == api)
        .map(|f| f["name"].as_str().unwrap_or("").to_string())
        .collect()
}

fn obj(v: &Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer)
        .unwrap_or_else(|| panic!("no {pointer} in {v}"))
}

fn json_of(text: &Value) -> Value {
    serde_json::from_str(text.as_str().expect("JSON text")).expect("valid JSON")
}

/// What a canonical (OpenAI chunk) stream says, first choice only.
#[derive(Debug, Default, PartialEq)]
struct Canon {
    text: String,
    reasoning: String,
    /// index → (id, name, arguments concatenated)
    calls: BTreeMap<u64, (String, String, String)>,
    finishes: Vec<String>,
    usage: Option<Value>,
    done: bool,
    errors: Vec<String>,
    /// Anything that came after an error or `Done`.
    after_end: usize,
}

impl Canon {
    fn chunk(&mut self, c: &Value) {
        if self.done || !self.errors.is_empty() {
            self.after_end += 1;
        }
        if c["usage"].is_object() {
            self.usage = Some(c["usage"].clone());
        }
        let Some(choice) = c["choices"].get(0) else {
            return;
        };
        let d = &choice["delta"];
        self.text += d["content"].as_str().unwrap_or("");
        self.reasoning += d["reasoning_content"].as_str().unwrap_or("");
        for call in d["tool_calls"].as_array().into_iter().flatten() {
            let e = self.calls.entry(call["index"].as_u64().expect("index"));
            let e = e.or_default();
            e.0 += call["id"].as_str().unwrap_or("");
            e.1 += call["function"]["name"].as_str().unwrap_or("");
            e.2 += call["function"]["arguments"].as_str().unwrap_or("");
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.finishes.push(f.to_string());
        }
    }

    fn decoded(&mut self, out: Vec<Decoded>) {
        for d in out {
            match d {
                Decoded::Chunk(c) => self.chunk(&c),
                Decoded::Done => {
                    self.after_end += usize::from(self.done || !self.errors.is_empty());
                    self.done = true;
                }
                Decoded::Error(e) => self.errors.push(e),
                _ => panic!("a new Decoded variant: test it"),
            }
        }
    }
}

fn decode_anthropic(name: &str, include_usage: bool) -> Canon {
    let mut d = anthropic::StreamDecoder::new(include_usage);
    let mut c = Canon::default();
    for (event, data) in events(name) {
        c.decoded(d.decode(event.as_deref(), &data));
    }
    c
}

fn decode_gemini(name: &str, include_usage: bool) -> Canon {
    let mut d = gemini::StreamDecoder::new("gemini-2.5-flash", include_usage);
    let mut c = Canon::default();
    for (_, data) in events(name) {
        c.decoded(d.decode(&data));
    }
    c.decoded(d.finish());
    c
}

/// Text and tool calls an Anthropic stream fixture carries, read from its events.
fn anthropic_expected(name: &str) -> (String, Vec<(String, String, String)>) {
    let (mut text, mut calls) = (String::new(), Vec::<(u64, (String, String, String))>::new());
    for (_, v) in events(name) {
        let (block, delta) = (&v["content_block"], &v["delta"]);
        if v["type"] == "content_block_start" && block["type"] == "tool_use" {
            let (id, n) = (block["id"].as_str(), block["name"].as_str());
            let call = (
                id.unwrap_or("").into(),
                n.unwrap_or("").into(),
                String::new(),
            );
            calls.push((v["index"].as_u64().unwrap_or(0), call));
        }
        match delta["type"].as_str() {
            Some("text_delta") => text += delta["text"].as_str().unwrap_or(""),
            Some("input_json_delta") => {
                let c = calls
                    .iter_mut()
                    .find(|(i, _)| Some(*i) == v["index"].as_u64());
                c.expect("a delta of a started block").1 .2 +=
                    delta["partial_json"].as_str().unwrap();
            }
            _ => {}
        }
    }
    (text, calls.into_iter().map(|(_, c)| c).collect())
}

fn canon_calls(c: &Canon) -> Vec<(String, String, String)> {
    c.calls.values().cloned().collect()
}

/// A recorded parallel tool-call turn (the response's message after the prompt it
/// answers), each call answered by a tool message carrying a recorded result.
fn parallel_tool_history() -> Map<String, Value> {
    let prompt = body("openai-chat-req-tools-tool-choice")["messages"][0].clone();
    let reply = body("openai-chat-resp-parallel-tool-calls-recorded");
    let assistant = reply["choices"][0]["message"].clone();
    let result = at(
        &body("anthropic-req-tool-result-recorded"),
        "/messages/2/content/0/content",
    )
    .clone();
    let mut messages = vec![prompt, assistant.clone()];
    for call in assistant["tool_calls"].as_array().unwrap() {
        messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": result}));
    }
    obj(&json!({"model": "gpt-4o", "messages": messages}))
}
