//! The browser package's host, in a real browser (headless Chromium through
//! `wasm-pack test --headless --chrome`), calling the local fault upstream
//! (tests/e2e/mock-upstream.mjs, CORS on) with the browser's own `fetch`.
//!
//! `scripts/test-browser` starts the mock and passes its URL at compile time in
//! `LLM_FAILOVER_MOCK_URL`; without it every test here fails and says so. The
//! tests run one at a time (wasm-bindgen-test runs async tests serially), so each
//! may clear and read the mock's attempt log.
#![cfg(all(target_arch = "wasm32", feature = "browser"))]

use llm_failover::hosts::browser::{WasmGateway, WasmStream};
use serde_json::{json, Value};
use wasm_bindgen::convert::TryFromJsValue;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const SECRET_FLAKY: &str = "sk-browser-test-FLAKY-7f3a9c2e5b1d";
const SECRET_BACKUP: &str = "sk-browser-test-BACKUP-4e8d1a6c0f2b";

fn mock() -> &'static str {
    match option_env!("LLM_FAILOVER_MOCK_URL") {
        Some(u) => u,
        None => {
            panic!("LLM_FAILOVER_MOCK_URL is not set: run these tests with scripts/test-browser")
        }
    }
}

/// A config with a chain `c` over `targets` (`provider/model` strings) on the mock.
fn config(targets: &[&str], budgets: Value) -> Value {
    let targets: Vec<Value> = targets
        .iter()
        .map(|t| {
            let (p, m) = t.split_once('/').unwrap_or((t, "ok"));
            json!({"provider": p, "model": m})
        })
        .collect();
    json!({
        "providers": [
            {"name": "flaky", "dialect": "openai-compatible", "base_url": format!("{}/v1", mock()), "keys": ["FLAKY_KEY"]},
            {"name": "backup", "dialect": "openai-compatible", "base_url": format!("{}/v1", mock()), "keys": ["BACKUP_KEY"]},
        ],
        "chains": [{"name": "c", "targets": targets, "budgets": budgets}],
    })
}

fn fast() -> Value {
    json!({"max_attempts": 6, "deadline_ms": 20000, "header_timeout_ms": 3000, "response_timeout_ms": 3000,
           "first_token_timeout_ms": 800, "idle_timeout_ms": 800})
}

fn js(v: &Value) -> JsValue {
    js_sys::JSON::parse(&v.to_string()).unwrap()
}

fn val(v: &JsValue) -> Value {
    if v.is_undefined() {
        return Value::Null;
    }
    let text = js_sys::JSON::stringify(v).unwrap().as_string().unwrap();
    serde_json::from_str(&text).unwrap()
}

fn gateway(cfg: &Value, persist: Option<&str>) -> WasmGateway {
    let mut opts = json!({"keys": {"FLAKY_KEY": SECRET_FLAKY, "BACKUP_KEY": SECRET_BACKUP}});
    if let Some(p) = persist {
        opts["persist"] = json!(p);
    }
    match WasmGateway::new(js(cfg), js(&opts)) {
        Ok(g) => g,
        Err(e) => panic!("gateway: {}", val(&e)),
    }
}

fn request(model: &str, stream: bool) -> JsValue {
    js(&json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}))
}

async fn chat(gw: &WasmGateway, model: &str) -> Result<Value, Value> {
    JsFuture::from(gw.request(request(model, false), false, None, None))
        .await
        .map(|v| val(&v))
        .map_err(|e| val(&e))
}

async fn stream(gw: &WasmGateway, model: &str) -> Result<WasmStream, Value> {
    JsFuture::from(gw.request(request(model, true), true, None, None))
        .await
        .map_err(|e| val(&e))
        // The promise resolves to the exported struct; take it back from JS.
        .map(|v| WasmStream::try_from_js_value(v).expect("a WasmStream"))
}

/// Reads a committed stream to its end: the chunks, then `Ok(())` or the error.
async fn drain(s: &WasmStream) -> (Vec<Value>, Result<(), Value>) {
    let mut chunks = Vec::new();
    loop {
        match JsFuture::from(s.next()).await {
            Ok(v) if v.is_null() => return (chunks, Ok(())),
            Ok(v) => chunks.push(val(&v)),
            Err(e) => return (chunks, Err(val(&e))),
        }
    }
}

fn text_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect()
}

async fn http(method: &str, url: &str) -> Value {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let req = web_sys::Request::new_with_str_and_init(url, &init).unwrap();
    let window = web_sys::window().unwrap();
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_request(&req))
        .await
        .unwrap()
        .unchecked_into();
    let text = JsFuture::from(resp.text().unwrap()).await.unwrap();
    serde_json::from_str(&text.as_string().unwrap()).unwrap_or(Value::Null)
}

async fn clear_mock() {
    http("DELETE", &format!("{}/__attempts", mock())).await;
}

/// What the mock saw: `[{model, authorization, ...}]`.
async fn mock_attempts() -> Vec<Value> {
    let v = http("GET", &format!("{}/__attempts", mock())).await;
    v.as_array()
        .cloned()
        .or_else(|| v["attempts"].as_array().cloned())
        .unwrap_or_default()
}

fn attempt_kinds(attempts: &Value) -> Vec<String> {
    attempts
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}/{}={}",
                a["provider"].as_str().unwrap(),
                a["model"].as_str().unwrap(),
                a["kind"].as_str().unwrap_or("ok")
            )
        })
        .collect()
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn no_secrets(v: &Value) {
    let text = v.to_string();
    assert!(
        !text.contains(SECRET_FLAKY) && !text.contains(SECRET_BACKUP),
        "a key leaked: {text}"
    );
}

#[wasm_bindgen_test]
async fn a_503_falls_back_to_the_next_target() {
    clear_mock().await;
    let gw = gateway(
        &config(&["flaky/fault-503", "backup/backup-model"], fast()),
        None,
    );
    let out = chat(&gw, "c").await.expect("the fallback answers");
    assert_eq!(out["target"], "backup/backup-model");
    assert_eq!(
        out["completion"]["choices"][0]["message"]["content"],
        "Hello from backup-model"
    );
    // One retry of the overloaded target, then the fallback.
    assert_eq!(
        attempt_kinds(&out["attempts"]),
        [
            "flaky/fault-503=overloaded",
            "flaky/fault-503=overloaded",
            "backup/backup-model=ok"
        ]
    );
    // The mock saw those three requests, each with its provider's key.
    let seen = mock_attempts().await;
    assert_eq!(seen.len(), 3, "{seen:?}");
    no_secrets(&out["trace"]);
}

#[wasm_bindgen_test]
async fn a_429_with_retry_after_is_waited_for_then_retried() {
    clear_mock().await;
    let gw = gateway(
        &config(
            &["flaky/fault-429-retry-after-1", "backup/backup-model"],
            fast(),
        ),
        None,
    );
    let t0 = now();
    let out = chat(&gw, "c").await.expect("answers");
    let elapsed = now() - t0;
    let kinds = attempt_kinds(&out["attempts"]);
    assert_eq!(
        kinds.first().map(String::as_str),
        Some("flaky/fault-429-retry-after-1=rate_limited")
    );
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("backup/backup-model=ok")
    );
    // The retry waited for the hinted second: a wait in the trace, and real time.
    let trace = out["trace"].as_array().unwrap();
    let wait = trace
        .iter()
        .find(|e| e["event"] == "retry" || e["event"] == "wait")
        .expect("a retry wait in the trace");
    assert!(
        wait["until"].as_f64().unwrap() - wait["at"].as_f64().unwrap() >= 1000.0,
        "{wait}"
    );
    assert!(
        elapsed >= 1000.0,
        "the retry did not wait for Retry-After: {elapsed} ms"
    );
    let retried = kinds.iter().filter(|k| k.starts_with("flaky/")).count();
    assert_eq!(retried, 2, "one retry on the same target: {kinds:?}");
}

#[wasm_bindgen_test]
async fn a_reset_connection_falls_back() {
    let gw = gateway(
        &config(&["flaky/fault-reset", "backup/backup-model"], fast()),
        None,
    );
    let out = chat(&gw, "c").await.expect("answers");
    assert_eq!(out["target"], "backup/backup-model");
    let kinds = attempt_kinds(&out["attempts"]);
    assert!(kinds[0].ends_with("=connection"), "{kinds:?}");
}

#[wasm_bindgen_test]
async fn a_first_token_timeout_falls_back_before_commit() {
    let gw = gateway(
        &config(
            &["flaky/fault-slow-first-token-5000", "backup/backup-model"],
            fast(),
        ),
        None,
    );
    let t0 = now();
    let s = stream(&gw, "c").await.expect("the fallback streams");
    assert_eq!(s.target(), "backup/backup-model");
    let (chunks, end) = drain(&s).await;
    assert_eq!(end, Ok(()));
    assert_eq!(text_of(&chunks), "Hello from backup-model");
    // The first-token timeout (800 ms) cut the wait, not the mock's 5 s.
    assert!(now() - t0 < 4000.0, "waited {} ms", now() - t0);
    let kinds = attempt_kinds(&val(&s.attempts()));
    assert_eq!(kinds[0], "flaky/fault-slow-first-token-5000=timeout");
}

#[wasm_bindgen_test]
async fn a_stream_cut_after_commit_is_finished_by_the_next_target() {
    let gw = gateway(
        &config(&["flaky/fault-stream-cut", "backup/backup-model"], fast()),
        None,
    );
    let s = stream(&gw, "c").await.expect("commits to the first target");
    assert_eq!(s.target(), "flaky/fault-stream-cut");
    let (chunks, end) = drain(&s).await;
    end.expect("the answer is finished, not cut short");
    // "Hello from" came before the cut; the backup, asked afresh, answered
    // "Hello from backup-model": the rest is spliced after what the page had.
    assert_eq!(text_of(&chunks), "Hello from backup-model");
    let kinds = attempt_kinds(&val(&s.attempts()));
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("backup/backup-model=ok"),
        "{kinds:?}"
    );
}

#[wasm_bindgen_test]
async fn a_stream_cut_that_nothing_can_finish_is_an_error_not_a_success() {
    let mut cfg = config(&["flaky/fault-stream-cut", "backup/backup-model"], fast());
    cfg["chains"][0]["continuation"] = json!(false);
    let gw = gateway(&cfg, None);
    let s = stream(&gw, "c").await.expect("commits to the first target");
    let (chunks, end) = drain(&s).await;
    assert!(
        !text_of(&chunks).is_empty(),
        "content arrived before the cut"
    );
    let err = end.expect_err("a cut stream must end with an error");
    assert_eq!(err["class"], "stream");
    assert_eq!(err["kind"], "connection", "{err}");
    assert!(err["message"].as_str().unwrap().contains("flaky"), "{err}");
    // (A reset reported before any content is a pre-commit failure and earns one
    // same-target retry: the mock writes and resets at once.)
    let kinds = attempt_kinds(&err["attempts"]);
    assert!(kinds.len() <= 2, "{kinds:?}");
    assert!(
        kinds
            .iter()
            .all(|k| k.starts_with("flaky/fault-stream-cut=")),
        "{kinds:?}"
    );
}

#[wasm_bindgen_test]
async fn a_stream_stall_after_commit_is_finished_by_the_next_target() {
    let gw = gateway(
        &config(&["flaky/fault-stream-stall", "backup/backup-model"], fast()),
        None,
    );
    let s = stream(&gw, "c").await.expect("commits");
    let (chunks, end) = drain(&s).await;
    end.expect("finished after the idle timeout");
    assert_eq!(text_of(&chunks), "Hello from backup-model");
    let kinds = attempt_kinds(&val(&s.attempts()));
    assert_eq!(kinds[0], "flaky/fault-stream-stall=timeout");
}

#[wasm_bindgen_test]
async fn an_invalid_request_is_returned_and_not_retried() {
    clear_mock().await;
    let gw = gateway(
        &config(
            &["flaky/fault-invalid-request", "backup/backup-model"],
            fast(),
        ),
        None,
    );
    let err = chat(&gw, "c")
        .await
        .expect_err("the provider's 400 comes back");
    assert_eq!(err["class"], "request");
    assert_eq!(err["kind"], "invalid_request");
    assert_eq!(err["status"], 400);
    assert_eq!(
        err["param"], "max_tokens",
        "the provider's own error: {err}"
    );
    assert_eq!(mock_attempts().await.len(), 1, "no retry, no fallback");
}

#[wasm_bindgen_test]
async fn a_pinned_provider_is_never_left() {
    clear_mock().await;
    let gw = gateway(
        &config(&["flaky/fault-503", "backup/backup-model"], fast()),
        None,
    );
    let err = chat(&gw, "flaky/fault-503")
        .await
        .expect_err("pinned: no fallback");
    assert_eq!(err["class"], "upstream");
    assert_eq!(err["kind"], "overloaded");
    assert_eq!(err["status"], 503);
    for a in err["attempts"].as_array().unwrap() {
        assert_eq!(a["provider"], "flaky");
    }
    for a in mock_attempts().await {
        assert_eq!(
            a["model"], "fault-503",
            "the mock saw a request outside the pin: {a}"
        );
    }
    no_secrets(&err);
}

#[wasm_bindgen_test]
async fn a_cooldown_is_respected_by_the_next_call() {
    let gw = gateway(
        &config(&["flaky/fault-500", "backup/backup-model"], fast()),
        None,
    );
    let first = chat(&gw, "c").await.expect("falls back");
    assert_eq!(first["target"], "backup/backup-model");
    let status = val(&gw.status());
    assert!(
        status["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["scope"].as_str().unwrap().contains("fault-500")),
        "the failing model is in cooldown: {status}"
    );
    clear_mock().await;
    let second = chat(&gw, "c").await.expect("answers");
    assert_eq!(
        attempt_kinds(&second["attempts"]),
        ["backup/backup-model=ok"]
    );
    assert!(
        second["trace"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "skip"),
        "the skip is in the trace: {}",
        second["trace"]
    );
    let seen = mock_attempts().await;
    assert!(seen.iter().all(|a| a["model"] != "fault-500"), "{seen:?}");
}

#[wasm_bindgen_test]
async fn cooldowns_persist_in_local_storage() {
    let key = format!("llm-failover-test/{}", now());
    let cfg = config(&["flaky/fault-502-html", "backup/backup-model"], fast());
    let first = gateway(&cfg, Some(&key));
    chat(&first, "c").await.expect("falls back");
    let stored = web_sys::window()
        .unwrap()
        .local_storage()
        .unwrap()
        .unwrap()
        .get_item(&key)
        .unwrap();
    let stored = stored.expect("the table was written to localStorage");
    assert!(stored.contains("fault-502-html"), "{stored}");
    // A new gateway (as after a reload) starts from the stored table.
    let second = gateway(&cfg, Some(&key));
    let out = chat(&second, "c").await.expect("answers");
    assert_eq!(attempt_kinds(&out["attempts"]), ["backup/backup-model=ok"]);
    second.reset();
    let gone = web_sys::window()
        .unwrap()
        .local_storage()
        .unwrap()
        .unwrap()
        .get_item(&key)
        .unwrap();
    assert_eq!(gone, None, "reset() forgets the persisted copy");
}

#[wasm_bindgen_test]
async fn a_bad_key_rotates_and_never_leaks() {
    let mut cfg = config(&["flaky/fault-401", "backup/backup-model"], fast());
    cfg["providers"][0]["keys"] = json!(["FLAKY_KEY", "FLAKY_KEY_2"]);
    let gw = gateway(&cfg, None);
    gw.set_key("FLAKY_KEY_2".into(), "sk-browser-test-second-key-99".into());
    let out = chat(&gw, "c").await.expect("falls back");
    let keys: Vec<&str> = out["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["key"].as_str())
        .collect();
    assert_eq!(
        keys,
        ["FLAKY_KEY", "FLAKY_KEY_2", "BACKUP_KEY"],
        "key names, never values"
    );
    no_secrets(&out);
    assert!(!out.to_string().contains("sk-browser-test-second-key-99"));
}

#[wasm_bindgen_test]
async fn an_abort_signal_stops_the_run() {
    let gw = gateway(
        &config(&["flaky/fault-silent", "backup/backup-model"], fast()),
        None,
    );
    let controller = web_sys::AbortController::new().unwrap();
    let promise = gw.request(request("c", false), false, Some(controller.signal()), None);
    let abort = controller.clone();
    let timer = Closure::once_into_js(move || abort.abort());
    web_sys::window()
        .unwrap()
        .set_timeout_with_callback_and_timeout_and_arguments_0(timer.unchecked_ref(), 200)
        .unwrap();
    let t0 = now();
    let err = JsFuture::from(promise)
        .await
        .map(|v| val(&v))
        .expect_err("aborted");
    let err = val(&err);
    assert_eq!(err["class"], "aborted", "{err}");
    assert!(
        now() - t0 < 2500.0,
        "the abort did not cut the silent upstream's wait"
    );
    // The run ended as cancelled: no upstream blamed, nothing cooled down.
    let last = err["trace"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(
        (last["event"].as_str(), last["result"].as_str()),
        (Some("finished"), Some("cancelled")),
        "{last}"
    );
    assert!(val(&gw.status())["scopes"].as_array().unwrap().is_empty());
}

#[wasm_bindgen_test]
async fn a_fast_stream_finishes_the_run_with_success() {
    // The mock sends a whole healthy stream at once: the `[DONE]` arrives with the
    // first content, before the commit.
    let gw = gateway(&config(&["backup/backup-model"], fast()), None);
    let s = stream(&gw, "c").await.expect("streams");
    let (chunks, end) = drain(&s).await;
    assert_eq!(end, Ok(()));
    assert_eq!(text_of(&chunks), "Hello from backup-model");
    let trace = val(&s.trace());
    let events: Vec<&str> = trace
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["send", "committed", "success", "finished"],
        "{trace}"
    );
    let attempts = val(&s.attempts());
    assert!(
        attempts[0]["ended_at"].is_number(),
        "the attempt ended: {attempts}"
    );
}

#[wasm_bindgen_test]
async fn a_new_key_value_clears_that_keys_cooldown() {
    let cfg = config(&["flaky/ok-model", "backup/backup-model"], fast());
    // The app has not given FLAKY_KEY yet: that key fails as auth and cools down.
    let opts = json!({"keys": {"BACKUP_KEY": SECRET_BACKUP}});
    let gw = WasmGateway::new(js(&cfg), js(&opts))
        .map_err(|e| val(&e))
        .unwrap();
    let first = chat(&gw, "c").await.expect("falls back");
    assert_eq!(
        attempt_kinds(&first["attempts"]),
        ["flaky/ok-model=auth", "backup/backup-model=ok"]
    );
    let cooled = |gw: &WasmGateway| {
        val(&gw.status())["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["scope"].as_str().unwrap().contains("FLAKY_KEY"))
    };
    assert!(cooled(&gw), "the missing key is in cooldown");
    gw.set_key("FLAKY_KEY".into(), SECRET_FLAKY.into());
    assert!(!cooled(&gw), "the new value is not the key that failed");
    let second = chat(&gw, "c").await.expect("answers");
    assert_eq!(second["target"], "flaky/ok-model");
}

#[wasm_bindgen_test]
async fn bad_input_is_a_clear_error() {
    let err = match WasmGateway::new(
        js(&json!({"providers": [], "chains": [{"name": "x"}]})),
        JsValue::UNDEFINED,
    ) {
        Ok(_) => panic!("accepted an invalid config"),
        Err(e) => val(&e),
    };
    assert_eq!(err["class"], "config");
    assert!(
        err["message"].as_str().unwrap().contains("chains[0]"),
        "names the field: {err}"
    );
    let gw = gateway(&config(&["backup/backup-model"], fast()), None);
    let err = chat(&gw, "no-such-chain").await.expect_err("unknown model");
    assert_eq!(err["class"], "request");
    assert!(
        err["message"].as_str().unwrap().contains("no-such-chain"),
        "{err}"
    );
    let err = JsFuture::from(gw.request(js(&json!({"model": "c"})), false, None, None))
        .await
        .expect_err("no messages");
    assert_eq!(val(&err)["class"], "request");
}
