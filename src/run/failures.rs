//! What a failed attempt changes: the same-target retry, the cooldown, what is
//! ruled out, and continuation after the commit.

use super::ending::Why;
use super::trace::{RetryReason, TraceEvent};
use super::{Continuation, FallbackRun, InFlight, Next};
use crate::cooldown::{CooldownTable, Reservation, MIN_COOLDOWN_MS};
use crate::failure::{reason_prefix, Classification, FailureKind, Scope};
use crate::policy::Rule;
use crate::time::Timestamp;

impl FallbackRun {
    pub(super) fn record_failure(&mut self, now: Timestamp, f: InFlight, c: &Classification) {
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
    }

    pub(super) fn on_failure(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        f: InFlight,
        c: Classification,
    ) {
        self.record_failure(now, f, &c);
        if c.scope == Scope::Request {
            // The backend answered properly; the request was the problem. Close any
            // breaker this attempt was probing so others can use the backend.
            let scopes = self.scopes(f.target, f.key);
            table.record_success(&scopes, now);
        }
        if let Some(reserved) = f.reserved {
            // The retry reported: its reservation is over (the scope closes, as it
            // was before; the cooldown below opens it again if this failure cools it).
            if let Some(scope) = self.scope_key(reserved, f.target, f.key) {
                table.end_reservation(&scope, self.opts.run_id, now);
            }
        }
        let rule = self.chain.policy.rule(c.kind).clone();
        let (target, key) = (f.target, f.key);
        self.last_failure = Some((f.id, c.clone()));

        if self.committed {
            if f.continuation == Some(Continuation::Prefill) && c.kind.is_request_error() {
                // The target refused the prefill: ask it afresh (never the client's error).
                self.candidates.reject_prefill(target);
                self.next = Next::Pick;
                return;
            }
            if !self.continuable {
                self.cool(now, table, &c, target, key, &rule);
                self.end(now, table, Why::NothingLeft);
                return;
            }
        }

        // 1. The same target again, after a wait? Not for a half-open probe (a
        // single attempt), and not after the commit in auto mode (the next target
        // finishes the answer at once).
        if f.probe || (self.committed && !self.pinned) {
            self.candidates.spend_retries(target, key);
        }
        if self.try_retry(now, table, f, &c, &rule) {
            return;
        }

        // 2. Moving on: cool the failed scope down, rule out what cannot work.
        self.cool(now, table, &c, target, key, &rule);
        self.candidates.mark_out(&self.chain, target, key, c.scope);
        if !rule.rotate_key {
            self.candidates.rule_out_target(target);
        }
        match c.kind {
            FailureKind::ContextLength => self.candidates.raise_context_floor(&self.chain, target),
            FailureKind::RequestTooLarge | FailureKind::ContentFiltered => {
                self.candidates.rule_out_target(target)
            }
            _ => {}
        }
        if !rule.fallback {
            // Only the same target's other keys (rotation), never another target.
            let other_keys = self.candidates.has_other_keys(target);
            if rule.rotate_key && other_keys && !c.kind.is_request_error() && !self.committed {
                self.candidates.confine_to(target);
            } else {
                self.end(now, table, Why::NoFallback);
                return;
            }
        }
        self.next = Next::Pick;
    }

    /// Schedules a same-target retry when the rule allows one; true if it did.
    pub(super) fn try_retry(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        f: InFlight,
        c: &Classification,
        rule: &Rule,
    ) -> bool {
        let (target, key) = (f.target, f.key);
        let used = self.candidates.retries_used(target, key);
        if used >= rule.retries || c.scope == Scope::Request {
            return false;
        }
        let hint = c.retry_after_ms.filter(|_| rule.honor_retry_after);
        let wait = match hint {
            Some(h) => h,
            None => rule.retry_backoff.jittered(used, self.rng.f64()),
        }
        // Never a tight loop, even for `Retry-After: 0` or a zero backoff; and a zero
        // wait would retry at `now`, before the reservation (which always ends after
        // `now`) lets this run through, cancelling the retry.
        .max(MIN_COOLDOWN_MS);
        let at = now.saturating_add(wait);
        let b = &self.chain.budgets;
        let attempts_left = (self.attempts.len() as u32) < b.max_attempts;
        if wait > b.max_retry_wait_ms || at >= self.deadline || !attempts_left {
            return false;
        }
        self.candidates.use_retry(target, key);
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
        self.trace.push(TraceEvent::Retry {
            at: now,
            attempt: f.id,
            until: at,
            why: if hint.is_some() {
                RetryReason::ProviderHint
            } else {
                RetryReason::Backoff
            },
        });
        self.next = Next::Retry {
            target,
            key,
            at,
            reserved: (c.scope != Scope::Request).then_some(c.scope),
        };
        true
    }

    pub(super) fn cool(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        c: &Classification,
        target: usize,
        key: Option<usize>,
        rule: &Rule,
    ) {
        let hint = c.retry_after_ms.filter(|_| rule.honor_retry_after);
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

    /// The deadline passed with an attempt in flight: the attempt failed as a
    /// timeout (the policy's timeout row cools its model), and the run ends.
    pub(super) fn fail_at_deadline(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        f: InFlight,
    ) {
        let deadline_ms = self.chain.budgets.deadline_ms;
        let dialect = self.chain.targets[f.target].dialect;
        let c = Classification::observed(
            FailureKind::Timeout,
            Scope::Model,
            format!(
                "{}: the request deadline of {deadline_ms} ms was reached",
                reason_prefix(dialect, None, FailureKind::Timeout)
            ),
        );
        self.record_failure(now, f, &c);
        let rule = self.chain.policy.rule(FailureKind::Timeout).clone();
        self.cool(now, table, &c, f.target, f.key, &rule);
        self.last_failure = Some((f.id, c));
        self.end(now, table, self.deadline_why());
    }
}
