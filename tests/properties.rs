//! Property tests (native only: proptest is a native dev-dependency).
//!
//! Random chains, budgets, policies, cooldown tables and scripted upstream outcomes,
//! with one to three runs sharing a table on a fake clock, checked against the
//! invariants the gateway relies on. The case count honours `PROPTEST_CASES`
//! (proptest's default: 256).
#![cfg(not(target_arch = "wasm32"))]

use llm_failover::classify::{classify, inspect_completion};
use llm_failover::config::Config;
use llm_failover::cooldown::{
    CooldownTable, Entry, ScopeKey, ScopeState, Snapshot, MIN_COOLDOWN_MS,
};
use llm_failover::dry_run::{
    dry_run, OkWord, Reply, Script, ScriptedRun, Step as DryStep, StepOutcome, Stepped,
};
use llm_failover::failure::{FailureKind, Outcome, TransportFailure};
use llm_failover::provider::Dialect;
use llm_failover::run::{
    AttemptOutcome, AttemptPlan, Continuation, FallbackRun, RunOptions, RunResult, TraceEvent,
};
use llm_failover::Timestamp;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};

const T0: Timestamp = 1_750_000_000_000;

// ---------------------------------------------------------------------------
// Real-shaped bodies: a few written here plus every fixture body.

const BODIES: &[&str] = &[
    "",
    "{}",
    "null",
    "Internal Server Error",
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
    r#"{"error":{"message":"Invalid value for 'temperature'.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}"#,
    r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
    r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400}}"#,
    r#"{"error":{"message":"Incorrect API key provided: sk-proj-****abcd.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
    r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
    r#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
    r#"{"error":{"message":"Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 45000.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#,
    r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
    r#"{"error":{"message":"The model `gpt-5-turbo` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
    r#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38s"}]}}"#,
    r#"[{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}]"#,
    r#"{"error":{"message":"Provider returned error","code":429,"metadata":{"raw":"{\"error\":{\"message\":\"rate-limited upstream\"}}","provider_name":"Together"}}}"#,
    r#"{"error":"model 'llama3:70b' not found, try pulling it first"}"#,
    r#"{"object":"error","message":"This model's maximum context length is 8192 tokens.","type":"BadRequestError","param":null,"code":400}"#,
    r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}"#,
    r#"{"id":"chatcmpl-1","object":"chat.completion","choices":[]}"#,
    r#"{"error":{"message":"Internal error","code":500},"choices":[]}"#,
    "{\"error\":{\"message\":\"truncated",
];

const FIXTURES: [&str; 6] = [
    include_str!("fixtures/openai.json"),
    include_str!("fixtures/azure.json"),
    include_str!("fixtures/anthropic.json"),
    include_str!("fixtures/gemini.json"),
    include_str!("fixtures/openrouter.json"),
    include_str!("fixtures/openai_compatible.json"),
];

fn all_bodies() -> &'static [String] {
    use std::sync::OnceLock;
    static B: OnceLock<Vec<String>> = OnceLock::new();
    B.get_or_init(|| {
        let mut out: Vec<String> = BODIES.iter().map(|s| s.to_string()).collect();
        for file in FIXTURES {
            let Ok(Value::Array(items)) = serde_json::from_str::<Value>(file) else {
                continue;
            };
            for it in items {
                match it.get("body") {
                    Some(Value::String(s)) => out.push(s.clone()),
                    Some(v) => out.push(v.to_string()),
                    None => {}
                }
            }
        }
        out
    })
}

fn body(i: usize) -> String {
    let b = all_bodies();
    b[i % b.len()].clone()
}

// ---------------------------------------------------------------------------
// Generated configs.

const DIALECTS: &[&str] = &[
    "openai",
    "anthropic",
    "gemini",
    "openrouter",
    "vllm",
    "groq",
];
const MODELS: &[&str] = &["gpt-4o", "claude-sonnet-4", "meta-llama/llama-3.1-8b:free"];
const WINDOWS: &[Option<u32>] = &[None, Some(8192), Some(128_000), Some(200_000)];

#[derive(Debug, Clone)]
struct ProviderGen {
    dialect: usize,
    keys: usize,
}

#[derive(Debug, Clone)]
struct TargetGen {
    provider: usize,
    model: usize,
    window: usize,
    /// 0: every key; 1: only the last; 2: the keys reversed.
    subset: u8,
}

#[derive(Debug, Clone)]
struct ConfigGen {
    providers: Vec<ProviderGen>,
    targets: Vec<TargetGen>,
    max_attempts: u32,
    deadline_ms: u64,
    header_timeout_ms: u64,
    first_token_timeout_ms: u64,
    max_retry_wait_ms: u64,
    policy: Value,
}

fn provider_name(i: usize) -> String {
    format!("p{i}")
}

fn key_name(provider: usize, k: usize) -> String {
    format!("K{provider}_{k}")
}

impl ConfigGen {
    fn json(&self) -> Value {
        let providers: Vec<Value> = self
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                json!({
                    "name": provider_name(i),
                    "dialect": DIALECTS[p.dialect],
                    "base_url": format!("https://p{i}.example.com/v1"),
                    "keys": (0..p.keys).map(|k| key_name(i, k)).collect::<Vec<_>>(),
                })
            })
            .collect();
        let targets: Vec<Value> = self
            .targets
            .iter()
            .map(|t| {
                let p = t.provider % self.providers.len();
                let n = self.providers[p].keys;
                let mut v = json!({"provider": provider_name(p), "model": MODELS[t.model]});
                if let Some(w) = WINDOWS[t.window] {
                    v["context_window"] = json!(w);
                }
                match (t.subset, n) {
                    (1, n) if n > 0 => v["keys"] = json!([key_name(p, n - 1)]),
                    (2, n) if n > 0 => {
                        v["keys"] = json!((0..n).rev().map(|k| key_name(p, k)).collect::<Vec<_>>())
                    }
                    _ => {}
                }
                v
            })
            .collect();
        json!({
            "providers": providers,
            "chains": [{
                "name": "main",
                "targets": targets,
                "budgets": {
                    "max_attempts": self.max_attempts,
                    "deadline_ms": self.deadline_ms,
                    "header_timeout_ms": self.header_timeout_ms,
                    "first_token_timeout_ms": self.first_token_timeout_ms,
                    "max_retry_wait_ms": self.max_retry_wait_ms,
                },
                "policy": self.policy,
            }],
            "defaults": {"budgets": {
                "max_attempts": self.max_attempts,
                "deadline_ms": self.deadline_ms,
                "max_retry_wait_ms": self.max_retry_wait_ms,
            }},
        })
    }

    fn config(&self) -> Config {
        let j = self.json();
        Config::from_json(&j.to_string())
            .unwrap_or_else(|e| panic!("generated config is invalid: {e}\n{j:#}"))
    }
}

/// Policy overrides that leave `invalid_request` alone.
fn policy_strategy() -> impl Strategy<Value = Value> {
    (
        prop::option::of(any::<bool>()),
        prop::option::of(0u32..3),
        prop::option::of((0u32..3, 0u64..2000, 0u64..5000)),
        any::<bool>(),
    )
        .prop_map(
            |(content_fallback, server_retries, rate, timeout_cooldown_off)| {
                let mut p = serde_json::Map::new();
                if let Some(f) = content_fallback {
                    p.insert("content_filtered".into(), json!({"fallback": f}));
                }
                if let Some(r) = server_retries {
                    p.insert("server_error".into(), json!({"retries": r}));
                }
                if let Some((retries, base, max)) = rate {
                    p.insert(
                    "rate_limited".into(),
                    json!({"retries": retries, "retry_backoff": {"base_ms": base, "max_ms": max}}),
                );
                }
                if timeout_cooldown_off {
                    p.insert("timeout".into(), json!({"cooldown": false}));
                }
                Value::Object(p)
            },
        )
}

fn config_strategy() -> impl Strategy<Value = ConfigGen> {
    let providers = prop::collection::vec(
        (0..DIALECTS.len(), 0usize..=2).prop_map(|(dialect, keys)| ProviderGen { dialect, keys }),
        1..=3,
    );
    let targets = prop::collection::vec(
        (0usize..3, 0..MODELS.len(), 0..WINDOWS.len(), 0u8..3).prop_map(
            |(provider, model, window, subset)| TargetGen {
                provider,
                model,
                window,
                subset,
            },
        ),
        1..=4,
    );
    (
        providers,
        targets,
        1u32..=8,
        prop_oneof![500u64..5_000, 5_000u64..120_000],
        100u64..60_000,
        100u64..30_000,
        prop_oneof![Just(0u64), 0u64..15_000],
        policy_strategy(),
    )
        .prop_map(
            |(
                providers,
                targets,
                max_attempts,
                deadline_ms,
                header_timeout_ms,
                first_token_timeout_ms,
                max_retry_wait_ms,
                policy,
            )| {
                ConfigGen {
                    providers,
                    targets,
                    max_attempts,
                    deadline_ms,
                    header_timeout_ms,
                    first_token_timeout_ms,
                    max_retry_wait_ms,
                    policy,
                }
            },
        )
}

// ---------------------------------------------------------------------------
// Generated upstream outcomes.

const STATUSES: &[u16] = &[
    400, 401, 402, 403, 404, 408, 413, 422, 429, 500, 502, 503, 504, 529, 200,
];

#[derive(Debug, Clone)]
enum HintGen {
    None,
    RetryAfterSecs(u64),
    RetryAfterMs(u64),
    RetryAfterDate(i64),
    ResetRequests(String),
    Garbage(String),
}

#[derive(Debug, Clone)]
enum OutcomeGen {
    Ok,
    Http {
        status: u16,
        body: usize,
        hint: HintGen,
    },
    Transport(TransportFailure),
    StreamError(usize),
    InvalidSuccess(usize),
}

#[derive(Debug, Clone)]
struct StepGen {
    outcome: OutcomeGen,
    commit: bool,
    latency: u64,
}

fn hint_strategy() -> impl Strategy<Value = HintGen> {
    prop_oneof![
        3 => Just(HintGen::None),
        2 => (0u64..120).prop_map(HintGen::RetryAfterSecs),
        1 => (0u64..20_000).prop_map(HintGen::RetryAfterMs),
        1 => (-60i64..600).prop_map(HintGen::RetryAfterDate),
        1 => prop::sample::select(vec!["6m0s", "1s", "20ms", "0s", "2024-10-08T17:29:44Z", "1750000030"]).prop_map(|s| HintGen::ResetRequests(s.to_string())),
        1 => "[ -~]{0,12}".prop_map(HintGen::Garbage),
    ]
}

fn transport_strategy() -> impl Strategy<Value = TransportFailure> {
    prop::sample::select(vec![
        TransportFailure::ConnectionRefused,
        TransportFailure::Dns,
        TransportFailure::ResetBeforeHeaders,
        TransportFailure::Tls,
        TransportFailure::HeaderTimeout,
        TransportFailure::FirstTokenTimeout,
        TransportFailure::StreamIdleTimeout,
        TransportFailure::StreamEndedEarly,
    ])
}

fn outcome_strategy() -> impl Strategy<Value = OutcomeGen> {
    prop_oneof![
        2 => Just(OutcomeGen::Ok),
        6 => (prop::sample::select(STATUSES), any::<usize>(), hint_strategy()).prop_map(|(status, body, hint)| OutcomeGen::Http { status, body, hint }),
        2 => transport_strategy().prop_map(OutcomeGen::Transport),
        1 => any::<usize>().prop_map(OutcomeGen::StreamError),
        1 => any::<usize>().prop_map(OutcomeGen::InvalidSuccess),
    ]
}

fn step_strategy() -> impl Strategy<Value = StepGen> {
    (
        outcome_strategy(),
        prop::bool::weighted(0.1),
        prop_oneof![4 => 0u64..300, 2 => 300u64..5_000, 1 => 5_000u64..70_000],
    )
        .prop_map(|(outcome, commit, latency)| StepGen {
            outcome,
            commit,
            latency,
        })
}

fn http_date(ms: u64) -> String {
    httpdate_like(ms)
}

/// An IMF-fixdate, written by hand to avoid a dev-dependency.
fn httpdate_like(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if mo <= 2 { 1 } else { 0 };
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(mo - 1) as usize];
    format!("{wd}, {d:02} {mon} {y} {h:02}:{m:02}:{s:02} GMT")
}

fn to_outcome(o: &OutcomeGen, now: Timestamp) -> AttemptOutcome {
    match o {
        OutcomeGen::Ok => AttemptOutcome::Success,
        OutcomeGen::Http {
            status,
            body: b,
            hint,
        } => {
            let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
            match hint {
                HintGen::None => {}
                HintGen::RetryAfterSecs(s) => headers.push(("Retry-After".into(), s.to_string())),
                HintGen::RetryAfterMs(ms) => {
                    headers.push(("retry-after-ms".into(), ms.to_string()))
                }
                HintGen::RetryAfterDate(d) => headers.push((
                    "retry-after".into(),
                    http_date(now.saturating_add_signed(d * 1000)),
                )),
                HintGen::ResetRequests(v) => {
                    headers.push(("x-ratelimit-remaining-requests".into(), "0".into()));
                    headers.push(("x-ratelimit-reset-requests".into(), v.clone()));
                }
                HintGen::Garbage(v) => headers.push(("retry-after".into(), v.clone())),
            }
            AttemptOutcome::Failure(Outcome::Http {
                status: *status,
                headers,
                body: body(*b),
            })
        }
        OutcomeGen::Transport(t) => AttemptOutcome::Failure(Outcome::Transport(*t)),
        OutcomeGen::StreamError(b) => {
            AttemptOutcome::Failure(Outcome::StreamError { data: body(*b) })
        }
        OutcomeGen::InvalidSuccess(b) => {
            AttemptOutcome::Failure(Outcome::InvalidSuccess { body: body(*b) })
        }
    }
}

// ---------------------------------------------------------------------------
// Pre-seeded cooldowns.

#[derive(Debug, Clone)]
struct SeedGen {
    /// 0 endpoint, 1 model, 2 key, 3 key_model.
    scope: u8,
    target: usize,
    key: usize,
    until_offset: i64,
    streak: u32,
    kind: usize,
}

fn seed_strategy() -> impl Strategy<Value = Vec<SeedGen>> {
    prop::collection::vec(
        (
            0u8..4,
            0usize..4,
            0usize..2,
            -200_000i64..200_000,
            0u32..5,
            0..FailureKind::ALL.len(),
        )
            .prop_map(|(scope, target, key, until_offset, streak, kind)| SeedGen {
                scope,
                target,
                key,
                until_offset,
                streak,
                kind,
            }),
        0..6,
    )
}

fn seeded_snapshot(config: &Config, seeds: &[SeedGen]) -> Snapshot {
    let chain = &config.chains[0];
    let mut snap = Snapshot::default();
    for s in seeds {
        let t = &chain.targets[s.target % chain.targets.len()];
        let key = if t.keys.is_empty() {
            None
        } else {
            Some(&t.keys[s.key % t.keys.len()])
        };
        let scope = match (s.scope, key) {
            (0, _) => ScopeKey::endpoint(&t.provider),
            (2, Some(k)) => ScopeKey::key(&t.provider, k),
            (3, Some(k)) => ScopeKey::key_model(&t.provider, k, &t.model),
            _ => ScopeKey::model(&t.provider, &t.model),
        };
        let until = T0.saturating_add_signed(s.until_offset);
        let entry = Entry {
            until,
            since: until.saturating_sub(60_000),
            streak: s.streak,
            kind: Some(FailureKind::ALL[s.kind]),
            reason: "seeded".into(),
        };
        snap.join(&Snapshot::from_entries([(scope, entry)]));
    }
    snap
}

// ---------------------------------------------------------------------------
// The concurrent driver.

#[derive(Debug, Clone)]
struct RunGen {
    /// 0: the chain; 1: pinned to a declared target; 2: pinned to an undeclared model.
    mode: u8,
    target: usize,
    start: u64,
    stream: bool,
    seed: u64,
    script: Vec<StepGen>,
}

fn run_strategy() -> impl Strategy<Value = RunGen> {
    (
        prop_oneof![3 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
        0usize..4,
        prop_oneof![Just(0u64), 0u64..3_000],
        any::<bool>(),
        any::<u64>(),
        prop::collection::vec(step_strategy(), 0..8),
    )
        .prop_map(|(mode, target, start, stream, seed, script)| RunGen {
            mode,
            target,
            start,
            stream,
            seed,
            script,
        })
}

struct RunSim {
    d: ScriptedRun,
    run_id: u64,
    script: VecDeque<StepGen>,
    pinned: Option<(String, String)>,
    /// (sent at, done at, plan).
    sends: Vec<(Timestamp, Timestamp, AttemptPlan)>,
    outcomes: Vec<AttemptOutcome>,
    committed: Vec<bool>,
}

fn scopes_of(plan: &AttemptPlan) -> Vec<ScopeKey> {
    let mut s = vec![
        ScopeKey::endpoint(&plan.provider),
        ScopeKey::model(&plan.provider, &plan.model),
    ];
    if let Some(k) = &plan.key {
        s.push(ScopeKey::key(&plan.provider, k));
        s.push(ScopeKey::key_model(&plan.provider, k, &plan.model));
    }
    s
}

/// The send just made (the trace's last `send`) was a planned same-target retry:
/// a `retry` event stands between it and the send before it.
fn is_retry(run: &FallbackRun) -> bool {
    let trace = run.trace();
    let Some(this) = trace
        .iter()
        .rposition(|e| matches!(e, TraceEvent::Send { .. }))
    else {
        return false;
    };
    let prev = trace[..this]
        .iter()
        .rposition(|e| matches!(e, TraceEvent::Send { .. }))
        .map_or(0, |p| p + 1);
    trace[prev..this]
        .iter()
        .any(|e| matches!(e, TraceEvent::Retry { .. }))
}

fn simulate(
    cg: &ConfigGen,
    seeds: &[SeedGen],
    runs: &[RunGen],
    polls_at_deadline: bool,
) -> Result<(), TestCaseError> {
    let config = cg.config();
    let mut table = CooldownTable::new(config.cooldown);
    table.merge(&seeded_snapshot(&config, seeds));
    let chain = config.chains[0].clone();

    let mut sims: Vec<RunSim> = runs
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let t = &chain.targets[g.target % chain.targets.len()];
            let (model, pinned) = match g.mode {
                0 => ("main".to_string(), None),
                1 => (
                    format!("{}/{}", t.provider, t.model),
                    Some((t.provider.clone(), t.model.clone())),
                ),
                _ => (
                    format!("{}/brand-new-model", t.provider),
                    Some((t.provider.clone(), "brand-new-model".to_string())),
                ),
            };
            let route = config.route(&model).expect("generated models route");
            assert_eq!(route.pinned, pinned.is_some());
            let run_id = 100 + i as u64;
            let run = FallbackRun::new(
                route,
                RunOptions {
                    now: T0 + g.start,
                    seed: g.seed,
                    run_id,
                    stream: g.stream,
                },
            );
            RunSim {
                d: ScriptedRun::new(run, polls_at_deadline),
                run_id,
                script: g.script.iter().cloned().collect(),
                pinned,
                sends: Vec::new(),
                outcomes: Vec::new(),
                committed: Vec::new(),
            }
        })
        .collect();

    let mut clock = T0;
    for _ in 0..10_000 {
        let Some((i, now)) = sims
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.d.next_time().map(|t| (i, t)))
            .min_by_key(|(i, t)| (*t, *i))
        else {
            break;
        };
        prop_assert!(now >= clock, "the clock never goes back");
        clock = now;
        let s = &mut sims[i];
        let deadline = s.d.run.deadline();
        let max_attempts = s.d.run.chain().budgets.max_attempts as usize;
        let mut before = table.clone();
        before.release_probes(s.run_id);
        let script = &mut s.script;
        let mut latency = 0;
        let stepped =
            s.d.step(&mut table, &mut |plan: &AttemptPlan, t: Timestamp| {
                let step = script.pop_front().unwrap_or(StepGen {
                    outcome: OutcomeGen::Ok,
                    commit: false,
                    latency: 100,
                });
                latency = step.latency;
                Reply {
                    outcome: to_outcome(&step.outcome, t + step.latency),
                    latency_ms: step.latency,
                    commit_after_ms: (step.commit && plan.stream).then_some(step.latency / 2),
                }
            });
        let Some(stepped) = stepped else { continue };
        match stepped {
            Stepped::Sent(plan) => {
                // Never through an open scope, nor a half-open one another run probes.
                let mut half_open = false;
                for scope in scopes_of(&plan) {
                    match before.state(&scope, now) {
                        ScopeState::Closed => {}
                        ScopeState::HalfOpen { probe_until: None } => half_open = true,
                        other => {
                            return Err(TestCaseError::fail(format!(
                                "run {} sent attempt {} through {} which is {:?} at {now}\n{:#?}",
                                s.run_id,
                                plan.attempt.0,
                                scope.as_str(),
                                other,
                                s.d.run.trace()
                            )))
                        }
                    }
                }
                // A send is a probe exactly when a scope is half-open, unless it is
                // the run's own planned retry (its reservation, not a probe).
                prop_assert!(!plan.probe || half_open, "a probe needs a half-open scope");
                if half_open && !is_retry(&s.d.run) {
                    prop_assert!(
                        plan.probe,
                        "a send through a half-open scope is a probe: {:#?}",
                        s.d.run.trace()
                    );
                }
                prop_assert!(now < deadline, "no send at or after the deadline");
                prop_assert!(s.sends.len() < max_attempts, "more sends than max_attempts");
                if let Some((p, m)) = &s.pinned {
                    prop_assert_eq!(&plan.provider, p, "a pinned run left its provider");
                    prop_assert_eq!(&plan.model, m);
                }
                // Sends to the same target and key are apart by at least the floor.
                if let Some((_, prev_done, _)) = s
                    .sends
                    .iter()
                    .rev()
                    .find(|(_, _, p)| p.target == plan.target && p.key == plan.key)
                {
                    let prefill_rejected =
                        s.d.run.attempts().iter().rev().nth(1).is_some_and(|a| {
                            a.continuation == Some(Continuation::Prefill)
                                && a.kind.is_some_and(FailureKind::is_request_error)
                        });
                    prop_assert!(
                        now >= prev_done + MIN_COOLDOWN_MS || prefill_rejected,
                        "tight loop: sent to target {} key {:?} at {now}, previous ended at {prev_done}",
                        plan.target,
                        plan.key
                    );
                }
                s.sends.push((now, now + latency, plan));
                s.committed.push(false);
            }
            Stepped::Committed(_) => {
                if let Some(c) = s.committed.last_mut() {
                    *c = true;
                }
            }
            Stepped::Reported(_, outcome) => s.outcomes.push(outcome),
            Stepped::Waiting(until) => {
                prop_assert!(until > now, "Wait until {until} at {now}: a busy loop");
                prop_assert!(until <= deadline, "Wait past the deadline");
            }
            Stepped::Finished(_) => {}
            Stepped::Refused(e) => {
                return Err(TestCaseError::fail(format!(
                    "the run refused a scripted outcome: {e}"
                )))
            }
            _ => {}
        }
    }

    for s in &sims {
        let Some(end) = s.d.ended_at() else {
            return Err(TestCaseError::fail(format!(
                "run {} did not finish: {:#?}",
                s.run_id,
                s.d.run.trace()
            )));
        };
        let result =
            s.d.run
                .result()
                .expect("a finished run has a result")
                .clone();
        let deadline = s.d.run.deadline();
        // Past the deadline by at most the last attempt's latency.
        let last_done = s.sends.last().map_or(0, |(_, d, _)| *d);
        prop_assert!(
            end <= deadline.max(last_done),
            "run {} ended at {end}, deadline {deadline}",
            s.run_id
        );
        if polls_at_deadline {
            prop_assert!(end <= deadline);
        }
        prop_assert!(s.sends.len() <= s.d.run.chain().budgets.max_attempts as usize);
        prop_assert_eq!(s.d.run.attempts().len(), s.sends.len());
        let committed = s.committed.iter().any(|c| *c);
        // An invalid request is never sent again (a continuation's refused prefill
        // is asked afresh: that is the same request, not a retry of it).
        let attempts = s.d.run.attempts();
        for a in &attempts[..attempts.len().saturating_sub(1)] {
            if a.continuation.is_none() {
                prop_assert_ne!(
                    a.kind,
                    Some(FailureKind::InvalidRequest),
                    "an invalid_request led to another attempt"
                );
            }
        }
        match &result {
            RunResult::Success {
                attempt, provider, ..
            } => {
                prop_assert_eq!(attempt.0 as usize + 1, s.sends.len());
                prop_assert_eq!(s.outcomes.last(), Some(&AttemptOutcome::Success));
                prop_assert_eq!(provider, &s.sends.last().unwrap().2.provider);
            }
            RunResult::Failed(f) => {
                prop_assert!(
                    (400..600).contains(&f.http_status),
                    "status {}",
                    f.http_status
                );
                if let Some(id) = f.propagate {
                    let a = &attempts[id.0 as usize];
                    prop_assert!(a.status.is_some_and(|st| !(200..300).contains(&st)));
                    prop_assert_eq!(
                        a.status,
                        Some(f.http_status),
                        "a propagated error keeps its status"
                    );
                }
                prop_assert_eq!(
                    f.after_commit,
                    committed,
                    "after_commit exactly when a stream committed"
                );
                if committed {
                    prop_assert!(
                        f.propagate.is_none(),
                        "nothing is passed on after the commit"
                    );
                }
            }
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn one_run_keeps_every_invariant(
        cg in config_strategy(),
        seeds in seed_strategy(),
        run in run_strategy(),
        polls_at_deadline in any::<bool>(),
    ) {
        simulate(&cg, &seeds, &[run], polls_at_deadline)?;
    }

    #[test]
    fn concurrent_runs_keep_every_invariant(
        cg in config_strategy(),
        seeds in seed_strategy(),
        runs in prop::collection::vec(run_strategy(), 2..=3),
        polls_at_deadline in any::<bool>(),
    ) {
        simulate(&cg, &seeds, &runs, polls_at_deadline)?;
    }

    /// The dry-run API on the same inputs: terminates, within budgets, never the guard.
    #[test]
    fn dry_runs_terminate_within_budgets(
        cg in config_strategy(),
        seeds in seed_strategy(),
        run in run_strategy(),
    ) {
        let config = cg.config();
        let snapshot = seeded_snapshot(&config, &seeds);
        let chain = &config.chains[0];
        let t = &chain.targets[run.target % chain.targets.len()];
        let model = if run.mode == 0 { "main".to_string() } else { format!("{}/{}", t.provider, t.model) };
        let now = T0 + run.start;
        let steps: Vec<DryStep> = run.script.iter().map(|s| {
            let outcome = match to_outcome(&s.outcome, now) {
                AttemptOutcome::Success => StepOutcome::Ok(OkWord::Ok),
                AttemptOutcome::Failure(Outcome::Http { status, headers, body }) => StepOutcome::Http { status, headers: headers.into_iter().collect(), body },
                AttemptOutcome::Failure(Outcome::Transport(transport)) => StepOutcome::Transport { transport },
                AttemptOutcome::Failure(Outcome::StreamError { data }) => StepOutcome::StreamError { stream_error: data },
                AttemptOutcome::Failure(Outcome::InvalidSuccess { body }) => StepOutcome::Http { status: 200, headers: BTreeMap::new(), body },
                other => unreachable!("{other:?}"),
            };
            let outcome = if s.commit { StepOutcome::CommitThen { commit_then: Box::new(outcome) } } else { outcome };
            DryStep { outcome, latency_ms: Some(s.latency) }
        }).collect();
        // Every script survives a JSON round trip.
        let script = Script { model, stream: run.stream, now, seed: run.seed, steps };
        let json = serde_json::to_string(&script).unwrap();
        let back: Script = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &script);

        let route = config.route(&script.model).unwrap();
        let (deadline, max_attempts) = (now + route.chain.budgets.deadline_ms, route.chain.budgets.max_attempts);
        let d = dry_run(&config, &snapshot, &script).unwrap();
        if let RunResult::Failed(f) = &d.result {
            prop_assert!(!f.message.contains("step guard"), "{}", f.message);
        }
        prop_assert!(d.attempts.len() <= max_attempts as usize);
        let max_latency = script.steps.iter().filter_map(|s| s.latency_ms).max().unwrap_or(0).max(100);
        prop_assert!(d.ended_at <= deadline + max_latency, "ended {} deadline {}", d.ended_at, deadline);
        for a in &d.attempts[..d.attempts.len().saturating_sub(1)] {
            if a.continuation.is_none() {
                prop_assert_ne!(a.kind, Some(FailureKind::InvalidRequest));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Snapshot merge is a join.

fn entry_strategy() -> impl Strategy<Value = Entry> {
    (
        0u64..4,
        0u64..3,
        0u32..3,
        prop::option::of(0..3usize),
        prop::sample::select(vec!["", "a", "b"]),
    )
        .prop_map(|(until, since, streak, kind, reason)| Entry {
            until: T0 + until * 1000,
            since: T0 + since,
            streak,
            kind: kind.map(|k| FailureKind::ALL[k]),
            reason: reason.to_string(),
        })
}

fn snapshot_strategy() -> impl Strategy<Value = Snapshot> {
    prop::collection::btree_map(
        prop::sample::select(vec![
            "endpoint|a",
            "model|a|m",
            "key|a|k",
            "key_model|a|k|m",
            "model|b|m",
        ])
        .prop_map(|s| ScopeKey(s.to_string())),
        entry_strategy(),
        0..5,
    )
    .prop_map(Snapshot::from_entries)
}

fn joined(a: &Snapshot, b: &Snapshot) -> Snapshot {
    let mut x = a.clone();
    x.join(b);
    x
}

fn table_of(s: &Snapshot) -> CooldownTable {
    let mut t = CooldownTable::default();
    t.merge(s);
    t
}

proptest! {
    #[test]
    fn snapshot_join_is_commutative_associative_idempotent(a in snapshot_strategy(), b in snapshot_strategy(), c in snapshot_strategy()) {
        prop_assert_eq!(joined(&a, &b), joined(&b, &a));
        prop_assert_eq!(joined(&joined(&a, &b), &c), joined(&a, &joined(&b, &c)));
        let mut x = a.clone();
        prop_assert!(!x.join(&a), "joining itself changes nothing");
        prop_assert_eq!(&x, &a);
        // `changed` says exactly whether the result differs.
        let mut y = a.clone();
        let changed = y.join(&b);
        prop_assert_eq!(changed, y != a);
        // Once joined, joining again is a no-op.
        prop_assert!(!y.join(&b));
        prop_assert!(!y.join(&a));
    }

    #[test]
    fn table_merge_is_the_same_join(a in snapshot_strategy(), b in snapshot_strategy(), c in snapshot_strategy()) {
        // Entries are all recent enough to survive the retention filter at T0.
        let mut t = table_of(&a);
        prop_assert_eq!(t.snapshot(T0), a.clone());
        let changed = t.merge(&b);
        let ab = joined(&a, &b);
        prop_assert_eq!(t.snapshot(T0), ab.clone());
        prop_assert_eq!(changed, ab != a, "merge reports whether anything changed");
        prop_assert!(!t.merge(&b), "merging a snapshot already contained changes nothing");
        prop_assert!(!t.merge(&a));
        prop_assert!(!t.merge(&Snapshot::default()));
        // Any order of arrival converges.
        let mut u = table_of(&c);
        u.merge(&b);
        u.merge(&a);
        t.merge(&c);
        prop_assert_eq!(t.snapshot(T0), u.snapshot(T0));
        // Merging only learns: it does not ask the host to write.
        prop_assert!(!t.take_dirty());
    }
}

// ---------------------------------------------------------------------------
// Nothing panics on input.

const HEADER_NAMES: &[&str] = &[
    "retry-after",
    "Retry-After",
    "retry-after-ms",
    "x-ratelimit-reset",
    "x-ratelimit-remaining",
    "x-ratelimit-reset-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-tokens",
    "x-ratelimit-remaining-tokens",
    "anthropic-ratelimit-requests-remaining",
    "anthropic-ratelimit-requests-reset",
    "content-type",
];

fn headers_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            prop_oneof![
                prop::sample::select(HEADER_NAMES).prop_map(str::to_string),
                ".{0,20}"
            ],
            prop_oneof![
                ".{0,30}",
                "[0-9]{1,25}",
                "-?[0-9]{1,6}(\\.[0-9]{1,4})?(ms|s|m|h)?",
                Just("0".to_string()),
                Just("Fri, 31 Dec 9999 23:59:59 GMT".to_string()),
                Just("9999-12-31T23:59:59Z".to_string()),
                Just("1e308".to_string()),
                Just("NaN".to_string()),
                Just("inf".to_string()),
                Just("18446744073709551615".to_string()),
            ],
        ),
        0..5,
    )
}

/// Arbitrary text, or a real body with a slice replaced by arbitrary text.
fn body_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,200}",
        any::<usize>().prop_map(body),
        (
            any::<usize>(),
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            ".{0,20}"
        )
            .prop_map(|(b, i, j, s)| {
                let b = body(b);
                let chars: Vec<char> = b.chars().collect();
                let (mut i, mut j) = (i.index(chars.len() + 1), j.index(chars.len() + 1));
                if i > j {
                    std::mem::swap(&mut i, &mut j);
                }
                chars[..i].iter().collect::<String>() + &s + &chars[j..].iter().collect::<String>()
            }),
        // Deep nesting and long runs.
        (1usize..300).prop_map(|n| "[".repeat(n) + &"]".repeat(n)),
        (1usize..300).prop_map(|n| format!("{}\"x\"{}", "{\"error\":".repeat(n), "}".repeat(n))),
        (0usize..70_000)
            .prop_map(|n| format!("{{\"error\":{{\"message\":\"{}é\"}}}}", "a".repeat(n))),
    ]
}

fn now_strategy() -> impl Strategy<Value = Timestamp> {
    prop_oneof![4 => T0 - 1_000_000..T0 + 1_000_000, 1 => any::<u64>()]
}

proptest! {
    #[test]
    fn classify_never_panics(
        dialect in prop::sample::select(Dialect::ALL.to_vec()),
        status in prop_oneof![prop::sample::select(STATUSES), any::<u16>()],
        headers in headers_strategy(),
        body in body_strategy(),
        now in now_strategy(),
    ) {
        let c = classify(dialect, &Outcome::Http { status, headers: headers.clone(), body: body.clone() }, now);
        prop_assert!(!c.reason.is_empty());
        prop_assert!(c.reason.chars().count() <= 400, "reasons are short: {}", c.reason.len());
        classify(dialect, &Outcome::StreamError { data: body.clone() }, now);
        classify(dialect, &Outcome::InvalidSuccess { body: body.clone() }, now);
        inspect_completion(dialect, &body, now);
    }

    #[test]
    fn config_from_arbitrary_text_never_panics(text in prop_oneof![".{0,300}", "[{}\\[\\]\":,a-z0-9 ]{0,300}"]) {
        let _ = Config::from_json(&text);
    }

    #[test]
    fn config_from_a_mutated_valid_config_never_panics(
        cg in config_strategy(),
        mutations in prop::collection::vec((prop::collection::vec(any::<prop::sample::Index>(), 0..5), mutation_strategy()), 1..4),
    ) {
        let mut v = cg.json();
        for (path, m) in &mutations {
            mutate(&mut v, path, m);
        }
        let text = v.to_string();
        if let Ok(config) = Config::from_json(&text) {
            // A config that validates also routes and runs.
            for name in config.model_names() {
                let route = config.route(&name);
                prop_assert!(route.is_ok(), "a listed name does not route: {name}");
                let script = Script { model: name, stream: false, now: T0, seed: 1, steps: vec![] };
                let d = dry_run(&config, &Snapshot::default(), &script).unwrap();
                prop_assert!(matches!(d.result, RunResult::Success { .. }), "{:?}", d.result);
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(Value),
    Remove,
    Duplicate,
    Rename(String),
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(u64::MAX)),
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(1e300)),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "default",
            "auto",
            "",
            " ",
            "a/b",
            "a|b",
            "azure",
            "openai",
            "https://x",
            "p0",
            "K0_0"
        ])
        .prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"base_ms": 0, "max_ms": 0, "multiplier": 0.0})),
        Just(json!({"base_ms": u64::MAX, "max_ms": u64::MAX, "multiplier": 1e300})),
    ];
    prop_oneof![
        4 => leaf.prop_map(Mutation::Set),
        2 => Just(Mutation::Remove),
        1 => Just(Mutation::Duplicate),
        1 => prop::sample::select(vec!["modle", "budgets", "policy", "keys", "auto", "retries", "cooldown", "defaults"]).prop_map(|s| Mutation::Rename(s.to_string())),
    ]
}

/// Walks `path` (indices into objects' keys / arrays' items) and applies `m` there.
fn mutate(v: &mut Value, path: &[prop::sample::Index], m: &Mutation) {
    let Some((ix, rest)) = path.split_first() else {
        if let Mutation::Set(x) = m {
            *v = x.clone();
        }
        return;
    };
    match v {
        Value::Object(map) if !map.is_empty() => {
            let key = map.keys().nth(ix.index(map.len())).unwrap().clone();
            if !rest.is_empty() {
                return mutate(map.get_mut(&key).unwrap(), rest, m);
            }
            match m {
                Mutation::Set(x) => {
                    map.insert(key, x.clone());
                }
                Mutation::Remove => {
                    map.remove(&key);
                }
                Mutation::Duplicate => {
                    let x = map[&key].clone();
                    map.insert(format!("{key}_copy"), x);
                }
                Mutation::Rename(to) => {
                    let x = map.remove(&key).unwrap();
                    map.insert(to.clone(), x);
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = ix.index(items.len());
            if !rest.is_empty() {
                return mutate(&mut items[i], rest, m);
            }
            match m {
                Mutation::Set(x) => items[i] = x.clone(),
                Mutation::Remove => {
                    items.remove(i);
                }
                Mutation::Duplicate => {
                    let x = items[i].clone();
                    items.push(x);
                }
                Mutation::Rename(s) => items[i] = Value::from(s.clone()),
            }
        }
        _ => {
            if let Mutation::Set(x) = m {
                *v = x.clone();
            }
        }
    }
}

// ---------------------------------------------------------------------------
// A few plain checks of the generators themselves, so a broken strategy cannot
// silently make the properties vacuous.

#[test]
fn generated_bodies_include_the_fixtures() {
    assert!(
        all_bodies().len() > BODIES.len() + 100,
        "{}",
        all_bodies().len()
    );
}

#[test]
fn http_dates_are_well_formed() {
    assert_eq!(
        httpdate_like(946_684_799_000),
        "Fri, 31 Dec 1999 23:59:59 GMT"
    );
    assert_eq!(httpdate_like(T0), "Sun, 15 Jun 2025 15:06:40 GMT");
}
