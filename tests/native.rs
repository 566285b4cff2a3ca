//! Native upstream APIs and the Messages client API through a [`Session`] with a
//! fake clock: chat clients answered by Anthropic's and Gemini's own APIs
//! (requests, streams, answers, in-band errors, continuation across dialects), and
//! `/v1/messages` clients answered by any target, in Anthropic's shapes.

mod support;

use llm_failover::api::{parse_request, ClientApi};
use llm_failover::exchange::upstream::{KeyHeader, UpstreamRequest};
use llm_failover::failure::TransportFailure;
use llm_failover::session::{ClientEvent, Session};
use llm_failover::sim::{Reply, SessionSim};
use serde_json::{json, Value};
#[cfg(target_arch = "wasm32")]
use support::test;
#[allow(unused_imports)]
use support::*;

/// claude (anthropic native) → gemini (native) → router (openrouter: prefill).
fn config() -> llm_failover::Config {
    config_from(
        r#"{"providers": [
            {"name": "claude", "dialect": "anthropic", "base_url": "https://anthropic.test/v1", "keys": ["A"]},
            {"name": "gem", "dialect": "gemini", "base_url": "https://gemini.test/v1beta", "keys": ["G"]},
            {"name": "router", "dialect": "openrouter", "base_url": "https://router.test/v1", "keys": ["R"]}
        ],
        "chains": [
            {"name": "story", "targets": [
                {"provider": "claude", "model": "claude-x"},
                {"provider": "gem", "model": "gemini-x"},
                {"provider": "router", "model": "r-model"}]},
            {"name": "gem-first", "targets": [
                {"provider": "gem", "model": "gemini-x"},
                {"provider": "claude", "model": "claude-x"}]},
            {"name": "router-first", "targets": [
                {"provider": "router", "model": "r-model"},
                {"provider": "claude", "model": "claude-x"}]}
        ]}"#,
    )
}

const KEYS: &[(&str, &str)] = &[
    ("A", "sk-ant-secret-0123456789"),
    ("G", "AIza-gemini-secret-0123456789"),
    ("R", "sk-or-secret-0123456789"),
];

fn host(r: &UpstreamRequest) -> &str {
    r.url.split('/').nth(2).unwrap_or_default()
}

fn body(r: &UpstreamRequest) -> Value {
    serde_json::from_str(&r.body).expect("upstream bodies are JSON")
}

/// The words of the story after `prefill` (compared without trailing whitespace:
/// Anthropic's prefill is trimmed).
fn rest_of_story(prefill: &str) -> Vec<String> {
    let (start, before) = story_split(prefill);
    assert_eq!(
        before.trim_end(),
        prefill.trim_end(),
        "a prefill at a word boundary"
    );
    story_words()[start..].to_vec()
}

fn sse(event: &str, data: Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// Anthropic's event stream of `words`: all of them (`cut: None`), or the first
/// `n` and then `then` (a cut, or an `overloaded_error` event when `None`).
fn anthropic_stream(words: &[String], cut: Option<(usize, Option<TransportFailure>)>) -> Reply {
    let mut pieces = vec![(
        0,
        sse(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                "model": "claude-x", "content": [], "stop_reason": null, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ),
    )];
    pieces.push((
        0,
        sse(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
    ));
    pieces.push((0, sse("ping", json!({"type": "ping"}))));
    let n = cut.map_or(words.len(), |(n, _)| n);
    for w in &words[..n] {
        pieces.push((
            5,
            sse(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}),
            ),
        ));
    }
    match cut {
        None => {
            pieces.push((
                0,
                sse(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": 0}),
                ),
            ));
            pieces.push((
                0,
                sse(
                    "message_delta",
                    json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                        "usage": {"output_tokens": words.len()}}),
                ),
            ));
            pieces.push((0, sse("message_stop", json!({"type": "message_stop"}))));
            Reply::sse(20, &pieces).then_end()
        }
        Some((_, Some(t))) => Reply::sse(20, &pieces).then_error(5, t),
        Some((_, None)) => {
            pieces.push((
                5,
                sse(
                    "error",
                    json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
                ),
            ));
            Reply::sse(20, &pieces).then_end()
        }
    }
}

/// Gemini's `alt=sse` stream of `words`, four words a chunk, the last with
/// `finishReason: STOP` and `usageMetadata`.
fn gemini_stream(words: &[String]) -> Reply {
    let chunks: Vec<String> = words.chunks(4).map(|c| c.concat()).collect();
    let mut pieces = Vec::new();
    for (i, text) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        let mut cand = json!({"content": {"role": "model", "parts": [{"text": text}]}, "index": 0});
        if last {
            cand["finishReason"] = json!("STOP");
        }
        let data = json!({"candidates": [cand], "responseId": "resp-1", "modelVersion": "gemini-x",
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": i + 1, "totalTokenCount": 10 + i}});
        pieces.push((5, format!("data: {data}\r\n\r\n")));
    }
    Reply::sse(20, &pieces).then_end()
}

fn openai_words(words: &[String], model: &str) -> Reply {
    let id = "chatcmpl-r";
    let mut pieces = vec![(
        0,
        event(&chunk(
            id,
            model,
            json!({"role": "assistant", "content": ""}),
            None,
        )),
    )];
    for w in words {
        pieces.push((5, event(&chunk(id, model, json!({"content": w}), None))));
    }
    pieces.push((5, event(&chunk(id, model, json!({}), Some("stop")))));
    pieces.push((0, "data: [DONE]\n\n".to_string()));
    Reply::sse(20, &pieces).then_end()
}

fn run<'a>(
    c: &llm_failover::Config,
    request: llm_failover::api::ClientRequest,
    upstream: impl FnMut(&UpstreamRequest, u64) -> Reply + 'a,
) -> SessionSim<'a> {
    let mut t = table(c);
    let route = c.route(&request.model).expect("routes");
    let stream = request.stream;
    let s = Session::new(route, request, opts(T0, 1, stream));
    let mut sim = SessionSim::new(s, T0, upstream).with_keys(KEYS);
    sim.run(&mut t);
    sim
}

fn no_keys_in(sim: &SessionSim<'_>) {
    let r = &sim.received;
    let mut all = format!("{:?}{:?}{:?}", r.events, r.response, r.head);
    all.push_str(&format!("{:?}", sim.session.run().trace()));
    for (_, v) in KEYS {
        assert!(!all.contains(v), "key {v} leaked");
    }
}

#[test]
fn a_chat_request_goes_to_anthropic_in_its_own_api_and_streams_back_as_chunks() {
    let c = config();
    let sim = run(
        &c,
        chat_body(
            "story",
            true,
            json!({"messages": [
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tell me a story."}]}),
        ),
        |req, _| {
            assert_eq!(req.url, "https://anthropic.test/v1/messages");
            assert_eq!(req.key.as_ref().unwrap().header, KeyHeader::XApiKey);
            assert!(req
                .headers
                .iter()
                .any(|(k, v)| k == "anthropic-version" && v == "2023-06-01"));
            let b = body(req);
            assert_eq!(
                (b["model"].as_str(), b["system"].as_str()),
                (Some("claude-x"), Some("Be brief."))
            );
            assert_eq!(
                b["max_tokens"],
                json!(4096),
                "Anthropic needs max_tokens: the documented default"
            );
            assert_eq!(
                b["messages"],
                json!([{"role": "user", "content": "Tell me a story."}])
            );
            anthropic_stream(&story_words(), None)
        },
    );
    let r = &sim.received;
    let (text, done) = streamed_text(&r.events);
    assert_eq!((text.as_str(), done), (STORY, true));
    assert_eq!(r.head.as_ref().unwrap().target, "claude/claude-x");
    let finishes: Vec<Value> = r
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Data(d) => serde_json::from_str::<Value>(d).ok(),
            _ => None,
        })
        .filter(|v| !v["choices"][0]["finish_reason"].is_null())
        .collect();
    assert_eq!(finishes.len(), 1);
    assert_eq!(finishes[0]["choices"][0]["finish_reason"], "stop");
    no_keys_in(&sim);
}

#[test]
fn an_anthropic_stream_cut_midway_is_finished_by_gemini_asked_afresh() {
    let c = config();
    let sim = run(
        &c,
        chat_body("story", true, json!({})),
        |req, _| match host(req) {
            "anthropic.test" => anthropic_stream(
                &story_words(),
                Some((20, Some(TransportFailure::StreamEndedEarly))),
            ),
            "gemini.test" => {
                assert_eq!(
                    req.url,
                    "https://gemini.test/v1beta/models/gemini-x:streamGenerateContent?alt=sse"
                );
                assert_eq!(req.key.as_ref().unwrap().header, KeyHeader::GoogApiKey);
                let b = body(req);
                assert_eq!(
                    b["contents"],
                    json!([{"role": "user", "parts": [{"text": "Tell me a story."}]}]),
                    "asked afresh"
                );
                gemini_stream(&story_words())
            }
            other => panic!("unexpected {other}"),
        },
    );
    let r = &sim.received;
    let (text, done) = streamed_text(&r.events);
    assert_eq!((text.as_str(), done), (STORY, true));
    let hosts: Vec<&str> = r.sent.iter().map(|(_, q)| host(q)).collect();
    assert_eq!(hosts.last(), Some(&"gemini.test"));
    assert!(r.events.iter().any(|e| matches!(e, ClientEvent::Comment(c) if c.contains("claude/claude-x=0+") && c.contains("gem/gemini-x="))));
    no_keys_in(&sim);
}

#[test]
fn an_overloaded_error_event_inside_anthropics_200_is_continued_by_prefill() {
    let c = config_from(
        r#"{"providers": [
            {"name": "claude", "dialect": "anthropic", "base_url": "https://anthropic.test/v1", "keys": ["A"]},
            {"name": "router", "dialect": "openrouter", "base_url": "https://router.test/v1", "keys": ["R"]}],
        "chains": [{"name": "story", "targets": [{"provider": "claude", "model": "claude-x"}, {"provider": "router", "model": "r-model"}]}]}"#,
    );
    let router_prefill = std::cell::RefCell::new(None);
    let sim = run(
        &c,
        chat_body("story", true, json!({})),
        |req, _| match host(req) {
            "anthropic.test" => anthropic_stream(&story_words(), Some((25, None))),
            _ => {
                let (model, _, prefill, _) = read_request(req);
                let p = prefill.expect("a prefill continuation");
                *router_prefill.borrow_mut() = Some(p.clone());
                openai_words(&rest_of_story(&p), &model)
            }
        },
    );
    let r = &sim.received;
    let (text, done) = streamed_text(&r.events);
    assert_eq!((text.as_str(), done), (STORY, true));
    let first25: String = story_words()[..25].concat();
    assert_eq!(router_prefill.borrow().as_deref(), Some(first25.as_str()));
    // The classifier read Anthropic's own envelope: overloaded.
    let trace = format!("{:?}", sim.session.run().trace());
    assert!(trace.contains("Overloaded"), "{trace}");
}

#[test]
fn a_continuation_on_anthropic_sends_the_prefill_without_trailing_whitespace() {
    let c = config();
    let seen = std::cell::RefCell::new(None);
    let sim = run(
        &c,
        chat_body("router-first", true, json!({})),
        |req, _| match host(req) {
            "router.test" => {
                let mut words = story_words();
                words[9].push(' '); // the cut falls after a trailing space
                let r = openai_words(&words[..10], "r-model");
                let mut wire = r.wire;
                wire.truncate(wire.len() - 3); // no finish, no [DONE], no end
                Reply { wire }.then_error(5, TransportFailure::StreamEndedEarly)
            }
            _ => {
                let b = body(req);
                let last = b["messages"].as_array().unwrap().last().unwrap().clone();
                *seen.borrow_mut() = Some(last.clone());
                let p = last["content"].as_str().unwrap().to_string();
                anthropic_stream(&rest_of_story(&p), None)
            }
        },
    );
    let last = seen.borrow().clone().expect("anthropic continued");
    assert_eq!(last["role"], "assistant");
    let sent: String = story_words()[..10].concat();
    assert_eq!(last["content"].as_str(), Some(sent.as_str()), "trimmed");
    let (text, done) = streamed_text(&sim.received.events);
    assert!(done);
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        STORY.split_whitespace().collect::<Vec<_>>()
    );
}

#[test]
fn gemini_429_falls_back_to_anthropics_non_streaming_answer_as_a_chat_completion() {
    let c = config();
    let sim = run(
        &c,
        chat_body("gem-first", false, json!({})),
        |req, _| match host(req) {
            "gemini.test" => {
                assert_eq!(
                    req.url,
                    "https://gemini.test/v1beta/models/gemini-x:generateContent"
                );
                Reply::json(
                    10,
                    429,
                    r#"{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED",
                "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}}"#,
                )
            }
            _ => Reply::json(
                10,
                200,
                r#"{"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Hello there."}, {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 20, "cache_read_input_tokens": 5, "output_tokens": 7}}"#,
            ),
        },
    );
    let resp = sim.received.response.as_ref().expect("an answer");
    assert_eq!(resp.status, 200);
    let b: Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(b["object"], "chat.completion");
    assert_eq!(b["choices"][0]["message"]["content"], "Hello there.");
    assert_eq!(b["choices"][0]["finish_reason"], "tool_calls");
    let call = &b["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["id"], "toolu_1");
    assert_eq!(
        serde_json::from_str::<Value>(call["function"]["arguments"].as_str().unwrap()).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(b["usage"]["completion_tokens"], 7);
    assert_eq!(resp.target.as_deref(), Some("claude/claude-x"));
    // Gemini's RetryInfo (7 s) was read: its model cools down at least that long.
    let trace = serde_json::to_value(sim.session.run().trace()).unwrap();
    let cooled = trace
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "cooled_down" && e["kind"] == "rate_limited")
        .unwrap_or_else(|| panic!("no rate-limited cooldown: {trace}"));
    let failure = trace
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "failure")
        .unwrap();
    assert!(cooled["until"].as_u64().unwrap() >= failure["at"].as_u64().unwrap() + 7_000);
    no_keys_in(&sim);
}

#[test]
fn a_prompt_gemini_blocks_reaches_the_client_as_a_content_filter_answer_without_fallback() {
    // Like a content-filtered request anywhere (the policy does not fall back on
    // it: another provider must not quietly answer what one refused).
    let c = config();
    let sim = run(
        &c,
        chat_body("gem-first", false, json!({})),
        |req, _| match host(req) {
            "gemini.test" => {
                Reply::json(10, 200, r#"{"promptFeedback": {"blockReason": "OTHER"}}"#)
            }
            other => panic!("no fallback for a blocked prompt ({other})"),
        },
    );
    let resp = sim.received.response.as_ref().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.target.as_deref(), Some("gem/gemini-x"));
    let b: Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(b["choices"][0]["finish_reason"], "content_filter", "{b}");
    assert_eq!(b["choices"][0]["message"]["content"], "");
    assert_eq!(sim.received.sent.len(), 1);
}

fn messages_body(model: &str, stream: bool) -> llm_failover::api::ClientRequest {
    let body = json!({"model": model, "max_tokens": 300, "stream": stream,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Tell me a story."}]}]});
    parse_request(ClientApi::Messages, body.to_string().as_bytes()).unwrap()
}

/// The text of an Anthropic event stream, and whether it ended with message_stop.
fn anthropic_text(events: &[ClientEvent]) -> (String, bool, Vec<String>) {
    let mut text = String::new();
    let mut names = Vec::new();
    for e in events {
        if let ClientEvent::Native(ev) = e {
            let name = ev.event.clone().unwrap_or_default();
            let v: Value = serde_json::from_str(&ev.data).unwrap();
            assert_eq!(
                v["type"].as_str(),
                Some(name.as_str()),
                "event name and type agree"
            );
            if let Some(t) = v["delta"]["text"].as_str() {
                text.push_str(t);
            }
            names.push(name);
        }
    }
    let stopped = names.last().map(String::as_str) == Some("message_stop");
    (text, stopped, names)
}

#[test]
fn a_messages_client_gets_anthropics_events_from_an_openai_target_and_from_anthropic() {
    let c = config();
    // The router answers first; the Anthropic passthrough keeps cache_control.
    let sim = run(
        &c,
        messages_body("router-first", true),
        |req, _| match host(req) {
            "router.test" => {
                let b = body(req);
                assert_eq!(
                    b["messages"][0],
                    json!({"role": "system", "content": "Be brief."})
                );
                assert_eq!(b["stream_options"]["include_usage"], json!(true));
                assert!(
                    !req.body.contains("cache_control"),
                    "dropped for other targets"
                );
                openai_words(&story_words(), "r-model")
            }
            other => panic!("{other}"),
        },
    );
    let (text, stopped, names) = anthropic_text(&sim.received.events);
    assert_eq!((text.as_str(), stopped), (STORY, true));
    assert_eq!(&names[..2], ["message_start", "content_block_start"]);
    assert!(names.iter().any(|n| n == "message_delta"));
    assert!(!sim
        .received
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::Data(_) | ClientEvent::Done)));

    let sim = run(&c, messages_body("story", true), |req, _| {
        if host(req) == "gemini.test" {
            return gemini_stream(&story_words());
        }
        assert_eq!(host(req), "anthropic.test");
        let b = body(req);
        assert_eq!(
            b["system"][0]["cache_control"],
            json!({"type": "ephemeral"}),
            "passed through"
        );
        assert_eq!(
            (b["model"].as_str(), b["max_tokens"].as_u64()),
            (Some("claude-x"), Some(300))
        );
        anthropic_stream(
            &story_words(),
            Some((30, Some(TransportFailure::StreamEndedEarly))),
        )
    });
    // Cut after 30 words: gemini (asked afresh) finishes it, still one Anthropic stream.
    let (text, stopped, names) = anthropic_text(&sim.received.events);
    assert_eq!((text.as_str(), stopped), (STORY, true), "{names:?}");
    assert_eq!(names.iter().filter(|n| *n == "message_start").count(), 1);
}

#[test]
fn a_messages_client_gets_an_anthropic_message_and_anthropic_errors() {
    let c = config();
    let sim = run(&c, messages_body("router-first", false), |_, _| {
        Reply::json(
            10,
            200,
            r#"{"id": "chatcmpl-1", "object": "chat.completion", "model": "r-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}"#,
        )
    });
    let resp = sim.received.response.as_ref().unwrap();
    let b: Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(
        (b["type"].as_str(), b["role"].as_str()),
        (Some("message"), Some("assistant"))
    );
    assert_eq!(b["content"], json!([{"type": "text", "text": "Hi."}]));
    assert_eq!(b["stop_reason"], "max_tokens");
    assert_eq!(
        (
            b["usage"]["input_tokens"].as_u64(),
            b["usage"]["output_tokens"].as_u64()
        ),
        (Some(5), Some(2))
    );

    let sim = run(
        &c,
        messages_body("router-first", false),
        |req, _| match host(req) {
            "router.test" => Reply::json(
                10,
                400,
                r#"{"error": {"message": "bad thing", "type": "invalid_request_error", "code": null}}"#,
            ),
            other => panic!("a request error does not fall back ({other})"),
        },
    );
    let resp = sim.received.response.as_ref().unwrap();
    assert_eq!(resp.status, 400);
    let b: Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(b["type"], "error");
    assert_eq!(b["error"]["type"], "invalid_request_error");
}
