/work/main/bench/core-wasm/target/release/deps/core_native-47d8bce911c49a0b.d: src/main.rs

/work/main/bench/core-wasm/target/release/deps/core_native-47d8bce911c49a0b: src/main.rs

src/main.rs:
