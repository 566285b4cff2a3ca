//! Observed times to first token, per model scope: what the adaptive first-token
//! bound is learned from.
//!
//! Each scope keeps its [`MAX_SAMPLES`] most recent observations as `(at, ms)`
//! pairs. Two replicas' sets join by union, keeping the most recent
//! [`MAX_SAMPLES`] in the order `(at, ms)`: a join (commutative, associative,
//! idempotent), so the samples spread through KV like the breaker state.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Observations kept per scope.
pub const MAX_SAMPLES: usize = 16;
/// Observations needed before the adaptive bound applies.
pub const MIN_SAMPLES: usize = 5;

/// A scope's recent times to first token: `[[at, ms], …]` in JSON, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FirstTokenSamples(Vec<(Timestamp, u32)>);

impl FirstTokenSamples {
    /// Records one observation: `ms` from the response headers to the first
    /// content, seen at `at`.
    pub fn record(&mut self, at: Timestamp, ms: u64) {
        let ms = u32::try_from(ms).unwrap_or(u32::MAX);
        self.join(&FirstTokenSamples(vec![(at, ms)]));
    }

    /// Joins `other`'s observations; true if any was new.
    pub fn join(&mut self, other: &FirstTokenSamples) -> bool {
        let before = self.0.clone();
        self.0.extend(other.0.iter().copied());
        self.0.sort_unstable();
        self.0.dedup();
        let extra = self.0.len().saturating_sub(MAX_SAMPLES);
        self.0.drain(..extra);
        self.0 != before
    }

    /// How many observations there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No observation yet.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The 90th percentile (nearest rank) of the kept observations, once there are
    /// at least [`MIN_SAMPLES`].
    pub fn p90(&self) -> Option<u64> {
        if self.0.len() < MIN_SAMPLES {
            return None;
        }
        let mut ms: Vec<u32> = self.0.iter().map(|(_, ms)| *ms).collect();
        ms.sort_unstable();
        // Nearest rank: ceil(0.9 n), 1-based.
        let rank = (ms.len() * 9).div_ceil(10).max(1);
        ms.get(rank - 1).map(|m| u64::from(*m))
    }

    /// When the newest observation was made.
    pub fn newest(&self) -> Option<Timestamp> {
        self.0.last().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn keeps_the_newest_samples_and_joins_as_a_set() {
        let mut a = FirstTokenSamples::default();
        for i in 0..20u64 {
            a.record(1_000 + i, 100 + i);
        }
        assert_eq!(a.len(), MAX_SAMPLES);
        assert_eq!(a.newest(), Some(1_019));
        let mut b = FirstTokenSamples::default();
        b.record(5_000, 900);
        let mut ab = a.clone();
        ab.join(&b);
        let mut ba = b.clone();
        ba.join(&a);
        assert_eq!(ab, ba);
        assert!(!ab.clone().join(&a), "joining again changes nothing");
        assert_eq!(ab.newest(), Some(5_000));
    }

    #[test]
    fn p90_needs_enough_samples() {
        let mut s = FirstTokenSamples::default();
        for (i, ms) in [100u64, 200, 300, 400].iter().enumerate() {
            s.record(i as u64, *ms);
        }
        assert_eq!(s.p90(), None);
        s.record(10, 5_000);
        assert_eq!(s.p90(), Some(5_000));
        for i in 0..10u64 {
            s.record(100 + i, 150);
        }
        // 15 samples: rank ceil(13.5) = 14 → the second largest.
        assert_eq!(s.p90(), Some(400));
    }
}
