//! The `llm-failover-classify` command: JSON lines in, one classification per line out.
#![cfg(not(target_arch = "wasm32"))]

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn run(input: &str) -> (Vec<Value>, i32) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_llm-failover-classify"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("the binary exits");
    let lines = String::from_utf8(out.stdout)
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("every output line is JSON"))
        .collect();
    (lines, out.status.code().unwrap_or(-1))
}

#[test]
fn classifies_each_line_in_order() {
    let input = concat!(
        r#"{"provider": "openrouter", "status": 403, "body": {"error": {"code": 403, "message": "Key limit exceeded (daily limit)"}}}"#,
        "\n",
        r#"{"provider": "openai", "status": 429, "headers": {"retry-after": "7"}, "body": "{\"error\":{\"message\":\"Rate limit reached for gpt-4o\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}"}"#,
        "\n\n",
        r#"{"provider": "anthropic", "stream_error": "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"}"#,
        "\n",
        r#"{"provider": "openai", "transport": "connection_refused"}"#,
        "\n",
        r#"{"provider": "gemini", "status": 400, "body": {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}}"#,
        "\n",
    );
    let (lines, code) = run(input);
    assert_eq!(code, 0);
    let kinds: Vec<&str> = lines
        .iter()
        .map(|l| l["kind"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        kinds,
        [
            "quota_exhausted",
            "rate_limited",
            "overloaded",
            "connection",
            "auth"
        ]
    );
    assert_eq!(lines[1]["retry_after_ms"], 7000);
    assert_eq!(lines[0]["scope"], "key");
    assert_eq!(lines[3]["scope"], "endpoint");
    assert!(lines[0]["action"]
        .as_str()
        .is_some_and(|a| a.contains("rotate to the next key")));
}

#[test]
fn a_bad_line_is_reported_and_the_rest_still_classified() {
    let (lines, code) = run("not json\n{\"provider\": \"nope\", \"status\": 500}\n{\"provider\": \"openai\", \"status\": 500, \"body\": \"\"}\n");
    assert_eq!(code, 1);
    assert_eq!(lines.len(), 3);
    assert!(lines[0]["error"]
        .as_str()
        .is_some_and(|e| e.starts_with("line 1:")));
    assert!(lines[1]["error"]
        .as_str()
        .is_some_and(|e| e.contains("unknown dialect `nope`")));
    assert_eq!(lines[2]["kind"], "server_error");
}

#[test]
fn dry_run_replays_the_example_script() {
    let out = Command::new(env!("CARGO_BIN_EXE_llm-failover-dry-run"))
        .args(["examples/config.json", "examples/script.json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(v["result"]["result"], "success");
    assert_eq!(v["result"]["provider"], "groq");
    let sends: Vec<(&str, &str)> = v["trace"]
        .as_array()
        .expect("trace is a list")
        .iter()
        .filter(|e| e["event"] == "send")
        .map(|e| {
            (
                e["provider"].as_str().unwrap_or("?"),
                e["key"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        sends,
        [
            ("openai", "OPENAI_KEY_1"),
            ("openai", "OPENAI_KEY_1"),
            ("openai", "OPENAI_KEY_2"),
            ("anthropic", "ANTHROPIC_KEY"),
            ("anthropic", "ANTHROPIC_KEY"),
            ("groq", "GROQ_KEY")
        ]
    );
    // The retry after `retry-after: 2` waited exactly 2 s.
    let t: Vec<u64> = v["trace"]
        .as_array()
        .unwrap_or(&vec![])
        .iter()
        .filter(|e| e["event"] == "send")
        .map(|e| e["at"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(t[1] - t[0], 2_100);
}

#[test]
fn dry_run_reports_a_bad_config_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("llm-failover-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cfg = dir.join("bad.json");
    std::fs::write(&cfg, r#"{"providers":[{"name":"a","dialect":"openai","base_url":"https://x.test/v1"}],"chains":[{"name":"c","targets":[{"provider":"a"}]}]}"#).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_llm-failover-dry-run"))
        .args([cfg.to_str().unwrap_or_default(), "examples/script.json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chains[0].targets[0].model"), "{err}");
}
