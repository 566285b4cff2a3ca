//! Config validation: every error names the field it is about, and `route()`
//! resolves chains, pinned `provider/model`s and unknown names.

mod support;
#[cfg(target_arch = "wasm32")]
use support::test;
#[allow(unused_imports)]
use support::*;

use llm_failover::config::{Config, ConfigError, RouteError};
use llm_failover::provider::Dialect;
use serde_json::{json, Value};

fn base() -> Value {
    json!({
        "providers": [
            {"name": "openai", "dialect": "openai", "base_url": "https://api.openai.com/v1/", "keys": ["OA_1", "OA_2"]},
            {"name": "anthropic", "dialect": "anthropic", "base_url": "https://api.anthropic.com/v1", "keys": ["AN_1"]},
            {"name": "local", "dialect": "vllm", "base_url": "http://127.0.0.1:8000/v1"}
        ],
        "chains": [
            {"name": "main", "targets": [
                {"provider": "openai", "model": "gpt-4o", "context_window": 128000, "keys": ["OA_2"]},
                {"provider": "anthropic", "model": "claude-sonnet-4"},
                {"provider": "local", "model": "llama-3.1-8b"}
            ], "budgets": {"max_attempts": 3}},
            {"name": "cheap", "targets": [{"provider": "openai", "model": "gpt-4o-mini"}]}
        ]
    })
}

fn parse(v: &Value) -> Result<Config, ConfigError> {
    Config::from_json(&v.to_string())
}

/// Applies `edit` to the base config and expects an error at `path`.
fn error_at(edit: impl FnOnce(&mut Value), path: &str) -> ConfigError {
    let mut v = base();
    edit(&mut v);
    match parse(&v) {
        Ok(_) => panic!("expected an error at `{path}`, the config was accepted:\n{v:#}"),
        Err(e) => {
            assert_eq!(e.path, path, "wrong path; message: {}", e.message);
            assert!(e.to_string().contains(path), "Display names the path: {e}");
            e
        }
    }
}

#[test]
fn the_base_config_is_valid_and_normalised() {
    let c = parse(&base()).unwrap();
    assert_eq!(c.providers.len(), 3);
    assert_eq!(
        c.providers[0].base_url, "https://api.openai.com/v1",
        "trailing slash trimmed"
    );
    assert_eq!(c.providers[2].keys, Vec::<String>::new());
    let main = c.chain("main").unwrap();
    assert_eq!(main.targets.len(), 3);
    assert_eq!(
        main.targets[0].keys,
        vec!["OA_2".to_string()],
        "the target's key subset"
    );
    assert_eq!(
        main.targets[1].keys,
        vec!["AN_1".to_string()],
        "the provider's keys by default"
    );
    assert_eq!(main.targets[0].context_window, Some(128000));
    assert_eq!(main.targets[1].dialect, Dialect::Anthropic);
    assert_eq!(main.budgets.max_attempts, 3);
    assert_eq!(
        main.budgets.deadline_ms, 300_000,
        "unset budgets keep their default"
    );
    assert_eq!(c.chain("cheap").unwrap().budgets.max_attempts, 5);
}

// ---------------------------------------------------------------------------
// targets

#[test]
fn a_missing_model_names_the_target_and_its_provider() {
    let e = error_at(
        |v| {
            drop(
                v["chains"][0]["targets"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("model"),
            )
        },
        "chains[0].targets[1].model",
    );
    assert!(e.message.contains("`anthropic`"), "{}", e.message);
    assert!(e.message.contains("no model"), "{}", e.message);
    for blank in ["", "   "] {
        let e = error_at(
            |v| v["chains"][0]["targets"][1]["model"] = json!(blank),
            "chains[0].targets[1].model",
        );
        assert!(e.message.contains("`anthropic`"), "{}", e.message);
    }
    // A null model is a missing model.
    error_at(
        |v| v["chains"][1]["targets"][0]["model"] = Value::Null,
        "chains[1].targets[0].model",
    );
}

#[test]
fn sentinel_models_are_rejected() {
    for sentinel in [
        "default", "auto", "Auto", "DEFAULT", " auto ", "*", "any", "none", "null",
    ] {
        let e = error_at(
            |v| v["chains"][0]["targets"][2]["model"] = json!(sentinel),
            "chains[0].targets[2].model",
        );
        assert!(
            e.message.contains(sentinel.trim()),
            "{sentinel}: {}",
            e.message
        );
        assert!(
            e.message.contains("not a concrete model"),
            "{sentinel}: {}",
            e.message
        );
    }
    // Names that merely contain a sentinel are real models.
    let mut v = base();
    v["chains"][0]["targets"][2]["model"] = json!("auto-coder-7b");
    assert!(parse(&v).is_ok());
}

#[test]
fn an_unknown_provider_lists_the_declared_ones() {
    let e = error_at(
        |v| v["chains"][0]["targets"][1]["provider"] = json!("anthropik"),
        "chains[0].targets[1].provider",
    );
    assert!(e.message.contains("`anthropik`"), "{}", e.message);
    assert!(
        e.message.contains("openai, anthropic, local"),
        "{}",
        e.message
    );
}

#[test]
fn target_key_subsets_must_name_the_providers_keys_once() {
    let e = error_at(
        |v| v["chains"][0]["targets"][0]["keys"] = json!(["OA_1", "AN_1"]),
        "chains[0].targets[0].keys[1]",
    );
    assert!(
        e.message.contains("`AN_1`") && e.message.contains("`openai`"),
        "{}",
        e.message
    );
    let e = error_at(
        |v| v["chains"][0]["targets"][0]["keys"] = json!(["OA_1", "OA_1"]),
        "chains[0].targets[0].keys[1]",
    );
    assert!(e.message.contains("duplicate"), "{}", e.message);
    error_at(
        |v| v["chains"][0]["targets"][0]["keys"] = json!([]),
        "chains[0].targets[0].keys",
    );
}

#[test]
fn context_window_must_be_positive() {
    error_at(
        |v| v["chains"][0]["targets"][1]["context_window"] = json!(0),
        "chains[0].targets[1].context_window",
    );
    let e = error_at(
        |v| v["chains"][0]["targets"][1]["context_window"] = json!(-5),
        "chains[0].targets[1].context_window",
    );
    assert!(e.message.contains("-5"), "{}", e.message);
}

// ---------------------------------------------------------------------------
// names

#[test]
fn duplicate_names_are_rejected() {
    let e = error_at(
        |v| v["providers"][2]["name"] = json!("openai"),
        "providers[2].name",
    );
    assert!(
        e.message.contains("duplicate provider name `openai`"),
        "{}",
        e.message
    );
    let e = error_at(|v| v["chains"][1]["name"] = json!("main"), "chains[1].name");
    assert!(
        e.message.contains("duplicate chain name `main`"),
        "{}",
        e.message
    );
    let e = error_at(
        |v| v["providers"][0]["keys"] = json!(["OA_1", "OA_2", "OA_1"]),
        "providers[0].keys[2]",
    );
    assert!(
        e.message.contains("duplicate key name `OA_1`"),
        "{}",
        e.message
    );
}

#[test]
fn names_that_would_break_routing_or_scopes_are_rejected() {
    for bad in ["", " openai", "open/ai", "open|ai", "open\nai"] {
        error_at(
            |v| v["providers"][0]["name"] = json!(bad),
            "providers[0].name",
        );
    }
    for bad in ["", "main/x", "a|b"] {
        error_at(|v| v["chains"][0]["name"] = json!(bad), "chains[0].name");
    }
    error_at(
        |v| v["providers"][1]["keys"] = json!(["AN|1"]),
        "providers[1].keys[0]",
    );
}

// ---------------------------------------------------------------------------
// providers

#[test]
fn a_bad_base_url_is_rejected() {
    for bad in [
        "api.openai.com/v1",
        "ftp://api.openai.com",
        "https://",
        "http://",
        "",
        "openai",
    ] {
        let e = error_at(
            |v| v["providers"][0]["base_url"] = json!(bad),
            "providers[0].base_url",
        );
        assert!(
            e.message.contains("not an http(s) URL"),
            "{bad}: {}",
            e.message
        );
    }
    let mut v = base();
    v["providers"][2]["base_url"] = json!("http://localhost:11434/v1");
    assert!(parse(&v).is_ok());
}

#[test]
fn azure_needs_an_api_version() {
    let azure = json!({"name": "azure", "dialect": "azure", "base_url": "https://res.openai.azure.com/openai", "keys": ["AZ"]});
    let e = error_at(
        |v| v["providers"].as_array_mut().unwrap().push(azure.clone()),
        "providers[3].api_version",
    );
    assert!(e.message.contains("api_version"), "{}", e.message);
    let mut blank = azure.clone();
    blank["api_version"] = json!("  ");
    error_at(
        |v| v["providers"].as_array_mut().unwrap().push(blank),
        "providers[3].api_version",
    );

    let mut ok = azure;
    ok["api_version"] = json!("2024-10-21");
    let mut v = base();
    v["providers"].as_array_mut().unwrap().push(ok);
    v["chains"][1]["targets"][0] = json!({"provider": "azure", "model": "my-gpt4o-deployment"});
    let c = parse(&v).unwrap();
    let t = &c.chain("cheap").unwrap().targets[0];
    assert_eq!(
        (t.dialect, t.api_version.as_deref()),
        (Dialect::Azure, Some("2024-10-21"))
    );
}

#[test]
fn an_unknown_dialect_lists_the_valid_ones() {
    let e = error_at(
        |v| v["providers"][1]["dialect"] = json!("claude-api"),
        "providers[1].dialect",
    );
    assert!(
        e.message.contains("claude-api") && e.message.contains("openrouter"),
        "{}",
        e.message
    );
}

#[test]
fn empty_lists_are_rejected() {
    error_at(|v| v["providers"] = json!([]), "providers");
    error_at(|v| v["chains"] = json!([]), "chains");
    let e = error_at(
        |v| v["chains"][1]["targets"] = json!([]),
        "chains[1].targets",
    );
    assert!(e.message.contains("`cheap`"), "{}", e.message);
}

// ---------------------------------------------------------------------------
// shape errors from the parser

#[test]
fn unknown_fields_are_rejected_with_their_path() {
    let e = error_at(
        |v| v["chains"][0]["targets"][1]["modle"] = json!("claude"),
        "chains[0].targets[1].modle",
    );
    assert!(e.message.contains("unknown field `modle`"), "{}", e.message);
    let e = error_at(
        |v| v["providers"][0]["api_key"] = json!("sk-live"),
        "providers[0].api_key",
    );
    assert!(
        e.message.contains("unknown field `api_key`"),
        "{}",
        e.message
    );
    assert!(
        !e.message.contains("sk-live"),
        "never echo values: {}",
        e.message
    );
    error_at(
        |v| v["chains"][0]["budgets"]["max_attemps"] = json!(2),
        "chains[0].budgets.max_attemps",
    );
    error_at(
        |v| v["chains"][0]["policy"] = json!({"rate_limited": {"retrys": 2}}),
        "chains[0].policy.rate_limited.retrys",
    );
    error_at(|v| v["defaults"] = json!({"budget": {}}), "defaults.budget");
    error_at(|v| v["cooldowns"] = json!({}), "cooldowns");
}

#[test]
fn wrong_types_and_unknown_kinds_name_the_field() {
    error_at(
        |v| v["chains"][0]["budgets"]["max_attempts"] = json!("3"),
        "chains[0].budgets.max_attempts",
    );
    error_at(
        |v| v["providers"][0]["keys"] = json!("OA_1"),
        "providers[0].keys",
    );
    let e = error_at(
        |v| v["chains"][0]["policy"] = json!({"rate_limit": {"retries": 2}}),
        "chains[0].policy.rate_limit",
    );
    assert!(
        e.message.contains("rate_limited"),
        "lists the valid kinds: {}",
        e.message
    );
    assert!(Config::from_json("not json").is_err());
    assert!(Config::from_json("").is_err());
    assert!(Config::from_json("[]").is_err());
}

#[test]
fn budgets_are_validated_where_they_are_written() {
    let e = error_at(
        |v| v["chains"][0]["budgets"]["deadline_ms"] = json!(0),
        "chains[0].budgets.deadline_ms",
    );
    assert!(e.message.contains("greater than 0"), "{}", e.message);
    error_at(
        |v| v["chains"][0]["budgets"]["max_attempts"] = json!(0),
        "chains[0].budgets.max_attempts",
    );
    error_at(
        |v| v["chains"][0]["budgets"]["max_attempts"] = json!(101),
        "chains[0].budgets.max_attempts",
    );
    error_at(
        |v| v["defaults"] = json!({"budgets": {"header_timeout_ms": 0}}),
        "defaults.budgets.header_timeout_ms",
    );
}

#[test]
fn defaults_apply_to_chains_and_chains_override_them() {
    let mut v = base();
    v["defaults"] = json!({
        "budgets": {"max_attempts": 7, "max_retry_wait_ms": 2000},
        "policy": {"content_filtered": {"fallback": true}, "timeout": {"retries": 2}}
    });
    v["chains"][0]["policy"] = json!({"timeout": {"retries": 0, "cooldown": false}});
    let c = parse(&v).unwrap();
    let main = c.chain("main").unwrap();
    let cheap = c.chain("cheap").unwrap();
    use llm_failover::classify::FailureKind::*;
    assert_eq!(
        (main.budgets.max_attempts, main.budgets.max_retry_wait_ms),
        (3, 2000)
    );
    assert_eq!(cheap.budgets.max_attempts, 7);
    assert!(
        main.policy.rule(ContentFiltered).fallback && cheap.policy.rule(ContentFiltered).fallback
    );
    assert_eq!(
        (
            main.policy.rule(Timeout).retries,
            cheap.policy.rule(Timeout).retries
        ),
        (0, 2)
    );
    assert!(main.policy.rule(Timeout).cooldown.is_none());
    assert!(cheap.policy.rule(Timeout).cooldown.is_some());
    // A pinned request gets the defaults, not a chain's.
    let pinned = c.route("openai/gpt-4o").unwrap();
    assert_eq!(pinned.chain.budgets.max_attempts, 7);
    assert_eq!(pinned.chain.policy.rule(Timeout).retries, 2);
}

// ---------------------------------------------------------------------------
// route()

#[test]
fn route_resolves_a_chain_name() {
    let c = parse(&base()).unwrap();
    let r = c.route("main").unwrap();
    assert!(!r.pinned);
    assert_eq!(r.chain.name, "main");
    let names: Vec<String> = r
        .chain
        .targets
        .iter()
        .map(|t| format!("{}/{}", t.provider, t.model))
        .collect();
    assert_eq!(
        names,
        [
            "openai/gpt-4o",
            "anthropic/claude-sonnet-4",
            "local/llama-3.1-8b"
        ]
    );
}

#[test]
fn route_pins_provider_slash_model() {
    let c = parse(&base()).unwrap();
    // A declared target: its context window and key subset are reused.
    let r = c.route("openai/gpt-4o").unwrap();
    assert!(r.pinned);
    assert_eq!(r.chain.targets.len(), 1);
    let t = &r.chain.targets[0];
    assert_eq!(
        (t.provider.as_str(), t.model.as_str()),
        ("openai", "gpt-4o")
    );
    assert_eq!(t.context_window, Some(128000));
    assert_eq!(t.keys, vec!["OA_2".to_string()]);
    assert_eq!(t.base_url, "https://api.openai.com/v1");

    // Any model of a declared provider: every key, no window.
    let r = c.route("openai/o3-mini").unwrap();
    assert!(r.pinned);
    let t = &r.chain.targets[0];
    assert_eq!((t.model.as_str(), t.context_window), ("o3-mini", None));
    assert_eq!(t.keys, vec!["OA_1".to_string(), "OA_2".to_string()]);

    // Model ids may contain slashes and colons.
    let r = c
        .route("local/meta-llama/Llama-3.1-8B-Instruct:fp8")
        .unwrap();
    assert_eq!(
        r.chain.targets[0].model,
        "meta-llama/Llama-3.1-8B-Instruct:fp8"
    );
    assert_eq!(r.chain.targets[0].provider, "local");
    assert!(r.chain.targets[0].keys.is_empty());
}

#[test]
fn route_rejects_a_pinned_sentinel_model() {
    let c = parse(&base()).unwrap();
    for m in [
        "openai/auto",
        "openai/default",
        "openai/",
        "openai/  ",
        "anthropic/AUTO",
    ] {
        match c.route(m) {
            Err(RouteError::NoConcreteModel { requested }) => assert_eq!(requested, m),
            other => panic!("{m}: {other:?}"),
        }
    }
}

#[test]
fn route_lists_valid_names_for_an_unknown_model() {
    let c = parse(&base()).unwrap();
    let expected = vec![
        "main".to_string(),
        "cheap".to_string(),
        "openai/gpt-4o".to_string(),
        "anthropic/claude-sonnet-4".to_string(),
        "local/llama-3.1-8b".to_string(),
        "openai/gpt-4o-mini".to_string(),
    ];
    assert_eq!(c.model_names(), expected);
    for m in ["gpt-4o", "azure/gpt-4o", "", "MAIN", "main/"] {
        match c.route(m) {
            Err(RouteError::Unknown { requested, valid }) => {
                assert_eq!(requested, m);
                assert_eq!(valid, expected);
            }
            other => panic!("{m}: {other:?}"),
        }
    }
    let text = c.route("gpt-5").unwrap_err().to_string();
    assert!(
        text.contains("`gpt-5`") && text.contains("main, cheap, openai/gpt-4o"),
        "{text}"
    );
}
