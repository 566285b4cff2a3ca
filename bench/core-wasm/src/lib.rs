//! The benchmark bodies of benches/core.rs as `extern "C"` functions without
//! imports, so one wasm module runs them in any engine and the native binary
//! calls the very same code. State lives in thread-locals (single-threaded).
//!
//! - `setup_classify(size)` then `run_classify(iters)`: classify a real-shaped
//!   OpenAI 429 padded to `size` bytes, `iters` times.
//! - `setup_typical()` then `run_typical(iters)`: the four typical bodies
//!   (OpenAI 429, Anthropic 529, OpenRouter 403, Gemini 429), `iters` times each.
//! - `prepare_decision(n)` then `run_decision()`: `n` independent decision steps
//!   (a 503 handled for the attempt in flight + the next `poll_action` on a
//!   two-provider chain); the setup is outside the timed call, as in criterion's
//!   `iter_batched`.
//! - `setup_stream()` then `run_stream(iters)`: `iters` chunks of a committed
//!   stream through a session (SSE parse, stream check, forwarded event), what a
//!   host pays in the core per upstream read.

use llm_failover::classify::{classify, Outcome};
use llm_failover::config::{Config, Route};
use llm_failover::cooldown::CooldownTable;
use llm_failover::provider::Dialect;
use llm_failover::run::{Action, AttemptId, AttemptOutcome, FallbackRun, RunOptions};
use std::cell::RefCell;
use std::hint::black_box;

#[path = "../../../benches/inputs/mod.rs"]
mod inputs;
use inputs::{body_of_size, headers, typical, CONFIG};

struct Decision {
    route: Route,
    outcome: Outcome,
    batch: Vec<(CooldownTable, FallbackRun, AttemptId)>,
    config: Config,
}

struct Streaming {
    session: llm_failover::session::Session,
    table: CooldownTable,
    attempt: AttemptId,
    chunk: Vec<u8>,
}

thread_local! {
    static STREAM: RefCell<Option<Streaming>> = const { RefCell::new(None) };
    static SIZED: RefCell<Option<Outcome>> = const { RefCell::new(None) };
    static TYPICAL: RefCell<Vec<(Dialect, Outcome)>> = const { RefCell::new(Vec::new()) };
    static DECISION: RefCell<Option<Decision>> = const { RefCell::new(None) };
}

#[no_mangle]
pub extern "C" fn setup_classify(size: u32) {
    let o = Outcome::Http {
        status: 429,
        headers: headers(),
        body: body_of_size(size as usize),
    };
    SIZED.with(|s| *s.borrow_mut() = Some(o));
}

#[no_mangle]
pub extern "C" fn run_classify(iters: u32) -> u32 {
    SIZED.with(|s| {
        let s = s.borrow();
        let o = s.as_ref().expect("setup_classify first");
        let mut acc = 0u32;
        for _ in 0..iters {
            let c = classify(
                black_box(Dialect::OpenAi),
                black_box(o),
                black_box(1_700_000_000_000),
            );
            acc = acc.wrapping_add(black_box(&c) as *const _ as usize as u32 & 1);
        }
        acc
    })
}

#[no_mangle]
pub extern "C" fn setup_typical() {
    TYPICAL.with(|t| *t.borrow_mut() = typical());
}

#[no_mangle]
pub extern "C" fn run_typical(iters: u32) -> u32 {
    TYPICAL.with(|t| {
        let t = t.borrow();
        let mut acc = 0u32;
        for _ in 0..iters {
            for (d, o) in t.iter() {
                let c = classify(black_box(*d), black_box(o), black_box(1_700_000_000_000));
                acc = acc.wrapping_add(black_box(&c) as *const _ as usize as u32 & 1);
            }
        }
        acc
    })
}

#[no_mangle]
pub extern "C" fn prepare_decision(n: u32) {
    DECISION.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            let config = Config::from_json(CONFIG).expect("bench config is valid");
            let route = config.route("default").expect("chain exists");
            let outcome = Outcome::Http { status: 503, headers: vec![], body: r#"{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error"}}"#.into() };
            *d = Some(Decision { route, outcome, batch: Vec::new(), config });
        }
        let d = d.as_mut().expect("set");
        d.batch.clear();
        for _ in 0..n {
            let mut table = CooldownTable::new(d.config.cooldown);
            let mut run = FallbackRun::new(d.route.clone(), RunOptions { now: 1_000, seed: 7, run_id: 1, stream: false });
            let Action::Send(plan) = run.poll_action(1_000, &mut table) else { unreachable!("first poll sends") };
            d.batch.push((table, run, plan.attempt));
        }
    })
}

#[no_mangle]
pub extern "C" fn run_decision() -> u32 {
    DECISION.with(|d| {
        let mut d = d.borrow_mut();
        let d = d.as_mut().expect("prepare_decision first");
        let outcome = d.outcome.clone();
        let mut acc = 0u32;
        for (table, run, attempt) in d.batch.iter_mut() {
            let _ = run.handle_outcome(
                1_100,
                table,
                *attempt,
                AttemptOutcome::Failure(black_box(outcome.clone())),
            );
            let a = run.poll_action(1_100, table);
            acc = acc.wrapping_add(matches!(black_box(&a), Action::Send(_)) as u32);
        }
        acc
    })
}

#[no_mangle]
pub extern "C" fn setup_stream() {
    let config = Config::from_json(CONFIG).expect("bench config is valid");
    let (session, table, attempt) = inputs::committed_stream(&config);
    let chunk = inputs::sse_chunk(" lighthouse");
    STREAM.with(|s| {
        *s.borrow_mut() = Some(Streaming {
            session,
            table,
            attempt,
            chunk,
        })
    });
}

#[no_mangle]
pub extern "C" fn run_stream(iters: u32) -> u32 {
    STREAM.with(|s| {
        let mut s = s.borrow_mut();
        let st = s.as_mut().expect("setup_stream first");
        let mut acc = 0u32;
        for _ in 0..iters {
            st.session
                .handle_body(1_012, &mut st.table, st.attempt, black_box(&st.chunk));
            while let Some(o) = st.session.poll_output(1_012, &mut st.table) {
                acc = acc.wrapping_add(matches!(
                    black_box(&o),
                    llm_failover::session::Output::StreamEvent(_)
                ) as u32);
            }
        }
        acc
    })
}
