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
