//! The browser package: the wasm-bindgen layer under the npm package's JavaScript
//! API (`js/index.js`, which turns what this module returns and throws into typed
//! objects, `Error` subclasses and async iterators).
//!
//! A [`WasmGateway`] holds a validated config, the app's keys and a cooldown table
//! that lives as long as the page, optionally persisted to `localStorage` (read
//! back at creation and before each request, so other tabs and a reload see the
//! cooldowns; written when a request changed it). Requests run on the same
//! [`fetch::Driver`] as the Cloudflare Worker.
//!
//! Errors are plain objects `{class, kind, message, status, type, code, param,
//! retryAfterMs, attempts, trace}`; `class` is one of `config`, `request`,
//! `upstream`, `stream`, `aborted`, `internal` (the JS layer picks the `Error`
//! subclass from it).

use super::fetch::{self, Driven, Driver, LiveStream, StreamItem};
use crate::config::Config;
use crate::cooldown::{CooldownTable, Snapshot};
use crate::dry_run::{dry_run, Script};
use crate::explain::OutcomeSpec;
use crate::gateway::{self, ApiError, ChatRequest};
use crate::run::{FallbackRun, RunFailure, RunOptions, TraceEvent};
use crate::{FailureKind, Timestamp};
use serde::Serialize;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

/// The `localStorage` key used when `persist` is `true`.
const DEFAULT_STORAGE_KEY: &str = "llm-failover/cooldowns/v1";

fn now() -> Timestamp {
    js_sys::Date::now() as Timestamp
}

/// A Rust value as a plain JS value, through JSON text (maps as objects, integers
/// as numbers; smaller code than a direct serializer, which matters for the .wasm).
fn to_js<T: Serialize + ?Sized>(v: &T) -> JsValue {
    match serde_json::to_string(v) {
        Ok(text) => parse_json(&text),
        Err(_) => JsValue::NULL,
    }
}

/// A JSON text as a JS value (upstream bodies are passed on as they came).
fn parse_json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or_else(|_| JsValue::from_str(text))
}

/// A JS argument (an object, or a string of JSON) as JSON text.
fn json_text(v: &JsValue, what: &str) -> Result<String, String> {
    if let Some(s) = v.as_string() {
        return Ok(s);
    }
    if v.is_undefined() || v.is_null() {
        return Err(format!("{what} is missing"));
    }
    match js_sys::JSON::stringify(v) {
        Ok(s) => s
            .as_string()
            .ok_or_else(|| format!("{what} cannot be written as JSON")),
        Err(e) => Err(format!(
            "{what} cannot be written as JSON: {}",
            e.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_default()
        )),
    }
}

/// The error object the JS layer turns into an `Error` subclass.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct ErrorInfo {
    class: &'static str,
    kind: String,
    message: String,
    status: Option<u16>,
    #[serde(rename = "type")]
    error_type: Option<String>,
    code: Option<String>,
    param: Option<String>,
    retry_after_ms: Option<u64>,
    target: Option<String>,
    attempts: Option<Value>,
    trace: Option<Value>,
}

impl ErrorInfo {
    fn new(class: &'static str, kind: &str, message: impl Into<String>) -> ErrorInfo {
        ErrorInfo {
            class,
            kind: kind.to_string(),
            message: message.into(),
            ..ErrorInfo::default()
        }
    }

    fn from_api(class: &'static str, e: &ApiError) -> ErrorInfo {
        ErrorInfo {
            class,
            kind: e.code.clone().unwrap_or_else(|| "invalid_request".into()),
            message: e.message.clone(),
            status: Some(e.status),
            error_type: Some(e.kind.to_string()),
            code: e.code.clone(),
            param: e.param.clone(),
            ..ErrorInfo::default()
        }
    }

    fn with_run(mut self, run: &FallbackRun) -> ErrorInfo {
        self.attempts = serde_json::to_value(run.attempts()).ok();
        self.trace = serde_json::to_value(run.trace()).ok();
        self
    }

    fn into_js(self) -> JsValue {
        to_js(&self)
    }
}

// ---------------------------------------------------------------------------
// The gateway

struct Inner {
    config: Config,
    table: RefCell<CooldownTable>,
    keys: RefCell<HashMap<String, String>>,
    storage_key: Option<String>,
    next_run_id: Cell<u64>,
}

impl Inner {
    fn storage(&self) -> Option<(web_sys::Storage, &str)> {
        let key = self.storage_key.as_deref()?;
        let storage = web_sys::window()?.local_storage().ok()??;
        Some((storage, key))
    }

    /// Merges the persisted snapshot, if any (another tab's or an earlier page's).
    fn load(&self) {
        let Some((storage, key)) = self.storage() else {
            return;
        };
        let Ok(Some(text)) = storage.get_item(key) else {
            return;
        };
        // A corrupt or foreign value is ignored: cooldowns are advisory.
        if let Ok(snapshot) = serde_json::from_str::<Snapshot>(&text) {
            if let Ok(mut table) = self.table.try_borrow_mut() {
                table.merge(&snapshot);
                // Merging what is already persisted is no reason to write it back.
                table.take_dirty();
            }
        }
    }

    /// Writes the table if a request changed it.
    fn save(&self) {
        let Some((storage, key)) = self.storage() else {
            return;
        };
        let t = now();
        let text = {
            let Ok(mut table) = self.table.try_borrow_mut() else {
                return;
            };
            if !table.take_dirty() {
                return;
            }
            table.prune(t);
            serde_json::to_string(&table.snapshot(t))
        };
        if let Ok(text) = text {
            // Full storage or private mode: the in-memory table still holds it.
            let _ = storage.set_item(key, &text);
        }
    }
}

/// The browser as a [`fetch::Host`].
#[derive(Clone)]
struct BrowserHost {
    inner: Rc<Inner>,
    on_event: Option<js_sys::Function>,
}

impl fetch::Host for BrowserHost {
    fn now(&self) -> Timestamp {
        now()
    }

    fn with_table<R>(&self, f: impl FnOnce(&mut CooldownTable) -> R) -> Option<R> {
        let mut table = self.inner.table.try_borrow_mut().ok()?;
        Some(f(&mut table))
    }

    fn secret(&self, name: &str) -> Option<String> {
        self.inner
            .keys
            .borrow()
            .get(name)
            .filter(|k| !k.is_empty())
            .cloned()
    }

    fn on_trace(&self, events: &[TraceEvent]) {
        if let Some(cb) = &self.on_event {
            for ev in events {
                // A throwing callback must not break the request.
                let _ = cb.call1(&JsValue::NULL, &to_js(ev));
            }
        }
    }
}

/// A fallback gateway running in the page (the JS layer's `Gateway`).
#[wasm_bindgen]
pub struct WasmGateway {
    inner: Rc<Inner>,
}

#[wasm_bindgen]
impl WasmGateway {
    /// `config`: the gateway config (an object or JSON text, the Worker's format).
    /// `options`: `{keys?: {NAME: value}, persist?: boolean | string}`.
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue, options: JsValue) -> Result<WasmGateway, JsValue> {
        let text = json_text(&config, "the config")
            .map_err(|m| ErrorInfo::new("config", "invalid_config", m).into_js())?;
        let config = Config::from_json(&text).map_err(|e| {
            ErrorInfo::new("config", "invalid_config", format!("invalid config: {e}")).into_js()
        })?;
        let mut keys = HashMap::new();
        let mut storage_key = None;
        if !options.is_undefined() && !options.is_null() {
            let get = |name: &str| js_sys::Reflect::get(&options, &JsValue::from_str(name));
            let opt_err = |m: String| ErrorInfo::new("config", "invalid_options", m).into_js();
            if let Ok(k) = get("keys") {
                if !k.is_undefined() && !k.is_null() {
                    let obj: js_sys::Object = k.dyn_into().map_err(|_| {
                        opt_err("options.keys must be an object {NAME: value}".into())
                    })?;
                    for entry in js_sys::Object::entries(&obj).iter() {
                        let pair: js_sys::Array = entry.unchecked_into();
                        let name = pair.get(0).as_string().unwrap_or_default();
                        let value = pair.get(1).as_string().ok_or_else(|| {
                            opt_err(format!("options.keys.{name} must be a string"))
                        })?;
                        keys.insert(name, value);
                    }
                }
            }
            if let Ok(p) = get("persist") {
                if let Some(s) = p.as_string() {
                    if s.is_empty() {
                        return Err(opt_err("options.persist must not be empty".into()));
                    }
                    storage_key = Some(s);
                } else if p.as_bool() == Some(true) {
                    storage_key = Some(DEFAULT_STORAGE_KEY.to_string());
                } else if !(p.is_undefined() || p.is_null() || p.as_bool() == Some(false)) {
                    return Err(opt_err(
                        "options.persist must be a boolean or a localStorage key".into(),
                    ));
                }
            }
        }
        let inner = Rc::new(Inner {
            table: RefCell::new(CooldownTable::new(config.cooldown)),
            config,
            keys: RefCell::new(keys),
            storage_key,
            next_run_id: Cell::new(0),
        });
        inner.load();
        Ok(WasmGateway { inner })
    }

    /// Sets (or, with an empty value, removes) the key the config names `name`.
    /// A new value also closes that key's cooldowns: they were about the old
    /// value (or its absence), not about the key the app gives now.
    #[wasm_bindgen(js_name = setKey)]
    pub fn set_key(&self, name: String, value: String) {
        let changed = {
            let mut keys = self.inner.keys.borrow_mut();
            if value.is_empty() {
                keys.remove(&name).is_some()
            } else {
                keys.insert(name.clone(), value.clone()).as_ref() != Some(&value)
            }
        };
        if changed && !value.is_empty() {
            if let Ok(mut table) = self.inner.table.try_borrow_mut() {
                table.close_where(|s| s.key_name() == Some(name.as_str()), now());
            }
            self.inner.save();
        }
    }

    /// The chains and `provider/model` names a request may use.
    pub fn models(&self) -> JsValue {
        parse_json(&gateway::models_body(&self.inner.config))
    }

    /// The scopes in cooldown: `{now, scopes: [{scope, state, until, streak, kind, reason}]}`.
    pub fn status(&self) -> JsValue {
        let t = now();
        match self.inner.table.try_borrow() {
            Ok(table) => to_js(&gateway::status_body(&table, t)),
            Err(_) => JsValue::NULL,
        }
    }

    /// The cooldown table as a mergeable snapshot.
    pub fn snapshot(&self) -> JsValue {
        let t = now();
        match self.inner.table.try_borrow() {
            Ok(table) => to_js(&table.snapshot(t)),
            Err(_) => JsValue::NULL,
        }
    }

    /// Merges a snapshot (from `snapshot()`, another tab, or a Worker's KV).
    pub fn merge(&self, snapshot: JsValue) -> Result<(), JsValue> {
        let text = json_text(&snapshot, "the snapshot")
            .map_err(|m| ErrorInfo::new("request", "invalid_snapshot", m).into_js())?;
        let snapshot: Snapshot = serde_json::from_str(&text).map_err(|e| {
            ErrorInfo::new(
                "request",
                "invalid_snapshot",
                format!("invalid snapshot: {e}"),
            )
            .into_js()
        })?;
        if let Ok(mut table) = self.inner.table.try_borrow_mut() {
            table.merge(&snapshot);
        }
        self.inner.save();
        Ok(())
    }

    /// Forgets every cooldown (and the persisted copy).
    pub fn reset(&self) {
        if let Ok(mut table) = self.inner.table.try_borrow_mut() {
            *table = CooldownTable::new(self.inner.config.cooldown);
        }
        if let Some((storage, key)) = self.inner.storage() {
            let _ = storage.remove_item(key);
        }
    }

    /// A chat completion (`stream` must not be true). Resolves to
    /// `{completion, target, attempts, trace}`; rejects with an error object.
    pub fn chat(
        &self,
        request: JsValue,
        signal: Option<web_sys::AbortSignal>,
        on_event: Option<js_sys::Function>,
    ) -> js_sys::Promise {
        let started = self.start(&request, signal, on_event, false);
        future_to_promise(async move {
            let (driver, req) = started?;
            let inner = driver.host.inner.clone();
            let driven = driver.drive(&req).await;
            inner.save();
            match driven {
                Driven::Answer { driver, plan, body } => {
                    let out = js_sys::Object::new();
                    let set = |k: &str, v: &JsValue| {
                        let _ = js_sys::Reflect::set(&out, &JsValue::from_str(k), v);
                    };
                    set("completion", &parse_json(&body));
                    set(
                        "target",
                        &JsValue::from_str(&format!("{}/{}", plan.provider, plan.model)),
                    );
                    set("attempts", &to_js(driver.run.attempts()));
                    set("trace", &to_js(driver.run.trace()));
                    Ok(out.into())
                }
                Driven::Stream(mut live) => {
                    // Not reachable: the request was validated as non-streaming.
                    live.cancel();
                    Err(ErrorInfo::new("internal", "internal", "unexpected stream").into_js())
                }
                other => Err(end_error(other)),
            }
        })
    }

    /// A streaming chat completion. Resolves to a [`WasmStream`] once the answer's
    /// first content arrived (fallback happens before that); rejects with an
    /// error object.
    pub fn stream(
        &self,
        request: JsValue,
        signal: Option<web_sys::AbortSignal>,
        on_event: Option<js_sys::Function>,
    ) -> js_sys::Promise {
        let started = self.start(&request, signal, on_event, true);
        future_to_promise(async move {
            let (driver, req) = started?;
            let inner = driver.host.inner.clone();
            let driven = driver.drive(&req).await;
            match driven {
                Driven::Stream(live) => {
                    let target = format!("{}/{}", live.plan.provider, live.plan.model);
                    Ok(WasmStream {
                        seen: Rc::new(RefCell::new(run_view(&live.d.run))),
                        live: Rc::new(RefCell::new(Some(live))),
                        target,
                    }
                    .into())
                }
                Driven::Answer { .. } => {
                    inner.save();
                    Err(
                        ErrorInfo::new("internal", "internal", "unexpected complete answer")
                            .into_js(),
                    )
                }
                other => {
                    inner.save();
                    Err(end_error(other))
                }
            }
        })
    }

    /// Validates a request and prepares its run.
    fn start(
        &self,
        request: &JsValue,
        signal: Option<web_sys::AbortSignal>,
        on_event: Option<js_sys::Function>,
        stream: bool,
    ) -> Result<(Driver<BrowserHost>, ChatRequest), JsValue> {
        let text = json_text(request, "the request")
            .map_err(|m| ErrorInfo::new("request", "invalid_request", m).into_js())?;
        let req = gateway::parse_chat_request(text.as_bytes())
            .map_err(|e| ErrorInfo::from_api("request", &e).into_js())?;
        if req.stream != stream {
            let m = if stream {
                "chatStream() needs `stream` unset or true; use chat() for `stream: false`"
            } else {
                "chat() needs `stream` unset or false; use chatStream() for a stream"
            };
            return Err(ErrorInfo::new("request", "invalid_request", m).into_js());
        }
        let route = self
            .inner
            .config
            .route(&req.model)
            .map_err(|e| ErrorInfo::from_api("request", &gateway::route_error(&e)).into_js())?;
        if signal.as_ref().is_some_and(web_sys::AbortSignal::aborted) {
            return Err(ErrorInfo::new("aborted", "aborted", "the request was aborted").into_js());
        }
        self.inner.load();
        let run_id = self.inner.next_run_id.get() + 1;
        self.inner.next_run_id.set(run_id);
        let run = FallbackRun::new(
            route,
            RunOptions {
                now: now(),
                seed: (js_sys::Math::random() * (u64::MAX as f64)) as u64,
                run_id,
                stream,
            },
        );
        let host = BrowserHost {
            inner: self.inner.clone(),
            on_event,
        };
        Ok((Driver::new(host, run, signal), req))
    }
}

/// The error object for a run that ended without an answer.
fn end_error(driven: Driven<BrowserHost>) -> JsValue {
    match driven {
        Driven::Failed {
            driver,
            failure,
            upstream,
        } => failure_info(&failure, upstream, &driver).into_js(),
        Driven::Cancelled { driver } => {
            ErrorInfo::new("aborted", "aborted", "the request was aborted")
                .with_run(&driver.run)
                .into_js()
        }
        _ => ErrorInfo::new("internal", "internal", "the cooldown table is busy").into_js(),
    }
}

/// A failed run as an error object: the same status and body the Worker answers.
fn failure_info(
    f: &RunFailure,
    upstream: Option<(u16, String)>,
    driver: &Driver<BrowserHost>,
) -> ErrorInfo {
    let upstream_ref = upstream.as_ref().map(|(s, b)| (*s, b.as_str()));
    let (status, body) = gateway::failure_response(f, upstream_ref, &driver.secret_refs());
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let err = &body["error"];
    let text = |v: &Value| v.as_str().map(str::to_string);
    let message = text(&err["message"])
        .or_else(|| text(&body["message"]))
        .unwrap_or_else(|| f.message.clone());
    let class = if f.kind == FailureKind::InvalidRequest {
        "request"
    } else {
        "upstream"
    };
    ErrorInfo {
        class,
        kind: f.kind.as_str().to_string(),
        message,
        status: Some(status),
        error_type: text(&err["type"]),
        code: text(&err["code"]).or_else(|| Some(f.kind.as_str().to_string())),
        param: text(&err["param"]),
        retry_after_ms: f.retry_after_ms,
        ..ErrorInfo::default()
    }
    .with_run(&driver.run)
}

// ---------------------------------------------------------------------------
// The committed stream

/// A committed stream (the JS layer makes it an async iterator).
#[wasm_bindgen]
pub struct WasmStream {
    live: Rc<RefCell<Option<LiveStream<BrowserHost>>>>,
    target: String,
    /// The run's attempts and trace as of the last item (readable while a `next()`
    /// is pending, when the stream itself is out of `live`).
    seen: Rc<RefCell<(JsValue, JsValue)>>,
}

fn run_view(run: &FallbackRun) -> (JsValue, JsValue) {
    (to_js(run.attempts()), to_js(run.trace()))
}

#[wasm_bindgen]
impl WasmStream {
    /// `provider/model` of the target answering.
    #[wasm_bindgen(getter)]
    pub fn target(&self) -> String {
        self.target.clone()
    }

    /// The attempts so far (`provider/model`, kind, times).
    pub fn attempts(&self) -> JsValue {
        self.seen.borrow().0.clone()
    }

    /// The decision trace so far.
    pub fn trace(&self) -> JsValue {
        self.seen.borrow().1.clone()
    }

    /// The next chunk object, or `null` after the last; rejects with an error object
    /// when the stream fails after it started (never a silent truncation).
    pub fn next(&self) -> js_sys::Promise {
        let cell = self.live.clone();
        let seen = self.seen.clone();
        future_to_promise(async move {
            // Out of the cell while awaiting, so `attempts()` and `cancel()` never
            // meet a borrowed cell; a second concurrent `next()` is refused.
            let taken = cell.try_borrow_mut().ok().and_then(|mut c| c.take());
            let Some(mut live) = taken else {
                return Err(ErrorInfo::new(
                    "internal",
                    "internal",
                    "next() was called while another next() was pending",
                )
                .into_js());
            };
            let item = live.next().await;
            if live.is_finished() {
                live.d.host.inner.save();
            }
            *seen.borrow_mut() = run_view(&live.d.run);
            let result = match item {
                Some(StreamItem::Data(data)) => Ok(parse_json(&data)),
                Some(StreamItem::Done) | None => Ok(JsValue::NULL),
                Some(StreamItem::Error { kind, message }) => {
                    let mut info =
                        ErrorInfo::new("stream", kind.as_str(), message).with_run(&live.d.run);
                    info.target = Some(format!("{}/{}", live.plan.provider, live.plan.model));
                    Err(info.into_js())
                }
                Some(StreamItem::Cancelled) => {
                    Err(
                        ErrorInfo::new("aborted", "aborted", "the stream was aborted")
                            .with_run(&live.d.run)
                            .into_js(),
                    )
                }
            };
            if let Ok(mut c) = cell.try_borrow_mut() {
                *c = Some(live);
            }
            result
        })
    }

    /// Stops the stream and aborts the upstream request.
    pub fn cancel(&self) {
        if let Ok(Some(live)) = self.live.try_borrow_mut().as_deref_mut() {
            live.cancel();
        }
    }
}

// ---------------------------------------------------------------------------
// Decisions only

/// Classifies one outcome: `{provider, status, headers, body}`,
/// `{provider, stream_error}` or `{provider, transport}` (see the CLI
/// `llm-failover-classify`). Returns `{kind, retry_after_ms, scope, reason,
/// status, action}`.
#[wasm_bindgen]
pub fn classify(outcome: JsValue) -> Result<JsValue, JsValue> {
    let text = json_text(&outcome, "the outcome")
        .map_err(|m| ErrorInfo::new("request", "invalid_outcome", m).into_js())?;
    let spec: OutcomeSpec = serde_json::from_str(&text).map_err(|e| {
        ErrorInfo::new(
            "request",
            "invalid_outcome",
            format!("invalid outcome: {e}"),
        )
        .into_js()
    })?;
    let policy = crate::policy::FailurePolicy::default();
    spec.explain(&policy, now())
        .map(|v| to_js(&v))
        .map_err(|m| ErrorInfo::new("request", "invalid_outcome", m).into_js())
}

/// Replays a script of outcomes through the real state machine with a fake clock
/// (see `llm-failover-dry-run`): `{result, trace, attempts, snapshot, ended_at}`.
#[wasm_bindgen(js_name = dryRun)]
pub fn dry_run_js(config: JsValue, script: JsValue, snapshot: JsValue) -> Result<JsValue, JsValue> {
    let text = json_text(&config, "the config")
        .map_err(|m| ErrorInfo::new("config", "invalid_config", m).into_js())?;
    let config = Config::from_json(&text).map_err(|e| {
        ErrorInfo::new("config", "invalid_config", format!("invalid config: {e}")).into_js()
    })?;
    let bad_script = |m: String| ErrorInfo::new("request", "invalid_script", m).into_js();
    let script: Script =
        serde_json::from_str(&json_text(&script, "the script").map_err(bad_script)?)
            .map_err(|e| bad_script(format!("invalid script: {e}")))?;
    let snapshot: Snapshot = if snapshot.is_undefined() || snapshot.is_null() {
        Snapshot::default()
    } else {
        let text = json_text(&snapshot, "the snapshot")
            .map_err(|m| ErrorInfo::new("request", "invalid_snapshot", m).into_js())?;
        serde_json::from_str(&text).map_err(|e| {
            ErrorInfo::new(
                "request",
                "invalid_snapshot",
                format!("invalid snapshot: {e}"),
            )
            .into_js()
        })?
    };
    let out = dry_run(&config, &snapshot, &script)
        .map_err(|e| ErrorInfo::from_api("request", &gateway::route_error(&e)).into_js())?;
    Ok(to_js(&out))
}

/// The failure kinds and what the default policy does about each.
#[wasm_bindgen(js_name = failurePolicy)]
pub fn failure_policy() -> JsValue {
    let policy = crate::policy::FailurePolicy::default();
    let rows: Vec<Value> = FailureKind::ALL
        .iter()
        .map(|k| json!({"kind": k, "action": crate::explain::action_text(&policy, *k)}))
        .collect();
    to_js(&rows)
}
