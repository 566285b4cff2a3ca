/work/main/bench/core-wasm/target/release/deps/humantime-15f5acb91c889e9f.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/date.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/duration.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/wrapper.rs

/work/main/bench/core-wasm/target/release/deps/libhumantime-15f5acb91c889e9f.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/date.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/duration.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/wrapper.rs

/work/main/bench/core-wasm/target/release/deps/libhumantime-15f5acb91c889e9f.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/lib.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/date.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/duration.rs /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/wrapper.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/lib.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/date.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/duration.rs:
/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/humantime-2.4.0/src/wrapper.rs:
