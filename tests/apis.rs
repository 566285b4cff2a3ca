//! The client APIs beyond chat completions, through a [`Session`] with a fake
//! clock: OpenAI Responses (passed through, with fallback), embeddings (with
//! fallback), and the targets each API can reach.

mod support;

use llm_failover::api::{parse_request, ClientApi, ClientRequest};
use llm_failover::run::{SkipReason, TraceEvent};
use llm_failover::session::ClientEvent;
use llm_failover::sim::{Reply, SessionSim};
use serde_json::{json, Value};
#[cfg(target_arch = "wasm32")]
use support::test;
#[allow(unused_imports)]
use support::*;

fn config() -> llm_failover::Config {
    config_from(
        r#"{"providers": [
            {"name": "claude", "dialect": "anthropic", "base_url": "https://api.anthropic.test/v1", "keys": ["A"]},
            {"name": "primary", "dialect": "openai", "base_url": "https://primary.test/v1", "keys": ["P"]},
            {"name": "backup", "dialect": "openai-compatible", "base_url": "https://backup.test/v1", "keys": ["B"]}
        ],
        "chains": [{"name": "c", "targets": [
            {"provider": "claude", "model": "claude-sonnet-4-5"},
            {"provider": "primary", "model": "gpt-4.1"},
            {"provider": "backup", "model": "b-model"}
        ]}]}"#,
    )
}

const KEYS: &[(&str, &str)] = &[
    ("A", "sk-ant-key-0123456789"),
    ("P", "sk-primary-0123456789"),
    ("B", "sk-backup-0123456789"),
];

fn request(api: ClientApi, body: Value) -> ClientRequest {
    parse_request(api, body.to_string().as_bytes()).expect("a valid request")
}

fn run<'a>(
    c: &llm_failover::Config,
    req: ClientRequest,
    upstream: impl FnMut(&llm_failover::exchange::upstream::UpstreamRequest, u64) -> Reply + 'a,
) -> SessionSim<'a> {
    let mut t = table(c);
    let mut sim = SessionSim::new(session(c, req, T0, 1), T0, upstream).with_keys(KEYS);
    sim.run(&mut t);
    sim
}

fn host(url: &str) -> &str {
    url.split('/').nth(2).unwrap_or_default()
}

const RESPONSE: &str = r#"{"id":"resp_1","object":"response","status":"completed","model":"b-model","output":[{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Hello","annotations":[]}]}],"usage":{"input_tokens":3,"output_tokens":1,"total_tokens":4}}"#;

#[test]
fn a_responses_request_skips_targets_that_cannot_serve_it_and_falls_back() {
    let c = config();
    let req = request(ClientApi::Responses, json!({"model": "c", "input": "hi"}));
    let sim = run(&c, req, |r, _| {
        if host(&r.url) == "primary.test" {
            return Reply::json(
                10,
                503,
                r#"{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}"#,
            );
        }
        Reply::json(10, 200, RESPONSE)
    });
    let r = sim.received.response.as_ref().expect("an answer");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, RESPONSE),
        "passed through as it came"
    );
    let urls: Vec<&str> = sim
        .received
        .sent
        .iter()
        .map(|(_, r)| r.url.as_str())
        .collect();
    assert_eq!(
        urls,
        [
            "https://primary.test/v1/responses",
            "https://primary.test/v1/responses",
            "https://backup.test/v1/responses"
        ]
    );
    // The Anthropic target cannot serve it: skipped, saying why.
    let skip = sim.session.run().trace().iter().find_map(|e| match e {
        TraceEvent::Skip {
            provider,
            why: SkipReason::Unsupported { message },
            ..
        } if provider == "claude" => Some(message.clone()),
        _ => None,
    });
    assert!(skip.unwrap().contains("Responses API"));
}

#[test]
fn a_stored_response_cannot_fail_over_to_another_provider() {
    let c = config_from(
        r#"{"providers": [
            {"name": "primary", "dialect": "openai", "base_url": "https://primary.test/v1", "keys": ["P"]},
            {"name": "backup", "dialect": "openai-compatible", "base_url": "https://backup.test/v1", "keys": ["B"]}
        ],
        "chains": [{"name": "c", "targets": [{"provider": "primary", "model": "gpt-4.1"}, {"provider": "backup", "model": "b-model"}]}]}"#,
    );
    let req = request(
        ClientApi::Responses,
        json!({"model": "c", "input": "more", "previous_response_id": "resp_1"}),
    );
    let sim = run(&c, req, |_, _| {
        Reply::json(
            10,
            503,
            r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
        )
    });
    let r = sim.received.response.as_ref().unwrap();
    assert!(r.status >= 500);
    assert!(sim
        .received
        .sent
        .iter()
        .all(|(_, r)| host(&r.url) == "primary.test"));
    let trace = serde_json::to_string(sim.session.run().trace()).unwrap();
    assert!(
        trace.contains("previous_response_id"),
        "the trace says why: {trace}"
    );
}

#[test]
fn a_responses_stream_passes_its_events_through_and_falls_back_before_them() {
    let c = config();
    let req = request(
        ClientApi::Responses,
        json!({"model": "c", "input": "hi", "stream": true}),
    );
    let events = [
        (
            "response.created",
            r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress"}}"#,
        ),
        (
            "response.output_text.delta",
            r#"{"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hel"}"#,
        ),
        (
            "response.output_text.delta",
            r#"{"type":"response.output_text.delta","sequence_number":2,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"lo"}"#,
        ),
        (
            "response.completed",
            r#"{"type":"response.completed","sequence_number":3,"response":{"id":"resp_1","status":"completed"}}"#,
        ),
    ];
    let sim = run(&c, req, |r, _| {
        if host(&r.url) == "primary.test" {
            return Reply::transport(
                5,
                llm_failover::failure::TransportFailure::ConnectionRefused,
            );
        }
        let pieces: Vec<(u64, String)> = events
            .iter()
            .map(|(e, d)| (5, format!("event: {e}\ndata: {d}\n\n")))
            .collect();
        Reply::sse(10, &pieces).then_end()
    });
    let rec = &sim.received;
    assert_eq!(rec.head.as_ref().unwrap().target, "backup/b-model");
    let names: Vec<String> = rec
        .events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Native(ev) => ev.event.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.completed"
        ]
    );
    assert!(
        !rec.sse().contains("[DONE]"),
        "a Responses stream has no [DONE]"
    );
}

#[test]
fn a_responses_stream_that_fails_after_it_started_ends_with_a_responses_error_event() {
    let c = config();
    let req = request(
        ClientApi::Responses,
        json!({"model": "primary/gpt-4.1", "input": "hi", "stream": true}),
    );
    let sim = run(&c, req, |_, _| {
        let pieces = vec![(5, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hel\"}\n\n".to_string())];
        Reply::sse(10, &pieces)
            .then_error(5, llm_failover::failure::TransportFailure::StreamEndedEarly)
    });
    let sse = sim.received.sse();
    assert!(
        sse.contains("event: error\ndata: {\"code\":\"connection\""),
        "{sse}"
    );
}

#[test]
fn embeddings_fall_back_and_pass_through() {
    let c = config();
    let req = request(
        ClientApi::Embeddings,
        json!({"model": "c", "input": ["a", "b"]}),
    );
    let body = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1]},{"object":"embedding","index":1,"embedding":[0.2]}],"model":"b-model","usage":{"prompt_tokens":2,"total_tokens":2}}"#;
    let sim = run(&c, req, |r, _| {
        if host(&r.url) == "primary.test" {
            return Reply::json(10, 200, r#"{"object":"list","data":[]}"#);
        }
        Reply::json(10, 200, body)
    });
    let r = sim.received.response.as_ref().unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, body));
    let sent: Vec<&str> = sim
        .received
        .sent
        .iter()
        .map(|(_, r)| r.url.as_str())
        .collect();
    assert_eq!(
        sent,
        [
            "https://primary.test/v1/embeddings",
            "https://backup.test/v1/embeddings"
        ]
    );
    let first: Value = serde_json::from_str(&sim.received.sent[0].1.body).unwrap();
    assert_eq!(first["model"], "gpt-4.1");
    assert_eq!(first["input"], json!(["a", "b"]));
}

#[test]
fn a_chain_with_no_target_for_the_api_says_so() {
    let c = config_from(
        r#"{"providers": [{"name": "claude", "dialect": "anthropic", "base_url": "https://api.anthropic.test/v1", "keys": ["A"]}],
            "chains": [{"name": "c", "targets": [{"provider": "claude", "model": "claude-sonnet-4-5"}]}]}"#,
    );
    let req = request(ClientApi::Embeddings, json!({"model": "c", "input": "a"}));
    let sim = run(&c, req, |_, _| Reply::silent());
    let r = sim.received.response.as_ref().unwrap();
    assert!(sim.received.sent.is_empty());
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("cannot serve embeddings"), "{}", r.body);
}

#[test]
fn models_lists_the_apis_each_name_can_route() {
    let c = config();
    let body: Value = serde_json::from_str(&llm_failover::api::models_body(&c)).unwrap();
    let entry = |id: &str| {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} listed"))
    };
    let all = json!(["chat.completions", "messages", "responses", "embeddings"]);
    assert_eq!(entry("c")["apis"], all, "the chain has OpenAI targets too");
    assert_eq!(
        entry("claude/claude-sonnet-4-5")["apis"],
        json!(["chat.completions", "messages"]),
        "a native Anthropic target serves chat and messages only"
    );
    assert_eq!(
        entry("c")["targets"],
        json!([
            "claude/claude-sonnet-4-5",
            "primary/gpt-4.1",
            "backup/b-model"
        ])
    );
}
