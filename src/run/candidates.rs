//! What a run still may try: per target and per key, and the constraints the
//! failures so far put on the rest of the chain.

use super::trace::SkipReason;
use crate::config::{Chain, ContinuationSupport};
use crate::failure::Scope;

/// One key of one target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct KeyState {
    /// No more attempts with this key on this target in this run.
    out: bool,
    /// Same-target retries used with this key.
    retries_used: u32,
}

/// One target.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TargetState {
    /// No more attempts on this target in this run.
    out: bool,
    /// Its keys, in the target's order (one entry for a keyless target).
    keys: Vec<KeyState>,
    /// It answered a prefill continuation with a request error: ask it afresh.
    prefill_rejected: bool,
    /// Its API cannot serve this request (why).
    unsupported: Option<String>,
}

/// After a context-length failure, only targets declaring a larger window may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContextFloor {
    /// No context failure yet.
    Any,
    /// A target without a declared window overflowed: no declared window is known
    /// to be larger, so none qualifies.
    Unknown,
    /// Only targets declaring more than this many tokens.
    Above(u32),
}

/// The candidates of one run.
#[derive(Debug, Clone)]
pub(super) struct Candidates {
    targets: Vec<TargetState>,
    floor: ContextFloor,
    /// A rule without fallback confined the run to this target's other keys.
    confined_to: Option<usize>,
}

impl Candidates {
    pub(super) fn new(chain: &Chain) -> Candidates {
        Candidates {
            targets: chain
                .targets
                .iter()
                .map(|t| TargetState {
                    out: false,
                    keys: vec![KeyState::default(); t.keys.len().max(1)],
                    prefill_rejected: false,
                    unsupported: None,
                })
                .collect(),
            floor: ContextFloor::Any,
            confined_to: None,
        }
    }

    /// Whether `target` may be tried now; `continuing` when the client's stream has
    /// started (only targets that can finish an answer qualify).
    pub(super) fn eligible(
        &self,
        chain: &Chain,
        target: usize,
        continuing: bool,
    ) -> Result<(), SkipReason> {
        if let Some(message) = &self.targets[target].unsupported {
            return Err(SkipReason::Unsupported {
                message: message.clone(),
            });
        }
        if self.targets[target].out {
            return Err(SkipReason::AlreadyFailed);
        }
        if self.confined_to.is_some_and(|only| only != target) {
            return Err(SkipReason::NoFallback);
        }
        let t = &chain.targets[target];
        match (self.floor, t.context_window) {
            (ContextFloor::Any, _) => {}
            (ContextFloor::Above(f), Some(w)) if w > f => {}
            _ => return Err(SkipReason::ContextWindow),
        }
        if continuing && t.continuation == ContinuationSupport::Off {
            return Err(SkipReason::CannotContinue);
        }
        Ok(())
    }

    pub(super) fn is_out(&self, target: usize) -> bool {
        self.targets[target].out
    }

    pub(super) fn set_unsupported(&mut self, target: usize, why: String) {
        if let Some(t) = self.targets.get_mut(target) {
            t.unsupported = Some(why);
        }
    }

    pub(super) fn unsupported(&self, target: usize) -> Option<&str> {
        self.targets[target].unsupported.as_deref()
    }

    /// The key choices of `target` still open, in order (`None` for a keyless one).
    pub(super) fn keys(&self, chain: &Chain, target: usize) -> Vec<Option<usize>> {
        let t = &self.targets[target];
        if chain.targets[target].keys.is_empty() {
            return if t.keys[0].out { vec![] } else { vec![None] };
        }
        (0..t.keys.len())
            .filter(|k| !t.keys[*k].out)
            .map(Some)
            .collect()
    }

    pub(super) fn retries_used(&self, target: usize, key: Option<usize>) -> u32 {
        self.targets[target].keys[key.unwrap_or(0)].retries_used
    }

    pub(super) fn use_retry(&mut self, target: usize, key: Option<usize>) {
        self.targets[target].keys[key.unwrap_or(0)].retries_used += 1;
    }

    /// No more same-target retries for (target, key) in this run (a half-open
    /// probe is a single attempt).
    pub(super) fn spend_retries(&mut self, target: usize, key: Option<usize>) {
        self.targets[target].keys[key.unwrap_or(0)].retries_used = u32::MAX;
    }

    pub(super) fn prefill_rejected(&self, target: usize) -> bool {
        self.targets[target].prefill_rejected
    }

    pub(super) fn reject_prefill(&mut self, target: usize) {
        self.targets[target].prefill_rejected = true;
    }

    pub(super) fn rule_out_target(&mut self, target: usize) {
        self.targets[target].out = true;
    }

    pub(super) fn confine_to(&mut self, target: usize) {
        self.confined_to = Some(target);
    }

    /// Whether `target` has a key left that is not out.
    pub(super) fn has_other_keys(&self, target: usize) -> bool {
        let t = &self.targets[target];
        !t.out && t.keys.iter().any(|k| !k.out)
    }

    /// After a context overflow on `target`: only larger declared windows qualify.
    pub(super) fn raise_context_floor(&mut self, chain: &Chain, target: usize) {
        self.floor = match (self.floor, chain.targets[target].context_window) {
            (_, None) | (ContextFloor::Unknown, _) => ContextFloor::Unknown,
            (ContextFloor::Any, Some(w)) => ContextFloor::Above(w),
            (ContextFloor::Above(f), Some(w)) => ContextFloor::Above(f.max(w)),
        };
    }

    /// Rules out what a failure in `scope` on (target, key) makes pointless: the
    /// key on this target, the key on every target of its provider, the target, or
    /// every target of its provider.
    pub(super) fn mark_out(
        &mut self,
        chain: &Chain,
        target: usize,
        key: Option<usize>,
        scope: Scope,
    ) {
        let t = &chain.targets[target];
        match scope {
            Scope::KeyModel => self.targets[target].keys[key.unwrap_or(0)].out = true,
            Scope::Key => {
                let name = key.and_then(|k| t.keys.get(k));
                for (i, other) in chain.targets.iter().enumerate() {
                    if other.provider != t.provider {
                        continue;
                    }
                    let k = match name {
                        Some(n) => other.keys.iter().position(|x| x == n),
                        None => Some(0),
                    };
                    if let Some(k) = k {
                        self.targets[i].keys[k].out = true;
                    }
                }
            }
            Scope::Model | Scope::Request => self.targets[target].out = true,
            Scope::Endpoint => {
                for (i, other) in chain.targets.iter().enumerate() {
                    if other.provider == t.provider {
                        self.targets[i].out = true;
                    }
                }
            }
        }
        // A target whose keys are all out is out.
        for t in &mut self.targets {
            if t.keys.iter().all(|k| k.out) {
                t.out = true;
            }
        }
    }
}
