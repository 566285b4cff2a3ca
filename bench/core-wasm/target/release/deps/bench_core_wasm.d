/work/main/bench/core-wasm/target/release/deps/bench_core_wasm.d: src/lib.rs src/../../../benches/inputs/mod.rs

/work/main/bench/core-wasm/target/release/deps/libbench_core_wasm.so: src/lib.rs src/../../../benches/inputs/mod.rs

/work/main/bench/core-wasm/target/release/deps/libbench_core_wasm.rlib: src/lib.rs src/../../../benches/inputs/mod.rs

src/lib.rs:
src/../../../benches/inputs/mod.rs:
