//! Shared helpers of the Rust test suites: the test attribute that works natively
//! and on wasm32, configs, and a scripted "story" upstream for session tests.
#![allow(dead_code)] // Each test file uses part of it.

#[cfg(target_arch = "wasm32")]
pub use wasm_bindgen_test::wasm_bindgen_test as test;

use llm_failover::api::parse_chat_request;
use llm_failover::config::Config;
use llm_failover::cooldown::CooldownTable;
use llm_failover::exchange::upstream::UpstreamRequest;
use llm_failover::failure::TransportFailure;
use llm_failover::run::RunOptions;
use llm_failover::session::Session;
use llm_failover::sim::{Reply, SessionSim};
use llm_failover::Timestamp;
use serde_json::{json, Value};

/// A fixed start time (mid-2025, Unix ms).
pub const T0: Timestamp = 1_750_000_000_000;
pub const SEC: u64 = 1000;
pub const MIN: u64 = 60 * SEC;
pub const HOUR: u64 = 60 * MIN;

/// Parses a test config, panicking with the error and the text.
pub fn config_from(json: &str) -> Config {
    Config::from_json(json).unwrap_or_else(|e| panic!("test config is invalid: {e}\n{json}"))
}

/// A fresh table for `config`.
pub fn table(config: &Config) -> CooldownTable {
    CooldownTable::new(config.cooldown)
}

/// Run options at `now` with a fixed seed.
pub fn opts(now: Timestamp, run_id: u64, stream: bool) -> RunOptions {
    RunOptions {
        now,
        seed: 42 + run_id,
        run_id,
        stream,
    }
}

// ---------------------------------------------------------------------------
// The story: a 60-word answer every story model gives, one word per chunk.

pub const STORY: &str = "Once upon a time, in a quiet village by the sea, there lived an old fisherman who knew every wave by name. Each morning he rowed out before dawn, and each evening he returned with stories instead of fish. The children gathered round to listen, and slowly the whole village learned that patience catches far more than nets ever could.";

/// The story's words as streamed: the first bare, every later one with its space.
pub fn story_words() -> Vec<String> {
    let mut out = Vec::new();
    for (i, w) in STORY.split(' ').enumerate() {
        out.push(if i == 0 {
            w.to_string()
        } else {
            format!(" {w}")
        });
    }
    out
}

/// Where `prefill` ends in the story: the index of the first word after it, and
/// the words before that index joined (the caller checks they are the prefill).
pub fn story_split(prefill: &str) -> (usize, String) {
    let mut before = String::new();
    let mut start = 0;
    for (i, w) in story_words().iter().enumerate() {
        if before.len() >= prefill.len() {
            break;
        }
        before.push_str(w);
        start = i + 1;
    }
    (start, before)
}

/// An SSE `data:` event.
pub fn event(data: &Value) -> String {
    format!("data: {data}\n\n")
}

pub fn chunk(id: &str, model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({"id": id, "object": "chat.completion.chunk", "created": 1, "model": model,
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

/// What the request asks: its model, whether it streams, and the prefill (the
/// text of a trailing assistant message), if any.
pub fn read_request(req: &UpstreamRequest) -> (String, bool, Option<String>, Value) {
    let body: Value = serde_json::from_str(&req.body).expect("upstream bodies are JSON");
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let prefill = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .filter(|m| m["role"] == "assistant")
        .and_then(|m| m["content"].as_str())
        .map(str::to_string);
    (model, stream, prefill, body)
}

/// How a story upstream ends its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoryEnd {
    /// Finish, usage (if asked), `[DONE]`.
    Complete,
    /// The connection breaks after `n` words.
    Cut(usize),
    /// Silence after `n` words.
    Stall(usize),
    /// An in-band error event after `n` words.
    ErrorEvent(usize),
    /// A `data: {not json` event after `n` words, then the rest.
    Malformed(usize),
}

/// A story stream for `model`, continuing `prefill` (the words after it), ending
/// as `end`. `overlap` repeats the prefill's last words first.
pub fn story_reply(
    model: &str,
    prefill: Option<&str>,
    end: StoryEnd,
    overlap: usize,
    usage: bool,
    word_ms: u64,
) -> Reply {
    let words = story_words();
    let mut start = 0;
    if let Some(p) = prefill {
        let (s, before) = story_split(p);
        assert_eq!(
            before, p,
            "the prefill must be a prefix of the story at a word boundary"
        );
        start = s;
    }
    let mut out: Vec<String> = words[start.saturating_sub(overlap)..start].to_vec();
    out.extend(words[start..].iter().cloned());
    let id = format!("chatcmpl-{model}");
    let mut pieces = vec![(
        0,
        event(&chunk(
            &id,
            model,
            json!({"role": "assistant", "content": ""}),
            None,
        )),
    )];
    let limit = match end {
        StoryEnd::Cut(n) | StoryEnd::Stall(n) | StoryEnd::ErrorEvent(n) => n.min(out.len()),
        _ => out.len(),
    };
    for (i, w) in out.iter().enumerate().take(limit) {
        pieces.push((
            word_ms,
            event(&chunk(&id, model, json!({"content": w}), None)),
        ));
        if let StoryEnd::Malformed(n) = end {
            if i + 1 == n {
                pieces.push((word_ms, "data: {not json\n\n".to_string()));
            }
        }
    }
    match end {
        StoryEnd::Complete | StoryEnd::Malformed(_) => {
            pieces.push((word_ms, event(&chunk(&id, model, json!({}), Some("stop")))));
            if usage {
                let u = json!({"id": id, "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [],
                               "usage": {"prompt_tokens": 10, "completion_tokens": out.len(), "total_tokens": 10 + out.len()}});
                pieces.push((0, event(&u)));
            }
            pieces.push((0, "data: [DONE]\n\n".to_string()));
            Reply::sse(20, &pieces).then_end()
        }
        StoryEnd::Cut(_) => {
            Reply::sse(20, &pieces).then_error(word_ms, TransportFailure::StreamEndedEarly)
        }
        StoryEnd::Stall(_) => Reply::sse(20, &pieces),
        StoryEnd::ErrorEvent(_) => {
            let err = json!({"id": id, "object": "chat.completion.chunk", "created": 1, "model": model,
                             "error": {"code": "server_error", "message": "Internal server error"},
                             "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]});
            pieces.push((word_ms, event(&err)));
            Reply::sse(20, &pieces).then_end()
        }
    }
}

/// A chat request body.
pub fn chat_body(model: &str, stream: bool, extra: Value) -> llm_failover::api::ChatRequest {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "Tell me a story."}], "stream": stream});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    parse_chat_request(body.to_string().as_bytes()).expect("test requests are valid")
}

/// A session of `config` for `request`, at `now`.
pub fn session(
    config: &Config,
    request: llm_failover::api::ChatRequest,
    now: Timestamp,
    run_id: u64,
) -> Session {
    let route = config.route(&request.model).expect("test models route");
    let stream = request.stream;
    Session::new(route, request, opts(now, run_id, stream))
}

/// Simulates a session against `upstream`.
pub fn simulate<'a>(
    config: &Config,
    table: &mut CooldownTable,
    request: llm_failover::api::ChatRequest,
    now: Timestamp,
    keys: &[(&str, &str)],
    upstream: impl FnMut(&UpstreamRequest, Timestamp) -> Reply + 'a,
) -> SessionSim<'a> {
    let mut sim = SessionSim::new(session(config, request, now, 1), now, upstream).with_keys(keys);
    sim.run(table);
    sim
}

/// The text of a stream's data events (first choice), `[DONE]` noted.
pub fn streamed_text(events: &[llm_failover::session::ClientEvent]) -> (String, bool) {
    use llm_failover::session::ClientEvent;
    let mut text = String::new();
    let mut done = false;
    for e in events {
        match e {
            ClientEvent::Data(d) => {
                let v: Value = serde_json::from_str(d).expect("forwarded data is JSON");
                if let Some(t) = v["choices"][0]["delta"]["content"].as_str() {
                    text.push_str(t);
                }
            }
            ClientEvent::Done => done = true,
            _ => {}
        }
    }
    (text, done)
}
