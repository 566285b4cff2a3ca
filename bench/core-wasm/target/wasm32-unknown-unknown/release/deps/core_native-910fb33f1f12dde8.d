/work/main/bench/core-wasm/target/wasm32-unknown-unknown/release/deps/core_native-910fb33f1f12dde8.d: src/main.rs

/work/main/bench/core-wasm/target/wasm32-unknown-unknown/release/deps/core_native-910fb33f1f12dde8.wasm: src/main.rs

src/main.rs:
