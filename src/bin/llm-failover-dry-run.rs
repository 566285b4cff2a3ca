//! `llm-failover-dry-run`: what would the gateway do with these failures?
//!
//! ```text
//! llm-failover-dry-run CONFIG.json SCRIPT.json [SNAPSHOT.json]
//! ```
//!
//! Replays the script's outcomes (see `llm_failover::dry_run::Script`) through the
//! real state machine with a fake clock, starting from the snapshot's cooldowns,
//! and prints the result as JSON: `{result, trace, attempts, snapshot, ended_at}`.
//! Errors (unreadable file, invalid config, unknown model) go to stderr with exit 2.

use llm_failover::config::Config;
use llm_failover::cooldown::Snapshot;
use llm_failover::dry_run::{dry_run, Script};

fn fail(msg: String) -> ! {
    eprintln!("llm-failover-dry-run: {msg}");
    std::process::exit(2);
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| fail(format!("cannot read {path}: {e}")))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 || args.len() > 3 || args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("usage: llm-failover-dry-run CONFIG.json SCRIPT.json [SNAPSHOT.json]");
        std::process::exit(if args.iter().any(|a| a == "-h" || a == "--help") {
            0
        } else {
            2
        });
    }
    let config =
        Config::from_json(&read(&args[0])).unwrap_or_else(|e| fail(format!("{}: {e}", args[0])));
    let script: Script =
        serde_json::from_str(&read(&args[1])).unwrap_or_else(|e| fail(format!("{}: {e}", args[1])));
    let snapshot: Snapshot = match args.get(2) {
        Some(p) => serde_json::from_str(&read(p)).unwrap_or_else(|e| fail(format!("{p}: {e}"))),
        None => Snapshot::default(),
    };
    let out = dry_run(&config, &snapshot, &script).unwrap_or_else(|e| fail(e.to_string()));
    match serde_json::to_string_pretty(&out) {
        Ok(s) => println!("{s}"),
        Err(e) => fail(format!("cannot print the result: {e}")),
    }
}
