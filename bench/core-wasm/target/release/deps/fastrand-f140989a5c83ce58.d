/work/main/bench/core-wasm/target/release/deps/fastrand-f140989a5c83ce58.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fastrand-2.5.0/src/lib.rs

/work/main/bench/core-wasm/target/release/deps/libfastrand-f140989a5c83ce58.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fastrand-2.5.0/src/lib.rs

/work/main/bench/core-wasm/target/release/deps/libfastrand-f140989a5c83ce58.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fastrand-2.5.0/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/fastrand-2.5.0/src/lib.rs:
