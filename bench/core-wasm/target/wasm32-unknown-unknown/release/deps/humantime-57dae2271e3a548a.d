/work/main/bench/core-wasm/target/wasm32-unknown-unknown/release/deps/humantime-57dae2271e3a548a.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/date.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/duration.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/wrapper.rs

/work/main/bench/core-wasm/target/wasm32-unknown-unknown/release/deps/libhumantime-57dae2271e3a548a.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/date.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/duration.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/wrapper.rs

/work/main/bench/core-wasm/target/wasm32-unknown-unknown/release/deps/libhumantime-57dae2271e3a548a.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/date.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/duration.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/wrapper.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/date.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/duration.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/wrapper.rs:
