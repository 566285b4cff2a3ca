//! The classifier against real provider error responses.
//!
//! Every fixture under `tests/fixtures/*.json` is a response a provider really sent
//! (status, headers, body), with its source and the expected classification. The
//! files are compiled in with `include_str!` so this test also runs on wasm32.

mod support;
#[cfg(target_arch = "wasm32")]
use support::test;
#[allow(unused_imports)]
use support::*;

use llm_failover::classify::{classify, FailureKind, Outcome, Scope};
use llm_failover::provider::Dialect;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

const FILES: [(&str, &str); 6] = [
    ("openai.json", include_str!("fixtures/openai.json")),
    ("azure.json", include_str!("fixtures/azure.json")),
    ("anthropic.json", include_str!("fixtures/anthropic.json")),
    ("gemini.json", include_str!("fixtures/gemini.json")),
    ("openrouter.json", include_str!("fixtures/openrouter.json")),
    (
        "openai_compatible.json",
        include_str!("fixtures/openai_compatible.json"),
    ),
];

#[derive(Deserialize)]
struct Fixture {
    name: String,
    provider: String,
    source: String,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    headers: BTreeMap<String, Value>,
    #[serde(default)]
    body: Value,
    #[serde(default)]
    in_stream: bool,
    #[serde(default)]
    now_ms: Option<u64>,
    expect: Expect,
}

#[derive(Deserialize)]
struct Expect {
    kind: FailureKind,
    /// Absent: not checked; `null`: must be none.
    #[serde(default, deserialize_with = "some")]
    retry_after_ms: Option<Option<u64>>,
    #[serde(default)]
    scope: Option<Scope>,
}

fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(d).map(Some)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn load() -> Vec<(String, Fixture)> {
    let mut all = Vec::new();
    for (file, json) in FILES {
        let list: Vec<Fixture> =
            serde_json::from_str(json).unwrap_or_else(|e| panic!("{file}: {e}"));
        for f in list {
            all.push((file.to_string(), f));
        }
    }
    all
}

#[test]
fn every_fixture_classifies_as_expected() {
    let all = load();
    assert!(
        all.len() >= 60,
        "the corpus must hold at least 60 real responses, has {}",
        all.len()
    );
    let mut names = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for (file, f) in &all {
        assert!(
            names.insert(f.name.clone()),
            "duplicate fixture name {}",
            f.name
        );
        assert!(!f.source.trim().is_empty(), "{} has no source", f.name);
        let dialect = Dialect::from_name(&f.provider)
            .unwrap_or_else(|| panic!("{}: unknown provider {}", f.name, f.provider));
        let body = text(&f.body);
        let outcome = if f.in_stream {
            Outcome::StreamError { data: body }
        } else {
            let status = f
                .status
                .unwrap_or_else(|| panic!("{}: status required unless in_stream", f.name));
            Outcome::Http {
                status,
                headers: f
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), text(v)))
                    .collect(),
                body,
            }
        };
        let c = classify(dialect, &outcome, f.now_ms.unwrap_or(1_700_000_000_000));
        let mut wrong = Vec::new();
        if c.kind != f.expect.kind {
            wrong.push(format!("kind {} (expected {})", c.kind, f.expect.kind));
        }
        if let Some(want) = f.expect.retry_after_ms {
            if c.retry_after_ms != want {
                wrong.push(format!(
                    "retry_after_ms {:?} (expected {:?})",
                    c.retry_after_ms, want
                ));
            }
        }
        if let Some(want) = f.expect.scope {
            if c.scope != want {
                wrong.push(format!("scope {:?} (expected {:?})", c.scope, want));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{file} {}: {} — reason: {}",
                f.name,
                wrong.join(", "),
                c.reason
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures misclassified:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn reasons_never_carry_key_shapes() {
    for (_, f) in load() {
        let dialect = Dialect::from_name(&f.provider).unwrap_or(Dialect::OpenAiCompatible);
        let outcome = Outcome::Http {
            status: f.status.unwrap_or(500),
            headers: vec![],
            body: text(&f.body),
        };
        let c = classify(dialect, &outcome, 0);
        for prefix in ["sk-proj-", "sk-ant-", "sk-or-", "AIzaSy", "gsk_"] {
            assert!(
                !c.reason.contains(prefix),
                "{}: reason leaks a key shape: {}",
                f.name,
                c.reason
            );
        }
    }
}

#[test]
fn the_corpus_covers_every_provider_family_and_the_main_kinds() {
    let all = load();
    for (file, _) in FILES {
        let n = all.iter().filter(|(f, _)| f == file).count();
        assert!(n >= 6, "{file} has only {n} fixtures");
    }
    for kind in [
        FailureKind::Auth,
        FailureKind::QuotaExhausted,
        FailureKind::RateLimited,
        FailureKind::Overloaded,
        FailureKind::ServerError,
        FailureKind::ContextLength,
        FailureKind::ContentFiltered,
        FailureKind::ModelNotFound,
        FailureKind::InvalidRequest,
        FailureKind::RequestTooLarge,
    ] {
        assert!(
            all.iter().any(|(_, f)| f.expect.kind == kind),
            "no fixture expects {kind}"
        );
    }
}
