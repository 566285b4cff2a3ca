/work/main/bench/core-wasm/target/wasm32-unknown-unknown/release/deps/fastrand-c35eff53831cbfae.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fastrand-2.5.0/src/lib.rs

/work/main/bench/core-wasm/target/wasm32-unknown-unknown/release/deps/libfastrand-c35eff53831cbfae.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fastrand-2.5.0/src/lib.rs

/work/main/bench/core-wasm/target/wasm32-unknown-unknown/release/deps/libfastrand-c35eff53831cbfae.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fastrand-2.5.0/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fastrand-2.5.0/src/lib.rs:
