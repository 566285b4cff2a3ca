//! The fallback-chain state machine: one [`FallbackRun`] per client request.
//!
//! A run never does I/O and never reads a clock. The host loop is:
//!
//! ```text
//! let mut run = FallbackRun::new(route, RunOptions { now, seed, .. });
//! loop {
//!     match run.poll_action(now, &mut table) {
//!         Action::Send(plan)      => { /* fetch plan.base_url/plan.model with key plan.key */
//!                                      run.handle_outcome(now, &mut table, plan.attempt, outcome)?; }
//!         Action::Wait { until }  => { /* sleep until `until` (or until an outcome arrives) */ }
//!         Action::Finished(r)     => break r,
//!     }
//! }
//! ```
//!
//! After every call that changes the run, call `poll_action` again. Streaming and
//! non-streaming requests use the same machine: a streaming host reports
//! [`AttemptOutcome::Committed`] when it forwards the first content chunk (from then on
//! the run cannot fall back) and `Success` or `Failure` when the stream ends.
//! Misuse (an outcome for an attempt that is not in flight) is an error value, never
//! a panic.

use crate::classify::{classify, Classification, FailureKind, Outcome, Scope};
use crate::config::{Chain, Route};
use crate::cooldown::{CooldownTable, Reservation, ScopeKey, MIN_COOLDOWN_MS};
use crate::redact::redact;
use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Names one attempt of a run (0, 1, 2, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttemptId(pub u32);

/// How a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// When the client request arrived.
    pub now: Timestamp,
    /// Seeds the jitter. Hosts pass fresh randomness; tests pass a constant.
    pub seed: u64,
    /// Distinguishes this run's probes in a shared table (unique per host).
    pub run_id: u64,
    /// The client asked for a stream.
    pub stream: bool,
}

/// Everything the host needs to make one upstream attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptPlan {
    pub attempt: AttemptId,
    /// Index of the target in the chain.
    pub target: usize,
    pub provider: String,
    pub dialect: crate::provider::Dialect,
    pub base_url: String,
    pub model: String,
    /// The *name* of the key to use (the host resolves it to a secret); `None` for
    /// keyless providers.
    pub key: Option<String>,
    pub api_version: Option<String>,
    pub stream: bool,
    /// Streaming: time to response headers. Non-streaming: time to the whole
    /// response (`response_timeout_ms`), since the headers come only at the end.
    pub header_timeout_ms: u64,
    pub first_token_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    /// The attempt must be over by then (the run's deadline).
    pub deadline: Timestamp,
    /// This attempt is a half-open probe of a scope that was cooling down.
    pub probe: bool,
}

/// What the host should do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Make this attempt and report its outcome with [`FallbackRun::handle_outcome`].
    Send(AttemptPlan),
    /// Nothing to do before `until` (a backoff, or an attempt in flight); poll again
    /// then, or when an outcome arrives.
    Wait { until: Timestamp },
    /// The run is over.
    Finished(RunResult),
}

/// How an attempt went, as the host saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// A complete answer: a valid body, or a stream that ended properly.
    Success,
    /// Streaming: the first content chunk went to the client. No fallback after this.
    Committed,
    /// It failed; the classifier reads the details.
    Failure(Outcome),
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RunResult {
    Success {
        attempt: AttemptId,
        provider: String,
        model: String,
    },
    Failed(RunFailure),
}

/// Why a run failed, ready to become an OpenAI-style error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    /// The kind that decided the outcome (the last failure's, or `timeout` for the
    /// deadline, `unknown` when nothing could be tried).
    pub kind: FailureKind,
    /// A precise message naming what was tried (no keys).
    pub message: String,
    /// The HTTP status to answer the client with.
    pub http_status: u16,
    /// Return this attempt's upstream error to the client as it came (request
    /// errors, pinned requests): the host kept its status and body.
    pub propagate: Option<AttemptId>,
    /// The failure happened after the stream was committed: end the client's
    /// stream with an error event, never with `[DONE]`.
    pub after_commit: bool,
    /// The provider's retry hint, for a `Retry-After` to the client.
    pub retry_after_ms: Option<u64>,
}

/// One line of the decision trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TraceEvent {
    Skip {
        at: Timestamp,
        provider: String,
        model: String,
        key: Option<String>,
        why: String,
    },
    Send {
        at: Timestamp,
        attempt: AttemptId,
        provider: String,
        model: String,
        key: Option<String>,
        probe: bool,
    },
    Committed {
        at: Timestamp,
        attempt: AttemptId,
    },
    Failure {
        at: Timestamp,
        attempt: AttemptId,
        kind: FailureKind,
        scope: Scope,
        status: Option<u16>,
        retry_after_ms: Option<u64>,
        reason: String,
    },
    Retry {
        at: Timestamp,
        attempt: AttemptId,
        until: Timestamp,
        why: String,
    },
    CooledDown {
        at: Timestamp,
        scope: String,
        until: Timestamp,
        kind: FailureKind,
    },
    Wait {
        at: Timestamp,
        until: Timestamp,
        why: String,
    },
    Success {
        at: Timestamp,
        attempt: AttemptId,
        provider: String,
        model: String,
    },
    Finished {
        at: Timestamp,
        result: String,
        kind: Option<FailureKind>,
        message: String,
    },
}

/// A summary of one attempt (the `x-llm-failover-attempts` header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: AttemptId,
    pub provider: String,
    pub model: String,
    pub key: Option<String>,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    /// `None` while in flight or after success.
    pub kind: Option<FailureKind>,
    pub status: Option<u16>,
}

/// Misuse of the run's API (a host bug), never a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunError {
    /// No attempt with this id is in flight (already reported, never sent, or the
    /// run ended at its deadline).
    NotInFlight(AttemptId),
    /// The run is already finished.
    Finished,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::NotInFlight(a) => write!(f, "attempt {} is not in flight", a.0),
            RunError::Finished => f.write_str("the run is already finished"),
        }
    }
}

impl std::error::Error for RunError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    id: AttemptId,
    target: usize,
    key: Option<usize>,
    committed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    /// Pick the best available (target, key).
    Pick,
    /// Retry the same (target, key) at `at`.
    Retry {
        target: usize,
        key: Option<usize>,
        at: Timestamp,
    },
    /// Waiting for an outcome.
    InFlight(InFlight),
    Done(RunResult),
}

/// One client request's walk down its chain.
#[derive(Debug, Clone)]
pub struct FallbackRun {
    chain: Arc<Chain>,
    pinned: bool,
    opts: RunOptions,
    deadline: Timestamp,
    next: Next,
    rng: fastrand::Rng,
    /// Per target: no more attempts in this run.
    target_out: Vec<bool>,
    /// Per (target, key index): no more attempts in this run.
    key_out: Vec<Vec<bool>>,
    /// Same-target retries used, per (target, key).
    retries_used: Vec<Vec<u32>>,
    /// After a context-length failure: only targets declaring a larger window.
    context_floor: Option<Option<u32>>,
    /// A rule without fallback confined the run to this target.
    confined_to: Option<usize>,
    attempts: Vec<AttemptRecord>,
    last_failure: Option<(AttemptId, Classification)>,
    trace: Vec<TraceEvent>,
}

impl FallbackRun {
    pub fn new(route: Route, opts: RunOptions) -> FallbackRun {
        let chain = route.chain;
        let n = chain.targets.len();
        let keys: Vec<usize> = chain.targets.iter().map(|t| t.keys.len().max(1)).collect();
        FallbackRun {
            deadline: opts.now.saturating_add(chain.budgets.deadline_ms),
            pinned: route.pinned,
            next: Next::Pick,
            rng: fastrand::Rng::with_seed(opts.seed),
            target_out: vec![false; n],
            key_out: keys.iter().map(|k| vec![false; *k]).collect(),
            retries_used: keys.iter().map(|k| vec![0; *k]).collect(),
            context_floor: None,
            confined_to: None,
            attempts: Vec::new(),
            last_failure: None,
            trace: Vec::new(),
            chain,
            opts,
        }
    }

    pub fn chain(&self) -> &Chain {
        &self.chain
    }
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }
    pub fn deadline(&self) -> Timestamp {
        self.deadline
    }
    /// The decision trace so far.
    pub fn trace(&self) -> &[TraceEvent] {
        &self.trace
    }
    /// Every attempt so far.
    pub fn attempts(&self) -> &[AttemptRecord] {
        &self.attempts
    }
    /// The result, once finished.
    pub fn result(&self) -> Option<&RunResult> {
        match &self.next {
            Next::Done(r) => Some(r),
            _ => None,
        }
    }
    /// The last failure's classification (for the host's logs and headers).
    pub fn last_failure(&self) -> Option<&(AttemptId, Classification)> {
        self.last_failure.as_ref()
    }

    fn key_name(&self, target: usize, key: Option<usize>) -> Option<String> {
        key.and_then(|k| self.chain.targets[target].keys.get(k).cloned())
    }

    /// The scopes an attempt on (target, key) goes through.
    fn scopes(&self, target: usize, key: Option<usize>) -> Vec<&ScopeKey> {
        attempt_scopes(&self.chain.targets[target], key)
    }

    fn scope_key(&self, scope: Scope, target: usize, key: Option<usize>) -> Option<ScopeKey> {
        let s = &self.chain.targets[target].scopes;
        let k = key.and_then(|k| s.keys.get(k));
        match (scope, k) {
            (Scope::Endpoint, _) => Some(s.endpoint.clone()),
            (Scope::Model, _) => Some(s.model.clone()),
            (Scope::Key, Some((k, _))) => Some(k.clone()),
            (Scope::KeyModel, Some((_, km))) => Some(km.clone()),
            // A keyless provider: the key's failure is the model's.
            (Scope::Key | Scope::KeyModel, None) => Some(s.model.clone()),
            (Scope::Request, _) => None,
        }
    }

    /// The lease a probe holds: as long as one attempt may last.
    fn lease_ms(&self) -> u64 {
        let b = &self.chain.budgets;
        if self.opts.stream {
            b.header_timeout_ms.saturating_add(b.first_token_timeout_ms)
        } else {
            b.response_timeout_ms
        }
    }

    /// What to do next. Call after creating the run, after every `handle_*`, and
    /// when a `Wait` expires.
    pub fn poll_action(&mut self, now: Timestamp, table: &mut CooldownTable) -> Action {
        loop {
            match self.next.clone() {
                Next::Done(r) => return Action::Finished(r),
                Next::InFlight(f) => {
                    if now >= self.deadline {
                        self.attempts[f.id.0 as usize].ended_at = Some(now);
                        self.finish_deadline(now, table);
                        continue;
                    }
                    return Action::Wait {
                        until: self.deadline,
                    };
                }
                Next::Retry { target, key, at } => {
                    if now >= self.deadline {
                        self.finish_deadline(now, table);
                        continue;
                    }
                    if now < at {
                        return Action::Wait { until: at };
                    }
                    if self.attempts.len() as u32 >= self.chain.budgets.max_attempts {
                        self.next = Next::Pick; // Pick finishes with the budget message.
                        continue;
                    }
                    let scopes = self.scopes(target, key);
                    match table.try_acquire(
                        &scopes,
                        now,
                        self.opts.run_id,
                        now.saturating_add(self.lease_ms()),
                    ) {
                        Ok(probe) => return Action::Send(self.send(now, target, key, probe)),
                        Err(b) => {
                            self.trace.push(TraceEvent::Skip {
                                at: now,
                                provider: self.chain.targets[target].provider.clone(),
                                model: self.chain.targets[target].model.clone(),
                                key: self.key_name(target, key),
                                why: format!(
                                    "retry cancelled: {} is cooling down until {}",
                                    b.scope.as_str(),
                                    b.until
                                ),
                            });
                            self.mark_out(target, key, Scope::KeyModel);
                            self.next = Next::Pick;
                        }
                    }
                }
                Next::Pick => return self.pick(now, table),
            }
        }
    }

    fn eligible(&self, target: usize) -> Result<(), String> {
        if self.target_out[target] {
            return Err("already failed in this request".into());
        }
        if let Some(only) = self.confined_to {
            if only != target {
                return Err("the last failure's policy does not allow fallback".into());
            }
        }
        if let Some(floor) = self.context_floor {
            let window = self.chain.targets[target].context_window;
            match (floor, window) {
                (Some(f), Some(w)) if w > f => {}
                _ => {
                    return Err(
                        "its context window is not declared larger than the one that overflowed"
                            .into(),
                    )
                }
            }
        }
        Ok(())
    }

    fn pick(&mut self, now: Timestamp, table: &mut CooldownTable) -> Action {
        if now >= self.deadline {
            self.finish_deadline(now, table);
            return self.poll_action(now, table);
        }
        if self.attempts.len() as u32 >= self.chain.budgets.max_attempts {
            let msg = format!(
                "gave up after {} attempts (max_attempts)",
                self.attempts.len()
            );
            self.finish_exhausted(now, table, msg, None);
            return self.poll_action(now, table);
        }
        let mut earliest: Option<Timestamp> = None;
        for t in 0..self.chain.targets.len() {
            if let Err(why) = self.eligible(t) {
                if !self.target_out[t] {
                    self.skip(now, t, None, why);
                }
                continue;
            }
            let keys = self.chain.targets[t].keys.len();
            let key_choices: Vec<Option<usize>> = if keys == 0 {
                vec![None]
            } else {
                (0..keys).map(Some).collect()
            };
            for key in key_choices {
                if self.key_out[t][key.unwrap_or(0)] {
                    continue;
                }
                let scopes = self.scopes(t, key);
                match table.try_acquire(
                    &scopes,
                    now,
                    self.opts.run_id,
                    now.saturating_add(self.lease_ms()),
                ) {
                    Ok(probe) => return Action::Send(self.send(now, t, key, probe)),
                    Err(b) => {
                        earliest = Some(earliest.map_or(b.until, |e: Timestamp| e.min(b.until)));
                        self.skip(
                            now,
                            t,
                            key,
                            format!("{} cooling down until {}", b.scope.as_str(), b.until),
                        );
                    }
                }
            }
        }
        // Nothing available now. Wait for the earliest cooldown if that fits the
        // budget; otherwise give up.
        if let Some(until) = earliest {
            let wait = until.saturating_sub(now);
            if wait <= self.chain.budgets.max_retry_wait_ms && until < self.deadline {
                self.trace.push(TraceEvent::Wait {
                    at: now,
                    until,
                    why: "every remaining target is cooling down".into(),
                });
                self.next = Next::Pick;
                return Action::Wait { until };
            }
        }
        let msg = if earliest.is_some() {
            "every remaining target is cooling down".to_string()
        } else {
            "no target left to try".to_string()
        };
        self.finish_exhausted(now, table, msg, earliest);
        self.poll_action(now, table)
    }

    fn skip(&mut self, now: Timestamp, target: usize, key: Option<usize>, why: String) {
        let t = &self.chain.targets[target];
        self.trace.push(TraceEvent::Skip {
            at: now,
            provider: t.provider.clone(),
            model: t.model.clone(),
            key: self.key_name(target, key),
            why,
        });
    }

    fn send(
        &mut self,
        now: Timestamp,
        target: usize,
        key: Option<usize>,
        probe: bool,
    ) -> AttemptPlan {
        let id = AttemptId(self.attempts.len() as u32);
        let t = &self.chain.targets[target];
        let b = &self.chain.budgets;
        let remaining = self.deadline.saturating_sub(now);
        let plan = AttemptPlan {
            attempt: id,
            target,
            provider: t.provider.clone(),
            dialect: t.dialect,
            base_url: t.base_url.clone(),
            model: t.model.clone(),
            key: self.key_name(target, key),
            api_version: t.api_version.clone(),
            stream: self.opts.stream,
            header_timeout_ms: if self.opts.stream {
                b.header_timeout_ms
            } else {
                b.response_timeout_ms
            }
            .min(remaining),
            first_token_timeout_ms: b.first_token_timeout_ms.min(remaining),
            idle_timeout_ms: b.idle_timeout_ms.min(remaining),
            deadline: self.deadline,
            probe,
        };
        self.attempts.push(AttemptRecord {
            attempt: id,
            provider: plan.provider.clone(),
            model: plan.model.clone(),
            key: plan.key.clone(),
            started_at: now,
            ended_at: None,
            kind: None,
            status: None,
        });
        self.trace.push(TraceEvent::Send {
            at: now,
            attempt: id,
            provider: plan.provider.clone(),
            model: plan.model.clone(),
            key: plan.key.clone(),
            probe,
        });
        self.next = Next::InFlight(InFlight {
            id,
            target,
            key,
            committed: false,
        });
        plan
    }

    /// Reports how attempt `attempt` went.
    pub fn handle_outcome(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        attempt: AttemptId,
        outcome: AttemptOutcome,
    ) -> Result<(), RunError> {
        let f = match &self.next {
            Next::InFlight(f) if f.id == attempt => *f,
            Next::Done(_) => return Err(RunError::Finished),
            _ => return Err(RunError::NotInFlight(attempt)),
        };
        let scopes = self.scopes(f.target, f.key);
        match outcome {
            AttemptOutcome::Committed => {
                if !f.committed {
                    self.trace.push(TraceEvent::Committed { at: now, attempt });
                    self.next = Next::InFlight(InFlight {
                        committed: true,
                        ..f
                    });
                }
                Ok(())
            }
            AttemptOutcome::Success => {
                table.record_success(&scopes, now);
                self.attempts[attempt.0 as usize].ended_at = Some(now);
                let t = &self.chain.targets[f.target];
                let (provider, model) = (t.provider.clone(), t.model.clone());
                self.trace.push(TraceEvent::Success {
                    at: now,
                    attempt,
                    provider: provider.clone(),
                    model: model.clone(),
                });
                self.trace.push(TraceEvent::Finished {
                    at: now,
                    result: "success".into(),
                    kind: None,
                    message: format!("answered by {provider}/{model}"),
                });
                table.release_probes(self.opts.run_id);
                self.next = Next::Done(RunResult::Success {
                    attempt,
                    provider,
                    model,
                });
                Ok(())
            }
            AttemptOutcome::Failure(o) => {
                let c = classify(self.chain.targets[f.target].dialect, &o, now);
                self.on_failure(now, table, f, c);
                Ok(())
            }
        }
    }

    fn on_failure(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        f: InFlight,
        c: Classification,
    ) {
        let rec = &mut self.attempts[f.id.0 as usize];
        rec.ended_at = Some(now);
        rec.kind = Some(c.kind);
        rec.status = c.status;
        self.trace.push(TraceEvent::Failure {
            at: now,
            attempt: f.id,
            kind: c.kind,
            scope: c.scope,
            status: c.status,
            retry_after_ms: c.retry_after_ms,
            reason: c.reason.clone(),
        });
        if c.scope == Scope::Request && !f.committed {
            // The backend answered properly; the request was the problem. Close any
            // breaker this attempt was probing so others can use the backend.
            let scopes = self.scopes(f.target, f.key);
            table.record_success(&scopes, now);
        }
        let rule = self.chain.policy.rule(c.kind).clone();
        let hint = if rule.honor_retry_after {
            c.retry_after_ms
        } else {
            None
        };
        let target = f.target;
        let key = f.key;
        self.last_failure = Some((f.id, c.clone()));

        if f.committed {
            // The client already has part of the answer: no retry, no fallback. Cool
            // the backend down and end the stream with an error.
            self.cool(now, table, &c, target, key, &rule);
            let msg = format!(
                "the upstream stream from {}/{} failed after the answer started: {}",
                self.chain.targets[target].provider, self.chain.targets[target].model, c.reason
            );
            self.finish(
                now,
                table,
                RunFailure {
                    kind: c.kind,
                    message: msg,
                    http_status: 502,
                    propagate: None,
                    after_commit: true,
                    retry_after_ms: None,
                },
            );
            return;
        }

        // 1. The same target again, after a wait?
        let used = self.retries_used[target][key.unwrap_or(0)];
        if used < rule.retries && c.scope != Scope::Request {
            let wait = match hint {
                Some(h) => h,
                None => rule.retry_backoff.jittered(used, self.rng.f64()),
            }
            // Never a tight loop, even for `Retry-After: 0` or a zero backoff; and a
            // zero wait would retry at `now`, before the reservation (which always
            // ends after `now`) lets this run through, cancelling the retry.
            .max(MIN_COOLDOWN_MS);
            let at = now.saturating_add(wait);
            let b = &self.chain.budgets;
            let attempts_left = (self.attempts.len() as u32) < b.max_attempts;
            if wait <= b.max_retry_wait_ms && at < self.deadline && attempts_left {
                self.retries_used[target][key.unwrap_or(0)] += 1;
                if let Some(scope) = self.scope_key(c.scope, target, key) {
                    // Others skip the scope while this run waits to retry it itself.
                    let lease = Reservation {
                        owner: self.opts.run_id,
                        until: at,
                        lease_ms: self.lease_ms(),
                    };
                    table.reserve(&scope, now, lease, c.kind, &c.reason);
                    self.trace.push(TraceEvent::CooledDown {
                        at: now,
                        scope: scope.0.clone(),
                        until: at,
                        kind: c.kind,
                    });
                }
                let why = if hint.is_some() {
                    "honouring the provider's retry hint"
                } else {
                    "backoff before a retry"
                };
                self.trace.push(TraceEvent::Retry {
                    at: now,
                    attempt: f.id,
                    until: at,
                    why: why.into(),
                });
                self.next = Next::Retry { target, key, at };
                return;
            }
        }

        // 2. Moving on: cool the failed scope down, rule out what cannot work.
        self.cool(now, table, &c, target, key, &rule);
        self.mark_out(target, key, c.scope);
        if !rule.rotate_key {
            self.target_out[target] = true;
        }
        match c.kind {
            FailureKind::ContextLength => {
                let w = self.chain.targets[target].context_window;
                let floor = match (self.context_floor.flatten(), w) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                self.context_floor = Some(if w.is_none() { None } else { floor });
            }
            FailureKind::RequestTooLarge | FailureKind::ContentFiltered => {
                self.target_out[target] = true;
            }
            _ => {}
        }
        if !rule.fallback {
            // Only the same target's other keys (rotation), never another target.
            let other_keys =
                self.key_out[target].iter().any(|out| !out) && !self.target_out[target];
            if rule.rotate_key && other_keys && !c.kind.is_request_error() {
                self.confined_to = Some(target);
            } else {
                self.finish_with_failure(now, table, f.id, &c, true);
                return;
            }
        }
        self.next = Next::Pick;
    }

    fn cool(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        c: &Classification,
        target: usize,
        key: Option<usize>,
        rule: &crate::policy::Rule,
    ) {
        let hint = if rule.honor_retry_after {
            c.retry_after_ms
        } else {
            None
        };
        let Some(backoff) = rule.cooldown else { return };
        let Some(scope) = self.scope_key(c.scope, target, key) else {
            return;
        };
        let until = table.open(&scope, now, c.kind, &c.reason, hint, &backoff);
        self.trace.push(TraceEvent::CooledDown {
            at: now,
            scope: scope.0,
            until,
            kind: c.kind,
        });
    }

    fn mark_out(&mut self, target: usize, key: Option<usize>, scope: Scope) {
        let t = &self.chain.targets[target];
        match scope {
            Scope::KeyModel => self.key_out[target][key.unwrap_or(0)] = true,
            Scope::Key => {
                // The key is out for every target of this provider that uses it.
                let name = key.and_then(|k| t.keys.get(k)).cloned();
                let provider = t.provider.clone();
                for (i, other) in self.chain.targets.iter().enumerate() {
                    if other.provider != provider {
                        continue;
                    }
                    match &name {
                        Some(n) => {
                            if let Some(k) = other.keys.iter().position(|x| x == n) {
                                self.key_out[i][k] = true;
                            }
                        }
                        None => self.key_out[i][0] = true,
                    }
                }
            }
            Scope::Model | Scope::Request => self.target_out[target] = true,
            Scope::Endpoint => {
                let provider = t.provider.clone();
                for (i, other) in self.chain.targets.iter().enumerate() {
                    if other.provider == provider {
                        self.target_out[i] = true;
                    }
                }
            }
        }
        // A target whose keys are all out is out.
        for i in 0..self.chain.targets.len() {
            if self.key_out[i].iter().all(|k| *k) {
                self.target_out[i] = true;
            }
        }
    }

    fn finish_with_failure(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        attempt: AttemptId,
        c: &Classification,
        propagate: bool,
    ) {
        let rec = &self.attempts[attempt.0 as usize];
        let message = format!("{}/{} failed: {}", rec.provider, rec.model, c.reason);
        let upstream = c.status.filter(|s| (400..600).contains(s));
        self.finish(
            now,
            table,
            RunFailure {
                kind: c.kind,
                message,
                // A request error without an HTTP error status (an in-stream event, an
                // error object in a 200) is still the client's to fix: 400, not 502.
                http_status: upstream.unwrap_or(if c.kind.is_request_error() { 400 } else { 502 }),
                // Only an HTTP error can be passed on as it came.
                propagate: if propagate && upstream.is_some() {
                    Some(attempt)
                } else {
                    None
                },
                after_commit: false,
                retry_after_ms: c.retry_after_ms,
            },
        );
    }

    /// Ends a run that has nothing left to try. `cooling_until` is the earliest end
    /// of the cooldowns that blocked the remaining candidates, if any did.
    fn finish_exhausted(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        why: String,
        cooling_until: Option<Timestamp>,
    ) {
        let cooling_ms = cooling_until.map(|u| u.saturating_sub(now));
        let summary: Vec<String> = self
            .attempts
            .iter()
            .map(|a| {
                format!(
                    "{}/{}: {}",
                    a.provider,
                    a.model,
                    a.kind.map_or("no answer", FailureKind::as_str)
                )
            })
            .collect();
        let what = if self.pinned {
            format!(
                "pinned provider `{}` failed",
                self.chain.targets[0].provider
            )
        } else {
            format!("all targets of `{}` failed", self.chain.name)
        };
        let attempts = if summary.is_empty() {
            "no attempt was made".to_string()
        } else {
            format!("attempts: {}", summary.join("; "))
        };
        let message = redact(&format!("{what} ({why}); {attempts}"), &[]);
        match self.last_failure.clone() {
            Some((id, c)) => {
                let http_error = c.status.filter(|s| (400..600).contains(s));
                let (http_status, propagate) = if self.pinned {
                    // A pinned request gets the provider's real error; only an HTTP
                    // error can be passed on as it came.
                    let fallback = if c.kind.is_request_error() { 400 } else { 502 };
                    (http_error.unwrap_or(fallback), http_error.map(|_| id))
                } else if c.kind.is_request_error() {
                    // A request error no other target could take (a context overflow
                    // with no larger window): the provider's own 4xx is the clearest
                    // answer (clients detect `context_length_exceeded`). Inside a 200
                    // (an error object, an in-stream event) it must not answer 2xx.
                    let client = c.status.filter(|s| (400..500).contains(s));
                    (client.unwrap_or(400), client.map(|_| id))
                } else if matches!(
                    c.kind,
                    FailureKind::RateLimited | FailureKind::QuotaExhausted
                ) {
                    // Every way out is limited: tell the client to slow down, as the
                    // providers did (OpenAI SDKs back off on 429).
                    (429, None)
                } else if cooling_until.is_some() {
                    (503, None)
                } else {
                    (502, None)
                };
                let retry_after_ms = if self.pinned {
                    c.retry_after_ms
                } else {
                    cooling_ms.or(c.retry_after_ms)
                };
                self.finish(
                    now,
                    table,
                    RunFailure {
                        kind: c.kind,
                        message: format!("{message}; last error: {}", c.reason),
                        http_status,
                        propagate,
                        after_commit: false,
                        retry_after_ms,
                    },
                );
            }
            None => {
                // Nothing was sent: every candidate is cooling down (or none exists).
                self.finish(
                    now,
                    table,
                    RunFailure {
                        kind: FailureKind::Unknown,
                        message,
                        http_status: 503,
                        propagate: None,
                        after_commit: false,
                        retry_after_ms: cooling_ms,
                    },
                );
            }
        }
    }

    fn finish_deadline(&mut self, now: Timestamp, table: &mut CooldownTable) {
        let committed = matches!(
            self.next,
            Next::InFlight(InFlight {
                committed: true,
                ..
            })
        );
        let message = format!(
            "request deadline of {} ms reached after {} attempt(s) on chain `{}`",
            self.chain.budgets.deadline_ms,
            self.attempts.len(),
            self.chain.name
        );
        self.finish(
            now,
            table,
            RunFailure {
                kind: FailureKind::Timeout,
                message,
                http_status: 504,
                propagate: None,
                after_commit: committed,
                retry_after_ms: None,
            },
        );
    }

    /// The client gave up (its request was aborted): the run ends without blaming
    /// any upstream — no cooldown, no failure kind — and gives up its probe leases.
    /// The trace ends with `finished` / `cancelled`; `result()` is a failure with
    /// status 499 (client closed request). No-op on a finished run.
    pub fn cancel(&mut self, now: Timestamp, table: &mut CooldownTable) {
        if matches!(self.next, Next::Done(_)) {
            return;
        }
        table.release_probes(self.opts.run_id);
        let message = "the client cancelled the request".to_string();
        self.trace.push(TraceEvent::Finished {
            at: now,
            result: "cancelled".into(),
            kind: None,
            message: message.clone(),
        });
        self.next = Next::Done(RunResult::Failed(RunFailure {
            kind: FailureKind::Unknown,
            message,
            http_status: 499,
            propagate: None,
            after_commit: false,
            retry_after_ms: None,
        }));
    }

    fn finish(&mut self, now: Timestamp, table: &mut CooldownTable, failure: RunFailure) {
        table.release_probes(self.opts.run_id);
        self.trace.push(TraceEvent::Finished {
            at: now,
            result: "failed".into(),
            kind: Some(failure.kind),
            message: failure.message.clone(),
        });
        self.next = Next::Done(RunResult::Failed(failure));
    }
}

/// The scopes an attempt on (`target`, `key`) goes through: endpoint, model, and
/// for a keyed provider the key and the key on this model.
fn attempt_scopes(t: &crate::config::Target, key: Option<usize>) -> Vec<&ScopeKey> {
    let mut s = vec![&t.scopes.endpoint, &t.scopes.model];
    if let Some((k, km)) = key.and_then(|k| t.scopes.keys.get(k)) {
        s.push(k);
        s.push(km);
    }
    s
}
