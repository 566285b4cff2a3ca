/work/main/bench/core-wasm/target/release/deps/llm_failover.d: /work/main/src/lib.rs /work/main/src/classify.rs /work/main/src/config.rs /work/main/src/cooldown.rs /work/main/src/dry_run.rs /work/main/src/explain.rs /work/main/src/gateway.rs /work/main/src/hosts/mod.rs /work/main/src/policy.rs /work/main/src/provider.rs /work/main/src/redact.rs /work/main/src/retry_hint.rs /work/main/src/run.rs /work/main/src/sse.rs

/work/main/bench/core-wasm/target/release/deps/libllm_failover.so: /work/main/src/lib.rs /work/main/src/classify.rs /work/main/src/config.rs /work/main/src/cooldown.rs /work/main/src/dry_run.rs /work/main/src/explain.rs /work/main/src/gateway.rs /work/main/src/hosts/mod.rs /work/main/src/policy.rs /work/main/src/provider.rs /work/main/src/redact.rs /work/main/src/retry_hint.rs /work/main/src/run.rs /work/main/src/sse.rs

/work/main/bench/core-wasm/target/release/deps/libllm_failover.rlib: /work/main/src/lib.rs /work/main/src/classify.rs /work/main/src/config.rs /work/main/src/cooldown.rs /work/main/src/dry_run.rs /work/main/src/explain.rs /work/main/src/gateway.rs /work/main/src/hosts/mod.rs /work/main/src/policy.rs /work/main/src/provider.rs /work/main/src/redact.rs /work/main/src/retry_hint.rs /work/main/src/run.rs /work/main/src/sse.rs

/work/main/src/lib.rs:
/work/main/src/classify.rs:
/work/main/src/config.rs:
/work/main/src/cooldown.rs:
/work/main/src/dry_run.rs:
/work/main/src/explain.rs:
/work/main/src/gateway.rs:
/work/main/src/hosts/mod.rs:
/work/main/src/policy.rs:
/work/main/src/provider.rs:
/work/main/src/redact.rs:
/work/main/src/retry_hint.rs:
/work/main/src/run.rs:
/work/main/src/sse.rs:
