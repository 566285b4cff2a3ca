//! The failure policy: what to do about each [`FailureKind`].
//!
//! *Whether* to retry, rotate keys, fall back or cool down is decided here, as data;
//! *how* the loop runs is the state machine's job ([`crate::run`]). The defaults are
//! the table in the README; a chain overrides any field of any row.

use crate::failure::FailureKind;
use crate::time::{HOUR, MIN, SEC};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// An exponential backoff: `base * multiplier^n`, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// The first delay.
    pub base_ms: u64,
    /// The cap.
    pub max_ms: u64,
    /// The growth per step (default 2).
    #[serde(default = "two")]
    pub multiplier: f64,
}

fn two() -> f64 {
    2.0
}

impl Backoff {
    /// `base_ms` doubling up to `max_ms`.
    pub const fn new(base_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            base_ms,
            max_ms,
            multiplier: 2.0,
        }
    }

    /// The `n`-th delay (n = 0 is `base`).
    pub fn delay(&self, n: u32) -> u64 {
        let factor = self.multiplier.max(1.0).powi(n.min(64) as i32);
        let d = (self.base_ms as f64) * factor;
        if !d.is_finite() || d >= self.max_ms as f64 {
            self.max_ms.max(self.base_ms)
        } else {
            d as u64
        }
    }

    /// The `n`-th delay with "equal jitter": uniformly in `[d/2, d]`, so it is never
    /// shorter than half the nominal delay (no tight loops) and concurrent clients
    /// spread out. `unit` is a uniform random number in `[0, 1)`.
    pub fn jittered(&self, n: u32, unit: f64) -> u64 {
        let d = self.delay(n);
        let half = d / 2;
        half + ((d - half) as f64 * unit.clamp(0.0, 1.0)) as u64
    }
}

/// One row of the policy table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Retries on the same target and key before moving on.
    pub retries: u32,
    /// The wait before a same-target retry when the provider gave no hint.
    pub retry_backoff: Backoff,
    /// Try the target's other keys before the next target.
    pub rotate_key: bool,
    /// May move on to the next target. When false the error goes back to the client.
    pub fallback: bool,
    /// How long the failed scope cools down when the provider gave no hint; `None`
    /// cools nothing (the failure is the request's, not the backend's).
    pub cooldown: Option<Backoff>,
    /// Use the provider's retry hint for the retry wait and the cooldown.
    pub honor_retry_after: bool,
}

/// The cooldown of a transient failure (overload, 5xx, a cut connection, an
/// unusable answer) without a provider hint: 5 s, doubling per failed probe, at
/// most [`TRANSIENT_COOLDOWN_MAX_MS`]. The cap is the recovery bound: a backend
/// that recovers is probed again within it (plus the time to the next request).
pub const TRANSIENT_COOLDOWN: Backoff = Backoff::new(5 * SEC, TRANSIENT_COOLDOWN_MAX_MS);
/// The longest a transient failure cools a backend down without a provider hint.
pub const TRANSIENT_COOLDOWN_MAX_MS: u64 = 20 * SEC;
/// The cooldown of a timeout: probing a hung backend costs its probe the whole
/// timeout, so it starts at 10 s and may grow to 40 s.
pub const TIMEOUT_COOLDOWN: Backoff = Backoff::new(10 * SEC, 40 * SEC);

impl Rule {
    /// The default row for `kind` (the README's table).
    pub fn default_for(kind: FailureKind) -> Rule {
        use FailureKind::*;
        let quick = Backoff::new(500, 8 * SEC);
        let base = Rule {
            retries: 0,
            retry_backoff: quick,
            rotate_key: false,
            fallback: true,
            cooldown: Some(TRANSIENT_COOLDOWN),
            honor_retry_after: true,
        };
        match kind {
            Auth => Rule {
                rotate_key: true,
                cooldown: Some(Backoff::new(10 * MIN, 6 * HOUR)),
                ..base
            },
            QuotaExhausted => Rule {
                rotate_key: true,
                cooldown: Some(Backoff::new(HOUR, 24 * HOUR)),
                ..base
            },
            RateLimited => Rule {
                retries: 1,
                retry_backoff: Backoff::new(SEC, 8 * SEC),
                rotate_key: true,
                cooldown: Some(Backoff::new(SEC, MIN)),
                ..base
            },
            Overloaded | ServerError | Connection => Rule { retries: 1, ..base },
            Timeout => Rule {
                cooldown: Some(TIMEOUT_COOLDOWN),
                ..base
            },
            ModelNotFound => Rule {
                cooldown: Some(Backoff::new(HOUR, 24 * HOUR)),
                ..base
            },
            InvalidResponse | Unknown => base,
            InvalidRequest => Rule {
                fallback: false,
                cooldown: None,
                ..base
            },
            ContextLength => Rule {
                cooldown: None,
                ..base
            },
            ContentFiltered => Rule {
                fallback: false,
                cooldown: None,
                ..base
            },
            RequestTooLarge => Rule {
                cooldown: None,
                ..base
            },
        }
    }
}

/// A partial [`Rule`]: what a chain changes in a row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // Each field overrides the [`Rule`] field of the same name.
pub struct RuleOverride {
    pub retries: Option<u32>,
    pub retry_backoff: Option<Backoff>,
    pub rotate_key: Option<bool>,
    pub fallback: Option<bool>,
    /// `false` turns the cooldown off; an object replaces it.
    pub cooldown: Option<CooldownOverride>,
    pub honor_retry_after: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
/// A policy row's `cooldown` as written: a switch or a backoff.
pub enum CooldownOverride {
    /// `false` turns the cooldown off; `true` keeps (or restores) the default.
    Enabled(bool),
    /// This backoff instead.
    Backoff(Backoff),
}

/// The whole table: one [`Rule`] per [`FailureKind`].
#[derive(Debug, Clone, PartialEq)]
pub struct FailurePolicy {
    rules: [Rule; FailureKind::ALL.len()],
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            rules: FailureKind::ALL.map(Rule::default_for),
        }
    }
}

fn index(kind: FailureKind) -> usize {
    // ALL lists every variant once; a missing one would be a compile-time table bug
    // caught by `every_kind_has_a_row`.
    FailureKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(FailureKind::ALL.len() - 1)
}

impl FailurePolicy {
    /// The row for `kind`.
    pub fn rule(&self, kind: FailureKind) -> &Rule {
        &self.rules[index(kind)]
    }

    /// Applies overrides on top of this table.
    pub fn with_overrides(
        mut self,
        overrides: &BTreeMap<FailureKind, RuleOverride>,
    ) -> FailurePolicy {
        for (kind, o) in overrides {
            let r = &mut self.rules[index(*kind)];
            if let Some(v) = o.retries {
                r.retries = v;
            }
            if let Some(v) = o.retry_backoff {
                r.retry_backoff = v;
            }
            if let Some(v) = o.rotate_key {
                r.rotate_key = v;
            }
            if let Some(v) = o.fallback {
                r.fallback = v;
            }
            match &o.cooldown {
                Some(CooldownOverride::Enabled(false)) => r.cooldown = None,
                Some(CooldownOverride::Enabled(true)) => {
                    r.cooldown = r.cooldown.or(Some(TRANSIENT_COOLDOWN))
                }
                Some(CooldownOverride::Backoff(b)) => r.cooldown = Some(*b),
                None => {}
            }
            if let Some(v) = o.honor_retry_after {
                r.honor_retry_after = v;
            }
        }
        self
    }

    /// The table as (kind, rule) rows, for docs and `/v1/status`.
    pub fn rows(&self) -> impl Iterator<Item = (FailureKind, &Rule)> {
        FailureKind::ALL.iter().copied().zip(self.rules.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn every_kind_has_a_row() {
        let p = FailurePolicy::default();
        for k in FailureKind::ALL {
            assert_eq!(p.rule(k), &Rule::default_for(k));
        }
        assert!(!p.rule(FailureKind::InvalidRequest).fallback);
        assert!(p.rule(FailureKind::InvalidRequest).cooldown.is_none());
        assert_eq!(p.rule(FailureKind::Timeout).retries, 0);
    }

    #[test]
    fn backoff_grows_and_caps_and_jitter_stays_in_range() {
        let b = Backoff::new(500, 8000);
        assert_eq!(
            (b.delay(0), b.delay(1), b.delay(4), b.delay(40)),
            (500, 1000, 8000, 8000)
        );
        assert_eq!(b.jittered(1, 0.0), 500);
        assert_eq!(b.jittered(1, 0.999_999), 999);
    }

    #[test]
    fn overrides_change_only_what_they_name() {
        let mut o = BTreeMap::new();
        o.insert(
            FailureKind::ContentFiltered,
            RuleOverride {
                fallback: Some(true),
                ..Default::default()
            },
        );
        o.insert(
            FailureKind::ServerError,
            RuleOverride {
                cooldown: Some(CooldownOverride::Enabled(false)),
                ..Default::default()
            },
        );
        let p = FailurePolicy::default().with_overrides(&o);
        assert!(p.rule(FailureKind::ContentFiltered).fallback);
        assert!(p.rule(FailureKind::ServerError).cooldown.is_none());
        assert_eq!(p.rule(FailureKind::ServerError).retries, 1);
    }
}
