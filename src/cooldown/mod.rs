//! Sticky cooldowns: a circuit breaker per scope, shareable as a snapshot.
//!
//! Each scope (a key, a key on a model, a model on an endpoint, a whole endpoint) is
//! `closed` (absent, or closed after a success), `open` until a time, or `half-open`
//! once that time has passed: then exactly one attempt (the *probe*) may go through
//! until it reports or its lease runs out. A failure re-opens the scope for longer
//! (`streak` grows; the policy's backoff turns it into a duration), a success closes
//! it and resets the streak. Repeated opens back off, so a flapping backend is not
//! retried on every request.
//!
//! Hosts share the table between isolates/tabs through [`Snapshot`]s: [`CooldownTable::merge`]
//! keeps, per scope, the entry that is greatest in the order `(until, since, streak,
//! kind, reason)`. That is a join: commutative, associative and idempotent, so every
//! replica converges whatever order snapshots arrive in; "later `until` wins". Probe
//! leases are local and never exported.

mod latency;
mod scope;
mod snapshot;

pub use latency::{FirstTokenSamples, MAX_SAMPLES, MIN_SAMPLES};
pub use scope::{Blocked, CooldownSettings, Reservation, ScopeKey, ScopeState};
pub use snapshot::{Entry, Snapshot};

use crate::failure::FailureKind;
use crate::policy::Backoff;
use crate::time::Timestamp;
use snapshot::{join_into, JoinInto};
use std::collections::BTreeMap;

/// The floor of every cooldown: even `Retry-After: 0` does not allow a tight loop.
pub const MIN_COOLDOWN_MS: u64 = 250;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Probe {
    owner: u64,
    lease_until: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    entry: Entry,
    probe: Option<Probe>,
    /// A run holds this scope for its own same-target retry ([`CooldownTable::reserve`]):
    /// the reservation is not an open of its own, so the failure that may follow
    /// opens with the streak the scope had before it.
    reserved_by: Option<u64>,
}

impl Slot {
    fn new(entry: Entry) -> Slot {
        Slot {
            entry,
            probe: None,
            reserved_by: None,
        }
    }
}

/// The breaker table. Owned by the host (one per isolate or page) and lent to
/// each [`crate::run::FallbackRun`] call.
#[derive(Debug, Clone, Default)]
pub struct CooldownTable {
    slots: BTreeMap<ScopeKey, Slot>,
    first_token: BTreeMap<ScopeKey, FirstTokenSamples>,
    settings: CooldownSettings,
    dirty: bool,
    /// When new first-token samples last made the table dirty (they alone make it
    /// dirty at most once per [`SAMPLES_WRITE_INTERVAL_MS`]).
    samples_dirty_at: Option<Timestamp>,
}

/// New first-token samples alone ask for a write at most this often.
pub const SAMPLES_WRITE_INTERVAL_MS: u64 = 60_000;

impl CooldownTable {
    /// An empty table.
    pub fn new(settings: CooldownSettings) -> CooldownTable {
        CooldownTable {
            slots: BTreeMap::new(),
            first_token: BTreeMap::new(),
            settings,
            dirty: false,
            samples_dirty_at: None,
        }
    }

    /// The table's tunables.
    pub fn settings(&self) -> &CooldownSettings {
        &self.settings
    }

    /// The state of one scope at `now`.
    pub fn state(&self, scope: &ScopeKey, now: Timestamp) -> ScopeState {
        match self.slots.get(scope) {
            None => ScopeState::Closed,
            Some(s) if s.entry.is_closed() => ScopeState::Closed,
            Some(s) if s.entry.until > now => ScopeState::Open {
                until: s.entry.until,
            },
            Some(s) => ScopeState::HalfOpen {
                probe_until: s
                    .probe
                    .as_ref()
                    .filter(|p| p.lease_until > now)
                    .map(|p| p.lease_until),
            },
        }
    }

    /// Asks to send through every scope in `scopes` at once. Succeeds when each is
    /// closed, or half-open with no probe out (then `owner` holds the probe until
    /// `lease_until`), or half-open with the probe already held by `owner`. Returns
    /// whether the attempt is a probe.
    pub fn try_acquire(
        &mut self,
        scopes: &[&ScopeKey],
        now: Timestamp,
        owner: u64,
        lease_until: Timestamp,
    ) -> Result<bool, Blocked> {
        for scope in scopes {
            let Some(slot) = self.slots.get(*scope) else {
                continue;
            };
            if slot.entry.is_closed() {
                continue;
            }
            if slot.entry.until > now {
                return Err(Blocked {
                    scope: (*scope).clone(),
                    until: slot.entry.until,
                    probe_in_flight: false,
                });
            }
            if let Some(p) = &slot.probe {
                if p.owner != owner && p.lease_until > now {
                    return Err(Blocked {
                        scope: (*scope).clone(),
                        until: p.lease_until,
                        probe_in_flight: true,
                    });
                }
            }
        }
        let mut probe = false;
        for scope in scopes {
            if let Some(slot) = self.slots.get_mut(*scope) {
                if !slot.entry.is_closed() {
                    slot.probe = Some(Probe { owner, lease_until });
                    // The owner's own reservation is a retry, not a probe.
                    probe |= slot.reserved_by != Some(owner);
                }
            }
        }
        Ok(probe)
    }

    /// Opens `scope` after a failure. The cooldown is the provider's `hint` when
    /// given, else `backoff` at the current streak; never below [`MIN_COOLDOWN_MS`].
    /// Returns the time it is open until.
    pub fn open(
        &mut self,
        scope: &ScopeKey,
        now: Timestamp,
        kind: FailureKind,
        reason: &str,
        hint_ms: Option<u64>,
        backoff: &Backoff,
    ) -> Timestamp {
        let streak = self.streak_before(scope, now);
        let ms = hint_ms
            .unwrap_or_else(|| backoff.delay(streak))
            .max(MIN_COOLDOWN_MS);
        let entry = Entry {
            until: now.saturating_add(ms),
            since: now,
            streak: streak + 1,
            kind: Some(kind),
            reason: reason.to_string(),
        };
        self.set_open(scope, entry, None)
    }

    /// Opens `scope` until `r.until` on behalf of `r.owner`, who will send the next
    /// attempt itself then (a same-target retry): others skip it meanwhile, and the
    /// owner already holds the probe.
    pub fn reserve(
        &mut self,
        scope: &ScopeKey,
        now: Timestamp,
        r: Reservation,
        kind: FailureKind,
        reason: &str,
    ) {
        let streak = self.streak_before(scope, now);
        let probe = Some(Probe {
            owner: r.owner,
            lease_until: r.until.saturating_add(r.lease_ms),
        });
        let entry = Entry {
            until: r.until.max(now + 1),
            since: now,
            // Open to everyone else (streak > 0), but not an open of its own.
            streak: streak + 1,
            kind: Some(kind),
            reason: reason.to_string(),
        };
        self.set_open(scope, entry, probe);
        if let Some(slot) = self.slots.get_mut(scope) {
            slot.reserved_by = Some(r.owner);
        }
    }

    /// The streak a new open builds on: the scope's current streak, minus the
    /// reservation a run placed for its own retry.
    fn streak_before(&self, scope: &ScopeKey, now: Timestamp) -> u32 {
        let streak = self.current_streak(scope, now);
        match self.slots.get(scope) {
            Some(s) if s.reserved_by.is_some() => streak.saturating_sub(1),
            _ => streak,
        }
    }

    fn current_streak(&self, scope: &ScopeKey, now: Timestamp) -> u32 {
        match self.slots.get(scope) {
            Some(s) if s.entry.until.saturating_add(self.settings.streak_reset_ms) > now => {
                s.entry.streak
            }
            _ => 0,
        }
    }

    /// Stores an open entry (never shortening a cooldown already set).
    fn set_open(&mut self, scope: &ScopeKey, mut entry: Entry, probe: Option<Probe>) -> Timestamp {
        if let Some(s) = self.slots.get(scope) {
            if !s.entry.is_closed() && s.entry.until > entry.until {
                entry.until = s.entry.until;
            }
        }
        let until = entry.until;
        self.slots.insert(
            scope.clone(),
            Slot {
                entry,
                probe,
                reserved_by: None,
            },
        );
        self.dirty = true;
        until
    }

    /// Closes every scope in `scopes` that is not already closed (a success).
    pub fn record_success(&mut self, scopes: &[&ScopeKey], now: Timestamp) {
        for scope in scopes {
            if let Some(slot) = self.slots.get_mut(*scope) {
                if !slot.entry.is_closed() {
                    // `until = now` so this close outranks any stale open that expired
                    // before it, and loses to any open set elsewhere after it.
                    slot.entry = Entry {
                        until: now,
                        since: now,
                        streak: 0,
                        kind: None,
                        reason: String::new(),
                    };
                    slot.probe = None;
                    slot.reserved_by = None;
                    self.dirty = true;
                }
            }
        }
    }

    /// Closes, at `now`, every scope `select` picks that is not closed: an
    /// operator's decision (a key was replaced, a backend was fixed). Like a
    /// success, the close outranks opens that expired before `now` when snapshots
    /// meet, not opens set later elsewhere. Returns how many scopes it closed.
    pub fn close_where(&mut self, select: impl Fn(&ScopeKey) -> bool, now: Timestamp) -> usize {
        let scopes: Vec<ScopeKey> = self
            .slots
            .iter()
            .filter(|(k, s)| !s.entry.is_closed() && select(k))
            .map(|(k, _)| k.clone())
            .collect();
        let refs: Vec<&ScopeKey> = scopes.iter().collect();
        self.record_success(&refs, now);
        scopes.len()
    }

    /// Ends `owner`'s reservation of `scope` (its retry failed for another reason):
    /// the scope closes, as after a success. No-op if the reservation is gone.
    pub fn end_reservation(&mut self, scope: &ScopeKey, owner: u64, now: Timestamp) {
        if self
            .slots
            .get(scope)
            .is_some_and(|s| s.reserved_by == Some(owner))
        {
            self.record_success(&[scope], now);
        }
    }

    /// Gives up every probe `owner` holds (its run ended without reporting).
    pub fn release_probes(&mut self, owner: u64) {
        for slot in self.slots.values_mut() {
            if slot.probe.as_ref().is_some_and(|p| p.owner == owner) {
                slot.probe = None;
            }
            if slot.reserved_by == Some(owner) {
                slot.reserved_by = None;
            }
        }
    }

    /// Joins a snapshot from elsewhere. Returns whether anything here changed.
    /// Merging does not mark the table dirty: it only learns what the source knew.
    pub fn merge(&mut self, snapshot: &Snapshot) -> bool {
        join_into(self, snapshot)
    }

    /// The shareable state at `now`, without entries that no longer matter (closed
    /// or expired for longer than the retention).
    pub fn snapshot(&self, now: Timestamp) -> Snapshot {
        let keep_after = now.saturating_sub(self.settings.retention_ms);
        Snapshot {
            entries: self
                .slots
                .iter()
                .filter(|(_, s)| s.entry.until >= keep_after)
                .map(|(k, s)| (k.clone(), s.entry.clone()))
                .collect(),
            first_token: self
                .first_token
                .iter()
                .filter(|(_, s)| s.newest().is_some_and(|at| at >= keep_after))
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect(),
        }
    }

    /// Records an observed time to first token (`ms` from the response headers to
    /// the first content) on a model scope.
    pub fn record_first_token(&mut self, scope: &ScopeKey, now: Timestamp, ms: u64) {
        self.first_token
            .entry(scope.clone())
            .or_default()
            .record(now, ms);
        let due = self.samples_dirty_at.map_or(true, |at| {
            now.saturating_sub(at) >= SAMPLES_WRITE_INTERVAL_MS
        });
        if due {
            self.samples_dirty_at = Some(now);
            self.dirty = true;
        }
    }

    /// The observed times to first token of a model scope.
    pub fn first_token_samples(&self, scope: &ScopeKey) -> Option<&FirstTokenSamples> {
        self.first_token.get(scope)
    }

    /// Drops entries older than the retention (bounded memory for long-lived hosts).
    pub fn prune(&mut self, now: Timestamp) {
        let keep_after = now.saturating_sub(self.settings.retention_ms);
        self.slots
            .retain(|_, s| s.entry.until >= keep_after || s.probe.is_some());
        self.first_token
            .retain(|_, s| s.newest().is_some_and(|at| at >= keep_after));
    }

    /// True when a local event changed the table since the last call: the host
    /// should write a snapshot (KV, `localStorage`).
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// Every scope that is open or half-open at `now`, for status pages.
    pub fn open_scopes(&self, now: Timestamp) -> Vec<(ScopeKey, ScopeState, Entry)> {
        self.slots
            .iter()
            .filter(|(_, s)| !s.entry.is_closed())
            .map(|(k, s)| (k.clone(), self.state(k, now), s.entry.clone()))
            .collect()
    }

    /// How many scopes the table holds (closed ones included, until pruned).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// No scope at all.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

impl JoinInto for CooldownTable {
    fn offer(&mut self, scope: &ScopeKey, entry: &Entry) -> bool {
        if entry.supersedes(self.slots.get(scope).map(|s| &s.entry)) {
            // A newer state from elsewhere: any local probe lease is void.
            self.slots.insert(scope.clone(), Slot::new(entry.clone()));
            true
        } else {
            false
        }
    }

    fn samples_mut(&mut self) -> &mut BTreeMap<ScopeKey, FirstTokenSamples> {
        &mut self.first_token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::FailureKind;
    use crate::policy::Backoff;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn close_where_closes_only_the_selected_scopes_and_marks_dirty() {
        let mut t = CooldownTable::new(CooldownSettings::default());
        let backoff = Backoff {
            base_ms: 60_000,
            max_ms: 60_000,
            multiplier: 2.0,
        };
        let a = ScopeKey::key("openai", "KEY_A");
        let am = ScopeKey::key_model("openai", "KEY_A", "gpt-4o");
        let b = ScopeKey::key("openai", "KEY_B");
        let m = ScopeKey::model("openai", "gpt-4o");
        for s in [&a, &am, &b, &m] {
            t.open(s, 1_000, FailureKind::Auth, "bad key", None, &backoff);
        }
        t.take_dirty();
        assert_eq!(a.key_name(), Some("KEY_A"));
        assert_eq!(am.key_name(), Some("KEY_A"));
        assert_eq!(m.key_name(), None);
        assert_eq!(t.close_where(|s| s.key_name() == Some("KEY_A"), 2_000), 2);
        assert!(t.take_dirty());
        assert_eq!(t.state(&a, 2_000), ScopeState::Closed);
        assert_eq!(t.state(&am, 2_000), ScopeState::Closed);
        assert!(matches!(t.state(&b, 2_000), ScopeState::Open { .. }));
        assert!(matches!(t.state(&m, 2_000), ScopeState::Open { .. }));
        // Nothing left to close: no change, not dirty.
        assert_eq!(t.close_where(|s| s.key_name() == Some("KEY_A"), 3_000), 0);
        assert!(!t.take_dirty());
    }
}
