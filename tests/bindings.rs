//! The lists the bindings spell out by hand — failure kinds, scopes, transport
//! failures and dialects in the WIT world and in the npm package's `index.d.ts` —
//! are the Rust enums' lists, case for case and in order.

mod support;
#[cfg(target_arch = "wasm32")]
use support::test;
#[allow(unused_imports)]
use support::*;

use llm_failover::failure::{FailureKind, Scope, TransportFailure};
use llm_failover::provider::Dialect;

const WIT: &str = include_str!("../wit/llm-failover.wit");
const DTS: &str = include_str!("../js/index.d.ts");

/// The cases of `variant NAME { … }` in the WIT file, without `other(string)`.
fn wit_variant(name: &str) -> Vec<String> {
    let start = WIT
        .find(&format!("variant {name} {{"))
        .unwrap_or_else(|| panic!("wit: no variant {name}"));
    let body = &WIT[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .map(|l| l.trim_end_matches(',').to_string())
        .filter(|c| !c.starts_with("other("))
        .collect()
}

/// The string literals of `export type NAME = | "a" | "b" …;` in index.d.ts.
fn dts_union(name: &str) -> Vec<String> {
    let start = DTS
        .find(&format!("export type {name} ="))
        .unwrap_or_else(|| panic!("index.d.ts: no type {name}"));
    let body = &DTS[start..];
    let body = &body[..body.find(';').unwrap()];
    body.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn kebab(s: &str) -> String {
    s.replace('_', "-")
}

#[test]
fn failure_kinds_are_the_same_everywhere() {
    let rust: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
    let wit: Vec<String> = rust.iter().map(|k| kebab(k)).collect();
    assert_eq!(wit_variant("failure-kind"), wit);
    assert_eq!(dts_union("FailureKind"), rust);
}

#[test]
fn scopes_are_the_same_everywhere() {
    let rust: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(
        wit_variant("scope"),
        rust.iter().map(|s| kebab(s)).collect::<Vec<_>>()
    );
    assert_eq!(dts_union("Scope"), rust);
}

#[test]
fn transport_failures_are_the_same_everywhere() {
    let rust: Vec<String> = TransportFailure::ALL
        .iter()
        .map(|t| kebab(t.name()))
        .collect();
    assert_eq!(wit_variant("transport-failure"), rust);
    // Their serde names are the config's and the CLI's.
    for t in TransportFailure::ALL {
        assert_eq!(serde_json::to_value(t).unwrap(), t.name());
    }
}

#[test]
fn dialects_are_the_same_everywhere() {
    let rust: Vec<&str> = Dialect::ALL.iter().map(|d| d.as_str()).collect();
    assert_eq!(
        wit_variant("dialect"),
        rust.iter().map(|d| kebab(d)).collect::<Vec<_>>()
    );
    assert_eq!(dts_union("Dialect"), rust);
}
