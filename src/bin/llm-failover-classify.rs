//! `llm-failover-classify`: paste provider errors in, see what the gateway will do.
//!
//! Reads JSON lines from stdin (or the files named as arguments), one outcome each:
//!
//! ```text
//! {"provider": "openrouter", "status": 403, "headers": {"retry-after": "5"}, "body": "…"}
//! {"provider": "anthropic", "stream_error": "{\"type\":\"error\",…}"}
//! {"provider": "openai", "transport": "first_token_timeout"}
//! ```
//!
//! and prints one JSON classification per line:
//! `{"kind":"quota_exhausted","retry_after_ms":null,"scope":"key","reason":"…","status":403,"action":"…"}`.
//! `body` may be a string or a JSON value. A bad line prints `{"error": "…"}` for
//! that line and the tool goes on; the exit code is 1 if any line was bad.

use llm_failover::explain::OutcomeSpec;
use llm_failover::policy::FailurePolicy;
use serde_json::json;
use std::io::{BufRead, Write};

fn main() {
    let now_default = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let policy = FailurePolicy::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("usage: llm-failover-classify [FILE...]  (JSON lines on stdin when no file)\n\
                  each line: {{\"provider\": \"openai\", \"status\": 429, \"headers\": {{...}}, \"body\": \"...\"}}\n\
                  or {{\"provider\": \"anthropic\", \"stream_error\": \"...\"}} or {{\"provider\": \"openai\", \"transport\": \"connection_refused\"}}");
        return;
    }
    let readers: Vec<Box<dyn BufRead>> = if args.is_empty() {
        vec![Box::new(std::io::stdin().lock())]
    } else {
        let mut v: Vec<Box<dyn BufRead>> = Vec::new();
        for a in &args {
            match std::fs::File::open(a) {
                Ok(f) => v.push(Box::new(std::io::BufReader::new(f))),
                Err(e) => {
                    eprintln!("llm-failover-classify: cannot open {a}: {e}");
                    std::process::exit(2);
                }
            }
        }
        v
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut bad = false;
    for reader in readers {
        for (n, line) in reader.lines().enumerate() {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "{}",
                        json!({"error": format!("line {}: cannot read: {e}", n + 1)})
                    );
                    bad = true;
                    break;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let result = serde_json::from_str::<OutcomeSpec>(&line)
                .map_err(|e| e.to_string())
                .and_then(|spec| spec.explain(&policy, now_default))
                .map_err(|e| format!("line {}: {e}", n + 1));
            let printed = match result {
                Ok(v) => v,
                Err(e) => {
                    bad = true;
                    json!({ "error": e })
                }
            };
            if writeln!(out, "{printed}").is_err() {
                return; // stdout closed (e.g. piped into `head`)
            }
        }
    }
    if bad {
        std::process::exit(1);
    }
}
