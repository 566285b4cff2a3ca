//! The browser package: the wasm-bindgen layer under the npm package's JavaScript
//! API (`js/index.js` turns what this module returns and throws into typed
//! objects, `Error` subclasses and async iterators).
//!
//! A [`WasmGateway`] holds a validated config, the app's keys and a cooldown table
//! that lives as long as the page, optionally persisted to `localStorage` (merged
//! back before each request, so other tabs and a reload see the cooldowns; written
//! when a request changed it). Requests run the same [`Session`] as the Worker,
//! over the same [`fetch::Pump`]. Errors are [`ErrorReport`]s.

use super::fetch::{self, Next, Pump};
use crate::api::report::{ErrorClass, ErrorReport};
use crate::api::{self, ChatRequest};
use crate::config::Config;
use crate::cooldown::{CooldownTable, Snapshot};
use crate::run::{EndCause, RunOptions, RunResult, TraceEvent};
use crate::session::{ClientEvent, Session};
use crate::time::Timestamp;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

mod decide;

/// The `localStorage` key used when `persist` is `true`.
const DEFAULT_STORAGE_KEY: &str = "llm-failover/cooldowns/v1";

fn now() -> Timestamp {
    js_sys::Date::now() as Timestamp
}

/// A JSON text as a JS value (upstream bodies are passed on as they came).
fn parse_json(text: &str) -> JsValue {
    js_sys::JSON::parse(text).unwrap_or_else(|_| JsValue::from_str(text))
}

/// A Rust value as a plain JS value, through JSON text (smaller code than a
/// direct serializer, which matters for the .wasm).
fn to_js<T: Serialize + ?Sized>(v: &T) -> JsValue {
    serde_json::to_string(v).map_or(JsValue::NULL, |t| parse_json(&t))
}

fn error(class: ErrorClass, kind: &str, message: impl Into<String>) -> JsValue {
    report(&ErrorReport::new(class, kind, message))
}

fn report(r: &ErrorReport) -> JsValue {
    parse_json(&r.to_json())
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

/// Reads a JSON argument into `T`, or the error object for `class`/`kind`.
fn from_js<T: serde::de::DeserializeOwned>(
    v: &JsValue,
    what: &str,
    class: ErrorClass,
    kind: &str,
) -> Result<T, JsValue> {
    let text = json_text(v, what).map_err(|m| error(class, kind, m))?;
    serde_json::from_str(&text).map_err(|e| error(class, kind, format!("invalid {what}: {e}")))
}

fn config_from(v: &JsValue) -> Result<Config, JsValue> {
    let text =
        json_text(v, "the config").map_err(|m| error(ErrorClass::Config, "invalid_config", m))?;
    Config::from_json(&text).map_err(|e| {
        error(
            ErrorClass::Config,
            "invalid_config",
            format!("invalid config: {e}"),
        )
    })
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
    /// Merging never marks the table dirty, so local changes not yet written stay
    /// pending.
    fn load(&self) {
        let Some((storage, key)) = self.storage() else {
            return;
        };
        let Ok(Some(text)) = storage.get_item(key) else {
            return;
        };
        // A corrupt or foreign value is ignored: cooldowns are advisory.
        if let (Ok(snapshot), Ok(mut table)) = (
            serde_json::from_str::<Snapshot>(&text),
            self.table.try_borrow_mut(),
        ) {
            table.merge(&snapshot);
        }
    }

    /// Writes the table if a local event changed it.
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
struct BrowserHost {
    inner: Rc<Inner>,
    on_event: Option<js_sys::Function>,
}

impl fetch::Host for BrowserHost {
    fn now(&self) -> Timestamp {
        now()
    }

    fn with_table<R>(&self, f: impl FnOnce(&mut CooldownTable) -> R) -> Option<R> {
        Some(f(&mut *self.inner.table.try_borrow_mut().ok()?))
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

/// The options of [`WasmGateway::new`].
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Options {
    #[serde(default)]
    keys: HashMap<String, String>,
    #[serde(default)]
    persist: Option<serde_json::Value>,
}

#[wasm_bindgen]
impl WasmGateway {
    /// `config`: the gateway config (an object or JSON text, the Worker's format).
    /// `options`: `{keys?: {NAME: value}, persist?: boolean | string}`.
    #[wasm_bindgen(constructor)]
    pub fn new(config: JsValue, options: JsValue) -> Result<WasmGateway, JsValue> {
        let config = config_from(&config)?;
        let options: Options = if options.is_undefined() || options.is_null() {
            Options::default()
        } else {
            from_js(&options, "options", ErrorClass::Config, "invalid_options")?
        };
        let opt_err = |m: &str| error(ErrorClass::Config, "invalid_options", m);
        let storage_key = match options.persist {
            None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => None,
            Some(serde_json::Value::Bool(true)) => Some(DEFAULT_STORAGE_KEY.to_string()),
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
            Some(serde_json::Value::String(_)) => {
                return Err(opt_err("options.persist must not be empty"))
            }
            Some(_) => {
                return Err(opt_err(
                    "options.persist must be a boolean or a localStorage key",
                ))
            }
        };
        let inner = Rc::new(Inner {
            table: RefCell::new(CooldownTable::new(config.cooldown)),
            config,
            keys: RefCell::new(options.keys),
            storage_key,
            next_run_id: Cell::new(0),
        });
        inner.load();
        Ok(WasmGateway { inner })
    }

    /// Sets (or, with an empty value, removes) the key the config names `name`.
    /// A new value also closes that key's cooldowns: they were about the old value
    /// (or its absence), not about the key the app gives now.
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
        parse_json(&api::models_body(&self.inner.config))
    }

    /// The scopes in cooldown: `{now, scopes: [{scope, state, until, streak, kind, reason}]}`.
    pub fn status(&self) -> JsValue {
        self.inner
            .table
            .try_borrow()
            .map_or(JsValue::NULL, |t| to_js(&api::status_body(&t, now())))
    }

    /// The cooldown table as a mergeable snapshot.
    pub fn snapshot(&self) -> JsValue {
        self.inner
            .table
            .try_borrow()
            .map_or(JsValue::NULL, |t| to_js(&t.snapshot(now())))
    }

    /// Merges a snapshot (from `snapshot()`, another tab, or a Worker's KV).
    pub fn merge(&self, snapshot: JsValue) -> Result<(), JsValue> {
        let snapshot: Snapshot = from_js(
            &snapshot,
            "snapshot",
            ErrorClass::Request,
            "invalid_snapshot",
        )?;
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

    /// A chat completion. `stream` false: resolves to `{completion, target,
    /// attempts, trace}`. `stream` true: resolves to a [`WasmStream`] once the
    /// answer's first content arrived (fallback happens before that). Rejects with
    /// an error object.
    pub fn request(
        &self,
        request: JsValue,
        stream: bool,
        signal: Option<web_sys::AbortSignal>,
        on_event: Option<js_sys::Function>,
    ) -> js_sys::Promise {
        let started = self.start(&request, stream, signal, on_event);
        future_to_promise(async move {
            let mut pump = started?;
            let next = pump.next().await;
            let inner = pump.host.inner.clone();
            let out = match next {
                Next::Respond(r) if r.failure.is_none() => {
                    let out = js_sys::Object::new();
                    let set = |k: &str, v: &JsValue| {
                        let _ = js_sys::Reflect::set(&out, &JsValue::from_str(k), v);
                    };
                    set("completion", &parse_json(&r.body));
                    set(
                        "target",
                        &r.target.map_or(JsValue::NULL, |t| JsValue::from_str(&t)),
                    );
                    set("attempts", &to_js(pump.session.run().attempts()));
                    set("trace", &to_js(pump.session.run().trace()));
                    Ok(out.into())
                }
                Next::Respond(r) => Err(report(
                    &ErrorReport::from_response(&r).with_run(pump.session.run()),
                )),
                Next::StreamStart(head) => {
                    return Ok(WasmStream {
                        target: head.target,
                        seen: Rc::new(RefCell::new(run_view(&pump.session))),
                        pump: Rc::new(RefCell::new(Some(pump))),
                    }
                    .into())
                }
                Next::Event(_) | Next::Done => Err(aborted(&pump.session)),
            };
            inner.save();
            out
        })
    }

    /// Validates a request and prepares its session.
    fn start(
        &self,
        request: &JsValue,
        stream: bool,
        signal: Option<web_sys::AbortSignal>,
        on_event: Option<js_sys::Function>,
    ) -> Result<Pump<BrowserHost>, JsValue> {
        let text = json_text(request, "the request")
            .map_err(|m| error(ErrorClass::Request, "invalid_request", m))?;
        let req: ChatRequest = api::parse_chat_request(text.as_bytes())
            .map_err(|e| report(&ErrorReport::from_api(ErrorClass::Request, &e)))?;
        if req.stream != stream {
            let m = if stream {
                "chatStream() needs `stream` unset or true; use chat() for `stream: false`"
            } else {
                "chat() needs `stream` unset or false; use chatStream() for a stream"
            };
            return Err(error(ErrorClass::Request, "invalid_request", m));
        }
        let route = self.inner.config.route(&req.model).map_err(|e| {
            report(&ErrorReport::from_api(
                ErrorClass::Request,
                &api::route_error(&e),
            ))
        })?;
        if signal.as_ref().is_some_and(web_sys::AbortSignal::aborted) {
            return Err(error(
                ErrorClass::Aborted,
                "aborted",
                "the request was aborted",
            ));
        }
        self.inner.load();
        let run_id = self.inner.next_run_id.get() + 1;
        self.inner.next_run_id.set(run_id);
        let options = RunOptions {
            now: now(),
            seed: (js_sys::Math::random() * (u64::MAX as f64)) as u64,
            run_id,
            stream,
        };
        let host = BrowserHost {
            inner: self.inner.clone(),
            on_event,
        };
        Ok(Pump::new(host, Session::new(route, req, options), signal))
    }
}

fn aborted(session: &Session) -> JsValue {
    report(
        &ErrorReport::new(ErrorClass::Aborted, "aborted", "the request was aborted")
            .with_run(session.run()),
    )
}

fn cancelled(session: &Session) -> bool {
    matches!(session.run().result(), Some(RunResult::Failed(f)) if f.cause == EndCause::Cancelled)
}

fn run_view(session: &Session) -> (JsValue, JsValue) {
    (
        to_js(session.run().attempts()),
        to_js(session.run().trace()),
    )
}

// ---------------------------------------------------------------------------
// The stream

/// A started stream (the JS layer makes it an async iterator).
#[wasm_bindgen]
pub struct WasmStream {
    pump: Rc<RefCell<Option<Pump<BrowserHost>>>>,
    target: String,
    /// The attempts and trace as of the last item (readable while a `next()` is
    /// pending, when the pump itself is out of its cell).
    seen: Rc<RefCell<(JsValue, JsValue)>>,
}

#[wasm_bindgen]
impl WasmStream {
    /// `provider/model` of the target that started the answer.
    #[wasm_bindgen(getter)]
    pub fn target(&self) -> String {
        self.target.clone()
    }

    /// The attempts so far.
    pub fn attempts(&self) -> JsValue {
        self.seen.borrow().0.clone()
    }

    /// The decision trace so far.
    pub fn trace(&self) -> JsValue {
        self.seen.borrow().1.clone()
    }

    /// The next chunk object, or `null` after the last; rejects with an error
    /// object when the stream failed and nothing could finish it.
    pub fn next(&self) -> js_sys::Promise {
        let cell = self.pump.clone();
        let seen = self.seen.clone();
        let target = self.target.clone();
        future_to_promise(async move {
            // Out of the cell while awaiting, so `attempts()` and `cancel()` never
            // meet a borrowed cell; a second concurrent `next()` is refused.
            let Some(mut pump) = cell.try_borrow_mut().ok().and_then(|mut c| c.take()) else {
                return Err(error(
                    ErrorClass::Internal,
                    "internal",
                    "next() was called while another next() was pending",
                ));
            };
            let result = loop {
                match pump.next().await {
                    Next::Event(ClientEvent::Data(d)) => break Ok(parse_json(&d)),
                    Next::Event(ClientEvent::Comment(_)) => continue,
                    Next::Event(ClientEvent::Error { kind, message, .. }) => {
                        let mut r = ErrorReport::new(ErrorClass::Stream, kind.as_str(), message)
                            .with_run(pump.session.run());
                        r.target = Some(target.clone());
                        break Err(report(&r));
                    }
                    Next::Event(ClientEvent::Done) | Next::Done => {
                        if cancelled(&pump.session) {
                            break Err(aborted(&pump.session));
                        }
                        break Ok(JsValue::NULL);
                    }
                    _ => continue,
                }
            };
            *seen.borrow_mut() = run_view(&pump.session);
            if pump.session.is_done() {
                pump.host.inner.save();
            }
            if let Ok(mut c) = cell.try_borrow_mut() {
                *c = Some(pump);
            }
            result
        })
    }

    /// Stops the stream and aborts the upstream request.
    pub fn cancel(&self) {
        if let Ok(Some(pump)) = self.pump.try_borrow_mut().as_deref_mut() {
            pump.cancel_now();
            pump.host.inner.save();
        }
    }
}
