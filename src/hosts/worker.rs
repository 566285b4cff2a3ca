//! The Cloudflare Worker: an OpenAI-compatible API in front of the core.
//!
//! A thin host. For each request it validates the body ([`crate::gateway`]), lets
//! the shared [`fetch::Driver`] run the chain (the same driver the browser package
//! uses), and turns where it stopped into an HTTP answer or an SSE stream. The
//! cooldown table lives per isolate and is shared with other isolates through the
//! `COOLDOWNS` KV namespace: read and merged at most once a second on the request
//! path (with a short timeout), written only when a local event changed it,
//! coalesced to one write per second, off the response path (`wait_until`).
//!
//! Routes: `POST /v1/chat/completions`, `GET /v1/models`, `GET /v1/status` (all
//! behind gateway auth), `GET /health`, `OPTIONS *` (CORS preflight).
//!
//! Each request is logged once, as one JSON line with its attempts: always when
//! an attempt failed or the request did, and for plain successes only when
//! `LOG_LEVEL` is `info` or `debug`.
//!
//! Environment:
//! - `LLM_FAILOVER_CONFIG` (var): the JSON config; empty → the embedded
//!   `config/dev.json` (a demo chain against the local fault upstream).
//! - secrets named by the config's `keys`: the upstream keys.
//! - `GATEWAY_TOKENS` (secret): comma-separated bearer tokens clients must send.
//!   Without it the gateway refuses every call unless `ALLOW_UNAUTHENTICATED` is
//!   `"true"` (local development).
//! - `CORS_ORIGINS` (var): `*` or a comma-separated list of allowed origins.
//! - `LOG_LEVEL` (var): `warn` (default: failures and fallbacks only), `info` or
//!   `debug` (every request).
//! - `COOLDOWNS` (KV binding): the shared cooldown snapshot.

use super::fetch::{self, Next, Pump};
use super::js;
use crate::api::edge::{self, Endpoint, LogLevel};
use crate::api::{self, ApiError, ClientApi};
use crate::config::Config;
use crate::cooldown::{CooldownTable, Snapshot};
use crate::redact::redact;
use crate::run::RunOptions;
use crate::session::{ClientResponse, Session};
use crate::time::Timestamp;
use futures_util::future::{select, Either};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use worker::{console_error, console_log, console_warn, event, Context, Date, Delay, Env};

const DEV_CONFIG: &str = include_str!("../../config/dev.json");
const KV_BINDING: &str = "COOLDOWNS";
const KV_KEY: &str = "cooldowns/v1";
/// How often an isolate re-reads the shared snapshot on the request path.
const KV_READ_INTERVAL_MS: u64 = 1_000;
/// The longest the request path waits for that read.
const KV_READ_TIMEOUT_MS: u64 = 250;
/// KV allows one write per second per key.
const KV_WRITE_INTERVAL_MS: u64 = 1_000;
/// KV's minimum `expirationTtl` is 60 s; entries older than the table's retention
/// are pruned anyway.
const KV_TTL_SECONDS: u64 = 3_600;

fn now() -> Timestamp {
    Date::now().as_millis()
}

/// What one isolate keeps between requests.
struct Isolate {
    config: Rc<Config>,
    table: CooldownTable,
    next_run_id: u64,
    last_kv_read: Option<Timestamp>,
    last_kv_write: Option<Timestamp>,
    write_scheduled: bool,
}

thread_local! {
    static ISOLATE: RefCell<Option<Isolate>> = const { RefCell::new(None) };
}

/// Runs `f` on the isolate state (never across an `await`).
fn with_isolate<R>(f: impl FnOnce(&mut Isolate) -> R) -> Option<R> {
    ISOLATE.with(|cell| cell.borrow_mut().as_mut().map(f))
}

fn load_config(env: &Env) -> Result<Rc<Config>, ApiError> {
    if let Some(c) = with_isolate(|i| i.config.clone()) {
        return Ok(c);
    }
    let text = env
        .var("LLM_FAILOVER_CONFIG")
        .map(|v| v.to_string())
        .unwrap_or_default();
    let text = if text.trim().is_empty() {
        DEV_CONFIG.to_string()
    } else {
        text
    };
    let config = Config::from_json(&text).map_err(|e| {
        ApiError::new(500, "server_error", format!("gateway misconfigured: {e}"))
            .code("invalid_config")
    })?;
    let config = Rc::new(config);
    ISOLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Isolate {
                table: CooldownTable::new(config.cooldown),
                config: config.clone(),
                next_run_id: 1,
                last_kv_read: None,
                last_kv_write: None,
                write_scheduled: false,
            });
        }
    });
    Ok(config)
}

/// A var or secret, read from `env` once per isolate (an isolate's bindings do
/// not change: a new value is a new deployment, so new isolates).
fn string_var(env: &Env, name: &str) -> Option<String> {
    thread_local! {
        static VARS: RefCell<Vec<(String, Option<String>)>> = const { RefCell::new(Vec::new()) };
    }
    if let Some(v) = VARS.with(|c| {
        c.borrow()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }) {
        return v;
    }
    let value = env
        .secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty());
    VARS.with(|c| c.borrow_mut().push((name.to_string(), value.clone())));
    value
}

/// How every response to one request is made: as a `web_sys::Response` built in
/// one call (status, body, headers), with the request's CORS headers.
struct Reply {
    cors: String,
}

impl Reply {
    fn new(origin: Option<&str>, env: &Env) -> Reply {
        let allowed = string_var(env, "CORS_ORIGINS").unwrap_or_else(|| "*".to_string());
        let cors = edge::cors_headers(origin, &allowed);
        let cors = js::header_lines(cors.iter().map(|(k, v)| (*k, v.as_str())));
        Reply {
            cors: cors.unwrap_or_default(),
        }
    }

    fn with<'a>(
        &self,
        status: u16,
        body: &JsValue,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> worker::Result<web_sys::Response> {
        let mut lines = js::header_lines(headers)
            .ok_or_else(|| worker::Error::RustError("a response header has a line break".into()))?;
        lines.push_str(&self.cors);
        Ok(js::response_with(body, status, &lines)?)
    }

    fn json(&self, status: u16, body: &str) -> worker::Result<web_sys::Response> {
        self.with(
            status,
            &JsValue::from_str(body),
            [("content-type", "application/json")],
        )
    }

    fn error(&self, e: &ApiError) -> worker::Result<web_sys::Response> {
        self.json(e.status, &e.body())
    }

    /// An error in the shape of the client's API.
    fn api_error(&self, e: &ApiError, client: ClientApi) -> worker::Result<web_sys::Response> {
        self.json(e.status, &e.body_for(client))
    }

    fn client(&self, r: ClientResponse) -> worker::Result<web_sys::Response> {
        let headers = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        self.with(r.status, &JsValue::from_str(&r.body), headers)
    }
}

/// The path of a request URL (`https://host/v1/x?y` → `/v1/x`).
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    path.split(['?', '#']).next().unwrap_or("/")
}

/// At module load: the futures queue is created while `queueMicrotask` is hidden,
/// so its ticks are `Promise.then` jobs (see [`js::without_queue_microtask`]).
/// Both are microtasks: the order of work is the same, only cheaper.
#[event(start)]
fn start() {
    js::without_queue_microtask(&mut || wasm_bindgen_futures::spawn_local(async {}));
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let ctx = Rc::new(ctx);
    let origin = req.headers().get("origin").ok().flatten();
    let reply = Reply::new(origin.as_deref(), &env);
    match serve(&req, &env, ctx, &reply).await {
        Ok(r) => Ok(r),
        Err(e) => {
            console_error!(
                "llm-failover: internal error: {}",
                redact(&e.to_string(), &[])
            );
            reply.error(&ApiError::new(
                500,
                "server_error",
                "internal gateway error",
            ))
        }
    }
}

async fn serve(
    req: &web_sys::Request,
    env: &Env,
    ctx: Rc<Context>,
    reply: &Reply,
) -> worker::Result<web_sys::Response> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let url = req.url();
    let endpoint = match edge::endpoint(&req.method(), path_of(&url)) {
        Ok(e) => e,
        Err(e) => return reply.error(&e),
    };
    if endpoint.needs_token() {
        let tokens = string_var(env, "GATEWAY_TOKENS").unwrap_or_default();
        let open = string_var(env, "ALLOW_UNAUTHENTICATED").as_deref() == Some("true");
        let auth = edge::check_token(
            header("authorization").as_deref(),
            header("x-api-key").as_deref(),
            &tokens,
            open,
        );
        if let Err(e) = auth {
            return reply.error(&e);
        }
    }
    match endpoint {
        Endpoint::Preflight => reply.with(204, &JsValue::NULL, []),
        Endpoint::Health => reply.json(200, r#"{"status":"ok"}"#),
        Endpoint::Models => match load_config(env) {
            Ok(c) => reply.json(200, &api::models_body(&c)),
            Err(e) => reply.error(&e),
        },
        Endpoint::Status => {
            if let Err(e) = load_config(env) {
                return reply.error(&e);
            }
            sync_from_kv(env, true).await;
            let t = now();
            let body =
                with_isolate(|i| api::status_body(&i.table, t).to_string()).unwrap_or_default();
            reply.json(200, &body)
        }
        Endpoint::Client(client) => {
            // Refuse an oversized body before reading it.
            let declared = header("content-length").and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(n) = declared.filter(|n| *n > api::MAX_REQUEST_BYTES) {
                return reply.api_error(&api::body_too_large(n), client);
            }
            let buf = wasm_bindgen_futures::JsFuture::from(req.array_buffer()?).await?;
            let body = js_sys::Uint8Array::new(&buf).to_vec();
            serve_api(client, &body, env, ctx, reply).await
        }
    }
}

// ---------------------------------------------------------------------------
// KV sharing

async fn sync_from_kv(env: &Env, force: bool) {
    let t = now();
    let due = with_isolate(|i| {
        force
            || i.last_kv_read
                .map_or(true, |r| t.saturating_sub(r) >= KV_READ_INTERVAL_MS)
    });
    if due != Some(true) {
        return;
    }
    with_isolate(|i| i.last_kv_read = Some(t));
    let Ok(kv) = env.kv(KV_BINDING) else {
        return; // No binding: the table stays local to the isolate.
    };
    let read = kv.get(KV_KEY).json::<Snapshot>();
    let timeout = Delay::from(Duration::from_millis(KV_READ_TIMEOUT_MS));
    match select(Box::pin(read), Box::pin(timeout)).await {
        Either::Left((Ok(Some(snapshot)), _)) => {
            with_isolate(|i| i.table.merge(&snapshot));
        }
        Either::Left((Ok(None), _)) => {}
        Either::Left((Err(e), _)) => {
            console_error!("llm-failover: KV read failed, serving from the local table: {e}")
        }
        Either::Right(_) => console_error!(
            "llm-failover: KV read took over {KV_READ_TIMEOUT_MS} ms, serving from the local table"
        ),
    }
}

/// After a run: if the table changed locally, write the merged snapshot, at most
/// once a second, off the response path.
fn schedule_kv_write(env: &Env, ctx: &Context) {
    let t = now();
    let plan = with_isolate(|i| {
        if !i.table.take_dirty() || i.write_scheduled {
            return None;
        }
        i.write_scheduled = true;
        let wait = i.last_kv_write.map_or(0, |w| {
            KV_WRITE_INTERVAL_MS.saturating_sub(t.saturating_sub(w))
        });
        Some(wait)
    })
    .flatten();
    let Some(wait) = plan else { return };
    let Ok(kv) = env.kv(KV_BINDING) else {
        with_isolate(|i| i.write_scheduled = false);
        return;
    };
    ctx.wait_until(async move {
        if wait > 0 {
            Delay::from(Duration::from_millis(wait)).await;
        }
        // Merge what other isolates wrote since, so this write never drops theirs.
        if let Ok(Some(theirs)) = kv.get(KV_KEY).json::<Snapshot>().await {
            with_isolate(|i| i.table.merge(&theirs));
        }
        let t = now();
        let snapshot = with_isolate(|i| {
            i.table.prune(t);
            i.write_scheduled = false;
            i.last_kv_write = Some(t);
            i.table.snapshot(t)
        });
        let Some(snapshot) = snapshot else { return };
        // As JSON text: the crate's value conversion turns the entries map into a JS
        // `Map`, which KV would store as `{}`.
        let text = match serde_json::to_string(&snapshot) {
            Ok(t) => t,
            Err(e) => {
                console_error!("llm-failover: cannot serialise the cooldown snapshot: {e}");
                return;
            }
        };
        let result = match kv.put(KV_KEY, text) {
            Ok(put) => put
                .expiration_ttl(KV_TTL_SECONDS)
                .execute()
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            console_error!(
                "llm-failover: KV write failed (the local table still holds the cooldowns): {e}"
            );
        }
    });
}

// ---------------------------------------------------------------------------
// Chat completions

/// The Worker as a [`fetch::Host`]: the isolate's table, secrets from `env`.
struct WorkerHost {
    env: Env,
}

impl fetch::Host for WorkerHost {
    fn now(&self) -> Timestamp {
        now()
    }

    fn with_table<R>(&self, f: impl FnOnce(&mut CooldownTable) -> R) -> Option<R> {
        with_isolate(|i| f(&mut i.table))
    }

    fn secret(&self, name: &str) -> Option<String> {
        let value = string_var(&self.env, name);
        if value.is_none() {
            console_error!("llm-failover: secret `{name}` is not set");
        }
        value
    }
}

async fn serve_api(
    client: ClientApi,
    body: &[u8],
    env: &Env,
    ctx: Rc<Context>,
    reply: &Reply,
) -> worker::Result<web_sys::Response> {
    let config = match load_config(env) {
        Ok(c) => c,
        Err(e) => return reply.api_error(&e, client),
    };
    let req = match api::parse_request(client, body) {
        Ok(r) => r,
        Err(e) => return reply.api_error(&e, client),
    };
    let route = match config.route(&req.model) {
        Ok(r) => r,
        Err(e) => return reply.api_error(&api::route_error(&e), client),
    };
    sync_from_kv(env, false).await;
    let run_id = with_isolate(|i| {
        i.next_run_id += 1;
        i.next_run_id
    })
    .unwrap_or(1);
    let options = RunOptions {
        now: now(),
        seed: (js_sys::Math::random() * (u64::MAX as f64)) as u64,
        run_id,
        stream: req.stream,
    };
    let session = Session::new(route, req, options);
    let mut pump = Pump::new(WorkerHost { env: env.clone() }, session, None);
    match pump.next().await {
        Next::Respond(r) => {
            finish(&pump, env, &ctx);
            reply.client(r)
        }
        Next::StreamStart(head) => {
            let stream = client_stream(pump, env.clone(), ctx.clone())?;
            let headers = head.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            reply.with(200, &stream, headers)
        }
        // The session always answers before it ends; report it if it did not.
        Next::Event(_) | Next::Done => {
            finish(&pump, env, &ctx);
            reply.error(&ApiError::new(
                500,
                "server_error",
                "the gateway ended the request without an answer",
            ))
        }
    }
}

/// After a request: one log line, and the KV write if the table changed.
fn finish(pump: &Pump<WorkerHost>, env: &Env, ctx: &Context) {
    log_request(pump, env);
    schedule_kv_write(env, ctx);
}

/// One JSON line per request (see [`edge::request_log`]).
fn log_request(pump: &Pump<WorkerHost>, env: &Env) {
    let level = string_var(env, "LOG_LEVEL").unwrap_or_default();
    match edge::request_log(pump.session.run(), pump.session.redactor(), &level) {
        Some((LogLevel::Warn, line)) => console_warn!("{line}"),
        Some((_, line)) => console_log!("{line}"),
        None => {}
    }
}

/// The rest of the session as SSE bytes for the client, written into an identity
/// `TransformStream` whose readable side is the response body; the log line and
/// the KV write once it ended. The pump runs in `waitUntil`; every event the
/// session has ready is batched into one write (one JS call per upstream read, not
/// per event), and a client that went away (the stream errored) cancels the
/// session.
fn client_stream(
    pump: Pump<WorkerHost>,
    env: Env,
    ctx: Rc<Context>,
) -> worker::Result<web_sys::ReadableStream> {
    // (workerd's native IdentityTransformStream was measured too: no CPU gain per
    // chunk, and a client's disconnect did not reach its writable side.) Up to
    // WRITES_AHEAD writes queue before the pump waits for the client, so a client
    // that keeps up costs no `ready` promise per chunk.
    const WRITES_AHEAD: u32 = 16;
    let ts = js::transform_stream(WRITES_AHEAD);
    let writer = ts.writable().get_writer()?;
    let readable = ts.readable();
    // A client that cancels the body errors the writable side: its pending
    // writes and `closed` reject (expected, so handled) and `client_gone` sees it.
    ignore_rejection(&writer.closed());
    let context = ctx.clone();
    context.wait_until(async move {
        let mut pump = pump;
        let mut buf = Vec::with_capacity(1024);
        loop {
            let mut end = !push_event(pump.next().await, &mut buf);
            while !end {
                match pump.next_ready() {
                    Some(next) => end = !push_event(next, &mut buf),
                    None => break,
                }
            }
            if !buf.is_empty() {
                let chunk = js_sys::Uint8Array::from(buf.as_slice());
                ignore_rejection(&writer.write_with_chunk(&chunk));
                buf.clear();
            }
            if !end && client_gone(&writer) {
                pump.cancel_now();
                while !matches!(pump.next().await, Next::Done) {}
                end = true;
            }
            if end {
                finish(&pump, &env, &ctx);
                ignore_rejection(&writer.close());
                return;
            }
            // Backpressure: wait while the client is slower than the upstream.
            if writer
                .desired_size()
                .ok()
                .flatten()
                .is_some_and(|d| d <= 0.0)
                && wasm_bindgen_futures::JsFuture::from(writer.ready())
                    .await
                    .is_err()
            {
                pump.cancel_now();
            }
        }
    });
    Ok(readable)
}

/// Appends a stream event's SSE text; `false` when the stream is over.
fn push_event(next: Next, buf: &mut Vec<u8>) -> bool {
    match next {
        Next::Event(e) => {
            buf.extend_from_slice(e.to_sse().as_bytes());
            true
        }
        Next::Done | Next::Respond(_) | Next::StreamStart(_) => false,
    }
}

/// The client cancelled the body: the writable side errored.
fn client_gone(writer: &web_sys::WritableStreamDefaultWriter) -> bool {
    matches!(writer.desired_size(), Ok(None) | Err(_))
}

/// A write's or close's rejection (the client went away) is expected: handled,
/// so it is never reported as unhandled.
fn ignore_rejection(p: &js_sys::Promise) {
    thread_local! {
        static NOOP: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
    }
    NOOP.with(|f| {
        let _ = p.catch(f);
    });
}
