//! The exchange rules, end to end through a [`Session`] with a fake clock and a
//! scripted upstream: commit, dropped events, continuation (prefill, fresh,
//! overlap, divergence), usage, deadline, keys and redaction.

mod support;

use llm_failover::failure::{FailureKind, TransportFailure};
use llm_failover::run::{Continuation, TraceEvent};
use llm_failover::session::ClientEvent;
use llm_failover::sim::Reply;
use llm_failover::{CooldownTable, ScopeKey, ScopeState};
use serde_json::{json, Value};
#[cfg(target_arch = "wasm32")]
use support::test;
#[allow(unused_imports)]
use support::*;

/// primary (openai: asked afresh) → backup (openrouter: prefill) → spare (vllm: prefill).
fn config(extra_chain: &str) -> llm_failover::Config {
    config_from(&format!(
        r#"{{"providers": [
            {{"name": "primary", "dialect": "openai", "base_url": "https://primary.test/v1", "keys": ["P1", "P2"]}},
            {{"name": "backup", "dialect": "openrouter", "base_url": "https://backup.test/v1", "keys": ["B1"]}},
            {{"name": "spare", "dialect": "vllm", "base_url": "http://spare.test/v1"}}
        ],
        "chains": [{{"name": "story", "targets": [
            {{"provider": "primary", "model": "p-model"}},
            {{"provider": "backup", "model": "b-model"}},
            {{"provider": "spare", "model": "s-model"}}
        ]{extra_chain}}}]}}"#
    ))
}

const KEYS: &[(&str, &str)] = &[
    ("P1", "sk-primary-one-0123456789"),
    ("P2", "sk-primary-two-0123456789"),
    ("B1", "sk-or-backup-0123456789"),
];

fn host(url: &str) -> &str {
    url.split('/').nth(2).unwrap_or_default()
}

fn sent_to(sim: &llm_failover::sim::Received) -> Vec<String> {
    sim.sent
        .iter()
        .map(|(_, r)| host(&r.url).to_string())
        .collect()
}

#[test]
fn a_stream_commits_on_its_first_content_and_holds_what_came_before() {
    let c = config("");
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", true, json!({})),
        T0,
        KEYS,
        |req, _| {
            let (model, _, prefill, _) = read_request(req);
            story_reply(&model, prefill.as_deref(), StoryEnd::Complete, 0, false, 5)
        },
    );
    let r = &sim.received;
    let (text, done) = streamed_text(&r.events);
    assert_eq!((text.as_str(), done), (STORY, true));
    let head = r.head.as_ref().expect("a stream head");
    assert_eq!(head.target, "primary/p-model");
    // The role chunk was held until the first content, then sent first.
    let ClientEvent::Data(first) = &r.events[0] else {
        panic!("{:?}", r.events[0])
    };
    assert!(first.contains(r#""role":"assistant""#));
    assert_eq!(sent_to(r), ["primary.test"]);
    assert!(matches!(
        sim.session.run().result(),
        Some(llm_failover::RunResult::Success { .. })
    ));
}

#[test]
fn a_failure_before_the_commit_falls_back_invisibly() {
    let c = config("");
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", true, json!({})),
        T0,
        KEYS,
        |req, _| {
            let (model, _, prefill, _) = read_request(req);
            if model == "p-model" {
                // Headers, a role chunk, then the connection drops: nothing reached the client.
                return Reply::sse(
                    10,
                    &[(
                        0,
                        event(&chunk("x", &model, json!({"role": "assistant"}), None)),
                    )],
                )
                .then_error(5, TransportFailure::StreamEndedEarly);
            }
            story_reply(&model, prefill.as_deref(), StoryEnd::Complete, 0, false, 5)
        },
    );
    let r = &sim.received;
    let (text, done) = streamed_text(&r.events);
    assert_eq!((text.as_str(), done), (STORY, true));
    assert_eq!(r.head.as_ref().unwrap().target, "backup/b-model");
    // One same-target retry of the primary (a connection failure earns one), then the backup.
    assert_eq!(sent_to(r), ["primary.test", "primary.test", "backup.test"]);
    assert!(
        r.events
            .iter()
            .filter(|e| matches!(e, ClientEvent::Data(d) if d.contains("\"role\"")))
            .count()
            == 1
    );
}

#[test]
fn a_malformed_event_is_dropped_and_the_stream_goes_on() {
    let c = config("");
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", true, json!({})),
        T0,
        KEYS,
        |req, _| {
            let (model, _, prefill, _) = read_request(req);
            story_reply(
                &model,
                prefill.as_deref(),
                StoryEnd::Malformed(7),
                0,
                false,
                5,
            )
        },
    );
    let r = &sim.received;
    let (text, done) = streamed_text(&r.events);
    assert_eq!((text.as_str(), done), (STORY, true));
    assert!(
        !r.sse().contains("not json"),
        "the bad event is never forwarded"
    );
    assert_eq!(
        sent_to(r),
        ["primary.test"],
        "no failover for one bad event"
    );
    let dropped: Vec<_> = sim
        .session
        .run()
        .trace()
        .iter()
        .filter(|e| matches!(e, TraceEvent::Dropped { .. }))
        .collect();
    assert_eq!(dropped.len(), 1);
}

#[test]
fn a_malformed_event_before_any_content_is_not_the_first_token() {
    let c = config(r#", "budgets": {"first_token_timeout_ms": 500}"#);
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", true, json!({})),
        T0,
        KEYS,
        |req, _| {
            let (model, _, prefill, _) = read_request(req);
            if model == "p-model" {
                // Junk at once, then nothing: the first-token timeout still applies.
                return Reply::sse(10, &[(0, "data: {not json\n\n".to_string())]);
            }
            story_reply(&model, prefill.as_deref(), StoryEnd::Complete, 0, false, 5)
        },
    );
    let r = &sim.received;
    assert_eq!(streamed_text(&r.events).0, STORY);
    assert_eq!(r.head.as_ref().unwrap().target, "backup/b-model");
    let failure = sim.session.run().attempts()[0].kind;
    assert_eq!(failure, Some(FailureKind::Timeout));
}

fn continued(
    end: StoryEnd,
    overlap: usize,
) -> (llm_failover::sim::Received, Vec<TraceEvent>, CooldownTable) {
    let c = config("");
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body(
            "story",
            true,
            json!({"stream_options": {"include_usage": true}}),
        ),
        T0,
        KEYS,
        |req, _| {
            let (model, _, prefill, _) = read_request(req);
            if model == "p-model" {
                return story_reply(&model, prefill.as_deref(), end, 0, true, 5);
            }
            story_reply(
                &model,
                prefill.as_deref(),
                StoryEnd::Complete,
                overlap,
                true,
                5,
            )
        },
    );
    (sim.received.clone(), sim.session.run().trace().to_vec(), t)
}

fn assert_complete_from_two_targets(r: &llm_failover::sim::Received, trace: &[TraceEvent]) {
    let (text, done) = streamed_text(&r.events);
    assert_eq!(
        text, STORY,
        "the client has the whole answer, word for word"
    );
    assert!(done, "and [DONE]");
    assert!(!r
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::Error { .. })));
    let sends: Vec<(String, Option<Continuation>)> = trace
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Send {
                provider,
                continuation,
                ..
            } => Some((provider.clone(), *continuation)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sends,
        [
            ("primary".to_string(), None),
            ("backup".to_string(), Some(Continuation::Prefill))
        ]
    );
    // The continuation was asked with the text the client had as a prefill.
    let (_, _, prefill, _) = read_request(&r.sent[1].1);
    assert!(STORY.starts_with(prefill.as_deref().unwrap()) && !prefill.unwrap().is_empty());
    // The final chunk says who wrote what; a trailing comment too.
    let last_data: Vec<Value> = r
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Data(d) => serde_json::from_str(d).ok(),
            _ => None,
        })
        .filter(|v: &Value| v.get("llm_failover").is_some())
        .collect();
    let info = &last_data.last().expect("an annotated final chunk")["llm_failover"];
    assert_eq!(info["continued"], json!(true));
    assert_eq!(info["parts"][0]["target"], "primary/p-model");
    assert_eq!(info["parts"][1]["target"], "backup/b-model");
    let chars: u64 = info["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["chars"].as_u64().unwrap())
        .sum();
    assert_eq!(chars as usize, STORY.chars().count());
    assert!(r
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::Comment(c) if c.contains("backup/b-model"))));
}

#[test]
fn a_stream_cut_after_it_started_is_finished_by_a_prefill_continuation() {
    let (r, trace, table) = continued(StoryEnd::Cut(20), 0);
    assert_complete_from_two_targets(&r, &trace);
    // The primary's model cools down; the stream was not passed off as its success.
    let scope = ScopeKey::model("primary", "p-model");
    assert!(matches!(
        table.state(&scope, r.done_at.unwrap()),
        ScopeState::Open { .. }
    ));
    // Usage adds both attempts: the cut one estimated from its 20 deltas.
    let usage = r
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Data(d) => serde_json::from_str::<Value>(d).ok(),
            _ => None,
        })
        .find_map(|v| v.get("usage").filter(|u| u.is_object()).cloned())
        .expect("a usage chunk");
    assert_eq!(usage["completion_tokens"], json!(20 + 40));
    let total = usage["prompt_tokens"].as_u64().unwrap() + 60;
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), total);
}

#[test]
fn a_stall_and_an_error_event_after_the_start_are_finished_too() {
    let (r, trace, _) = continued(StoryEnd::Stall(33), 0);
    assert_complete_from_two_targets(&r, &trace);
    let (r, trace, _) = continued(StoryEnd::ErrorEvent(41), 0);
    assert_complete_from_two_targets(&r, &trace);
}

#[test]
fn a_continuation_that_repeats_the_end_has_the_repetition_removed() {
    let (r, trace, _) = continued(StoryEnd::Cut(25), 3);
    assert_complete_from_two_targets(&r, &trace);
    let overlap = trace.iter().find_map(|e| match e {
        TraceEvent::Spliced { overlap_chars, .. } => Some(*overlap_chars),
        _ => None,
    });
    let words = story_words();
    assert_eq!(overlap, Some(words[22..25].concat().len() as u32));
}

#[test]
fn a_target_that_rejects_prefill_is_asked_afresh_and_spliced_after_the_overlap() {
    let c = config_from(
        r#"{"providers": [
            {"name": "primary", "dialect": "openai", "base_url": "https://primary.test/v1"},
            {"name": "backup", "dialect": "openai", "base_url": "https://backup.test/v1"}
        ],
        "chains": [{"name": "story", "targets": [
            {"provider": "primary", "model": "p-model"},
            {"provider": "backup", "model": "b-model", "continuation": "prefill"}
        ]}]}"#,
    );
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", true, json!({})),
        T0,
        &[],
        |req, _| {
            let (model, _, prefill, _) = read_request(req);
            if model == "p-model" {
                return story_reply(&model, None, StoryEnd::Cut(12), 0, false, 5);
            }
            if prefill.is_some() {
                let body = r#"{"error":{"message":"This model does not support assistant message prefill. The conversation must end with a user message.","type":"invalid_request_error","param":"messages","code":null}}"#;
                return Reply::json(10, 400, body);
            }
            story_reply(&model, None, StoryEnd::Complete, 0, false, 5)
        },
    );
    let r = &sim.received;
    assert_eq!(streamed_text(&r.events), (STORY.to_string(), true));
    assert!(
        !r.sse().contains("prefill"),
        "the prefill 400 never reaches the client"
    );
    let conts: Vec<Option<Continuation>> = sim
        .session
        .run()
        .attempts()
        .iter()
        .map(|a| a.continuation)
        .collect();
    assert_eq!(
        conts,
        [None, Some(Continuation::Prefill), Some(Continuation::Fresh)]
    );
}

#[test]
fn a_fresh_answer_that_does_not_begin_with_the_text_sent_is_not_spliced() {
    let c = config_from(
        r#"{"providers": [
            {"name": "primary", "dialect": "openai", "base_url": "https://primary.test/v1"},
            {"name": "other", "dialect": "openai", "base_url": "https://other.test/v1"}
        ],
        "chains": [{"name": "story", "targets": [
            {"provider": "primary", "model": "p-model"},
            {"provider": "other", "model": "o-model"}
        ]}]}"#,
    );
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", true, json!({})),
        T0,
        &[],
        |req, _| {
            let (model, _, _, _) = read_request(req);
            if model == "p-model" {
                return story_reply(&model, None, StoryEnd::Cut(12), 0, false, 5);
            }
            let different = [" Far", " away", " and", " long", " ago"].map(String::from);
            let mut pieces = vec![];
            for w in different {
                pieces.push((5, event(&chunk("o", &model, json!({"content": w}), None))));
            }
            pieces.push((5, event(&chunk("o", &model, json!({}), Some("stop")))));
            pieces.push((0, "data: [DONE]\n\n".into()));
            Reply::sse(10, &pieces).then_end()
        },
    );
    let r = &sim.received;
    let (text, done) = streamed_text(&r.events);
    assert_eq!(
        text,
        story_words()[..12].concat(),
        "nothing of the other answer is spliced"
    );
    assert!(!done);
    match r.events.last() {
        Some(ClientEvent::Error { message, .. }) => assert!(
            message.contains("failed after the answer started"),
            "{message}"
        ),
        other => panic!("expected an error event, got {other:?}"),
    }
    assert!(sim
        .session
        .run()
        .trace()
        .iter()
        .any(|e| matches!(e, TraceEvent::Diverged { .. })));
}

#[test]
fn without_a_target_to_continue_the_stream_ends_with_the_in_band_error() {
    let c = config(r#", "continuation": false"#);
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", true, json!({})),
        T0,
        KEYS,
        |req, _| {
            let (model, _, prefill, _) = read_request(req);
            story_reply(&model, prefill.as_deref(), StoryEnd::Cut(10), 0, false, 5)
        },
    );
    let r = &sim.received;
    assert_eq!(
        sent_to(r),
        ["primary.test"],
        "the chain turned continuation off"
    );
    assert!(matches!(r.events.last(), Some(ClientEvent::Error { .. })));
    assert!(!streamed_text(&r.events).1);
}

#[test]
fn tool_call_deltas_are_not_continued() {
    let c = config("");
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", true, json!({})),
        T0,
        KEYS,
        |req, _| {
            let (model, _, _, _) = read_request(req);
            let call = json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{\"lo"}}]});
            Reply::sse(10, &[(0, event(&chunk("t", &model, call, None)))])
                .then_error(5, TransportFailure::StreamEndedEarly)
        },
    );
    let r = &sim.received;
    assert_eq!(sent_to(r), ["primary.test"]);
    assert!(matches!(r.events.last(), Some(ClientEvent::Error { .. })));
}

#[test]
fn a_pinned_stream_continues_on_its_own_provider_only() {
    let c = config("");
    let mut t = table(&c);
    let mut calls = 0;
    let sim = simulate(
        &c,
        &mut t,
        chat_body("primary/p-model", true, json!({})),
        T0,
        KEYS,
        |req, _| {
            let (model, _, prefill, _) = read_request(req);
            calls += 1;
            let end = if calls == 1 {
                StoryEnd::Cut(15)
            } else {
                StoryEnd::Complete
            };
            story_reply(&model, prefill.as_deref(), end, 0, false, 5)
        },
    );
    let r = &sim.received;
    assert_eq!(streamed_text(&r.events), (STORY.to_string(), true));
    assert_eq!(sent_to(r), ["primary.test", "primary.test"]);
    // openai has no documented prefill: the continuation asked afresh and kept the rest.
    assert_eq!(
        sim.session.run().attempts()[1].continuation,
        Some(Continuation::Fresh)
    );
}

#[test]
fn the_deadline_ends_a_started_stream_and_cools_its_model() {
    let c = config(r#", "budgets": {"deadline_ms": 2000, "idle_timeout_ms": 60000}"#);
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", true, json!({})),
        T0,
        KEYS,
        |req, _| {
            let (model, _, _, _) = read_request(req);
            story_reply(&model, None, StoryEnd::Complete, 0, false, 100)
        },
    );
    let r = &sim.received;
    match r.events.last() {
        Some(ClientEvent::Error { kind, message, .. }) => {
            assert_eq!(*kind, FailureKind::Timeout);
            assert!(message.contains("deadline"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.done_at, Some(T0 + 2000));
    let scope = ScopeKey::model("primary", "p-model");
    assert!(
        matches!(t.state(&scope, T0 + 2000), ScopeState::Open { .. }),
        "one rule: the model cools down"
    );
    assert!(r.aborted.contains(&llm_failover::AttemptId(0)));
}

#[test]
fn a_missing_key_is_an_auth_failure_of_that_key() {
    let c = config("");
    let mut t = table(&c);
    let keys = &[("P2", "sk-primary-two-0123456789")];
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", false, json!({})),
        T0,
        keys,
        |_, _| {
            Reply::json(
                10,
                200,
                r#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#,
            )
        },
    );
    let r = sim.received.response.as_ref().unwrap();
    assert_eq!(r.status, 200);
    let kinds: Vec<_> = sim
        .session
        .run()
        .attempts()
        .iter()
        .map(|a| (a.key.clone(), a.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            (Some("P1".into()), Some(FailureKind::Auth)),
            (Some("P2".into()), None)
        ]
    );
}

#[test]
fn keys_echoed_in_any_encoding_are_redacted_everywhere() {
    use base64::Engine as _;
    let c = config("");
    // An Azure-style key with characters that URL and JSON encoding change.
    let key = "Zx9+aBc/dEf=gHi0123456789kLm";
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("user:{key}"));
    let url = key
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let body = format!(
        r#"{{"error":{{"message":"bad credentials Basic {b64} for {key} ({url})","type":"authentication_error"}}}}"#
    );
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body("primary/p-model", false, json!({})),
        T0,
        &[("P1", key), ("P2", "sk-primary-two-0123456789")],
        |_, _| Reply::json(10, 401, &body),
    );
    let r = sim.received.response.as_ref().unwrap();
    let trace = serde_json::to_string(sim.session.run().trace()).unwrap();
    let snapshot = serde_json::to_string(&t.snapshot(T0 + 1000)).unwrap();
    let status = llm_failover::api::status_body(&t, T0 + 1000).to_string();
    for (what, text) in [
        ("body", r.body.as_str()),
        ("trace", &trace),
        ("snapshot", &snapshot),
        ("status", &status),
    ] {
        for form in [key, b64.as_str(), &b64[8..20], &url, "gHi0123456789"] {
            assert!(!text.contains(form), "{what} leaks {form}: {text}");
        }
    }
    assert!(r.body.contains("[redacted]"));
}

#[test]
fn the_first_token_bound_adapts_to_the_targets_own_times() {
    // Learned: five fast first tokens (40 ms) bring the bound down to the floor.
    let c =
        config(r#", "budgets": {"first_token_timeout_ms": 20000, "first_token_floor_ms": 1000}"#);
    let mut t = table(&c);
    for i in 0..5 {
        let sim = simulate(
            &c,
            &mut t,
            chat_body("story", true, json!({})),
            T0 + i * 1000,
            KEYS,
            |req, _| {
                let (model, _, prefill, _) = read_request(req);
                story_reply(&model, prefill.as_deref(), StoryEnd::Complete, 0, false, 40)
            },
        );
        assert_eq!(
            sim.received.head.as_ref().unwrap().target,
            "primary/p-model"
        );
    }
    let scope = ScopeKey::model("primary", "p-model");
    assert_eq!(t.first_token_samples(&scope).map(|s| s.len()), Some(5));
    // Now a first token after 5 s: abandoned at the 1 s floor, not after 20 s.
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", true, json!({})),
        T0 + 10_000,
        KEYS,
        |req, _| {
            let (model, _, prefill, _) = read_request(req);
            let word_ms = if model == "p-model" { 5000 } else { 5 };
            story_reply(
                &model,
                prefill.as_deref(),
                StoryEnd::Complete,
                0,
                false,
                word_ms,
            )
        },
    );
    let r = &sim.received;
    assert_eq!(r.head.as_ref().unwrap().target, "backup/b-model");
    let a = &sim.session.run().attempts()[0];
    assert_eq!(a.kind, Some(FailureKind::Timeout));
    // Headers after 20 ms, then 1 s to the first token.
    assert_eq!(a.ended_at.unwrap() - a.started_at, 20 + 1000);
}

#[test]
fn a_non_streaming_answer_carries_the_trace_headers() {
    let c = config("");
    let mut t = table(&c);
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", false, json!({})),
        T0,
        KEYS,
        |req, _| {
            let (model, _, _, _) = read_request(req);
            if model == "p-model" {
                return Reply::json(
                    10,
                    503,
                    r#"{"error":{"message":"That model is currently overloaded with other requests.","type":"server_error","param":null,"code":null}}"#,
                );
            }
            Reply::json(
                10,
                200,
                r#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#,
            )
        },
    );
    let r = sim.received.response.as_ref().unwrap();
    assert_eq!(r.status, 200);
    let h = |k: &str| {
        r.headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(h("x-llm-failover-target"), Some("backup/b-model"));
    assert_eq!(
        h("x-llm-failover-attempts"),
        Some("primary/p-model=overloaded, primary/p-model=overloaded, backup/b-model=ok")
    );
}

#[test]
fn an_invalid_request_comes_back_as_the_provider_sent_it() {
    let c = config("");
    let mut t = table(&c);
    let body = r#"{"error":{"message":"Invalid value for 'temperature'.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}"#;
    let sim = simulate(
        &c,
        &mut t,
        chat_body("story", false, json!({})),
        T0,
        KEYS,
        |_, _| Reply::json(10, 400, body),
    );
    let r = sim.received.response.as_ref().unwrap();
    assert_eq!((r.status, r.body.as_str()), (400, body));
    assert_eq!(sim.received.sent.len(), 1);
}

#[test]
fn a_cancelled_session_aborts_its_request_and_blames_nobody() {
    let c = config("");
    let mut t = table(&c);
    let mut sim = llm_failover::sim::SessionSim::new(
        session(&c, chat_body("story", true, json!({})), T0, 1),
        T0,
        |_, _| Reply::silent(),
    )
    .with_keys(KEYS);
    sim.run_until(&mut t, T0 + 500);
    assert!(sim.received.done_at.is_none());
    sim.cancel(&mut t);
    assert_eq!(sim.received.aborted, [llm_failover::AttemptId(0)]);
    assert!(sim.received.done_at.is_some());
    assert!(t.open_scopes(T0 + 500).is_empty(), "nothing cools down");
    let last = sim.session.run().trace().last().cloned();
    assert!(matches!(
        last,
        Some(TraceEvent::Finished {
            result: llm_failover::run::Ending::Cancelled,
            ..
        })
    ));
}
