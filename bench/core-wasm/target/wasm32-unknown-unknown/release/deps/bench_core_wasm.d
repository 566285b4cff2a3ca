/work/main/bench/core-wasm/target/wasm32-unknown-unknown/release/deps/bench_core_wasm.d: src/lib.rs src/../../../benches/inputs/mod.rs

/work/main/bench/core-wasm/target/wasm32-unknown-unknown/release/deps/bench_core_wasm.wasm: src/lib.rs src/../../../benches/inputs/mod.rs

/work/main/bench/core-wasm/target/wasm32-unknown-unknown/release/deps/libbench_core_wasm.rlib: src/lib.rs src/../../../benches/inputs/mod.rs

src/lib.rs:
src/../../../benches/inputs/mod.rs:
