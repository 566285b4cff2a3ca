//! The benchmark inputs, shared by the native criterion benches (benches/core.rs)
//! and the wasm measurement (bench/core-wasm), so both time the same work.

use llm_failover::classify::Outcome;
use llm_failover::config::Config;
use llm_failover::cooldown::CooldownTable;
use llm_failover::provider::Dialect;
use llm_failover::run::{AttemptId, RunOptions};
use llm_failover::session::{Output, Session};

/// A real-shaped OpenAI 429 body padded to `size` bytes inside its message.
pub fn body_of_size(size: usize) -> String {
    let head = r#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s. "#;
    let tail = r#"","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad))
}

pub fn headers() -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        ("x-ratelimit-remaining-tokens".into(), "0".into()),
        ("x-ratelimit-reset-tokens".into(), "2s".into()),
    ]
}

pub const CONFIG: &str = r#"{
  "providers": [
    {"name": "openai", "dialect": "openai", "base_url": "https://api.openai.com/v1", "keys": ["OPENAI_KEY_1", "OPENAI_KEY_2"]},
    {"name": "anthropic", "dialect": "anthropic", "base_url": "https://api.anthropic.com/v1", "keys": ["ANTHROPIC_KEY"]}
  ],
  "chains": [{"name": "default", "targets": [
    {"provider": "openai", "model": "gpt-4o-mini"},
    {"provider": "anthropic", "model": "claude-3-5-haiku-latest"}
  ]}]
}"#;

/// Real error responses of typical size (150–600 bytes), one per family.
pub fn typical() -> Vec<(Dialect, Outcome)> {
    let http = |status: u16, body: &str| Outcome::Http {
        status,
        headers: headers(),
        body: body.to_string(),
    };
    vec![
        (
            Dialect::OpenAi,
            http(
                429,
                r#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
            ),
        ),
        (
            Dialect::Anthropic,
            http(
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ),
        ),
        (
            Dialect::OpenRouter,
            http(
                403,
                r#"{"error":{"code":403,"message":"Key limit exceeded (daily limit). Manage it using https://openrouter.ai/settings/keys"}}"#,
            ),
        ),
        (
            Dialect::Gemini,
            http(
                429,
                r#"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"26s"}]}}"#,
            ),
        ),
    ]
}

/// One SSE chunk of an OpenAI stream carrying `word`.
pub fn sse_chunk(word: &str) -> Vec<u8> {
    format!(
        "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}},\"finish_reason\":null}}]}}\n\n"
    )
    .into_bytes()
}

/// A streaming session of CONFIG's chain whose first attempt has committed (its
/// first chunk forwarded): the state the stream-chunk bench feeds chunks into.
pub fn committed_stream(config: &Config) -> (Session, CooldownTable, AttemptId) {
    let route = config.route("default").expect("chain exists");
    let request = llm_failover::api::parse_chat_request(
        br#"{"model":"default","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
    )
    .expect("valid request");
    let mut table = CooldownTable::new(config.cooldown);
    let opts = RunOptions {
        now: 1_000,
        seed: 7,
        run_id: 1,
        stream: true,
    };
    let mut session = Session::new(route, request, opts);
    let mut attempt = None;
    while let Some(o) = session.poll_output(1_000, &mut table) {
        if let Output::Send(r) = o {
            attempt = Some(r.attempt);
        }
    }
    let attempt = attempt.expect("a send");
    session.handle_head(1_010, &mut table, attempt, 200, vec![]);
    session.handle_body(1_011, &mut table, attempt, &sse_chunk("Once"));
    while session.poll_output(1_011, &mut table).is_some() {}
    (session, table, attempt)
}
