//! Naming scopes, their states, and the table's tunables.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Names one scope in the table. Built from configuration names (which cannot
/// contain `|`); the model comes last because model ids contain `/` and `:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeKey(pub String);

impl ScopeKey {
    /// A whole endpoint (provider).
    pub fn endpoint(provider: &str) -> ScopeKey {
        ScopeKey(format!("endpoint|{provider}"))
    }
    /// A model on an endpoint.
    pub fn model(provider: &str, model: &str) -> ScopeKey {
        ScopeKey(format!("model|{provider}|{model}"))
    }
    /// A key, for every model.
    pub fn key(provider: &str, key: &str) -> ScopeKey {
        ScopeKey(format!("key|{provider}|{key}"))
    }
    /// A key on one model.
    pub fn key_model(provider: &str, key: &str, model: &str) -> ScopeKey {
        ScopeKey(format!("key_model|{provider}|{key}|{model}"))
    }
    /// The key as text (`model|openai|gpt-4o`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The key name of a `key` or `key_model` scope.
    pub fn key_name(&self) -> Option<&str> {
        let mut parts = self.0.split('|');
        match parts.next() {
            Some("key") | Some("key_model") => parts.nth(1),
            _ => None,
        }
    }
}

/// A run's claim on a scope it will retry itself (see [`CooldownTable::reserve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    /// The run (its `run_id`).
    pub owner: u64,
    /// When the run will retry.
    pub until: Timestamp,
    /// How long its probe may take after that.
    pub lease_ms: u64,
}

/// What a scope looks like at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ScopeState {
    /// Healthy: attempts go through.
    Closed,
    /// Cooling down: attempts are refused.
    Open {
        /// Until then.
        until: Timestamp,
    },
    /// Cooldown over; one probe may go. `probe_until` is set while a probe is out.
    HalfOpen {
        /// The probe's lease ends then.
        probe_until: Option<Timestamp>,
    },
}

/// Why [`CooldownTable::try_acquire`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The scope that refused.
    pub scope: ScopeKey,
    /// When it may be worth asking again.
    pub until: Timestamp,
    /// It is half-open and another run's probe is out (else it is open).
    pub probe_in_flight: bool,
}

/// Tunables of the table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CooldownSettings {
    /// A scope that stayed healthy this long after its cooldown forgets its streak.
    pub streak_reset_ms: u64,
    /// Closed and expired entries are dropped from snapshots after this long.
    pub retention_ms: u64,
}

impl Default for CooldownSettings {
    fn default() -> Self {
        CooldownSettings {
            streak_reset_ms: 10 * 60 * 1000,
            retention_ms: 60 * 60 * 1000,
        }
    }
}
