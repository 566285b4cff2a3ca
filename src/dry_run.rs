//! Dry runs: replay a scripted list of outcomes through the real state machine with
//! a fake clock, and get the decision trace back. Tests, docs, the CLI and hosts'
//! debugging endpoints use it; the WIT component's tests compare against it.
//!
//! The clock starts at `now`; each attempt takes its step's `latency_ms` (default
//! 100 ms); a `Wait` jumps the clock straight to its end. Attempts beyond the script
//! succeed, so a script lists only the failures that matter.

use crate::classify::{Outcome, TransportFailure};
use crate::config::{Config, RouteError};
use crate::cooldown::{CooldownTable, Snapshot};
use crate::run::{
    Action, AttemptOutcome, AttemptRecord, FallbackRun, RunOptions, RunResult, TraceEvent,
};
use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What one scripted attempt returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StepOutcome {
    /// `"ok"`: a complete answer.
    Ok(OkWord),
    /// `{"status": 429, "headers": {...}, "body": "..."}`.
    Http {
        status: u16,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        #[serde(default)]
        body: String,
    },
    /// `{"transport": "connection_refused"}`.
    Transport { transport: TransportFailure },
    /// `{"stream_error": "<event data>"}`: an error event inside a 200 stream.
    StreamError { stream_error: String },
    /// `{"commit_then": <outcome>}`: the stream committed, then ended like that.
    CommitThen { commit_then: Box<StepOutcome> },
}

/// The literal `"ok"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OkWord {
    Ok,
}

/// One scripted attempt: `"ok"`, `{"ok": true, "latency_ms": 300}`, or one of the
/// failure objects with an optional `latency_ms` (`{"status": 429, …, "latency_ms": 50}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StepRepr", into = "StepRepr")]
pub struct Step {
    pub outcome: StepOutcome,
    pub latency_ms: Option<u64>,
}

/// The JSON forms of a [`Step`]. A flattened `"ok"` is not a map, so a plain
/// `#[serde(flatten)]` struct could neither read nor write a successful step.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StepRepr {
    Ok(OkWord),
    TimedOk {
        ok: bool,
        latency_ms: Option<u64>,
    },
    Other {
        #[serde(flatten)]
        outcome: StepOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        latency_ms: Option<u64>,
    },
}

impl TryFrom<StepRepr> for Step {
    type Error = String;
    fn try_from(r: StepRepr) -> Result<Step, String> {
        match r {
            StepRepr::Ok(w) => Ok(Step {
                outcome: StepOutcome::Ok(w),
                latency_ms: None,
            }),
            StepRepr::TimedOk {
                ok: true,
                latency_ms,
            } => Ok(Step {
                outcome: StepOutcome::Ok(OkWord::Ok),
                latency_ms,
            }),
            StepRepr::TimedOk { ok: false, .. } => {
                Err("`ok` must be true (script a failure instead)".into())
            }
            StepRepr::Other {
                outcome,
                latency_ms,
            } => Ok(Step {
                outcome,
                latency_ms,
            }),
        }
    }
}

impl From<Step> for StepRepr {
    fn from(s: Step) -> StepRepr {
        match (s.outcome, s.latency_ms) {
            (StepOutcome::Ok(w), None) => StepRepr::Ok(w),
            (StepOutcome::Ok(_), latency_ms) => StepRepr::TimedOk {
                ok: true,
                latency_ms,
            },
            (outcome, latency_ms) => StepRepr::Other {
                outcome,
                latency_ms,
            },
        }
    }
}

/// A dry-run request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// The request's `model`: a chain or `provider/model`.
    pub model: String,
    #[serde(default)]
    pub stream: bool,
    #[serde(default)]
    pub now: Timestamp,
    #[serde(default)]
    pub seed: u64,
    pub steps: Vec<Step>,
}

/// What the dry run decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    pub result: RunResult,
    pub trace: Vec<TraceEvent>,
    pub attempts: Vec<AttemptRecord>,
    /// The cooldown table afterwards.
    pub snapshot: Snapshot,
    /// The fake clock at the end.
    pub ended_at: Timestamp,
}

const DEFAULT_LATENCY_MS: u64 = 100;
/// A guard against a state machine that never finishes (it would be a bug).
const MAX_STEPS: usize = 10_000;

fn to_outcome(o: &StepOutcome) -> AttemptOutcome {
    match o {
        StepOutcome::Ok(_) => AttemptOutcome::Success,
        StepOutcome::Http {
            status,
            headers,
            body,
        } => AttemptOutcome::Failure(Outcome::Http {
            status: *status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            body: body.clone(),
        }),
        StepOutcome::Transport { transport } => {
            AttemptOutcome::Failure(Outcome::Transport(*transport))
        }
        StepOutcome::StreamError { stream_error } => {
            AttemptOutcome::Failure(Outcome::StreamError {
                data: stream_error.clone(),
            })
        }
        StepOutcome::CommitThen { commit_then } => to_outcome(commit_then),
    }
}

/// Runs `script` against `config`, starting from `snapshot`'s cooldowns.
pub fn dry_run(
    config: &Config,
    snapshot: &Snapshot,
    script: &Script,
) -> Result<DryRun, RouteError> {
    let mut table = CooldownTable::new(config.cooldown);
    table.merge(snapshot);
    dry_run_with_table(config, &mut table, script)
}

/// Like [`dry_run`] but on a live table (to chain several requests).
pub fn dry_run_with_table(
    config: &Config,
    table: &mut CooldownTable,
    script: &Script,
) -> Result<DryRun, RouteError> {
    let route = config.route(&script.model)?;
    let mut now = script.now;
    let mut run = FallbackRun::new(
        route,
        RunOptions {
            now,
            seed: script.seed,
            run_id: script.seed,
            stream: script.stream,
        },
    );
    let mut steps = script.steps.iter();
    for _ in 0..MAX_STEPS {
        match run.poll_action(now, table) {
            Action::Finished(result) => {
                return Ok(DryRun {
                    result,
                    trace: run.trace().to_vec(),
                    attempts: run.attempts().to_vec(),
                    snapshot: table.snapshot(now),
                    ended_at: now,
                })
            }
            Action::Wait { until } => now = until.max(now + 1),
            Action::Send(plan) => {
                let step = steps.next();
                let latency = step
                    .and_then(|s| s.latency_ms)
                    .unwrap_or(DEFAULT_LATENCY_MS);
                let outcome = step.map_or(AttemptOutcome::Success, |s| to_outcome(&s.outcome));
                if let Some(Step {
                    outcome: StepOutcome::CommitThen { .. },
                    ..
                }) = step
                {
                    now += latency / 2;
                    // The plan's attempt is in flight: this cannot be a misuse.
                    let _ = run.handle_outcome(now, table, plan.attempt, AttemptOutcome::Committed);
                    now += latency - latency / 2;
                } else {
                    now += latency;
                }
                let _ = run.handle_outcome(now, table, plan.attempt, outcome);
            }
        }
    }
    // Unreachable for a correct state machine; report instead of looping.
    Ok(DryRun {
        result: RunResult::Failed(crate::run::RunFailure {
            kind: crate::classify::FailureKind::Unknown,
            message: "dry run did not finish within its step guard".into(),
            http_status: 500,
            propagate: None,
            after_commit: false,
            retry_after_ms: None,
        }),
        trace: run.trace().to_vec(),
        attempts: run.attempts().to_vec(),
        snapshot: table.snapshot(now),
        ended_at: now,
    })
}
