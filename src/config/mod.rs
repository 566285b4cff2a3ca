//! Configuration: providers, chains of targets, budgets and policy overrides.
//!
//! Parsed from JSON (the Worker bundles it or reads it from a var; the browser
//! package takes it as an object), validated once, with errors that name the field:
//! `chains[0].targets[1].model: …`. Keys are referenced by *name* only: the core
//! never sees a key's value, so it can never leak one.

mod spec;

pub use crate::provider::{ContinuationSupport, ProviderApi};
pub use spec::{
    Budgets, BudgetsOverride, ChainSpec, ConfigSpec, DefaultsSpec, ProviderSpec, TargetSpec,
    ADAPTIVE_FIRST_TOKEN_FACTOR,
};

use crate::cooldown::{CooldownSettings, ScopeKey};
use crate::policy::FailurePolicy;
use crate::provider::Dialect;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// A validated provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provider {
    /// Its name in the config.
    pub name: String,
    /// How it speaks.
    pub dialect: Dialect,
    /// Its base URL, without a trailing `/`.
    pub base_url: String,
    /// The names of its keys, in rotation order.
    pub keys: Vec<String>,
    /// Azure's `api-version`.
    pub api_version: Option<String>,
    /// Which of its APIs is called.
    pub api: ProviderApi,
}

/// A validated target: everything a host needs to address it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Its provider's name.
    pub provider: String,
    /// Its provider's dialect.
    pub dialect: Dialect,
    /// Its provider's base URL.
    pub base_url: String,
    /// The concrete model (or Azure deployment).
    pub model: String,
    /// The names of the keys it uses, in rotation order.
    pub keys: Vec<String>,
    /// Its declared context window, if any.
    pub context_window: Option<u32>,
    /// Azure's `api-version`.
    pub api_version: Option<String>,
    /// Which of its provider's APIs is called.
    pub api: ProviderApi,
    /// How it can finish an answer another target started.
    pub continuation: ContinuationSupport,
    /// The cooldown scopes an attempt on this target goes through, built once.
    #[serde(skip)]
    pub scopes: TargetScopes,
}

/// The [`ScopeKey`]s of one target: its endpoint, its model, and per key (in the
/// target's key order) the key and the key on this model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetScopes {
    /// The whole endpoint.
    pub endpoint: ScopeKey,
    /// This model on it.
    pub model: ScopeKey,
    /// Per key: the key, and the key on this model.
    pub keys: Vec<(ScopeKey, ScopeKey)>,
}

impl TargetScopes {
    fn of(provider: &str, model: &str, keys: &[String]) -> TargetScopes {
        TargetScopes {
            endpoint: ScopeKey::endpoint(provider),
            model: ScopeKey::model(provider, model),
            keys: keys
                .iter()
                .map(|k| {
                    (
                        ScopeKey::key(provider, k),
                        ScopeKey::key_model(provider, k, model),
                    )
                })
                .collect(),
        }
    }
}

/// A validated chain with its effective budgets and policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// The name clients send as `model` (for a pinned route, `provider/model`).
    pub name: String,
    /// The targets, in fallback order.
    pub targets: Vec<Target>,
    /// The effective budgets.
    pub budgets: Budgets,
    /// The effective failure policy.
    pub policy: FailurePolicy,
    /// A stream that broke after it started is finished on another target.
    pub continuation: bool,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The providers.
    pub providers: Vec<Provider>,
    /// The chains.
    pub chains: Vec<Arc<Chain>>,
    /// The cooldown table's tunables.
    pub cooldown: CooldownSettings,
    default_budgets: Budgets,
    default_policy: FailurePolicy,
    default_continuation: bool,
}

/// A configuration error, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Where: `chains[0].targets[1].model`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() || self.path == "." {
            write!(f, "invalid config: {}", self.message)
        } else {
            write!(f, "invalid config at `{}`: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

fn err(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

/// Model names that mean "pick one for me". A target must name a real model.
const SENTINEL_MODELS: [&str; 6] = ["default", "auto", "*", "any", "none", "null"];

fn check_name(path: &str, what: &str, name: &str) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(err(path, format!("{what} must not be empty")));
    }
    if name.trim() != name {
        return Err(err(
            path,
            format!("{what} `{name}` has leading or trailing spaces"),
        ));
    }
    if name.contains('|') || name.contains('/') || name.chars().any(char::is_control) {
        return Err(err(
            path,
            format!("{what} `{name}` must not contain `|`, `/` or control characters"),
        ));
    }
    Ok(())
}

impl Config {
    /// Parses and validates a JSON config.
    pub fn from_json(json: &str) -> Result<Config, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(json);
        let spec: ConfigSpec = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            err(path, e.into_inner().to_string())
        })?;
        Config::from_spec(spec)
    }

    /// Validates a parsed config.
    pub fn from_spec(spec: ConfigSpec) -> Result<Config, ConfigError> {
        let default_budgets = Budgets::default().with(&spec.defaults.budgets);
        validate_budgets("defaults.budgets", &default_budgets)?;
        let default_policy = FailurePolicy::default().with_overrides(&spec.defaults.policy);
        let default_continuation = spec.defaults.continuation.unwrap_or(true);

        if spec.providers.is_empty() {
            return Err(err("providers", "at least one provider is required"));
        }
        let mut providers: Vec<Provider> = Vec::new();
        for (i, p) in spec.providers.iter().enumerate() {
            let path = format!("providers[{i}]");
            check_name(&format!("{path}.name"), "provider name", &p.name)?;
            if providers.iter().any(|q| q.name == p.name) {
                return Err(err(
                    format!("{path}.name"),
                    format!("duplicate provider name `{}`", p.name),
                ));
            }
            let url = p.base_url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://"))
                || url.len() <= "https://".len()
            {
                return Err(err(
                    format!("{path}.base_url"),
                    format!("`{}` is not an http(s) URL", p.base_url),
                ));
            }
            let mut seen = BTreeSet::new();
            for (j, k) in p.keys.iter().enumerate() {
                check_name(&format!("{path}.keys[{j}]"), "key name", k)?;
                if !seen.insert(k) {
                    return Err(err(
                        format!("{path}.keys[{j}]"),
                        format!("duplicate key name `{k}`"),
                    ));
                }
            }
            if p.dialect == Dialect::Azure
                && p.api_version
                    .as_deref()
                    .map_or(true, |v| v.trim().is_empty())
            {
                return Err(err(
                    format!("{path}.api_version"),
                    "Azure providers need an `api_version` (e.g. \"2024-10-21\")",
                ));
            }
            providers.push(Provider {
                name: p.name.clone(),
                dialect: p.dialect,
                base_url: url.trim_end_matches('/').to_string(),
                keys: p.keys.clone(),
                api_version: p.api_version.clone(),
                api: p.api.unwrap_or_else(|| p.dialect.default_api(url)),
            });
        }

        if spec.chains.is_empty() {
            return Err(err("chains", "at least one chain is required"));
        }
        let mut chains: Vec<Arc<Chain>> = Vec::new();
        for (i, c) in spec.chains.iter().enumerate() {
            let path = format!("chains[{i}]");
            check_name(&format!("{path}.name"), "chain name", &c.name)?;
            if chains.iter().any(|q| q.name == c.name) {
                return Err(err(
                    format!("{path}.name"),
                    format!("duplicate chain name `{}`", c.name),
                ));
            }
            if c.targets.is_empty() {
                return Err(err(
                    format!("{path}.targets"),
                    format!("chain `{}` has no targets", c.name),
                ));
            }
            let mut targets = Vec::new();
            for (j, t) in c.targets.iter().enumerate() {
                let tpath = format!("{path}.targets[{j}]");
                targets.push(resolve_target(&tpath, t, &providers)?);
            }
            let budgets = default_budgets.with(&c.budgets);
            validate_budgets(&format!("{path}.budgets"), &budgets)?;
            let policy = default_policy.clone().with_overrides(&c.policy);
            chains.push(Arc::new(Chain {
                name: c.name.clone(),
                targets,
                budgets,
                policy,
                continuation: c.continuation.unwrap_or(default_continuation),
            }));
        }
        Ok(Config {
            providers,
            chains,
            cooldown: spec.cooldown,
            default_budgets,
            default_policy,
            default_continuation,
        })
    }

    /// The chain named `name`.
    pub fn chain(&self, name: &str) -> Option<&Arc<Chain>> {
        self.chains.iter().find(|c| c.name == name)
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// What a request's `model` field means: a chain name (auto mode), or
    /// `provider/model` (pinned: that provider only, a hard constraint).
    pub fn route(&self, model: &str) -> Result<Route, RouteError> {
        if let Some(chain) = self.chain(model) {
            return Ok(Route {
                chain: chain.clone(),
                pinned: false,
            });
        }
        if let Some((provider, concrete)) = model.split_once('/') {
            if let Some(p) = self.provider(provider) {
                let concrete = concrete.trim();
                if concrete.is_empty()
                    || SENTINEL_MODELS.contains(&concrete.to_ascii_lowercase().as_str())
                {
                    return Err(RouteError::NoConcreteModel {
                        requested: model.to_string(),
                    });
                }
                // Reuse what chains declare about this target (context window, key subset).
                let declared = self
                    .chains
                    .iter()
                    .flat_map(|c| c.targets.iter())
                    .find(|t| t.provider == p.name && t.model == concrete);
                let target = match declared {
                    Some(t) => t.clone(),
                    None => Target {
                        provider: p.name.clone(),
                        dialect: p.dialect,
                        base_url: p.base_url.clone(),
                        model: concrete.to_string(),
                        keys: p.keys.clone(),
                        context_window: None,
                        api_version: p.api_version.clone(),
                        api: p.api,
                        continuation: p.dialect.default_continuation(),
                        scopes: TargetScopes::of(&p.name, concrete, &p.keys),
                    },
                };
                let chain = Chain {
                    name: model.to_string(),
                    targets: vec![target],
                    budgets: self.default_budgets,
                    policy: self.default_policy.clone(),
                    continuation: self.default_continuation,
                };
                return Ok(Route {
                    chain: Arc::new(chain),
                    pinned: true,
                });
            }
        }
        Err(RouteError::Unknown {
            requested: model.to_string(),
            valid: self.model_names(),
        })
    }

    /// Names a client may send as `model`: every chain, and `provider/model` for
    /// every target (`GET /v1/models`).
    pub fn model_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.chains.iter().map(|c| c.name.clone()).collect();
        for c in &self.chains {
            for t in &c.targets {
                let n = format!("{}/{}", t.provider, t.model);
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names
    }
}

fn validate_budgets(path: &str, b: &Budgets) -> Result<(), ConfigError> {
    let checks: [(&str, u64); 6] = [
        ("max_attempts", b.max_attempts as u64),
        ("deadline_ms", b.deadline_ms),
        ("header_timeout_ms", b.header_timeout_ms),
        ("response_timeout_ms", b.response_timeout_ms),
        ("first_token_timeout_ms", b.first_token_timeout_ms),
        ("idle_timeout_ms", b.idle_timeout_ms),
    ];
    for (field, v) in checks {
        if v == 0 {
            return Err(err(format!("{path}.{field}"), "must be greater than 0"));
        }
    }
    if b.max_attempts > 100 {
        return Err(err(format!("{path}.max_attempts"), "must be at most 100"));
    }
    Ok(())
}

fn resolve_target(
    path: &str,
    t: &TargetSpec,
    providers: &[Provider],
) -> Result<Target, ConfigError> {
    let Some(p) = providers.iter().find(|p| p.name == t.provider) else {
        let names: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
        return Err(err(
            format!("{path}.provider"),
            format!(
                "unknown provider `{}`; declared providers: {}",
                t.provider,
                names.join(", ")
            ),
        ));
    };
    let model = match t.model.as_deref().map(str::trim) {
        None | Some("") => {
            return Err(err(
                format!("{path}.model"),
                format!(
                "target on provider `{}` has no model: every target needs a concrete model name",
                t.provider
            ),
            ))
        }
        Some(m) if SENTINEL_MODELS.contains(&m.to_ascii_lowercase().as_str()) => {
            return Err(err(
                format!("{path}.model"),
                format!(
                "`{m}` is not a concrete model name: name the exact model (e.g. \"gpt-4o-mini\")"
            ),
            ))
        }
        Some(m) => m.to_string(),
    };
    let keys = match &t.keys {
        None => p.keys.clone(),
        Some(subset) => {
            if subset.is_empty() {
                return Err(err(
                    format!("{path}.keys"),
                    "an explicit key list must not be empty",
                ));
            }
            for (j, k) in subset.iter().enumerate() {
                if !p.keys.contains(k) {
                    return Err(err(
                        format!("{path}.keys[{j}]"),
                        format!("key `{k}` is not one of provider `{}`'s keys", p.name),
                    ));
                }
                // A repeated key would be tried twice in one run.
                if subset[..j].contains(k) {
                    return Err(err(
                        format!("{path}.keys[{j}]"),
                        format!("duplicate key name `{k}`"),
                    ));
                }
            }
            subset.clone()
        }
    };
    if t.context_window == Some(0) {
        return Err(err(
            format!("{path}.context_window"),
            "must be greater than 0",
        ));
    }
    Ok(Target {
        scopes: TargetScopes::of(&p.name, &model, &keys),
        provider: p.name.clone(),
        dialect: p.dialect,
        base_url: p.base_url.clone(),
        model,
        keys,
        context_window: t.context_window,
        api_version: p.api_version.clone(),
        api: p.api,
        continuation: t
            .continuation
            .unwrap_or_else(|| p.dialect.default_continuation()),
    })
}

/// A resolved request route.
#[derive(Debug, Clone)]
pub struct Route {
    /// The chain to walk (a one-target chain for a pinned request).
    pub chain: Arc<Chain>,
    /// The request pinned one provider: never leave it.
    pub pinned: bool,
}

/// Why a request's `model` did not resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// Neither a chain nor `provider/model`.
    Unknown {
        /// What the client sent.
        requested: String,
        /// The names a client may send.
        valid: Vec<String>,
    },
    /// `provider/` with no model, or a sentinel such as `default`.
    NoConcreteModel {
        /// What the client sent.
        requested: String,
    },
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RouteError::Unknown { requested, valid } => write!(
                f,
                "unknown model `{requested}`: name a chain or `provider/model`; valid: {}",
                valid.join(", ")
            ),
            RouteError::NoConcreteModel { requested } => {
                write!(
                    f,
                    "`{requested}` does not name a concrete model after the provider"
                )
            }
        }
    }
}

impl std::error::Error for RouteError {}
