//! Criterion benchmarks of the core's hot paths: classify (1 KB, 16 KB, 256 KB
//! bodies) and one full decision step (a failure handled and the next attempt
//! planned). `cargo bench --bench core`; medians are reported in bench/README.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use llm_failover::classify::{classify, Outcome};
use llm_failover::config::Config;
use llm_failover::cooldown::CooldownTable;
use llm_failover::provider::Dialect;
use llm_failover::run::{Action, AttemptOutcome, FallbackRun, RunOptions};
use std::hint::black_box;

/// A real-shaped OpenAI 429 body padded to `size` bytes inside its message.
fn body_of_size(size: usize) -> String {
    let head = r#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000. Please try again in 2s. "#;
    let tail = r#"","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad))
}

fn headers() -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        ("x-ratelimit-remaining-tokens".into(), "0".into()),
        ("x-ratelimit-reset-tokens".into(), "2s".into()),
    ]
}

const CONFIG: &str = r#"{
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
fn typical() -> Vec<(Dialect, Outcome)> {
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

fn bench_classify(c: &mut Criterion) {
    let mut g = c.benchmark_group("classify");
    let cases = typical();
    g.bench_function("typical_4_bodies", |b| {
        b.iter(|| {
            for (d, o) in &cases {
                black_box(classify(
                    black_box(*d),
                    black_box(o),
                    black_box(1_700_000_000_000),
                ));
            }
        })
    });
    for size in [1024usize, 16 * 1024, 256 * 1024] {
        let outcome = Outcome::Http {
            status: 429,
            headers: headers(),
            body: body_of_size(size),
        };
        g.bench_with_input(BenchmarkId::from_parameter(size), &outcome, |b, o| {
            b.iter(|| {
                classify(
                    black_box(Dialect::OpenAi),
                    black_box(o),
                    black_box(1_700_000_000_000),
                )
            })
        });
    }
    g.finish();
}

fn bench_decision_step(c: &mut Criterion) {
    let config = Config::from_json(CONFIG).expect("bench config is valid");
    let route = config.route("default").expect("chain exists");
    let outcome = Outcome::Http { status: 503, headers: vec![], body: r#"{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error"}}"#.into() };
    c.bench_function("decision_step", |b| {
        b.iter_batched(
            || {
                let mut table = CooldownTable::new(config.cooldown);
                let mut run = FallbackRun::new(
                    route.clone(),
                    RunOptions {
                        now: 1_000,
                        seed: 7,
                        run_id: 1,
                        stream: false,
                    },
                );
                let Action::Send(plan) = run.poll_action(1_000, &mut table) else {
                    unreachable!("first poll sends")
                };
                (table, run, plan.attempt)
            },
            |(mut table, mut run, attempt)| {
                // One decision step: classify + apply policy + cool down + plan the next action.
                let _ = run.handle_outcome(
                    1_100,
                    &mut table,
                    attempt,
                    AttemptOutcome::Failure(black_box(outcome.clone())),
                );
                black_box(run.poll_action(1_100, &mut table));
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench_classify, bench_decision_step);
criterion_main!(benches);
