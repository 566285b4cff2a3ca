//! Anthropic responses and streams → chat, and chat streams → Anthropic events.

use super::*;
#[cfg(target_arch = "wasm32")]
use crate::support::test;

// --- Anthropic responses → chat ---------------------------------------------------

#[test]
fn anthropic_stop_reasons_become_finish_reasons() {
    let want = [
        ("anthropic-resp-text-recorded", "stop"),
        ("anthropic-resp-text-docs", "stop"),
        ("anthropic-resp-stop-sequence-docs", "stop"),
        ("anthropic-resp-max-tokens-after-prefill", "length"),
        ("anthropic-resp-tool-use-recorded", "tool_calls"),
        ("anthropic-resp-tool-use-docs", "tool_calls"),
    ];
    for (name, finish) in want {
        let msg = body(name);
        let c = anthropic::completion_from_message(&msg).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c["choices"][0]["finish_reason"], finish, "{name}");
        assert_eq!(
            (&c["id"], &c["object"]),
            (&msg["id"], &json!("chat.completion")),
            "{name}"
        );
        let text: String = msg["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect();
        let content = &c["choices"][0]["message"]["content"];
        assert_eq!(content.as_str().unwrap_or(""), text, "{name}");
    }
}

#[test]
fn tool_use_blocks_become_tool_calls_with_json_arguments() {
    for name in [
        "anthropic-resp-tool-use-recorded",
        "anthropic-resp-tool-use-docs",
        "anthropic-resp-thinking-tool-use-content",
    ] {
        let msg = body(name);
        let c = anthropic::completion_from_message(&msg).unwrap();
        let m = &c["choices"][0]["message"];
        let uses: Vec<&Value> = msg["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .collect();
        let calls = m["tool_calls"].as_array().expect("tool_calls");
        assert_eq!(calls.len(), uses.len(), "{name}");
        for (call, u) in calls.iter().zip(uses) {
            assert_eq!(
                (&call["id"], &call["type"]),
                (&u["id"], &json!("function")),
                "{name}"
            );
            assert_eq!(call["function"]["name"], u["name"], "{name}");
            assert_eq!(
                json_of(&call["function"]["arguments"]),
                u["input"],
                "{name}"
            );
        }
    }
    let c = anthropic::completion_from_message(&body("anthropic-resp-tool-use-recorded")).unwrap();
    assert_eq!(
        c["choices"][0]["message"]["content"],
        Value::Null,
        "no text: content is null"
    );
    let c = anthropic::completion_from_message(&body("anthropic-resp-thinking-tool-use-content"))
        .unwrap();
    let thinking = &body("anthropic-resp-thinking-tool-use-content")["content"][0]["thinking"];
    assert_eq!(&c["choices"][0]["message"]["reasoning_content"], thinking);
}

#[test]
fn anthropic_usage_counts_cache_writes_and_reads_in_the_prompt() {
    let c = anthropic::completion_from_message(&body("anthropic-resp-text-recorded")).unwrap();
    let want = json!({"prompt_tokens": 705, "completion_tokens": 25, "total_tokens": 730, "prompt_tokens_details": {"cached_tokens": 0}});
    assert_eq!(c["usage"], want);
    let pair = body("anthropic-resp-usage-cache-write-then-read");
    for (usage, cached) in pair.as_array().unwrap().iter().zip([0, 188_086]) {
        let msg = json!({"type": "message", "content": [], "usage": usage});
        let u = &anthropic::completion_from_message(&msg).unwrap()["usage"];
        assert_eq!(
            u["prompt_tokens"],
            21 + 188_086,
            "input + cache creation + cache read"
        );
        assert_eq!(u["prompt_tokens_details"]["cached_tokens"], cached);
        assert_eq!(u["completion_tokens"], 393);
    }
    let c = anthropic::completion_from_message(&body("anthropic-resp-tool-use-docs")).unwrap();
    assert!(
        c.get("usage").is_none(),
        "no usage in the message, none made up"
    );
}

#[test]
fn anthropic_error_bodies_are_not_messages() {
    let list: Vec<Value> = serde_json::from_str(ANTHROPIC_ERRORS).unwrap();
    for f in list.iter().filter(|f| f["body"].is_object()) {
        let e = anthropic::completion_from_message(&f["body"]).unwrap_err();
        assert_eq!(
            serde_json::from_str::<Value>(&e).unwrap(),
            f["body"],
            "{}",
            f["name"]
        );
    }
}

#[test]
fn chat_completions_become_anthropic_messages() {
    let want = [
        ("openai-chat-resp-text", "end_turn"),
        ("openai-chat-resp-length-recorded", "max_tokens"),
        ("openai-chat-resp-tool-calls", "tool_use"),
        ("openai-chat-resp-parallel-tool-calls-recorded", "tool_use"),
    ];
    for (name, stop) in want {
        let c = body(name);
        let m = anthropic::message_from_completion(&c, "claude-x");
        assert_eq!(
            (&m["stop_reason"], &m["model"]),
            (&json!(stop), &json!("claude-x")),
            "{name}"
        );
        let u = &c["usage"];
        assert_eq!(m["usage"]["input_tokens"], u["prompt_tokens"], "{name}");
        assert_eq!(
            m["usage"]["output_tokens"], u["completion_tokens"],
            "{name}"
        );
        // And back: the same text, calls and finish.
        let again = anthropic::completion_from_message(&m).unwrap();
        let (a, b) = (&again["choices"][0], &c["choices"][0]);
        assert_eq!(a["finish_reason"], b["finish_reason"], "{name}");
        assert_eq!(a["message"]["content"], b["message"]["content"], "{name}");
        let calls = |m: &Value| -> Vec<(Value, Value, Value)> {
            let list = m["tool_calls"].as_array().cloned().unwrap_or_default();
            list.iter()
                .map(|t| {
                    (
                        t["id"].clone(),
                        t["function"]["name"].clone(),
                        json_of(&t["function"]["arguments"]),
                    )
                })
                .collect()
        };
        assert_eq!(calls(&a["message"]), calls(&b["message"]), "{name}");
    }
}

// --- Anthropic streams → chat chunks ----------------------------------------------

#[test]
fn anthropic_streams_decode_to_the_same_text_and_tool_arguments() {
    let names = stream_names("anthropic-messages");
    assert_eq!(names.len(), 10);
    for name in names.iter().filter(|n| !n.contains("error")) {
        let c = decode_anthropic(name, false);
        let (text, calls) = anthropic_expected(name);
        assert_eq!(c.text, text, "{name}");
        assert_eq!(canon_calls(&c), calls, "{name}");
        assert_eq!(c.finishes.len(), 1, "{name}: exactly one finish_reason");
        assert!(
            c.done && c.errors.is_empty() && c.after_end == 0,
            "{name}: {c:?}"
        );
        assert!(c.usage.is_none(), "{name}: no usage chunk unless asked");
    }
}

#[test]
fn anthropic_stream_stop_reasons_and_ids_carry_over() {
    let want = [
        ("anthropic-stream-text-docs", "stop"),
        ("anthropic-stream-tool-use-docs", "tool_calls"),
        ("anthropic-stream-tool-use-recorded", "tool_calls"),
        ("anthropic-stream-max-tokens-mid-tool-input", "length"),
    ];
    for (name, finish) in want {
        assert_eq!(decode_anthropic(name, false).finishes, [finish], "{name}");
        let start = &events(name)[0].1["message"];
        let mut d = anthropic::StreamDecoder::new(false);
        for (e, data) in events(name).iter().take(2) {
            for out in d.decode(e.as_deref(), data) {
                let Decoded::Chunk(c) = out else {
                    panic!("{name}: {out:?}")
                };
                assert_eq!(
                    (&c["id"], &c["model"]),
                    (&start["id"], &start["model"]),
                    "{name}"
                );
            }
        }
    }
    let c = decode_anthropic("anthropic-stream-thinking-docs", false);
    assert!(
        c.reasoning.starts_with("Let me solve this") && c.reasoning.ends_with("= 12,231"),
        "{c:?}"
    );
    assert_eq!(c.text, "27 * 453 = 12,231");
}

#[test]
fn anthropic_stream_usage_comes_last_when_asked_for() {
    for (name, prompt, completion) in [
        ("anthropic-stream-text-recorded", 770, 38),
        ("anthropic-stream-tool-use-docs", 472, 89),
    ] {
        let c = decode_anthropic(name, true);
        let u = c.usage.as_ref().expect("a usage chunk");
        assert_eq!(
            (&u["prompt_tokens"], &u["completion_tokens"]),
            (&json!(prompt), &json!(completion)),
            "{name}"
        );
        assert_eq!(u["total_tokens"], prompt + completion);
    }
}

#[test]
fn anthropic_error_events_decode_as_errors() {
    for name in [
        "anthropic-stream-error-event-docs",
        "anthropic-stream-error-event-sdk-test",
    ] {
        let c = decode_anthropic(name, false);
        assert_eq!(c.errors.len(), 1, "{name}");
        assert_eq!(
            serde_json::from_str::<Value>(&c.errors[0]).unwrap(),
            events(name)[0].1
        );
        assert!(!c.done && c.text.is_empty(), "{name}");
    }
    let name = "anthropic-stream-error-mid-stream-gateway-test";
    let mut d = anthropic::StreamDecoder::new(true);
    let out: Vec<Decoded> = events(name)
        .iter()
        .flat_map(|(e, v)| d.decode(e.as_deref(), v))
        .collect();
    assert!(
        matches!(out.first(), Some(Decoded::Chunk(_))),
        "chunks first: {out:?}"
    );
    assert!(
        matches!(out.last(), Some(Decoded::Error(e)) if e.contains("test error")),
        "{out:?}"
    );
    assert!(!out.contains(&Decoded::Done), "{out:?}");
    for n in stream_names("anthropic-messages") {
        for (e, v) in events(&n) {
            assert_eq!(
                anthropic::is_error_event(e.as_deref(), &v),
                v["type"] == "error",
                "{n}"
            );
        }
    }
}

// --- chat streams → Anthropic events (StreamEncoder) -------------------------------

/// Encodes an OpenAI chat stream fixture, then `finish()`.
fn encode(name: &str) -> Vec<SseEvent> {
    let mut e = anthropic::StreamEncoder::new("claude-x");
    let mut out: Vec<SseEvent> = events(name).iter().flat_map(|(_, c)| e.encode(c)).collect();
    out.extend(e.finish());
    out
}

/// The documented order: message_start, blocks (start, deltas, stop) numbered from
/// 0, message_delta, message_stop; every data's `type` is its event name.
fn assert_documented_order(name: &str, out: &[SseEvent]) {
    let names: Vec<&str> = out
        .iter()
        .map(|e| e.event.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(names.first(), Some(&"message_start"), "{name}: {names:?}");
    assert_eq!(
        names[names.len() - 2..],
        ["message_delta", "message_stop"],
        "{name}"
    );
    let mut open: Option<u64> = None;
    let mut next = 0;
    for e in &out[1..out.len() - 2] {
        let v: Value = serde_json::from_str(&e.data).unwrap();
        assert_eq!(v["type"].as_str(), e.event.as_deref(), "{name}");
        let index = v["index"].as_u64();
        match e.event.as_deref() {
            Some("content_block_start") => {
                assert_eq!((open, index), (None, Some(next)), "{name}: {names:?}");
                (open, next) = (index, next + 1);
            }
            Some("content_block_delta") => assert_eq!(index, open, "{name}"),
            Some("content_block_stop") => assert_eq!(open.take(), index, "{name}"),
            other => panic!("{name}: {other:?} between message_start and message_delta"),
        }
    }
    assert_eq!(open, None, "{name}: a block left open");
}

#[test]
fn chat_streams_encode_as_anthropic_events_in_the_documented_order() {
    let names = stream_names("openai-chat");
    assert_eq!(names.len(), 5);
    for name in &names {
        let out = encode(name);
        assert_documented_order(name, &out);
        let start: Value = serde_json::from_str(&out[0].data).unwrap();
        assert_eq!(start["message"]["id"], events(name)[0].1["id"], "{name}");
        assert_eq!(start["message"]["model"], "claude-x");
    }
    let delta: Value = serde_json::from_str(
        &encode("openai-chat-stream-parallel-tool-calls")[..]
            .iter()
            .rev()
            .nth(1)
            .unwrap()
            .data,
    )
    .unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["input_tokens"], 149);
    assert_eq!(delta["usage"]["output_tokens"], 60);
}

#[test]
fn encoded_streams_decode_back_to_the_same_text_tool_calls_and_usage() {
    for name in stream_names("openai-chat") {
        let mut original = Canon::default();
        events(&name).iter().for_each(|(_, c)| original.chunk(c));
        let mut d = anthropic::StreamDecoder::new(true);
        let mut back = Canon::default();
        for e in encode(&name) {
            back.decoded(d.decode(e.event.as_deref(), &serde_json::from_str(&e.data).unwrap()));
        }
        assert_eq!(back.text, original.text, "{name}");
        assert_eq!(canon_calls(&back), canon_calls(&original), "{name}");
        assert_eq!(back.finishes, original.finishes, "{name}");
        assert!(back.done && back.after_end == 0, "{name}");
        let (b, o) = (back.usage.unwrap(), original.usage.unwrap_or(json!({})));
        for k in ["prompt_tokens", "completion_tokens"] {
            assert_eq!(b[k], o.get(k).cloned().unwrap_or(json!(0)), "{name}: {k}");
        }
    }
}

#[test]
fn an_encoder_error_is_the_documented_error_event_and_ends_the_stream() {
    let mut e = anthropic::StreamEncoder::new("claude-x");
    let chunks = events("openai-chat-stream-text-with-usage");
    let before: Vec<SseEvent> = chunks[..3].iter().flat_map(|(_, c)| e.encode(c)).collect();
    assert!(before
        .iter()
        .any(|e| e.event.as_deref() == Some("content_block_delta")));
    let err = e.error(FailureKind::Overloaded, "Overloaded");
    let docs = &events("anthropic-stream-error-event-docs")[0];
    assert_eq!(err.event, docs.0);
    assert_eq!(serde_json::from_str::<Value>(&err.data).unwrap(), docs.1);
    assert!(e.encode(&chunks[3].1).is_empty() && e.finish().is_empty());
    let body = anthropic::error_body(FailureKind::Overloaded, "Overloaded");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), docs.1);
}

#[test]
fn anthropic_error_envelopes_classify_as_their_kind() {
    // Each real error re-sent in the gateway's Anthropic shape means the same thing.
    let list: Vec<Value> = serde_json::from_str(ANTHROPIC_ERRORS).unwrap();
    let mut checked = 0;
    for f in &list {
        let kind: FailureKind = serde_json::from_value(f["expect"]["kind"].clone()).unwrap();
        let message = f["body"]["error"]["message"].as_str().unwrap_or("");
        let outcome = if f["in_stream"] == true {
            let mut e = anthropic::StreamEncoder::new("m");
            Outcome::StreamError {
                data: e.error(kind, message).data,
            }
        } else {
            let (status, body) = (
                anthropic::error_status(kind),
                anthropic::error_body(kind, message),
            );
            Outcome::Http {
                status,
                headers: vec![],
                body,
            }
        };
        assert_eq!(
            classify(Dialect::Anthropic, &outcome, 0).kind,
            kind,
            "{}: {outcome:?}",
            f["name"]
        );
        checked += 1;
    }
    assert!(checked >= 20);
    let types = [
        (FailureKind::Auth, "authentication_error", 401),
        (FailureKind::RateLimited, "rate_limit_error", 429),
        (FailureKind::ServerError, "api_error", 500),
        (FailureKind::Overloaded, "overloaded_error", 529),
        (FailureKind::Timeout, "timeout_error", 504),
    ];
    for (kind, t, status) in types {
        assert_eq!(
            (anthropic::error_type(kind), anthropic::error_status(kind)),
            (t, status)
        );
    }
}
