//! The run's bookkeeping that is not a decision: the scopes an attempt goes
//! through, a probe's lease, the first-token bound learned per target, and the
//! notes hosts and the session add to the trace.

use super::{AttemptId, FallbackRun, RunError, TraceEvent};
use crate::config::ADAPTIVE_FIRST_TOKEN_FACTOR;
use crate::cooldown::{CooldownTable, ScopeKey};
use crate::failure::Scope;
use crate::time::Timestamp;

impl FallbackRun {
    /// Notes a misuse of the run's API by the host in the trace (hosts call this
    /// with the [`RunError`] they got instead of dropping it).
    pub fn record_host_error(&mut self, now: Timestamp, error: &RunError) {
        self.trace.push(TraceEvent::HostError {
            at: now,
            message: error.to_string(),
        });
    }

    /// Notes in the trace that the attempt's stream had an unusable event, dropped.
    pub fn record_dropped(&mut self, now: Timestamp, attempt: AttemptId, count: u32, why: &str) {
        self.trace.push(TraceEvent::Dropped {
            at: now,
            attempt,
            count,
            why: why.to_string(),
        });
    }

    /// Notes in the trace that a continuation's text joined the client's stream,
    /// `overlap` bytes of repetition removed.
    pub fn record_spliced(&mut self, now: Timestamp, attempt: AttemptId, overlap: usize) {
        self.trace.push(TraceEvent::Spliced {
            at: now,
            attempt,
            overlap_chars: u32::try_from(overlap).unwrap_or(u32::MAX),
        });
    }

    pub(super) fn key_name(&self, target: usize, key: Option<usize>) -> Option<String> {
        key.and_then(|k| self.chain.targets[target].keys.get(k).cloned())
    }

    /// The scopes an attempt on (target, key) goes through: endpoint, model, and
    /// for a keyed provider the key and the key on this model.
    pub(super) fn scopes(&self, target: usize, key: Option<usize>) -> Vec<&ScopeKey> {
        let s = &self.chain.targets[target].scopes;
        let mut out = vec![&s.endpoint, &s.model];
        if let Some((k, km)) = key.and_then(|k| s.keys.get(k)) {
            out.push(k);
            out.push(km);
        }
        out
    }

    pub(super) fn scope_key(
        &self,
        scope: Scope,
        target: usize,
        key: Option<usize>,
    ) -> Option<ScopeKey> {
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
            // `Scope` is non-exhaustive: an unknown scope cools the model.
            #[allow(unreachable_patterns)]
            _ => Some(s.model.clone()),
        }
    }

    /// The lease a probe holds: as long as one attempt may last.
    pub(super) fn lease_ms(&self) -> u64 {
        let b = &self.chain.budgets;
        if self.opts.stream {
            b.header_timeout_ms.saturating_add(b.first_token_timeout_ms)
        } else {
            b.response_timeout_ms
        }
    }

    /// The first-token bound for `target`: the configured one, or lower, learned
    /// from the target's observed times to first token (see [`crate::config::Budgets`]).
    pub fn first_token_bound(&self, table: &CooldownTable, target: usize) -> u64 {
        let b = &self.chain.budgets;
        let max = b.first_token_timeout_ms.min(b.response_timeout_ms);
        if !b.adaptive_first_token {
            return max;
        }
        let scope = &self.chain.targets[target].scopes.model;
        match table.first_token_samples(scope).and_then(|s| s.p90()) {
            Some(p90) => p90
                .saturating_mul(ADAPTIVE_FIRST_TOKEN_FACTOR)
                .clamp(b.first_token_floor_ms.min(max), max),
            None => max,
        }
    }
}
