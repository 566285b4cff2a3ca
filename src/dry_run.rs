//! Dry runs: replay scripted outcomes through the real state machine with a fake
//! clock, and get the decision trace back.
//!
//! [`ScriptedRun`] is the one fake-clock driver of a [`FallbackRun`]: each attempt
//! takes the latency its [`Reply`] says (reporting `Committed` part-way when asked),
//! a `Wait` jumps the clock straight to its end. It advances one event at a time,
//! so a test can interleave several runs on one table ([`ScriptedRun::next_time`],
//! [`ScriptedRun::step`]), or run one to its end ([`ScriptedRun::finish`]). The
//! CLI, the browser package's `dryRun`, the state-machine and property tests, the
//! benchmarks and the component's trace tests all use it.
//!
//! [`dry_run`] reads a JSON [`Script`]: the clock starts at `now`; each attempt takes
//! its step's `latency_ms` (default 100 ms); attempts beyond the script succeed, so
//! a script lists only the failures that matter.

use crate::config::{Config, RouteError};
use crate::cooldown::{CooldownTable, Snapshot};
use crate::failure::{FailureKind, Outcome, TransportFailure};
use crate::run::{
    Action, AttemptId, AttemptOutcome, AttemptPlan, AttemptRecord, EndCause, FallbackRun, RunError,
    RunFailure, RunOptions, RunResult, TraceEvent,
};
use crate::time::Timestamp;
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
        /// The status.
        status: u16,
        /// The headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// The body.
        #[serde(default)]
        body: String,
    },
    /// `{"transport": "connection_refused"}`.
    Transport {
        /// The transport failure.
        transport: TransportFailure,
    },
    /// `{"stream_error": "<event data>"}`: an error event inside a 200 stream.
    StreamError {
        /// The event's data.
        stream_error: String,
    },
    /// `{"commit_then": <outcome>}`: the stream committed, then ended like that.
    CommitThen {
        /// How it ended.
        commit_then: Box<StepOutcome>,
    },
}

/// The literal `"ok"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OkWord {
    /// `"ok"`.
    Ok,
}

/// One scripted attempt: `"ok"`, `{"ok": true, "latency_ms": 300}`, or one of the
/// failure objects with an optional `latency_ms` (`{"status": 429, …, "latency_ms": 50}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StepRepr", into = "StepRepr")]
pub struct Step {
    /// What the attempt returns.
    pub outcome: StepOutcome,
    /// How long it takes (default 100 ms).
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
    /// A streaming request.
    #[serde(default)]
    pub stream: bool,
    /// When it starts.
    #[serde(default)]
    pub now: Timestamp,
    /// The jitter seed (and run id).
    #[serde(default)]
    pub seed: u64,
    /// What each attempt returns.
    pub steps: Vec<Step>,
}

/// What the dry run decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    /// How the run ended.
    pub result: RunResult,
    /// The decision trace.
    pub trace: Vec<TraceEvent>,
    /// Every attempt.
    pub attempts: Vec<AttemptRecord>,
    /// The cooldown table afterwards.
    pub snapshot: Snapshot,
    /// The fake clock at the end.
    pub ended_at: Timestamp,
}

const DEFAULT_LATENCY_MS: u64 = 100;
/// A guard against a state machine that never finishes (it would be a bug).
const MAX_STEPS: usize = 10_000;

/// How a scripted attempt goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Its end.
    pub outcome: AttemptOutcome,
    /// How long it takes.
    pub latency_ms: u64,
    /// Report `Committed` this long after the send (a stream's first content).
    pub commit_after_ms: Option<u64>,
}

impl Reply {
    /// A success after `latency_ms`.
    pub fn ok(latency_ms: u64) -> Reply {
        Reply {
            outcome: AttemptOutcome::Success,
            latency_ms,
            commit_after_ms: None,
        }
    }
}

/// What a [`ScriptedRun`] did in one step.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stepped {
    /// It sent this attempt (the table is as the send left it).
    Sent(AttemptPlan),
    /// The attempt in flight committed.
    Committed(AttemptId),
    /// The attempt in flight ended with this outcome.
    Reported(AttemptId, AttemptOutcome),
    /// The run waits until then.
    Waiting(Timestamp),
    /// The run ended.
    Finished(RunResult),
    /// The run refused what the script reported (a state-machine bug).
    Refused(RunError),
}

#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // One per driven run: size does not matter.
enum State {
    Poll(Timestamp),
    InFlight {
        plan: AttemptPlan,
        reply: Reply,
        sent_at: Timestamp,
        committed: bool,
    },
    Done(Timestamp),
}

/// One [`FallbackRun`] driven by a fake clock and scripted replies.
#[derive(Debug, Clone)]
pub struct ScriptedRun {
    /// The run.
    pub run: FallbackRun,
    state: State,
    /// The host gives up on an attempt at the deadline (polls then) instead of
    /// waiting for its outcome.
    polls_at_deadline: bool,
}

impl ScriptedRun {
    /// Starts driving `run` at its start time.
    pub fn new(run: FallbackRun, polls_at_deadline: bool) -> ScriptedRun {
        let start = run.options().now;
        ScriptedRun {
            run,
            state: State::Poll(start),
            polls_at_deadline,
        }
    }

    /// When the next step happens; `None` once the run ended.
    pub fn next_time(&self) -> Option<Timestamp> {
        match &self.state {
            State::Poll(t) => Some(*t),
            State::InFlight {
                reply,
                sent_at,
                committed,
                ..
            } => {
                let commit = reply.commit_after_ms.filter(|_| !committed);
                let next = sent_at + commit.unwrap_or(reply.latency_ms);
                Some(if self.polls_at_deadline {
                    next.min(self.run.deadline())
                } else {
                    next
                })
            }
            State::Done(_) => None,
        }
    }

    /// When the run ended.
    pub fn ended_at(&self) -> Option<Timestamp> {
        match self.state {
            State::Done(t) => Some(t),
            _ => None,
        }
    }

    /// Does the next step; `reply` scripts each attempt when it is sent.
    pub fn step(
        &mut self,
        table: &mut CooldownTable,
        reply: &mut impl FnMut(&AttemptPlan, Timestamp) -> Reply,
    ) -> Option<Stepped> {
        let now = self.next_time()?;
        match std::mem::replace(&mut self.state, State::Done(now)) {
            State::Done(t) => {
                self.state = State::Done(t);
                None
            }
            State::InFlight {
                plan,
                reply: r,
                sent_at,
                committed,
            } => {
                let commit = r.commit_after_ms.filter(|_| !committed && plan.stream);
                let event_at = sent_at + commit.unwrap_or(r.latency_ms);
                if self.polls_at_deadline && now < event_at {
                    // The host gives up at the deadline: the run decides.
                    self.state = State::Poll(now);
                    return self.step(table, reply);
                }
                if commit.is_some() {
                    let id = plan.attempt;
                    let res = self
                        .run
                        .handle_outcome(now, table, id, AttemptOutcome::Committed);
                    self.state = State::InFlight {
                        plan,
                        reply: r,
                        sent_at,
                        committed: true,
                    };
                    return Some(match res {
                        Ok(()) => Stepped::Committed(id),
                        Err(e) => Stepped::Refused(e),
                    });
                }
                let id = plan.attempt;
                let res = self.run.handle_outcome(now, table, id, r.outcome.clone());
                self.state = State::Poll(now);
                Some(match res {
                    Ok(()) => Stepped::Reported(id, r.outcome),
                    Err(e) => Stepped::Refused(e),
                })
            }
            State::Poll(t) => match self.run.poll_action(t, table) {
                Action::Send(plan) => {
                    let r = reply(&plan, t);
                    self.state = State::InFlight {
                        plan: plan.clone(),
                        reply: r,
                        sent_at: t,
                        committed: false,
                    };
                    Some(Stepped::Sent(plan))
                }
                Action::Wait { until } => {
                    // Never a busy loop, even if a state machine bug asked for one.
                    self.state = State::Poll(until.max(t + 1));
                    Some(Stepped::Waiting(until))
                }
                Action::Finished(result) => {
                    self.state = State::Done(t);
                    Some(Stepped::Finished(result))
                }
            },
        }
    }

    /// Drives the run to its end; `observe` sees every step. Returns the result and
    /// the time it ended, or the step guard's failure for a run that never ends.
    pub fn finish(
        &mut self,
        table: &mut CooldownTable,
        mut reply: impl FnMut(&AttemptPlan, Timestamp) -> Reply,
        mut observe: impl FnMut(&Stepped, &CooldownTable),
    ) -> (RunResult, Timestamp) {
        for _ in 0..MAX_STEPS {
            let Some(stepped) = self.step(table, &mut reply) else {
                break;
            };
            observe(&stepped, table);
            if let Stepped::Finished(result) = stepped {
                return (result, self.ended_at().unwrap_or_default());
            }
        }
        let at = self.next_time().or(self.ended_at()).unwrap_or_default();
        let failure = RunFailure {
            kind: FailureKind::Unknown,
            cause: EndCause::Upstream,
            message: "dry run did not finish within its step guard".into(),
            http_status: 500,
            propagate: None,
            after_commit: false,
            retry_after_ms: None,
        };
        (RunResult::Failed(failure), at)
    }
}

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

impl Step {
    /// The scripted reply for this step.
    pub fn reply(&self) -> Reply {
        let latency_ms = self.latency_ms.unwrap_or(DEFAULT_LATENCY_MS);
        Reply {
            outcome: to_outcome(&self.outcome),
            latency_ms,
            commit_after_ms: matches!(self.outcome, StepOutcome::CommitThen { .. })
                .then_some(latency_ms / 2),
        }
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
    let run = FallbackRun::new(
        route,
        RunOptions {
            now: script.now,
            seed: script.seed,
            run_id: script.seed,
            stream: script.stream,
        },
    );
    let mut steps = script.steps.iter();
    let mut driver = ScriptedRun::new(run, false);
    let next = |_: &AttemptPlan, _: Timestamp| {
        steps
            .next()
            .map_or(Reply::ok(DEFAULT_LATENCY_MS), Step::reply)
    };
    let (result, ended_at) = driver.finish(table, next, |_, _| {});
    Ok(DryRun {
        result,
        trace: driver.run.trace().to_vec(),
        attempts: driver.run.attempts().to_vec(),
        snapshot: table.snapshot(ended_at),
        ended_at,
    })
}
