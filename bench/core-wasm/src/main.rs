//! core-native: times the functions of lib.rs natively, the way
//! bench/core-wasm.mjs times the same functions compiled to wasm in Node, and
//! prints one JSON object: {"<bench>": {"median_ns", "batches", "iters"}}.
//!
//!     core-native [BATCHES] [MIN_BATCH_MS]

use bench_core_wasm::*;
use std::time::Instant;

fn measure(
    mut batch: impl FnMut(u32) -> (f64, u32),
    batches: usize,
    min_batch_ms: f64,
) -> serde_like::Row {
    // Warm up (caches, branch predictors; the wasm side needs it for its JIT).
    let t0 = Instant::now();
    while t0.elapsed().as_millis() < 300 {
        batch(1);
    }
    // Calibrate: double the iteration count until one batch takes min_batch_ms.
    let mut iters = 1u32;
    loop {
        let (ms, _) = batch(iters);
        if ms >= min_batch_ms || iters >= 1 << 24 {
            break;
        }
        iters *= 2;
    }
    let mut per: Vec<f64> = (0..batches)
        .map(|_| {
            let (ms, n) = batch(iters);
            ms * 1e6 / n as f64
        })
        .collect();
    per.sort_by(|a, b| a.partial_cmp(b).unwrap());
    serde_like::Row {
        median_ns: per[per.len() / 2],
        batches,
        iters,
    }
}

mod serde_like {
    pub struct Row {
        pub median_ns: f64,
        pub batches: usize,
        pub iters: u32,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let batches: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(25);
    let min_ms: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1e3
    };
    let mut rows: Vec<(String, serde_like::Row)> = vec![];
    for size in [1024u32, 16384, 262144] {
        setup_classify(size);
        rows.push((
            format!("classify/{size}"),
            measure(
                |n| {
                    (
                        time(&mut || {
                            std::hint::black_box(run_classify(n));
                        }),
                        n,
                    )
                },
                batches,
                min_ms,
            ),
        ));
    }
    setup_typical();
    rows.push((
        "classify/typical_4_bodies".into(),
        measure(
            |n| {
                (
                    time(&mut || {
                        std::hint::black_box(run_typical(n));
                    }),
                    n,
                )
            },
            batches,
            min_ms,
        ),
    ));
    rows.push((
        "decision_step".into(),
        measure(
            |n| {
                prepare_decision(n);
                (
                    time(&mut || {
                        std::hint::black_box(run_decision());
                    }),
                    n,
                )
            },
            batches,
            min_ms,
        ),
    ));
    setup_stream();
    rows.push((
        "stream_chunk".into(),
        measure(
            |n| {
                (
                    time(&mut || {
                        std::hint::black_box(run_stream(n));
                    }),
                    n,
                )
            },
            batches,
            min_ms,
        ),
    ));
    let body: Vec<String> = rows
        .iter()
        .map(|(k, r)| {
            format!(
                "\"{k}\": {{\"median_ns\": {:.1}, \"batches\": {}, \"iters\": {}}}",
                r.median_ns, r.batches, r.iters
            )
        })
        .collect();
    println!("{{{}}}", body.join(", "));
}
