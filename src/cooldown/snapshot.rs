//! The shareable state of the breaker table and its merge rule, in one place.
//!
//! A [`Snapshot`] is what hosts put in Workers KV or `localStorage`. Merging keeps,
//! per scope, the [`Entry`] that is greatest in the order `(until, since, streak,
//! kind, reason)`: a join (commutative, associative, idempotent), so replicas
//! converge whatever order snapshots arrive in, and "later `until` wins". The
//! observed first-token times travel with it ([`FirstTokenSamples`], also a join).

use super::latency::FirstTokenSamples;
use super::ScopeKey;
use crate::failure::FailureKind;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One scope's breaker state as shared between replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Open until this time; at or after it the scope is half-open (if `streak > 0`).
    pub until: Timestamp,
    /// When this state began (the failure or success that set it).
    pub since: Timestamp,
    /// Consecutive opens; 0 means closed.
    pub streak: u32,
    /// The kind of the failure that opened it (`None` once closed).
    pub kind: Option<FailureKind>,
    /// The failure's reason (keys redacted), for status pages.
    pub reason: String,
}

impl Entry {
    fn order_key(&self) -> (Timestamp, Timestamp, u32, Option<FailureKind>, &str) {
        (self.until, self.since, self.streak, self.kind, &self.reason)
    }

    /// The merge rule: `self` replaces `current` when it is greater in the order
    /// `(until, since, streak, kind, reason)` (so later `until` wins).
    pub fn supersedes(&self, current: Option<&Entry>) -> bool {
        current.map_or(true, |c| self.order_key() > c.order_key())
    }

    /// A closed scope (streak 0).
    pub fn is_closed(&self) -> bool {
        self.streak == 0
    }
}

/// Something entries can be joined into: a [`Snapshot`] or the live table.
pub(crate) trait JoinInto {
    /// Takes `entry` for `scope` if it supersedes what is there; true if it did.
    fn offer(&mut self, scope: &ScopeKey, entry: &Entry) -> bool;
    /// The first-token samples per scope.
    fn samples_mut(&mut self) -> &mut BTreeMap<ScopeKey, FirstTokenSamples>;
    /// Joins observed first-token times for `scope`; true if anything was new.
    fn offer_samples(&mut self, scope: &ScopeKey, samples: &FirstTokenSamples) -> bool {
        self.samples_mut()
            .entry(scope.clone())
            .or_default()
            .join(samples)
    }
}

/// Joins every entry and sample set of `from` into `into`: the one join loop.
/// Returns whether anything changed.
pub(crate) fn join_into(into: &mut impl JoinInto, from: &Snapshot) -> bool {
    let mut changed = false;
    for (scope, entry) in &from.entries {
        changed |= into.offer(scope, entry);
    }
    for (scope, samples) in &from.first_token {
        changed |= into.offer_samples(scope, samples);
    }
    changed
}

/// The shareable form of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Breaker state per scope.
    pub entries: BTreeMap<ScopeKey, Entry>,
    /// Observed times to first token per model scope (the adaptive first-token bound).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub first_token: BTreeMap<ScopeKey, FirstTokenSamples>,
}

impl JoinInto for Snapshot {
    fn offer(&mut self, scope: &ScopeKey, entry: &Entry) -> bool {
        if entry.supersedes(self.entries.get(scope)) {
            self.entries.insert(scope.clone(), entry.clone());
            true
        } else {
            false
        }
    }

    fn samples_mut(&mut self) -> &mut BTreeMap<ScopeKey, FirstTokenSamples> {
        &mut self.first_token
    }
}

impl Snapshot {
    /// Joins `other` into `self` (the same rule as [`super::CooldownTable::merge`]).
    pub fn join(&mut self, other: &Snapshot) -> bool {
        join_into(self, other)
    }

    /// A snapshot from entries that may name a scope twice (each scope keeps the
    /// greatest entry, as a merge would).
    pub fn from_entries(entries: impl IntoIterator<Item = (ScopeKey, Entry)>) -> Snapshot {
        let mut out = Snapshot::default();
        for (scope, entry) in entries {
            out.offer(&scope, &entry);
        }
        out
    }
}
