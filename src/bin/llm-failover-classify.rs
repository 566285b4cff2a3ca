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

use llm_failover::classify::{classify, Outcome, TransportFailure};
use llm_failover::policy::FailurePolicy;
use llm_failover::provider::Dialect;
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::{BufRead, Write};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    provider: Dialect,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    stream_error: Option<Value>,
    #[serde(default)]
    transport: Option<TransportFailure>,
    /// Unix ms "now" for HTTP-date hints; defaults to the system clock.
    #[serde(default)]
    now_ms: Option<u64>,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn outcome_of(line: &Line) -> Result<Outcome, String> {
    if let Some(t) = line.transport {
        return Ok(Outcome::Transport(t));
    }
    if let Some(data) = &line.stream_error {
        return Ok(Outcome::StreamError {
            data: text_of(data),
        });
    }
    let status = line
        .status
        .ok_or("a line needs `status` (with `body`), `stream_error` or `transport`")?;
    let headers = line
        .headers
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), text_of(v)))
        .collect();
    let body = line.body.as_ref().map(text_of).unwrap_or_default();
    Ok(Outcome::Http {
        status,
        headers,
        body,
    })
}

fn action_text(policy: &FailurePolicy, kind: llm_failover::FailureKind) -> String {
    let r = policy.rule(kind);
    let mut parts = Vec::new();
    if r.retries > 0 {
        parts.push(format!("retry the same target up to {}x", r.retries));
    }
    if r.rotate_key {
        parts.push("rotate to the next key".to_string());
    }
    parts.push(if r.fallback {
        "fall back to the next target".into()
    } else {
        "return the error to the client".into()
    });
    parts.push(match r.cooldown {
        Some(b) => format!(
            "cool the scope down (hint, else {}s doubling to {}s)",
            b.base_ms / 1000,
            b.max_ms / 1000
        ),
        None => "no cooldown".into(),
    });
    parts.join(", then ")
}

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
            let result = serde_json::from_str::<Line>(&line)
                .map_err(|e| format!("line {}: {e}", n + 1))
                .and_then(|l| {
                    outcome_of(&l)
                        .map(|o| (l, o))
                        .map_err(|e| format!("line {}: {e}", n + 1))
                });
            let printed = match result {
                Ok((l, outcome)) => {
                    let c = classify(l.provider, &outcome, l.now_ms.unwrap_or(now_default));
                    json!({
                        "kind": c.kind,
                        "retry_after_ms": c.retry_after_ms,
                        "scope": c.scope,
                        "reason": c.reason,
                        "status": c.status,
                        "action": action_text(&policy, c.kind),
                    })
                }
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
