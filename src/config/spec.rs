//! The config file's shapes, as serde reads them (every field named as in JSON).

use crate::cooldown::CooldownSettings;
use crate::failure::FailureKind;
use crate::policy::RuleOverride;
use crate::provider::{ContinuationSupport, Dialect, ProviderApi};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Time limits of one client request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budgets {
    /// Upstream attempts per client request, retries included.
    pub max_attempts: u32,
    /// Overall deadline of a client request, from its start.
    pub deadline_ms: u64,
    /// Per streaming attempt: response headers must arrive within this.
    pub header_timeout_ms: u64,
    /// Per non-streaming attempt: the whole answer must arrive within this (the
    /// provider sends its headers only when the generation is done).
    pub response_timeout_ms: u64,
    /// Per streaming attempt: the hard bound for the first content chunk after the
    /// headers. Lower than the whole answer's bound: a hung model is abandoned well
    /// before `response_timeout_ms`. The adaptive bound (below) is often lower still.
    pub first_token_timeout_ms: u64,
    /// Learn a per-target first-token bound from the target's own observed times to
    /// first token: [`ADAPTIVE_FIRST_TOKEN_FACTOR`] × their 90th percentile, never
    /// below `first_token_floor_ms` and never above `first_token_timeout_ms`.
    pub adaptive_first_token: bool,
    /// The adaptive first-token bound's floor.
    pub first_token_floor_ms: u64,
    /// Per streaming attempt: at most this long between chunks.
    pub idle_timeout_ms: u64,
    /// The longest wait the gateway accepts before a retry (a `Retry-After` longer
    /// than this is not waited for: the gateway moves on).
    pub max_retry_wait_ms: u64,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            max_attempts: 5,
            deadline_ms: 300_000,
            header_timeout_ms: 30_000,
            response_timeout_ms: 180_000,
            first_token_timeout_ms: 15_000,
            adaptive_first_token: true,
            first_token_floor_ms: 3_000,
            idle_timeout_ms: 30_000,
            max_retry_wait_ms: 10_000,
        }
    }
}

/// The adaptive first-token bound is this many times the target's observed 90th
/// percentile time to first token.
pub const ADAPTIVE_FIRST_TOKEN_FACTOR: u64 = 3;

/// Budgets as written in a config file: every field optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)] // Each field overrides the [`Budgets`] field of the same name.
pub struct BudgetsOverride {
    pub max_attempts: Option<u32>,
    pub deadline_ms: Option<u64>,
    pub header_timeout_ms: Option<u64>,
    pub response_timeout_ms: Option<u64>,
    pub first_token_timeout_ms: Option<u64>,
    pub adaptive_first_token: Option<bool>,
    pub first_token_floor_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub max_retry_wait_ms: Option<u64>,
}

impl Budgets {
    pub(crate) fn with(mut self, o: &BudgetsOverride) -> Budgets {
        macro_rules! take {
            ($($f:ident),*) => { $( if let Some(v) = o.$f { self.$f = v; } )* };
        }
        take!(
            max_attempts,
            deadline_ms,
            header_timeout_ms,
            response_timeout_ms,
            first_token_timeout_ms,
            adaptive_first_token,
            first_token_floor_ms,
            idle_timeout_ms,
            max_retry_wait_ms
        );
        self
    }
}

/// A provider as written in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// The name chains and pinned requests use (`"openai"`, `"my-vllm"`).
    pub name: String,
    /// How it speaks.
    pub dialect: Dialect,
    /// E.g. `https://api.openai.com/v1`, `http://127.0.0.1:8000/v1`, or for Azure
    /// `https://RESOURCE.openai.azure.com/openai`.
    pub base_url: String,
    /// Names of the secrets that hold this provider's keys, in rotation order.
    /// Empty for keyless local servers.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Azure `api-version`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// `"native"` (the provider's own API) or `"openai"` (its OpenAI-compatible
    /// endpoint); the dialect's default when absent (see [`Dialect::default_api`]).
    #[serde(default)]
    pub api: Option<ProviderApi>,
}

/// A target as written in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// The provider's name.
    pub provider: String,
    /// The concrete model (or Azure deployment). Required: there is no default.
    pub model: Option<String>,
    /// The model's context window in tokens, if known: a context-length failure
    /// falls back only to targets that declare a larger one.
    #[serde(default)]
    pub context_window: Option<u32>,
    /// Restrict to these of the provider's keys (by name), in this order.
    #[serde(default)]
    pub keys: Option<Vec<String>>,
    /// Whether this target may finish an answer another target started (see
    /// [`ContinuationSupport`]); the dialect's default when absent.
    #[serde(default)]
    pub continuation: Option<ContinuationSupport>,
}

/// A chain as written in the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainSpec {
    /// The name clients send as `model`.
    pub name: String,
    /// The targets, in fallback order.
    pub targets: Vec<TargetSpec>,
    /// Finish a stream that broke after it started on the next eligible target
    /// (default: the defaults' setting, itself `true`).
    #[serde(default)]
    pub continuation: Option<bool>,
    /// Budgets over the defaults'.
    #[serde(default)]
    pub budgets: BudgetsOverride,
    /// Policy rows over the defaults'.
    #[serde(default, deserialize_with = "policy_overrides")]
    pub policy: BTreeMap<FailureKind, RuleOverride>,
}

/// Defaults every chain (and every pinned request) starts from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultsSpec {
    /// Budgets every chain starts from.
    #[serde(default)]
    pub budgets: BudgetsOverride,
    /// Mid-stream continuation for every chain (default `true`).
    #[serde(default)]
    pub continuation: Option<bool>,
    /// Policy rows over the built-in table.
    #[serde(default, deserialize_with = "policy_overrides")]
    pub policy: BTreeMap<FailureKind, RuleOverride>,
}

/// A policy map key: a [`FailureKind`] read through a string, so that errors below
/// it (and an unknown kind) carry the key in their path (`chains[0].policy.rate_limited.retries`)
/// instead of `?`.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct KindKey(FailureKind);

impl<'de> Deserialize<'de> for KindKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        match FailureKind::ALL.iter().find(|k| k.as_str() == name) {
            Some(k) => Ok(KindKey(*k)),
            None => {
                let valid: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
                Err(serde::de::Error::custom(format!(
                    "unknown failure kind `{name}`, expected one of: {}",
                    valid.join(", ")
                )))
            }
        }
    }
}

fn policy_overrides<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<FailureKind, RuleOverride>, D::Error> {
    let map = BTreeMap::<KindKey, RuleOverride>::deserialize(d)?;
    Ok(map.into_iter().map(|(k, v)| (k.0, v)).collect())
}

/// The config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// The providers.
    pub providers: Vec<ProviderSpec>,
    /// The chains.
    pub chains: Vec<ChainSpec>,
    /// Defaults of every chain and pinned request.
    #[serde(default)]
    pub defaults: DefaultsSpec,
    /// The cooldown table's tunables.
    #[serde(default)]
    pub cooldown: CooldownSettings,
}
