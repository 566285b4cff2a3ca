//! The fallback-chain state machine: one [`FallbackRun`] per client request.
//!
//! A run never does I/O and never reads a clock. The host loop is:
//!
//! ```text
//! let mut run = FallbackRun::new(route, RunOptions { now, seed, .. });
//! loop {
//!     match run.poll_action(now, &mut table) {
//!         Action::Send(plan)      => { /* make the attempt, then: */
//!                                      run.handle_outcome(now, &mut table, plan.attempt, outcome)?; }
//!         Action::Wait { until }  => { /* sleep until `until` (or until an outcome arrives) */ }
//!         Action::Finished(r)     => break r,
//!     }
//! }
//! ```
//!
//! After every call that changes the run, call `poll_action` again. Streaming and
//! non-streaming requests use the same machine. A streaming host reports
//! [`AttemptOutcome::Committed`] when an attempt's first content goes to the
//! client; from then on a failure is never hidden and never returned as an HTTP
//! error: the run *continues* on the next target that can finish the answer
//! (its plan says how: [`Continuation`]), or ends with `after_commit`. Most hosts
//! drive a run through [`crate::session::Session`], which does all of that.
//! Misuse (an outcome for an attempt that is not in flight) is an error value,
//! never a panic.

mod candidates;
mod ending;
mod failures;
mod plan;
mod scopes;
mod trace;

pub use plan::{
    Action, AttemptId, AttemptOutcome, AttemptPlan, Continuation, EndCause, RunError, RunFailure,
    RunOptions, RunResult,
};
pub use trace::{AttemptRecord, Ending, RetryReason, SkipReason, TraceEvent, WaitReason};

use crate::classify::classify;
use crate::config::{Chain, ContinuationSupport, Route};
use crate::cooldown::CooldownTable;
use crate::failure::{Classification, FailureKind, Scope};
use crate::time::Timestamp;
use candidates::Candidates;
use ending::Why;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InFlight {
    id: AttemptId,
    target: usize,
    key: Option<usize>,
    committed: bool,
    probe: bool,
    continuation: Option<Continuation>,
    /// A same-target retry: the scope this run reserved for it.
    reserved: Option<Scope>,
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
        reserved: Option<Scope>,
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
    candidates: Candidates,
    attempts: Vec<AttemptRecord>,
    last_failure: Option<(AttemptId, Classification)>,
    trace: Vec<TraceEvent>,
    /// An attempt's content reached the client: failures are continued or end the
    /// stream with an error.
    committed: bool,
    /// What the client has can be continued by another target (no tool calls, one
    /// choice); the host says otherwise with [`FallbackRun::forbid_continuation`].
    continuable: bool,
}

impl FallbackRun {
    /// A run of `route`'s chain for one client request.
    pub fn new(route: Route, opts: RunOptions) -> FallbackRun {
        let chain = route.chain;
        FallbackRun {
            deadline: opts.now.saturating_add(chain.budgets.deadline_ms),
            pinned: route.pinned,
            next: Next::Pick,
            rng: fastrand::Rng::with_seed(opts.seed),
            candidates: Candidates::new(&chain),
            attempts: Vec::new(),
            last_failure: None,
            trace: Vec::new(),
            committed: false,
            continuable: chain.continuation,
            chain,
            opts,
        }
    }

    /// The chain this run walks.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }
    /// The request pinned one provider.
    pub fn is_pinned(&self) -> bool {
        self.pinned
    }
    /// The request's deadline.
    pub fn deadline(&self) -> Timestamp {
        self.deadline
    }
    /// How the run was started.
    pub fn options(&self) -> &RunOptions {
        &self.opts
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
    /// Some attempt's content reached the client.
    pub fn is_committed(&self) -> bool {
        self.committed
    }

    /// Target `target` cannot serve this request (`why` says so in the trace and in
    /// the error if no target can): call before the first `poll_action`.
    pub fn exclude_target(&mut self, target: usize, why: impl Into<String>) {
        self.candidates.set_unsupported(target, why.into());
    }

    /// Why each excluded target cannot serve this request.
    pub fn exclusions(&self) -> Vec<(usize, &str)> {
        (0..self.chain.targets.len())
            .filter_map(|t| self.candidates.unsupported(t).map(|w| (t, w)))
            .collect()
    }

    /// What the client already has cannot be finished by another target (tool-call
    /// deltas, several choices): a failure after the commit ends the stream.
    pub fn forbid_continuation(&mut self) {
        self.continuable = false;
    }

    /// What to do next. Call after creating the run, after every `handle_*`, and
    /// when a `Wait` expires.
    pub fn poll_action(&mut self, now: Timestamp, table: &mut CooldownTable) -> Action {
        loop {
            match self.next.clone() {
                Next::Done(r) => return Action::Finished(r),
                Next::InFlight(f) => {
                    if now >= self.deadline {
                        self.fail_at_deadline(now, table, f);
                        continue;
                    }
                    return Action::Wait {
                        until: self.deadline,
                    };
                }
                Next::Retry {
                    target,
                    key,
                    at,
                    reserved,
                } => {
                    if now >= self.deadline {
                        self.end(now, table, self.deadline_why());
                        continue;
                    }
                    if now < at {
                        return Action::Wait { until: at };
                    }
                    if self.attempts.len() as u32 >= self.chain.budgets.max_attempts {
                        self.next = Next::Pick; // Pick finishes with the budget message.
                        continue;
                    }
                    let lease = now.saturating_add(self.lease_ms());
                    let scopes = self.scopes(target, key);
                    match table.try_acquire(&scopes, now, self.opts.run_id, lease) {
                        Ok(probe) => {
                            let plan = self.send(now, table, target, key, probe);
                            if let Next::InFlight(f) = &mut self.next {
                                f.reserved = reserved;
                            }
                            return Action::Send(plan);
                        }
                        Err(b) => {
                            let why = SkipReason::RetryCancelled {
                                scope: b.scope,
                                until: b.until,
                            };
                            self.skip(now, target, key, why);
                            self.candidates
                                .mark_out(&self.chain, target, key, Scope::KeyModel);
                            self.next = Next::Pick;
                        }
                    }
                }
                Next::Pick => return self.pick(now, table),
            }
        }
    }

    fn deadline_why(&self) -> Why {
        Why::Deadline {
            deadline_ms: self.chain.budgets.deadline_ms,
        }
    }

    fn pick(&mut self, now: Timestamp, table: &mut CooldownTable) -> Action {
        if now >= self.deadline {
            self.end(now, table, self.deadline_why());
            return self.poll_action(now, table);
        }
        if self.attempts.len() as u32 >= self.chain.budgets.max_attempts {
            self.end(now, table, Why::AttemptBudget);
            return self.poll_action(now, table);
        }
        let continuing = self.committed;
        if continuing && !self.continuable {
            self.end(now, table, Why::NothingLeft);
            return self.poll_action(now, table);
        }
        let mut earliest: Option<Timestamp> = None;
        for t in 0..self.chain.targets.len() {
            if let Err(why) = self.candidates.eligible(&self.chain, t, continuing) {
                if !self.candidates.is_out(t) {
                    self.skip(now, t, None, why);
                }
                continue;
            }
            for key in self.candidates.keys(&self.chain, t) {
                let lease = now.saturating_add(self.lease_ms());
                let scopes = self.scopes(t, key);
                match table.try_acquire(&scopes, now, self.opts.run_id, lease) {
                    Ok(probe) => return Action::Send(self.send(now, table, t, key, probe)),
                    Err(b) => {
                        earliest = Some(earliest.map_or(b.until, |e: Timestamp| e.min(b.until)));
                        let why = if b.probe_in_flight {
                            SkipReason::ProbeInFlight {
                                scope: b.scope,
                                until: b.until,
                            }
                        } else {
                            SkipReason::CoolingDown {
                                scope: b.scope,
                                until: b.until,
                            }
                        };
                        self.skip(now, t, key, why);
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
                    why: WaitReason::AllCoolingDown,
                });
                self.next = Next::Pick;
                return Action::Wait { until };
            }
        }
        let why = match earliest {
            Some(until) => Why::CoolingDown {
                ms: until.saturating_sub(now),
            },
            None => Why::NothingLeft,
        };
        self.end(now, table, why);
        self.poll_action(now, table)
    }

    fn skip(&mut self, now: Timestamp, target: usize, key: Option<usize>, why: SkipReason) {
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
        table: &CooldownTable,
        target: usize,
        key: Option<usize>,
        probe: bool,
    ) -> AttemptPlan {
        let id = AttemptId(self.attempts.len() as u32);
        let continuation = self.committed.then(|| {
            let prefill = self.chain.targets[target].continuation == ContinuationSupport::Prefill;
            if prefill && !self.candidates.prefill_rejected(target) {
                Continuation::Prefill
            } else {
                Continuation::Fresh
            }
        });
        let first_token = self.first_token_bound(table, target);
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
            first_token_timeout_ms: first_token.min(remaining),
            idle_timeout_ms: b.idle_timeout_ms.min(remaining),
            deadline: self.deadline,
            probe,
            continuation,
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
            continuation,
            committed: false,
        });
        self.trace.push(TraceEvent::Send {
            at: now,
            attempt: id,
            provider: plan.provider.clone(),
            model: plan.model.clone(),
            key: plan.key.clone(),
            probe,
            continuation,
        });
        self.next = Next::InFlight(InFlight {
            id,
            target,
            key,
            committed: false,
            probe,
            continuation,
            reserved: None,
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
        match outcome {
            AttemptOutcome::Committed => {
                if !f.committed {
                    self.trace.push(TraceEvent::Committed { at: now, attempt });
                    self.attempts[attempt.0 as usize].committed = true;
                    self.committed = true;
                    self.next = Next::InFlight(InFlight {
                        committed: true,
                        ..f
                    });
                }
            }
            AttemptOutcome::Success => self.succeed(now, table, f),
            AttemptOutcome::Failure(o) => {
                let c = classify(self.chain.targets[f.target].dialect, &o, now);
                self.on_failure(now, table, f, c);
            }
            AttemptOutcome::Classified(c) => self.on_failure(now, table, f, c),
            AttemptOutcome::Diverged => {
                // The backend answered properly; it just cannot finish this answer.
                let scopes = self.scopes(f.target, f.key);
                table.record_success(&scopes, now);
                self.attempts[attempt.0 as usize].ended_at = Some(now);
                self.trace.push(TraceEvent::Diverged { at: now, attempt });
                self.candidates.rule_out_target(f.target);
                self.next = Next::Pick;
            }
        }
        Ok(())
    }

    fn succeed(&mut self, now: Timestamp, table: &mut CooldownTable, f: InFlight) {
        let scopes = self.scopes(f.target, f.key);
        table.record_success(&scopes, now);
        self.attempts[f.id.0 as usize].ended_at = Some(now);
        let t = &self.chain.targets[f.target];
        let (provider, model) = (t.provider.clone(), t.model.clone());
        self.trace.push(TraceEvent::Success {
            at: now,
            attempt: f.id,
            provider: provider.clone(),
            model: model.clone(),
        });
        self.trace.push(TraceEvent::Finished {
            at: now,
            result: Ending::Success,
            kind: None,
            message: format!("answered by {provider}/{model}"),
        });
        table.release_probes(self.opts.run_id);
        self.next = Next::Done(RunResult::Success {
            attempt: f.id,
            provider,
            model,
        });
    }

    /// Ends the run with the failure the one rule gives (see `ending`).
    fn end(&mut self, now: Timestamp, table: &mut CooldownTable, why: Why) {
        let t0 = &self.chain.targets[0];
        let exclusions = self.exclusions();
        let cx = ending::Context {
            all_unsupported: !exclusions.is_empty() && exclusions.len() == self.chain.targets.len(),
            unsupported: exclusions.iter().map(|(_, w)| *w).collect(),
            pinned: self.pinned,
            chain: &self.chain.name,
            provider: &t0.provider,
            attempts: &self.attempts,
            last: self.last_failure.as_ref(),
            committed: self.committed,
        };
        let failure = ending::failure(&cx, why);
        table.release_probes(self.opts.run_id);
        self.trace.push(TraceEvent::Finished {
            at: now,
            result: Ending::Failed,
            kind: Some(failure.kind),
            message: failure.message.clone(),
        });
        self.next = Next::Done(RunResult::Failed(failure));
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
            result: Ending::Cancelled,
            kind: None,
            message: message.clone(),
        });
        self.next = Next::Done(RunResult::Failed(RunFailure {
            kind: FailureKind::Unknown,
            cause: EndCause::Cancelled,
            message,
            http_status: 499,
            propagate: None,
            after_commit: self.committed,
            retry_after_ms: None,
        }));
    }
}
