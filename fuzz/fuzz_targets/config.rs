//! Arbitrary text as a config file. When it parses: route every model name it
//! declares plus a few made-up ones, and dry-run small scripts through each route.
//!
//! Input: `CONFIG_JSON` or `CONFIG_JSON \0 SCRIPT_JSON`; a script after a NUL byte
//! (a `dry_run::Script`) is run too, so the fuzzer can also explore scripts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_failover::config::Config;
use llm_failover::cooldown::Snapshot;
use llm_failover::dry_run::{dry_run, Script};

/// Small scripts in the dry-run JSON format: the failures that matter, then "ok".
const SCRIPTS: [&str; 4] = [
    r#"[]"#,
    r#"[{"status": 429, "headers": {"retry-after": "2"}, "body": "{\"error\":{\"message\":\"Rate limit reached\",\"code\":\"rate_limit_exceeded\"}}"},
        {"transport": "connection_refused"}, "ok"]"#,
    r#"[{"status": 503, "body": "<html>503 Service Unavailable</html>", "latency_ms": 30000},
        {"stream_error": "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"},
        {"status": 401, "body": "{\"error\":{\"code\":\"invalid_api_key\"}}"},
        {"transport": "first_token_timeout"}, {"status": 500}, {"status": 500}, {"status": 500}]"#,
    r#"[{"commit_then": {"transport": "stream_ended_early"}}]"#,
];

fuzz_target!(|data: &[u8]| {
    let (config_bytes, script_bytes) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(text) = std::str::from_utf8(config_bytes) else {
        return;
    };
    let config = match Config::from_json(text) {
        Ok(c) => c,
        Err(e) => {
            // Errors name a field and say something.
            let _ = e.to_string();
            return;
        }
    };

    let mut names = config.model_names();
    names.truncate(4);
    if let Some(p) = config.providers.first() {
        names.push(format!("{}/some-model", p.name));
        names.push(format!("{}/", p.name));
        names.push(format!("{}/default", p.name));
    }
    names.push("no-such-chain".into());

    let snapshot = Snapshot::default();
    for (i, name) in names.iter().enumerate() {
        let Ok(route) = config.route(name) else {
            continue;
        };
        assert!(
            !route.chain.targets.is_empty(),
            "route {name:?} has no targets"
        );
        for (j, steps) in SCRIPTS.iter().enumerate() {
            let json = format!(
                r#"{{"model": {}, "stream": {}, "now": {}, "seed": {}, "steps": {steps}}}"#,
                serde_json::to_string(name).unwrap(),
                j % 2 == 1,
                1_750_000_000_000u64 + (i * 7919 + j) as u64,
                i * 31 + j,
            );
            let script: Script = serde_json::from_str(&json).expect("built-in script parses");
            let out = dry_run(&config, &snapshot, &script).expect("a routable model dry-runs");
            assert!(out.ended_at >= script.now, "the clock went backwards");
        }
    }

    if let Some(bytes) = script_bytes {
        if let Ok(script) = serde_json::from_slice::<Script>(bytes) {
            if script.steps.len() <= 64 {
                if let Ok(out) = dry_run(&config, &snapshot, &script) {
                    assert!(out.ended_at >= script.now, "the clock went backwards");
                }
            }
        }
    }
});
