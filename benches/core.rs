//! Criterion benchmarks of the core's hot paths: classify (1 KB, 16 KB, 256 KB
//! bodies), one full decision step (a failure handled and the next attempt
//! planned), and one streamed chunk through a committed session (parsed, checked,
//! forwarded). `cargo bench --bench core`; medians are reported in bench/README.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use llm_failover::classify::{classify, Outcome};
use llm_failover::config::Config;
use llm_failover::cooldown::CooldownTable;
use llm_failover::provider::Dialect;
use llm_failover::run::{Action, AttemptOutcome, FallbackRun, RunOptions};
use std::hint::black_box;

mod inputs;
use inputs::{body_of_size, committed_stream, headers, sse_chunk, typical, CONFIG};

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
                let action = run.poll_action(1_100, &mut table);
                black_box(action)
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

/// One chunk of a committed stream through the session: SSE parse, the stream
/// check, the commit bookkeeping and the forwarded event (what a host pays per
/// upstream read in the core, without its own JS plumbing).
fn bench_stream_chunk(c: &mut Criterion) {
    let config = Config::from_json(CONFIG).expect("bench config is valid");
    let word = sse_chunk(" lighthouse");
    c.bench_function("stream_chunk", |b| {
        b.iter_batched(
            || committed_stream(&config),
            |(mut s, mut table, a)| {
                s.handle_body(1_012, &mut table, a, black_box(&word));
                while let Some(o) = s.poll_output(1_012, &mut table) {
                    let _ = black_box(o);
                }
                s
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(
    benches,
    bench_classify,
    bench_decision_step,
    bench_stream_chunk
);
criterion_main!(benches);
