//! The failure policy, row by row: `FallbackRun` driven with a fake clock.
//!
//! Every test builds a config from JSON, drives the run with scripted outcomes
//! (each attempt takes its step's latency; a `Wait` jumps the clock straight to its
//! `until`) and asserts concrete sends, times, keys, kinds and cooldowns.

mod support;

use llm_failover::config::{Config, RouteError};
use llm_failover::cooldown::{CooldownTable, ScopeKey, ScopeState};
use llm_failover::dry_run::{
    dry_run_with_table, OkWord, Reply, Script, ScriptedRun, Step as DryStep, StepOutcome, Stepped,
};
use llm_failover::failure::{FailureKind, Outcome, TransportFailure};
use llm_failover::run::{
    Action, AttemptId, AttemptOutcome, AttemptPlan, FallbackRun, RunError, RunFailure, RunOptions,
    RunResult, TraceEvent,
};
use llm_failover::Timestamp;
#[cfg(target_arch = "wasm32")]
use support::test;
#[allow(unused_imports)]
use support::*;

// ---------------------------------------------------------------------------
// Real-shaped upstream bodies.

const INVALID_REQUEST: &str = r#"{"error":{"message":"Invalid value for 'temperature': expected a number between 0 and 2.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}"#;
const CONTEXT_LENGTH: &str = r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
const CONTENT_FILTER: &str = r#"{"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.","type":null,"param":"prompt","code":"content_filter","status":400}}"#;
const AUTH: &str = r#"{"error":{"message":"Incorrect API key provided: sk-proj-****abcd. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
const QUOTA: &str = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
const RATE_LIMIT: &str = r#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
const OVERLOADED: &str =
    r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
const SERVER_ERROR: &str = r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#;
const MODEL_NOT_FOUND: &str = r#"{"error":{"message":"The model `gpt-4o` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;
const TOO_LARGE_HTML: &str = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const TOO_LARGE_TPM: &str = r#"{"error":{"message":"Request too large for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Requested 45000. The input or output tokens must be reduced in order to run successfully.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
const GATEWAY_TIMEOUT_HTML: &str = "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center></body></html>";

// ---------------------------------------------------------------------------
// Config helpers.

const PROVIDERS: &str = r#"[
    {"name": "openai", "dialect": "openai", "base_url": "https://api.openai.com/v1", "keys": ["OA_1", "OA_2"]},
    {"name": "anthropic", "dialect": "anthropic", "base_url": "https://api.anthropic.com/v1", "keys": ["AN_1"]},
    {"name": "local", "dialect": "vllm", "base_url": "http://127.0.0.1:8000/v1"}
]"#;

const OPENAI: &str = r#"{"provider": "openai", "model": "gpt-4o", "context_window": 128000}"#;
const ANTHROPIC: &str =
    r#"{"provider": "anthropic", "model": "claude-sonnet-4", "context_window": 200000}"#;
const LOCAL: &str = r#"{"provider": "local", "model": "llama-3.1-8b", "context_window": 8192}"#;

/// One chain `main` over `targets`, with extra chain fields (`"budgets": …`).
fn chain_config(targets: &[&str], extra: &str) -> Config {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    config_from(&format!(
        r#"{{"providers": {PROVIDERS}, "chains": [{{"name": "main", "targets": [{}]{extra}}}]}}"#,
        targets.join(", ")
    ))
}

/// openai (2 keys, 128k) → anthropic (1 key, 200k) → local (keyless, 8k).
fn standard() -> Config {
    chain_config(&[OPENAI, ANTHROPIC, LOCAL], "")
}

// ---------------------------------------------------------------------------
// Scripted outcomes and the driver.

#[derive(Debug, Clone)]
struct Step {
    outcome: AttemptOutcome,
    latency: u64,
    /// Report `Committed` half-way through the attempt.
    commit: bool,
}

fn ok() -> Step {
    Step {
        outcome: AttemptOutcome::Success,
        latency: 100,
        commit: false,
    }
}

fn http(status: u16, headers: &[(&str, &str)], body: &str) -> Step {
    Step {
        outcome: AttemptOutcome::Failure(Outcome::Http {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_string(),
        }),
        latency: 100,
        commit: false,
    }
}

fn transport(t: TransportFailure) -> Step {
    Step {
        outcome: AttemptOutcome::Failure(Outcome::Transport(t)),
        latency: 100,
        commit: false,
    }
}

fn failure(o: Outcome) -> Step {
    Step {
        outcome: AttemptOutcome::Failure(o),
        latency: 100,
        commit: false,
    }
}

impl Step {
    fn after(mut self, latency: u64) -> Step {
        self.latency = latency;
        self
    }
    fn committed(mut self) -> Step {
        self.commit = true;
        self
    }
}

/// A send as the host saw it.
#[derive(Debug, Clone)]
struct Sent {
    at: Timestamp,
    /// When its outcome was reported.
    done: Timestamp,
    plan: AttemptPlan,
}

impl Sent {
    fn who(&self) -> (&str, Option<&str>) {
        (self.plan.provider.as_str(), self.plan.key.as_deref())
    }
}

#[derive(Debug)]
struct Driven {
    result: RunResult,
    sends: Vec<Sent>,
    /// (when polled, `until`).
    waits: Vec<(Timestamp, Timestamp)>,
    end: Timestamp,
    run: FallbackRun,
}

impl Driven {
    fn failure(&self) -> &RunFailure {
        match &self.result {
            RunResult::Failed(f) => f,
            other => panic!(
                "expected a failure, got {other:?}\ntrace: {:#?}",
                self.run.trace()
            ),
        }
    }
    fn success(&self) -> (&str, &str) {
        match &self.result {
            RunResult::Success {
                provider, model, ..
            } => (provider, model),
            other => panic!(
                "expected a success, got {other:?}\ntrace: {:#?}",
                self.run.trace()
            ),
        }
    }
    fn who(&self) -> Vec<(&str, Option<&str>)> {
        self.sends.iter().map(Sent::who).collect()
    }
    fn skips(&self) -> Vec<(String, Option<String>, String)> {
        self.run
            .trace()
            .iter()
            .filter_map(|e| match e {
                TraceEvent::Skip {
                    provider, key, why, ..
                } => Some((provider.clone(), key.clone(), why.to_string())),
                _ => None,
            })
            .collect()
    }
}

fn drive(
    config: &Config,
    table: &mut CooldownTable,
    model: &str,
    start: Timestamp,
    script: &[Step],
) -> Driven {
    drive_opts(config, table, model, opts(start, 1, false), script)
}

/// Runs to the end on the one fake-clock driver; attempts beyond the script succeed
/// after 100 ms.
fn drive_opts(
    config: &Config,
    table: &mut CooldownTable,
    model: &str,
    o: RunOptions,
    script: &[Step],
) -> Driven {
    let route = config
        .route(model)
        .unwrap_or_else(|e| panic!("route {model}: {e}"));
    let mut driver = ScriptedRun::new(FallbackRun::new(route, o), false);
    let mut steps = script.iter();
    let mut plans: Vec<AttemptPlan> = Vec::new();
    let reply = |_: &AttemptPlan, _: Timestamp| {
        let step = steps.next().cloned().unwrap_or_else(ok);
        Reply {
            outcome: step.outcome,
            latency_ms: step.latency,
            commit_after_ms: step.commit.then_some(step.latency / 2),
        }
    };
    let (result, end) = driver.finish(table, reply, |stepped, _| match stepped {
        Stepped::Sent(plan) => plans.push(plan.clone()),
        Stepped::Refused(e) => panic!("the run refused a scripted outcome: {e}"),
        _ => {}
    });
    // Send and report times come from the attempt records, waits from the trace.
    let sends = plans
        .into_iter()
        .zip(driver.run.attempts())
        .map(|(plan, a)| Sent {
            at: a.started_at,
            done: a.ended_at.unwrap_or(end),
            plan,
        })
        .collect();
    let mut waits = Vec::new();
    for e in driver.run.trace() {
        if let TraceEvent::Wait { at, until, .. } | TraceEvent::Retry { at, until, .. } = e {
            assert!(
                until > at,
                "Wait until {until} is not after {at}: a busy loop"
            );
            waits.push((*at, *until));
        }
    }
    Driven {
        result,
        sends,
        waits,
        end,
        run: driver.run,
    }
}

fn state(table: &CooldownTable, scope: &ScopeKey, now: Timestamp) -> ScopeState {
    table.state(scope, now)
}

fn open_until(table: &CooldownTable, scope: &ScopeKey, now: Timestamp) -> Timestamp {
    match table.state(scope, now) {
        ScopeState::Open { until } => until,
        other => panic!("{} should be open at {now}, is {other:?}", scope.as_str()),
    }
}

fn cooled_scopes(d: &Driven) -> Vec<(String, Timestamp, FailureKind)> {
    d.run
        .trace()
        .iter()
        .filter_map(|e| match e {
            TraceEvent::CooledDown {
                scope, until, kind, ..
            } => Some((scope.clone(), *until, *kind)),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// invalid_request

#[test]
fn invalid_request_goes_back_to_the_client_after_one_attempt() {
    let config = standard();
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(400, &[], INVALID_REQUEST)],
    );
    assert_eq!(d.sends.len(), 1);
    assert_eq!(d.who(), vec![("openai", Some("OA_1"))]);
    let f = d.failure();
    assert_eq!(f.kind, FailureKind::InvalidRequest);
    assert_eq!(f.propagate, Some(AttemptId(0)));
    assert_eq!(f.http_status, 400);
    assert!(!f.after_commit);
    assert!(d.waits.is_empty());
    assert!(
        t.open_scopes(d.end).is_empty(),
        "a request error cools nothing: {:?}",
        t.open_scopes(d.end)
    );
    assert!(cooled_scopes(&d).is_empty());
    assert_eq!(d.end, T0 + 100);
}

#[test]
fn invalid_request_keeps_the_upstream_status() {
    let config = standard();
    let mut t = table(&config);
    let body = r#"{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}"#;
    let d = drive(&config, &mut t, "main", T0, &[http(422, &[], body)]);
    let f = d.failure();
    assert_eq!(
        (f.kind, f.http_status, f.propagate),
        (FailureKind::InvalidRequest, 422, Some(AttemptId(0)))
    );
    assert_eq!(d.sends.len(), 1);
}

// ---------------------------------------------------------------------------
// context_length

#[test]
fn context_length_falls_back_only_to_a_larger_window() {
    // 128k → 8k (smaller: skipped) → 200k.
    let config = chain_config(&[OPENAI, LOCAL, ANTHROPIC], "");
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(400, &[], CONTEXT_LENGTH)],
    );
    assert_eq!(d.success(), ("anthropic", "claude-sonnet-4"));
    // Never the same model again, not even with its other key.
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("anthropic", Some("AN_1"))]
    );
    assert_eq!(d.sends[1].at, T0 + 100, "falls back at once");
    let skips = d.skips();
    assert!(
        skips
            .iter()
            .any(|(p, _, why)| p == "local" && why.contains("context window")),
        "the 8k target is skipped for its window: {skips:?}"
    );
    assert!(t.open_scopes(d.end).is_empty());
}

#[test]
fn context_length_fails_when_no_target_declares_a_larger_window() {
    // 200k first: nothing after it is larger.
    let config = chain_config(&[ANTHROPIC, OPENAI, LOCAL], "");
    let mut t = table(&config);
    let body = r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 215000 tokens > 200000 maximum"}}"#;
    let d = drive(&config, &mut t, "main", T0, &[http(400, &[], body)]);
    assert_eq!(d.sends.len(), 1);
    let f = d.failure();
    assert_eq!(f.kind, FailureKind::ContextLength);
    assert_eq!(f.http_status, 400);
    assert!(t.open_scopes(d.end).is_empty());

    // A second overflow on the larger target ends the run too (the floor rises).
    let config = chain_config(&[OPENAI, ANTHROPIC, LOCAL], "");
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(400, &[], CONTEXT_LENGTH), http(400, &[], body)],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("anthropic", Some("AN_1"))]
    );
    assert_eq!(d.failure().kind, FailureKind::ContextLength);
}

#[test]
fn context_length_on_a_target_without_a_declared_window_does_not_fall_back() {
    let config = chain_config(
        &[r#"{"provider": "openai", "model": "gpt-4o"}"#, ANTHROPIC],
        "",
    );
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(400, &[], CONTEXT_LENGTH)],
    );
    assert_eq!(d.sends.len(), 1);
    assert_eq!(d.failure().kind, FailureKind::ContextLength);
    assert!(d.skips().iter().any(|(p, _, _)| p == "anthropic"));
}

// ---------------------------------------------------------------------------
// content_filtered

#[test]
fn content_filtered_goes_back_to_the_client_by_default() {
    let config = standard();
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(400, &[], CONTENT_FILTER)],
    );
    assert_eq!(d.sends.len(), 1);
    let f = d.failure();
    assert_eq!(
        (f.kind, f.http_status, f.propagate),
        (FailureKind::ContentFiltered, 400, Some(AttemptId(0)))
    );
    assert!(t.open_scopes(d.end).is_empty());
}

#[test]
fn content_filtered_falls_back_when_the_chain_allows_it() {
    let config = chain_config(
        &[OPENAI, ANTHROPIC, LOCAL],
        r#""policy": {"content_filtered": {"fallback": true}}"#,
    );
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(400, &[], CONTENT_FILTER)],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("anthropic", Some("AN_1"))]
    );
    assert_eq!(d.success(), ("anthropic", "claude-sonnet-4"));
    assert!(
        t.open_scopes(d.end).is_empty(),
        "still a request error: no cooldown"
    );
}

// ---------------------------------------------------------------------------
// auth / quota_exhausted

#[test]
fn auth_rotates_to_the_next_key_then_the_next_target() {
    let config = standard();
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(401, &[], AUTH), http(401, &[], AUTH)],
    );
    assert_eq!(
        d.who(),
        vec![
            ("openai", Some("OA_1")),
            ("openai", Some("OA_2")),
            ("anthropic", Some("AN_1"))
        ]
    );
    assert_eq!(
        d.sends.iter().map(|s| s.at).collect::<Vec<_>>(),
        vec![T0, T0 + 100, T0 + 200]
    );
    assert_eq!(d.success().0, "anthropic");
    // Each key is cooled for the auth row's base (10 min) from its failure.
    assert_eq!(
        open_until(&t, &ScopeKey::key("openai", "OA_1"), d.end),
        T0 + 100 + 10 * MIN
    );
    assert_eq!(
        open_until(&t, &ScopeKey::key("openai", "OA_2"), d.end),
        T0 + 200 + 10 * MIN
    );
    // The model itself is fine.
    assert_eq!(
        state(&t, &ScopeKey::model("openai", "gpt-4o"), d.end),
        ScopeState::Closed
    );
}

#[test]
fn quota_exhausted_rotates_keys_and_cools_the_key_for_an_hour_without_a_hint() {
    let config = standard();
    let mut t = table(&config);
    let d = drive(&config, &mut t, "main", T0, &[http(429, &[], QUOTA)]);
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("openai", Some("OA_2"))]
    );
    assert_eq!(
        d.sends[1].at,
        T0 + 100,
        "no wait: quota does not come back in seconds"
    );
    let until = open_until(&t, &ScopeKey::key("openai", "OA_1"), d.end);
    assert_eq!(until, T0 + 100 + HOUR);
    assert!(until - (T0 + 100) >= HOUR);
    assert_eq!(
        state(&t, &ScopeKey::key("openai", "OA_2"), d.end),
        ScopeState::Closed
    );
    assert_eq!(
        cooled_scopes(&d),
        vec![(
            "key|openai|OA_1".to_string(),
            T0 + 100 + HOUR,
            FailureKind::QuotaExhausted
        )]
    );
}

#[test]
fn quota_exhausted_cools_until_the_retry_hint() {
    let config = standard();
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[
            http(429, &[("retry-after", "7200")], QUOTA),
            http(
                402,
                &[],
                r#"{"error":{"message":"Insufficient credits","code":402}}"#,
            ),
        ],
    );
    assert_eq!(
        d.who(),
        vec![
            ("openai", Some("OA_1")),
            ("openai", Some("OA_2")),
            ("anthropic", Some("AN_1"))
        ]
    );
    assert_eq!(
        open_until(&t, &ScopeKey::key("openai", "OA_1"), d.end),
        T0 + 100 + 2 * HOUR
    );
    assert_eq!(
        open_until(&t, &ScopeKey::key("openai", "OA_2"), d.end),
        T0 + 200 + HOUR
    );
}

// ---------------------------------------------------------------------------
// rate_limited

#[test]
fn rate_limited_with_a_short_retry_after_waits_exactly_that_long_on_the_same_key() {
    let config = standard();
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(429, &[("retry-after", "3")], RATE_LIMIT)],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("openai", Some("OA_1"))]
    );
    let failed_at = T0 + 100;
    assert_eq!(d.waits, vec![(failed_at, failed_at + 3000)]);
    assert_eq!(d.sends[1].at, failed_at + 3000);
    assert_eq!(d.sends[1].plan.target, 0);
    assert_eq!(d.success(), ("openai", "gpt-4o"));
    // The success closed the reservation.
    assert_eq!(
        state(&t, &ScopeKey::key_model("openai", "OA_1", "gpt-4o"), d.end),
        ScopeState::Closed
    );
}

#[test]
fn rate_limited_retry_wait_is_reserved_against_other_runs() {
    let config = standard();
    let mut t = table(&config);
    let mut a = FallbackRun::new(config.route("main").unwrap(), opts(T0, 1, false));
    let Action::Send(p) = a.poll_action(T0, &mut t) else {
        panic!("expected a send")
    };
    let outcome = http(429, &[("retry-after", "3")], RATE_LIMIT).outcome;
    a.handle_outcome(T0 + 100, &mut t, p.attempt, outcome)
        .unwrap();
    assert_eq!(
        a.poll_action(T0 + 100, &mut t),
        Action::Wait { until: T0 + 3100 }
    );

    // Meanwhile another request uses the other key, not the one being waited on.
    let mut b = FallbackRun::new(config.route("main").unwrap(), opts(T0 + 1000, 2, false));
    let Action::Send(pb) = b.poll_action(T0 + 1000, &mut t) else {
        panic!("expected a send")
    };
    assert_eq!(
        (pb.provider.as_str(), pb.key.as_deref()),
        ("openai", Some("OA_2"))
    );
    b.handle_outcome(T0 + 1100, &mut t, pb.attempt, AttemptOutcome::Success)
        .unwrap();

    // At the hint, this run retries its own key, even though that scope was reserved.
    let Action::Send(p2) = a.poll_action(T0 + 3100, &mut t) else {
        panic!("expected the retry")
    };
    assert_eq!(
        (p2.provider.as_str(), p2.key.as_deref(), p2.attempt),
        ("openai", Some("OA_1"), AttemptId(1))
    );
}

#[test]
fn rate_limited_with_a_retry_after_beyond_max_wait_moves_on_and_cools_the_key_model() {
    let config = standard(); // max_retry_wait_ms = 10 s by default
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(429, &[("retry-after", "60")], RATE_LIMIT)],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("openai", Some("OA_2"))]
    );
    assert!(d.waits.is_empty());
    assert_eq!(d.sends[1].at, T0 + 100, "moves on immediately");
    let scope = ScopeKey::key_model("openai", "OA_1", "gpt-4o");
    assert_eq!(open_until(&t, &scope, d.end), T0 + 100 + 60 * SEC);
    // Only that key on that model: the key and the model stay usable.
    assert_eq!(
        state(&t, &ScopeKey::key("openai", "OA_1"), d.end),
        ScopeState::Closed
    );
    assert_eq!(
        state(&t, &ScopeKey::model("openai", "gpt-4o"), d.end),
        ScopeState::Closed
    );
}

#[test]
fn rate_limited_retry_after_just_over_max_wait_is_not_waited_for() {
    let config = chain_config(
        &[OPENAI, ANTHROPIC],
        r#""budgets": {"max_retry_wait_ms": 2000}"#,
    );
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(429, &[("retry-after-ms", "2001")], RATE_LIMIT)],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("openai", Some("OA_2"))]
    );
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(429, &[("retry-after-ms", "2000")], RATE_LIMIT)],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("openai", Some("OA_1"))]
    );
    assert_eq!(d.sends[1].at, T0 + 100 + 2000);
}

#[test]
fn rate_limited_without_a_hint_backs_off_with_jitter_never_a_tight_loop() {
    let config = standard();
    let mut waits = Vec::new();
    for seed in 0..64u64 {
        let mut t = table(&config);
        let script: Vec<Step> = (0..4)
            .map(|_| http(429, &[], RATE_LIMIT).after(0))
            .collect();
        let d = drive_opts(
            &config,
            &mut t,
            "main",
            RunOptions {
                now: T0,
                seed,
                run_id: 1,
                stream: false,
            },
            &script,
        );
        // OA_1, OA_1 again after a backoff, OA_2, OA_2 again, then the next target.
        assert_eq!(
            d.who(),
            vec![
                ("openai", Some("OA_1")),
                ("openai", Some("OA_1")),
                ("openai", Some("OA_2")),
                ("openai", Some("OA_2")),
                ("anthropic", Some("AN_1"))
            ],
            "seed {seed}"
        );
        // The retry waits the rate-limit row's backoff (1 s) with equal jitter.
        let w = d.sends[1].at - d.sends[0].done;
        assert!((500..=1000).contains(&w), "seed {seed}: wait {w}");
        waits.push(w);
        // Even with zero latency, sends to the same target and key are ≥ 500 ms apart.
        for (i, a) in d.sends.iter().enumerate() {
            for b in &d.sends[i + 1..] {
                if (a.plan.target, &a.plan.key) == (b.plan.target, &b.plan.key) {
                    assert!(b.at - a.at >= 500, "seed {seed}: {:?} then {:?}", a, b);
                }
            }
        }
    }
    waits.sort_unstable();
    waits.dedup();
    assert!(waits.len() > 10, "the jitter spreads retries: {waits:?}");
}

#[test]
fn retry_after_zero_still_retries_the_same_key_after_a_floor() {
    let config = standard();
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(429, &[("retry-after", "0")], RATE_LIMIT).after(0)],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("openai", Some("OA_1"))],
        "{:#?}",
        d.run.trace()
    );
    let gap = d.sends[1].at - d.sends[0].done;
    assert_eq!(
        gap,
        llm_failover::cooldown::MIN_COOLDOWN_MS,
        "no tight loop even for `Retry-After: 0`"
    );
    assert_eq!(d.success(), ("openai", "gpt-4o"));
}

// ---------------------------------------------------------------------------
// overloaded / server_error / connection: one retry, then the next target

#[test]
fn transient_failures_retry_once_on_the_same_target_then_fall_back() {
    let cases: Vec<(&str, Step, FailureKind, ScopeKey)> = vec![
        (
            "overloaded",
            http(529, &[], OVERLOADED),
            FailureKind::Overloaded,
            ScopeKey::model("openai", "gpt-4o"),
        ),
        (
            "server_error",
            http(500, &[], SERVER_ERROR),
            FailureKind::ServerError,
            ScopeKey::model("openai", "gpt-4o"),
        ),
        (
            "connection",
            transport(TransportFailure::ConnectionRefused),
            FailureKind::Connection,
            ScopeKey::endpoint("openai"),
        ),
    ];
    for (name, step, kind, scope) in cases {
        let config = standard();
        let mut t = table(&config);
        let d = drive(&config, &mut t, "main", T0, &[step.clone(), step]);
        assert_eq!(
            d.who(),
            vec![
                ("openai", Some("OA_1")),
                ("openai", Some("OA_1")),
                ("anthropic", Some("AN_1"))
            ],
            "{name}: one retry on the same target and key, then the next target (not the next key)"
        );
        let first_fail = T0 + 100;
        assert_eq!(d.waits.len(), 1, "{name}");
        let (polled, until) = d.waits[0];
        assert_eq!(polled, first_fail, "{name}");
        // The default quick backoff: 500 ms with equal jitter.
        assert!(
            (250..=500).contains(&(until - first_fail)),
            "{name}: waited {}",
            until - first_fail
        );
        assert_eq!(d.sends[1].at, until, "{name}");
        assert_eq!(d.sends[2].at, d.sends[1].done, "{name}: falls back at once");
        assert_eq!(d.run.attempts()[1].kind, Some(kind), "{name}");
        // The failing scope cools for the 5 s base: the retry's reservation is not
        // an open of its own (the backoff grows per failed probe, not per attempt).
        assert_eq!(
            open_until(&t, &scope, d.end),
            d.sends[1].done + 5 * SEC,
            "{name}"
        );
        assert_eq!(d.success().0, "anthropic", "{name}");
    }
}

#[test]
fn connection_failure_rules_out_every_target_of_the_endpoint() {
    let config = chain_config(
        &[
            OPENAI,
            r#"{"provider": "openai", "model": "gpt-4o-mini", "context_window": 128000}"#,
            ANTHROPIC,
        ],
        "",
    );
    let mut t = table(&config);
    let refused = transport(TransportFailure::ConnectionRefused);
    let d = drive(&config, &mut t, "main", T0, &[refused.clone(), refused]);
    assert_eq!(
        d.who(),
        vec![
            ("openai", Some("OA_1")),
            ("openai", Some("OA_1")),
            ("anthropic", Some("AN_1"))
        ]
    );
    assert!(matches!(
        t.state(&ScopeKey::endpoint("openai"), d.end),
        ScopeState::Open { .. }
    ));
}

// ---------------------------------------------------------------------------
// timeout

#[test]
fn timeout_moves_to_the_next_target_without_a_retry() {
    let cases = vec![
        (
            "header timeout",
            transport(TransportFailure::HeaderTimeout).after(60_000),
        ),
        ("504 page", http(504, &[], GATEWAY_TIMEOUT_HTML)),
        (
            "408",
            http(
                408,
                &[],
                r#"{"error":{"message":"Request timed out.","type":"timeout_error"}}"#,
            ),
        ),
    ];
    for (name, step) in cases {
        let config = standard();
        let mut t = table(&config);
        let d = drive(&config, &mut t, "main", T0, &[step]);
        assert_eq!(
            d.who(),
            vec![("openai", Some("OA_1")), ("anthropic", Some("AN_1"))],
            "{name}"
        );
        assert_eq!(
            d.run.attempts()[0].kind,
            Some(FailureKind::Timeout),
            "{name}"
        );
        assert!(d.waits.is_empty(), "{name}");
        let failed = d.sends[0].done;
        assert_eq!(d.sends[1].at, failed, "{name}");
        assert_eq!(
            open_until(&t, &ScopeKey::model("openai", "gpt-4o"), d.end),
            failed + 10 * SEC,
            "{name}"
        );
    }
}

// ---------------------------------------------------------------------------
// model_not_found

#[test]
fn model_not_found_is_cooled_for_an_hour_and_skipped_by_the_next_request() {
    let config = standard();
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(404, &[], MODEL_NOT_FOUND)],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("anthropic", Some("AN_1"))]
    );
    let scope = ScopeKey::model("openai", "gpt-4o");
    let until = open_until(&t, &scope, d.end);
    assert_eq!(until, T0 + 100 + HOUR);

    // A new request on the same table, 10 minutes later: openai is skipped unsent.
    let later = T0 + 10 * MIN;
    let d2 = drive_opts(&config, &mut t, "main", opts(later, 2, false), &[]);
    assert_eq!(d2.who(), vec![("anthropic", Some("AN_1"))]);
    assert_eq!(d2.sends[0].at, later);
    let skips = d2.skips();
    assert_eq!(
        skips.iter().filter(|(p, _, _)| p == "openai").count(),
        2,
        "both keys skipped: {skips:?}"
    );
    assert!(skips[0].2.contains("model|openai|gpt-4o"), "{skips:?}");

    // The same through the dry-run API on the live table.
    let script = Script {
        model: "main".into(),
        stream: false,
        now: later + MIN,
        seed: 3,
        steps: vec![],
    };
    let dr = dry_run_with_table(&config, &mut t, &script).unwrap();
    assert_eq!(dr.attempts.len(), 1);
    assert_eq!(dr.attempts[0].provider, "anthropic");
}

// ---------------------------------------------------------------------------
// invalid_response / unknown / request_too_large

#[test]
fn invalid_response_moves_to_the_next_target() {
    let cases = vec![
        (
            "no choices",
            failure(Outcome::InvalidSuccess {
                body: r#"{"id":"chatcmpl-1","object":"chat.completion"}"#.into(),
            }),
        ),
        (
            "not json",
            http(200, &[], "<html>upstream proxy login</html>"),
        ),
    ];
    for (name, step) in cases {
        let config = standard();
        let mut t = table(&config);
        let d = drive(&config, &mut t, "main", T0, &[step]);
        assert_eq!(
            d.who(),
            vec![("openai", Some("OA_1")), ("anthropic", Some("AN_1"))],
            "{name}"
        );
        assert_eq!(
            d.run.attempts()[0].kind,
            Some(FailureKind::InvalidResponse),
            "{name}"
        );
        assert!(d.waits.is_empty(), "{name}");
        assert_eq!(
            open_until(&t, &ScopeKey::model("openai", "gpt-4o"), d.end),
            T0 + 100 + 5 * SEC,
            "{name}"
        );
    }
}

#[test]
fn request_too_large_moves_on_without_a_cooldown() {
    let cases = vec![
        ("413 page", http(413, &[], TOO_LARGE_HTML)),
        ("429 TPM", http(429, &[], TOO_LARGE_TPM)),
    ];
    for (name, step) in cases {
        let config = standard();
        let mut t = table(&config);
        let d = drive(&config, &mut t, "main", T0, &[step]);
        assert_eq!(
            d.run.attempts()[0].kind,
            Some(FailureKind::RequestTooLarge),
            "{name}"
        );
        // Not the other key of the same model either: the request is too large for it.
        assert_eq!(
            d.who(),
            vec![("openai", Some("OA_1")), ("anthropic", Some("AN_1"))],
            "{name}"
        );
        assert!(
            t.open_scopes(d.end).is_empty(),
            "{name}: {:?}",
            t.open_scopes(d.end)
        );
        assert!(cooled_scopes(&d).is_empty(), "{name}");
    }
}

// ---------------------------------------------------------------------------
// pinned mode

#[test]
fn pinned_rotates_keys_and_retries_but_never_leaves_the_provider() {
    let config = standard();
    let mut t = table(&config);
    let script = [
        http(401, &[], AUTH),
        http(500, &[], SERVER_ERROR),
        http(500, &[], SERVER_ERROR),
    ];
    let d = drive(&config, &mut t, "openai/gpt-4o", T0, &script);
    assert!(d.run.is_pinned());
    assert_eq!(
        d.who(),
        vec![
            ("openai", Some("OA_1")),
            ("openai", Some("OA_2")),
            ("openai", Some("OA_2"))
        ]
    );
    assert!(d.sends.iter().all(|s| s.plan.model == "gpt-4o"));
    let f = d.failure();
    assert_eq!(f.kind, FailureKind::ServerError);
    assert_eq!(f.http_status, 500);
    assert_eq!(
        f.propagate,
        Some(AttemptId(2)),
        "the provider's real error goes back"
    );
    assert!(
        f.message.contains("pinned provider `openai`"),
        "{}",
        f.message
    );
}

#[test]
fn pinned_rate_limit_returns_the_providers_429_and_hint() {
    let config = standard();
    let mut t = table(&config);
    let limited = http(429, &[("retry-after", "60")], RATE_LIMIT);
    let d = drive(
        &config,
        &mut t,
        "openai/gpt-4o",
        T0,
        &[limited.clone(), limited],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("openai", Some("OA_2"))]
    );
    let f = d.failure();
    assert_eq!(
        (f.kind, f.http_status, f.propagate, f.retry_after_ms),
        (
            FailureKind::RateLimited,
            429,
            Some(AttemptId(1)),
            Some(60_000)
        )
    );
}

#[test]
fn pinned_to_an_undeclared_model_uses_every_key_of_the_provider() {
    let config = standard();
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "openai/gpt-4.1-nano",
        T0,
        &[http(401, &[], AUTH), http(401, &[], AUTH)],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("openai", Some("OA_2"))]
    );
    assert!(d.sends.iter().all(|s| s.plan.model == "gpt-4.1-nano"));
    let f = d.failure();
    assert_eq!(
        (f.kind, f.http_status, f.propagate),
        (FailureKind::Auth, 401, Some(AttemptId(1)))
    );
}

// ---------------------------------------------------------------------------
// cooldowns across runs, half-open probes, streaks

#[test]
fn a_key_cooled_by_one_run_is_skipped_by_the_next() {
    let config = standard();
    let mut t = table(&config);
    let d = drive(&config, &mut t, "main", T0, &[http(401, &[], AUTH)]);
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("openai", Some("OA_2"))]
    );
    let d2 = drive_opts(&config, &mut t, "main", opts(T0 + MIN, 2, false), &[]);
    assert_eq!(d2.who(), vec![("openai", Some("OA_2"))]);
    assert!(!d2.sends[0].plan.probe);
    assert_eq!(d2.skips().len(), 1);
    assert_eq!(d2.skips()[0].1.as_deref(), Some("OA_1"));
}

#[test]
fn after_the_cooldown_exactly_one_run_probes_and_a_success_closes_the_breaker() {
    let config = standard();
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[transport(TransportFailure::HeaderTimeout)],
    );
    let scope = ScopeKey::model("openai", "gpt-4o");
    let until = open_until(&t, &scope, d.end);
    assert_eq!(until, T0 + 100 + 10 * SEC);

    // Still open one millisecond before: skipped.
    let d1 = drive_opts(&config, &mut t, "main", opts(until - 1, 9, false), &[]);
    assert_eq!(d1.who(), vec![("anthropic", Some("AN_1"))]);

    // At `until` it is half-open: run A gets the probe...
    assert_eq!(
        t.state(&scope, until),
        ScopeState::HalfOpen { probe_until: None }
    );
    let mut a = FallbackRun::new(config.route("main").unwrap(), opts(until, 10, false));
    let mut b = FallbackRun::new(config.route("main").unwrap(), opts(until, 11, false));
    let Action::Send(pa) = a.poll_action(until, &mut t) else {
        panic!("A should send")
    };
    assert_eq!((pa.provider.as_str(), pa.probe), ("openai", true));
    assert_eq!(
        t.state(&scope, until),
        // A non-streaming probe holds its lease for one whole response timeout.
        ScopeState::HalfOpen {
            probe_until: Some(until + 180_000)
        }
    );
    // ...while B, concurrently, skips it.
    let Action::Send(pb) = b.poll_action(until + 5, &mut t) else {
        panic!("B should send")
    };
    assert_eq!((pb.provider.as_str(), pb.probe), ("anthropic", false));
    assert!(b
        .trace()
        .iter()
        .any(|e| matches!(e, TraceEvent::Skip { provider, .. } if provider == "openai")));

    // The probe succeeds: closed, and the next run goes straight to openai, no probe.
    a.handle_outcome(until + 300, &mut t, pa.attempt, AttemptOutcome::Success)
        .unwrap();
    assert!(matches!(
        a.poll_action(until + 300, &mut t),
        Action::Finished(RunResult::Success { .. })
    ));
    assert_eq!(t.state(&scope, until + 300), ScopeState::Closed);
    let d3 = drive_opts(&config, &mut t, "main", opts(until + 400, 12, false), &[]);
    assert_eq!(d3.who(), vec![("openai", Some("OA_1"))]);
    assert!(!d3.sends[0].plan.probe);
}

#[test]
fn a_probe_answered_with_a_request_error_closes_the_breaker() {
    let config = chain_config(&[OPENAI], "");
    let mut t = table(&config);
    let scope = ScopeKey::model("openai", "gpt-4o");
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[transport(TransportFailure::HeaderTimeout)],
    );
    let until = open_until(&t, &scope, d.end);
    let mut a = FallbackRun::new(config.route("main").unwrap(), opts(until, 10, false));
    let Action::Send(pa) = a.poll_action(until, &mut t) else {
        panic!()
    };
    assert!(pa.probe);
    // The probe answers with a request error: the backend is up (the request was
    // the problem), so the breaker closes and the run ends.
    a.handle_outcome(
        until + 100,
        &mut t,
        pa.attempt,
        http(400, &[], INVALID_REQUEST).outcome,
    )
    .unwrap();
    assert!(matches!(
        a.poll_action(until + 100, &mut t),
        Action::Finished(_)
    ));
    assert_eq!(t.state(&scope, until + 100), ScopeState::Closed);
}

#[test]
fn repeated_failures_lengthen_the_cooldown_and_a_success_resets_it() {
    let config = standard();
    let mut t = table(&config);
    let scope = ScopeKey::model("openai", "gpt-4o");
    let mut now = T0;
    let mut lengths = Vec::new();
    for run_id in 0..5 {
        let d = drive_opts(
            &config,
            &mut t,
            "main",
            opts(now, run_id, false),
            &[transport(TransportFailure::HeaderTimeout)],
        );
        assert_eq!(d.sends[0].plan.provider, "openai");
        assert_eq!(
            d.sends[0].plan.probe,
            run_id > 0,
            "run {run_id} probes the half-open scope"
        );
        let until = open_until(&t, &scope, d.end);
        lengths.push(until - d.sends[0].done);
        now = until; // the next request arrives exactly when it turns half-open
    }
    // The timeout row's backoff: 10 s doubling per failed probe, capped at 40 s.
    assert_eq!(
        lengths,
        vec![10 * SEC, 20 * SEC, 40 * SEC, 40 * SEC, 40 * SEC]
    );

    // A success closes it; the next failure starts from the base again.
    let d = drive_opts(&config, &mut t, "main", opts(now, 50, false), &[]);
    assert_eq!(d.success().0, "openai");
    assert_eq!(t.state(&scope, d.end), ScopeState::Closed);
    let d = drive_opts(
        &config,
        &mut t,
        "main",
        opts(d.end + 1, 51, false),
        &[transport(TransportFailure::HeaderTimeout)],
    );
    assert_eq!(open_until(&t, &scope, d.end) - d.sends[0].done, 10 * SEC);
}

#[test]
fn every_target_cooling_waits_when_it_fits_the_budget_else_fails_with_503() {
    let config = chain_config(&[OPENAI], "");
    let mut t = table(&config);
    // A 5 s cooldown on the model (invalid response).
    let bad = failure(Outcome::InvalidSuccess { body: "{}".into() });
    let d = drive(&config, &mut t, "main", T0, &[bad.clone(), bad]);
    assert_eq!(
        d.sends.len(),
        1,
        "the only target's model is out for this run"
    );
    let until = open_until(&t, &ScopeKey::model("openai", "gpt-4o"), d.end);
    // A new request 1 s later waits 4 s for the cooldown (≤ max_retry_wait) and probes.
    let d2 = drive_opts(&config, &mut t, "main", opts(T0 + 1100, 2, false), &[]);
    assert_eq!(d2.waits, vec![(T0 + 1100, until)]);
    assert_eq!(d2.sends[0].at, until);
    assert!(d2.sends[0].plan.probe);

    // Cooled for an hour: no waiting, a 503 naming the cooldown.
    let mut t = table(&config);
    drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(404, &[], MODEL_NOT_FOUND)],
    );
    let d3 = drive_opts(&config, &mut t, "main", opts(T0 + MIN, 3, false), &[]);
    assert!(d3.sends.is_empty());
    let f = d3.failure();
    assert_eq!(
        (f.kind, f.http_status, f.propagate),
        (FailureKind::Unknown, 503, None)
    );
    assert!(f.message.contains("cooling down"), "{}", f.message);
}

// ---------------------------------------------------------------------------
// budgets

#[test]
fn the_deadline_bounds_the_run_and_the_attempt_timeouts() {
    let config = chain_config(
        &[OPENAI, ANTHROPIC, LOCAL],
        r#""budgets": {"deadline_ms": 10000}"#,
    );
    let mut t = table(&config);
    let script = [
        transport(TransportFailure::HeaderTimeout).after(6000),
        transport(TransportFailure::HeaderTimeout).after(4000),
    ];
    let d = drive(&config, &mut t, "main", T0, &script);
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("anthropic", Some("AN_1"))]
    );
    assert_eq!(d.sends[0].plan.header_timeout_ms, 10_000);
    assert_eq!(
        d.sends[1].plan.header_timeout_ms, 4000,
        "an attempt never outlives the deadline"
    );
    assert_eq!(d.sends[1].plan.deadline, T0 + 10_000);
    let f = d.failure();
    assert_eq!((f.kind, f.http_status), (FailureKind::Timeout, 504));
    assert!(f.message.contains("deadline"), "{}", f.message);
    assert_eq!(d.end, T0 + 10_000);
}

#[test]
fn an_attempt_still_in_flight_at_the_deadline_ends_the_run() {
    let config = chain_config(&[OPENAI, ANTHROPIC], r#""budgets": {"deadline_ms": 5000}"#);
    let mut t = table(&config);
    let mut run = FallbackRun::new(config.route("main").unwrap(), opts(T0, 1, false));
    let Action::Send(p) = run.poll_action(T0, &mut t) else {
        panic!()
    };
    assert_eq!(
        run.poll_action(T0 + 10, &mut t),
        Action::Wait { until: T0 + 5000 }
    );
    let Action::Finished(RunResult::Failed(f)) = run.poll_action(T0 + 5000, &mut t) else {
        panic!()
    };
    assert_eq!(
        (f.kind, f.http_status, f.after_commit),
        (FailureKind::Timeout, 504, false)
    );
    assert_eq!(run.attempts()[0].ended_at, Some(T0 + 5000));
    // A late outcome is refused, not a panic.
    assert_eq!(
        run.handle_outcome(T0 + 6000, &mut t, p.attempt, AttemptOutcome::Success),
        Err(RunError::Finished)
    );
}

#[test]
fn a_retry_that_would_end_past_the_deadline_is_not_waited_for() {
    let config = chain_config(&[OPENAI, ANTHROPIC], r#""budgets": {"deadline_ms": 3000}"#);
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(429, &[("retry-after", "5")], RATE_LIMIT)],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("openai", Some("OA_2"))]
    );
    assert!(d.waits.is_empty());
}

#[test]
fn max_attempts_bounds_the_run_retries_included() {
    let config = chain_config(
        &[OPENAI, ANTHROPIC, LOCAL],
        r#""budgets": {"max_attempts": 2}"#,
    );
    let mut t = table(&config);
    let e = http(500, &[], SERVER_ERROR);
    let d = drive(&config, &mut t, "main", T0, &[e.clone(), e.clone(), e]);
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("openai", Some("OA_1"))]
    );
    let f = d.failure();
    assert_eq!(f.kind, FailureKind::ServerError);
    assert!(f.message.contains("max_attempts"), "{}", f.message);
    assert_eq!(f.propagate, None);

    // With one attempt, the retry is not even planned.
    let config = chain_config(&[OPENAI, ANTHROPIC], r#""budgets": {"max_attempts": 1}"#);
    let mut t = table(&config);
    let d = drive(&config, &mut t, "main", T0, &[http(500, &[], SERVER_ERROR)]);
    assert_eq!(d.sends.len(), 1);
    assert!(d.waits.is_empty());
    assert_eq!(d.end, T0 + 100);
}

// ---------------------------------------------------------------------------
// streaming

#[test]
fn a_committed_stream_that_fails_is_continued_on_the_next_target() {
    let config = standard();
    let mut t = table(&config);
    let script = [transport(TransportFailure::StreamEndedEarly).committed()];
    let d = drive_opts(&config, &mut t, "main", opts(T0, 1, true), &script);
    // No same-target retry after the commit in auto mode: the next target finishes it.
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("anthropic", Some("AN_1"))]
    );
    assert_eq!(d.sends[0].plan.continuation, None);
    // Anthropic documents assistant prefill.
    assert_eq!(
        d.sends[1].plan.continuation,
        Some(llm_failover::Continuation::Prefill)
    );
    assert_eq!(d.sends[1].at, d.sends[0].done, "at once");
    assert_eq!(d.success().0, "anthropic");
    assert!(d
        .run
        .trace()
        .iter()
        .any(|e| matches!(e, TraceEvent::Committed { at, .. } if *at == T0 + 50)));
    // The backend that broke the stream cools down.
    assert!(matches!(
        t.state(&ScopeKey::model("openai", "gpt-4o"), d.end),
        ScopeState::Open { .. }
    ));
}

#[test]
fn a_committed_stream_without_continuation_ends_with_an_error_and_no_fallback() {
    let config = chain_config(&[OPENAI, ANTHROPIC, LOCAL], r#""continuation": false"#);
    let mut t = table(&config);
    let script = [transport(TransportFailure::StreamEndedEarly).committed()];
    let d = drive_opts(&config, &mut t, "main", opts(T0, 1, true), &script);
    assert_eq!(d.sends.len(), 1);
    let f = d.failure();
    assert!(f.after_commit);
    assert_eq!(
        (f.kind, f.http_status, f.propagate),
        (FailureKind::Connection, 502, None)
    );
    assert!(
        f.message.contains("failed after the answer started"),
        "{}",
        f.message
    );
    assert!(matches!(
        t.state(&ScopeKey::model("openai", "gpt-4o"), d.end),
        ScopeState::Open { .. }
    ));

    // An in-stream error event after commit: the same.
    let mut t = table(&config);
    let overloaded = failure(Outcome::StreamError {
        data: OVERLOADED.into(),
    })
    .committed();
    let d = drive_opts(&config, &mut t, "main", opts(T0, 1, true), &[overloaded]);
    assert_eq!(d.sends.len(), 1);
    assert_eq!(
        (d.failure().kind, d.failure().after_commit),
        (FailureKind::Overloaded, true)
    );

    // A target that cannot continue is never asked to.
    let config = chain_config(
        &[
            OPENAI,
            r#"{"provider": "anthropic", "model": "claude-sonnet-4", "continuation": "off"}"#,
        ],
        "",
    );
    let mut t = table(&config);
    let script = [transport(TransportFailure::StreamEndedEarly).committed()];
    let d = drive_opts(&config, &mut t, "main", opts(T0, 1, true), &script);
    assert_eq!(d.sends.len(), 1);
    assert!(d.failure().after_commit);
    assert!(d
        .skips()
        .iter()
        .any(|(p, _, why)| p == "anthropic" && why.contains("cannot finish")));
}

#[test]
fn a_stream_failing_before_commit_still_falls_back() {
    let config = standard();
    let mut t = table(&config);
    let d = drive_opts(
        &config,
        &mut t,
        "main",
        opts(T0, 1, true),
        &[transport(TransportFailure::FirstTokenTimeout)],
    );
    assert_eq!(
        d.who(),
        vec![("openai", Some("OA_1")), ("anthropic", Some("AN_1"))]
    );
    assert_eq!(d.success().0, "anthropic");
}

#[test]
fn a_committed_stream_at_the_deadline_ends_after_commit() {
    let config = chain_config(&[OPENAI, ANTHROPIC], r#""budgets": {"deadline_ms": 5000}"#);
    let mut t = table(&config);
    let mut run = FallbackRun::new(config.route("main").unwrap(), opts(T0, 1, true));
    let Action::Send(p) = run.poll_action(T0, &mut t) else {
        panic!()
    };
    run.handle_outcome(T0 + 200, &mut t, p.attempt, AttemptOutcome::Committed)
        .unwrap();
    let Action::Finished(RunResult::Failed(f)) = run.poll_action(T0 + 5000, &mut t) else {
        panic!()
    };
    assert!(f.after_commit);
    assert_eq!(f.kind, FailureKind::Timeout);
    assert_eq!(run.attempts().len(), 1);
}

// ---------------------------------------------------------------------------
// misuse and routing

#[test]
fn an_outcome_for_the_wrong_attempt_is_an_error_not_a_panic() {
    let config = standard();
    let mut t = table(&config);
    let mut run = FallbackRun::new(config.route("main").unwrap(), opts(T0, 1, false));
    // Nothing sent yet.
    assert_eq!(
        run.handle_outcome(T0, &mut t, AttemptId(0), AttemptOutcome::Success),
        Err(RunError::NotInFlight(AttemptId(0)))
    );
    let Action::Send(p) = run.poll_action(T0, &mut t) else {
        panic!()
    };
    assert_eq!(p.attempt, AttemptId(0));
    for wrong in [AttemptId(1), AttemptId(7), AttemptId(u32::MAX)] {
        assert_eq!(
            run.handle_outcome(T0 + 1, &mut t, wrong, AttemptOutcome::Committed),
            Err(RunError::NotInFlight(wrong))
        );
    }
    // The real attempt is unaffected.
    run.handle_outcome(
        T0 + 100,
        &mut t,
        p.attempt,
        http(500, &[], SERVER_ERROR).outcome,
    )
    .unwrap();
    // Reported twice.
    assert_eq!(
        run.handle_outcome(T0 + 101, &mut t, p.attempt, AttemptOutcome::Success),
        Err(RunError::NotInFlight(p.attempt))
    );
    let Action::Wait { until } = run.poll_action(T0 + 101, &mut t) else {
        panic!()
    };
    // An outcome while waiting for a retry.
    assert_eq!(
        run.handle_outcome(T0 + 102, &mut t, AttemptId(1), AttemptOutcome::Success),
        Err(RunError::NotInFlight(AttemptId(1)))
    );
    let Action::Send(p1) = run.poll_action(until, &mut t) else {
        panic!()
    };
    run.handle_outcome(until + 100, &mut t, p1.attempt, AttemptOutcome::Success)
        .unwrap();
    assert!(matches!(
        run.poll_action(until + 100, &mut t),
        Action::Finished(RunResult::Success { .. })
    ));
    assert_eq!(
        run.handle_outcome(until + 200, &mut t, p1.attempt, AttemptOutcome::Success),
        Err(RunError::Finished)
    );
    // Polling a finished run keeps answering the same result.
    assert!(matches!(
        run.poll_action(until + 300, &mut t),
        Action::Finished(RunResult::Success {
            attempt: AttemptId(1),
            ..
        })
    ));
}

#[test]
fn an_unknown_model_lists_the_valid_names() {
    let config = standard();
    let err = config.route("gpt-4o").unwrap_err();
    let RouteError::Unknown { requested, valid } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(requested, "gpt-4o");
    assert_eq!(
        valid,
        &vec![
            "main".to_string(),
            "openai/gpt-4o".to_string(),
            "anthropic/claude-sonnet-4".to_string(),
            "local/llama-3.1-8b".to_string()
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains("main") && text.contains("openai/gpt-4o"),
        "{text}"
    );

    // The dry-run API reports the same error.
    let script = Script {
        model: "nope".into(),
        stream: false,
        now: T0,
        seed: 0,
        steps: vec![],
    };
    let mut t = table(&config);
    assert!(matches!(
        dry_run_with_table(&config, &mut t, &script),
        Err(RouteError::Unknown { .. })
    ));
}

#[test]
fn dry_run_replays_a_script_with_the_same_decisions() {
    let config = standard();
    let mut t = table(&config);
    let steps: Vec<DryStep> = serde_json::from_str(
        r#"[
            {"status": 429, "headers": {"retry-after": "2"}, "body": "{\"error\":{\"message\":\"Rate limit reached for requests\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}"},
            {"status": 401, "body": "{\"error\":{\"message\":\"Incorrect API key provided\",\"type\":\"invalid_request_error\",\"code\":\"invalid_api_key\"}}", "latency_ms": 50},
            {"transport": "connection_refused"},
            "ok"
        ]"#,
    )
    .unwrap();
    assert!(matches!(steps[2].outcome, StepOutcome::Transport { .. }));
    let script = Script {
        model: "main".into(),
        stream: false,
        now: T0,
        seed: 7,
        steps,
    };
    let dr = dry_run_with_table(&config, &mut t, &script).unwrap();
    let who: Vec<(&str, Option<&str>, u64)> = dr
        .attempts
        .iter()
        .map(|a| (a.provider.as_str(), a.key.as_deref(), a.started_at - T0))
        .collect();
    // 429 (hint 2 s) → same key at 100+2000; 401 → OA_2 at once; refused → retried after a
    // backoff (the endpoint is reserved) → success.
    assert_eq!(
        &who[..3],
        &[
            ("openai", Some("OA_1"), 0),
            ("openai", Some("OA_1"), 2100),
            ("openai", Some("OA_2"), 2150)
        ]
    );
    assert_eq!(who.len(), 4);
    assert_eq!(who[3].0, "openai");
    assert!((2250 + 250..=2250 + 500).contains(&(who[3].2)), "{who:?}");
    assert!(matches!(dr.result, RunResult::Success { .. }));
    assert!(dr
        .snapshot
        .entries
        .contains_key(&ScopeKey::key("openai", "OA_1")));
}

#[test]
fn dry_run_steps_read_and_write_every_form() {
    let steps: Vec<DryStep> = serde_json::from_str(
        r#"["ok", {"ok": true, "latency_ms": 300}, {"commit_then": "ok"},
            {"stream_error": "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}", "latency_ms": 5},
            {"commit_then": {"transport": "stream_ended_early"}, "latency_ms": 40}]"#,
    )
    .unwrap();
    assert_eq!(
        (&steps[0].outcome, steps[0].latency_ms),
        (&StepOutcome::Ok(OkWord::Ok), None)
    );
    assert_eq!(
        (&steps[1].outcome, steps[1].latency_ms),
        (&StepOutcome::Ok(OkWord::Ok), Some(300))
    );
    assert!(
        matches!(&steps[2].outcome, StepOutcome::CommitThen { commit_then } if **commit_then == StepOutcome::Ok(OkWord::Ok))
    );
    assert_eq!(steps[3].latency_ms, Some(5));
    assert_eq!(steps[4].latency_ms, Some(40));
    let json = serde_json::to_string(&steps).unwrap();
    assert_eq!(serde_json::from_str::<Vec<DryStep>>(&json).unwrap(), steps);
    assert!(
        json.starts_with(r#"["ok",{"ok":true,"latency_ms":300}"#),
        "{json}"
    );
    assert!(serde_json::from_str::<DryStep>(r#"{"ok": false}"#).is_err());
    assert!(serde_json::from_str::<DryStep>(r#""fine""#).is_err());

    // A slow success is timed like any step.
    let config = standard();
    let mut t = table(&config);
    let script = Script {
        model: "main".into(),
        stream: false,
        now: T0,
        seed: 1,
        steps: vec![steps[1].clone()],
    };
    let dr = dry_run_with_table(&config, &mut t, &script).unwrap();
    assert_eq!(dr.ended_at, T0 + 300);
}

#[test]
fn a_keyless_provider_cools_its_model_for_key_failures() {
    let config = chain_config(&[LOCAL, ANTHROPIC], "");
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(
            401,
            &[],
            r#"{"object":"error","message":"Unauthorized","type":"invalid_request_error","code":401}"#,
        )],
    );
    assert_eq!(d.who(), vec![("local", None), ("anthropic", Some("AN_1"))]);
    assert_eq!(d.run.attempts()[0].kind, Some(FailureKind::Auth));
    // No key to cool: the model on that server is what cools.
    assert_eq!(
        open_until(&t, &ScopeKey::model("local", "llama-3.1-8b"), d.end),
        T0 + 100 + 10 * MIN
    );

    // A rate limit with a short hint retries the keyless target itself.
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[http(429, &[("retry-after", "1")], RATE_LIMIT)],
    );
    assert_eq!(d.who(), vec![("local", None), ("local", None)]);
    assert_eq!(d.sends[1].at, T0 + 100 + 1000);
}

#[test]
fn a_request_error_without_an_http_status_answers_400_and_is_not_propagated() {
    let config = standard();
    // A content filter reported as an error event inside a 200 stream.
    let event = r#"{"error":{"message":"The prompt was flagged by the content filter.","type":"content_filter"}}"#;
    let mut t = table(&config);
    let d = drive_opts(
        &config,
        &mut t,
        "main",
        opts(T0, 1, true),
        &[failure(Outcome::StreamError { data: event.into() })],
    );
    assert_eq!(d.sends.len(), 1);
    let f = d.failure();
    assert_eq!(
        (f.kind, f.http_status, f.propagate),
        (FailureKind::ContentFiltered, 400, None)
    );

    // The same inside a 200 JSON body, with fallback allowed and nowhere to go.
    let config = chain_config(
        &[OPENAI],
        r#""policy": {"content_filtered": {"fallback": true}}"#,
    );
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &[failure(Outcome::InvalidSuccess { body: event.into() })],
    );
    let f = d.failure();
    assert_eq!(
        (f.kind, f.http_status, f.propagate),
        (FailureKind::ContentFiltered, 400, None)
    );

    // Pinned: the same rule.
    let mut t = table(&config);
    let d = drive(
        &config,
        &mut t,
        "openai/gpt-4o",
        T0,
        &[failure(Outcome::StreamError { data: event.into() })],
    );
    let f = d.failure();
    assert_eq!(
        (f.kind, f.http_status, f.propagate),
        (FailureKind::ContentFiltered, 400, None)
    );
}

#[test]
fn every_target_rate_limited_answers_429_and_nothing_sendable_answers_503_with_the_wait() {
    let config = chain_config(
        &[OPENAI, ANTHROPIC],
        r#""policy": {"rate_limited": {"retries": 0}}"#,
    );
    let mut t = table(&config);
    // Every key of every target says 429 with a 30 s hint (beyond max wait).
    let limited = |_: usize| http(429, &[("retry-after", "30")], RATE_LIMIT);
    let d = drive(
        &config,
        &mut t,
        "main",
        T0,
        &(0..3).map(limited).collect::<Vec<_>>(),
    );
    assert_eq!(d.sends.len(), 3);
    let f = d.failure();
    assert_eq!((f.kind, f.http_status), (FailureKind::RateLimited, 429));
    // A new request while everything cools sends nothing: 503 with the time until
    // the earliest cooldown ends.
    let now = d.end + 1_000;
    let d2 = drive(&config, &mut t, "main", now, &[]);
    assert!(d2.sends.is_empty());
    let f2 = d2.failure();
    assert_eq!(f2.http_status, 503);
    let earliest = d.sends[0].done + 30 * SEC;
    assert_eq!(f2.retry_after_ms, Some(earliest - now));
}

// ---------------------------------------------------------------------------
// recovery after an outage

const OVERLOADED_503: &str = r#"{"error":{"message":"That model is currently overloaded with other requests. You can retry your request.","type":"server_error","param":null,"code":null}}"#;

/// A primary that answers 503 from `down_from` for `down_ms`, then recovers; one
/// request every `every_ms`. Returns, per request, (start, who answered, primary
/// attempts it made).
fn outage(
    config: &Config,
    down_from: Timestamp,
    down_ms: u64,
    every_ms: u64,
    requests: u64,
) -> Vec<(Timestamp, String, usize)> {
    let mut t = table(config);
    let mut out = Vec::new();
    for i in 0..requests {
        let start = T0 + i * every_ms;
        let route = config.route("main").unwrap();
        let mut d = ScriptedRun::new(FallbackRun::new(route, opts(start, i + 1, false)), false);
        let reply = |plan: &AttemptPlan, now: Timestamp| {
            let down = now >= down_from && now < down_from + down_ms;
            if plan.provider == "openai" && down {
                Reply {
                    outcome: http(503, &[], OVERLOADED_503).outcome,
                    latency_ms: 80,
                    commit_after_ms: None,
                }
            } else {
                Reply::ok(120)
            }
        };
        let (result, _) = d.finish(&mut t, reply, |_, _| {});
        let who = match result {
            RunResult::Success { provider, .. } => provider,
            other => panic!("request {i} failed: {other:?}"),
        };
        let primary = d
            .run
            .attempts()
            .iter()
            .filter(|a| a.provider == "openai")
            .count();
        out.push((start, who, primary));
    }
    out
}

#[test]
fn a_recovered_primary_answers_again_within_30_s_with_the_default_cooldowns() {
    let config = chain_config(&[OPENAI, ANTHROPIC], "");
    // Every phase of the outage against the 4 s request cadence.
    for phase in (0..4000).step_by(250) {
        let down_from = T0 + 10 * SEC + phase;
        let recovered = down_from + 60 * SEC;
        let log = outage(&config, down_from, 60 * SEC, 4 * SEC, 60);
        // During the outage: every request is answered, by the fallback after at
        // most its first failure; never more than one primary attempt per request
        // once the breaker is open (probes are single attempts).
        for (start, who, primary) in &log {
            if *start >= down_from + 4 * SEC && *start < recovered {
                assert_eq!(who, "anthropic", "phase {phase}: at {}", start - T0);
                assert!(
                    *primary <= 1,
                    "phase {phase}: {primary} primary attempts at {}",
                    start - T0
                );
            }
        }
        let back = log
            .iter()
            .find(|(start, who, _)| *start >= recovered && who == "openai")
            .map(|(start, _, _)| start - recovered)
            .unwrap_or_else(|| panic!("phase {phase}: the primary never came back: {log:?}"));
        assert!(
            back <= 30 * SEC,
            "phase {phase}: back {back} ms after recovery"
        );
        // And it stays back (no flapping once healthy).
        assert!(log
            .iter()
            .filter(|(start, _, _)| *start >= recovered + back)
            .all(|(_, who, _)| who == "openai"));
    }
}

#[test]
fn a_half_open_scope_is_probed_by_one_request_at_a_time_others_fall_back() {
    let config = chain_config(&[OPENAI, ANTHROPIC], "");
    let mut t = table(&config);
    let e = http(503, &[], OVERLOADED_503);
    let d = drive(&config, &mut t, "main", T0, &[e.clone(), e]);
    assert_eq!(d.success().0, "anthropic");
    let scope = ScopeKey::model("openai", "gpt-4o");
    let until = open_until(&t, &scope, d.end);
    // Two requests arrive when it turns half-open: A probes, B goes to the next
    // target at once (no wait for the probe).
    let mut a = FallbackRun::new(config.route("main").unwrap(), opts(until, 10, false));
    let Action::Send(pa) = a.poll_action(until, &mut t) else {
        panic!()
    };
    assert!(pa.probe && pa.provider == "openai");
    let mut b = FallbackRun::new(config.route("main").unwrap(), opts(until, 11, false));
    let Action::Send(pb) = b.poll_action(until, &mut t) else {
        panic!()
    };
    assert_eq!((pb.provider.as_str(), pb.probe), ("anthropic", false));
    assert!(b.trace().iter().any(|e| matches!(
        e,
        TraceEvent::Skip {
            why: llm_failover::run::SkipReason::ProbeInFlight { .. },
            ..
        }
    )));
    // The probe fails: a single attempt (no retry while probing), and the scope
    // re-opens for one more step of the backoff (5 s → 10 s).
    a.handle_outcome(
        until + 80,
        &mut t,
        pa.attempt,
        http(503, &[], OVERLOADED_503).outcome,
    )
    .unwrap();
    let Action::Send(next) = a.poll_action(until + 80, &mut t) else {
        panic!()
    };
    assert_eq!(next.provider, "anthropic", "a failed probe is not retried");
    assert_eq!(open_until(&t, &scope, until + 80), until + 80 + 10 * SEC);
}
