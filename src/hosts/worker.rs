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
use crate::api::{self, ApiError};
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
use worker::{
    console_error, console_log, console_warn, event, Context, Date, Delay, Env, Headers, Method,
    Request, Response,
};

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

fn string_var(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
}

/// Gateway auth: a bearer token from `GATEWAY_TOKENS`, or none when the operator
/// explicitly allowed unauthenticated use.
fn check_auth(req: &Request, env: &Env) -> Result<(), ApiError> {
    let tokens = string_var(env, "GATEWAY_TOKENS").unwrap_or_default();
    let tokens: Vec<&str> = tokens
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        if string_var(env, "ALLOW_UNAUTHENTICATED").as_deref() == Some("true") {
            return Ok(());
        }
        return Err(ApiError::new(
            500,
            "server_error",
            "gateway has no GATEWAY_TOKENS secret; set one (or ALLOW_UNAUTHENTICATED=true for local development)",
        )
        .code("auth_not_configured"));
    }
    let header = req.headers().get("authorization").ok().flatten();
    let x_api_key = req.headers().get("x-api-key").ok().flatten();
    if api::authorized(header.as_deref(), x_api_key.as_deref(), &tokens) {
        Ok(())
    } else {
        Err(ApiError::new(
            401,
            "authentication_error",
            "missing or invalid gateway token: send `Authorization: Bearer <token>`",
        )
        .code("invalid_api_key"))
    }
}

fn cors_headers(req: &Request, env: &Env, headers: &Headers) {
    let allowed = string_var(env, "CORS_ORIGINS").unwrap_or_else(|| "*".to_string());
    let origin = req.headers().get("origin").ok().flatten();
    let allow = if allowed.trim() == "*" {
        Some("*".to_string())
    } else {
        origin.filter(|o| allowed.split(',').any(|a| a.trim() == o))
    };
    if let Some(a) = allow {
        let _ = headers.set("access-control-allow-origin", &a);
        let _ = headers.set("vary", "origin");
        let _ = headers.set("access-control-allow-methods", "GET, POST, OPTIONS");
        let _ = headers.set("access-control-allow-headers", "authorization, content-type, x-api-key, anthropic-version, anthropic-beta, x-stainless-os, x-stainless-lang, x-stainless-package-version, x-stainless-runtime, x-stainless-runtime-version, x-stainless-arch, x-stainless-retry-count, x-stainless-timeout");
        let _ = headers.set(
            "access-control-expose-headers",
            "x-llm-failover-target, x-llm-failover-attempts, retry-after",
        );
        let _ = headers.set("access-control-max-age", "600");
    }
}

fn json_response(status: u16, body: String) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::ok(body)?
        .with_status(status)
        .with_headers(headers))
}

fn error_response(e: &ApiError) -> worker::Result<Response> {
    json_response(e.status, e.body())
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let ctx = Rc::new(ctx);
    let result = route(req.clone()?, &env, ctx).await;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            console_error!(
                "llm-failover: internal error: {}",
                redact(&e.to_string(), &[])
            );
            error_response(&ApiError::new(
                500,
                "server_error",
                "internal gateway error",
            ))?
        }
    };
    cors_headers(&req, &env, resp.headers_mut());
    Ok(resp)
}

async fn route(mut req: Request, env: &Env, ctx: Rc<Context>) -> worker::Result<Response> {
    let path = req.path();
    match (req.method(), path.as_str()) {
        (Method::Options, _) => Ok(Response::empty()?.with_status(204)),
        (Method::Get, "/health") => json_response(200, r#"{"status":"ok"}"#.into()),
        (Method::Get, "/v1/models") => {
            if let Err(e) = check_auth(&req, env) {
                return error_response(&e);
            }
            match load_config(env) {
                Ok(c) => json_response(200, api::models_body(&c)),
                Err(e) => error_response(&e),
            }
        }
        (Method::Get, "/v1/status") => {
            if let Err(e) = check_auth(&req, env) {
                return error_response(&e);
            }
            if let Err(e) = load_config(env) {
                return error_response(&e);
            }
            sync_from_kv(env, true).await;
            let t = now();
            let body = with_isolate(|i| api::status_body(&i.table, t).to_string()).unwrap_or_default();
            json_response(200, body)
        }
        (Method::Post, "/v1/chat/completions") => {
            if let Err(e) = check_auth(&req, env) {
                return error_response(&e);
            }
            // Refuse an oversized body before reading it.
            let declared = req.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse::<usize>().ok());
            if declared.is_some_and(|n| n > api::MAX_REQUEST_BYTES) {
                return error_response(&api::body_too_large(declared.unwrap_or_default()));
            }
            let body = req.bytes().await?;
            chat(&body, env, ctx).await
        }
        (_, "/v1/chat/completions") | (_, "/v1/models") | (_, "/health") | (_, "/v1/status") => error_response(
            &ApiError::new(405, "invalid_request_error", format!("method {} is not allowed on {path}", req.method().as_ref())),
        ),
        _ => error_response(
            &ApiError::new(404, "invalid_request_error", format!("no route for {path}; the API is POST /v1/chat/completions, GET /v1/models, GET /health, GET /v1/status"))
                .code("not_found"),
        ),
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

async fn chat(body: &[u8], env: &Env, ctx: Rc<Context>) -> worker::Result<Response> {
    let config = match load_config(env) {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let req = match api::parse_chat_request(body) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let route = match config.route(&req.model) {
        Ok(r) => r,
        Err(e) => return error_response(&api::route_error(&e)),
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
            respond(r)
        }
        Next::StreamStart(head) => {
            let headers = Headers::new();
            for (k, v) in &head.headers {
                headers.set(k, v)?;
            }
            let stream = client_stream(pump, env.clone(), ctx.clone());
            Ok(Response::from_stream(stream)?.with_headers(headers))
        }
        // The session always answers before it ends; report it if it did not.
        Next::Event(_) | Next::Done => {
            finish(&pump, env, &ctx);
            error_response(&ApiError::new(
                500,
                "server_error",
                "the gateway ended the request without an answer",
            ))
        }
    }
}

fn respond(r: ClientResponse) -> worker::Result<Response> {
    let headers = Headers::new();
    for (k, v) in &r.headers {
        headers.set(k, v)?;
    }
    Ok(Response::ok(r.body)?
        .with_status(r.status)
        .with_headers(headers))
}

/// After a request: one log line, and the KV write if the table changed.
fn finish(pump: &Pump<WorkerHost>, env: &Env, ctx: &Context) {
    log_request(pump, env);
    schedule_kv_write(env, ctx);
}

/// One JSON line per request: always when something failed, else at `info`.
fn log_request(pump: &Pump<WorkerHost>, env: &Env) {
    let run = pump.session.run();
    let failed = run.attempts().iter().any(|a| a.kind.is_some())
        || !matches!(run.result(), Some(crate::run::RunResult::Success { .. }));
    let level = string_var(env, "LOG_LEVEL").unwrap_or_default();
    let verbose = matches!(level.as_str(), "info" | "debug");
    if !failed && !verbose {
        return;
    }
    let mut line = serde_json::json!({
        "llm_failover": "request",
        "chain": run.chain().name,
        "attempts": api::attempts_header(run.attempts()),
        "result": run.result(),
    });
    if failed || level == "debug" {
        line["trace"] = serde_json::to_value(run.trace()).unwrap_or_default();
    }
    let text = pump.session.redactor().redact(&line.to_string());
    if failed {
        console_warn!("{text}");
    } else {
        console_log!("{text}");
    }
}

/// The rest of the session as SSE bytes for the client; the log line and the KV
/// write once it ended.
fn client_stream(
    pump: Pump<WorkerHost>,
    env: Env,
    ctx: Rc<Context>,
) -> impl futures_util::Stream<Item = worker::Result<Vec<u8>>> {
    futures_util::stream::unfold(Some((pump, env, ctx)), |state| async move {
        let (mut pump, env, ctx) = state?;
        match pump.next().await {
            Next::Event(e) => Some((Ok(e.to_sse().into_bytes()), Some((pump, env, ctx)))),
            Next::Done | Next::Respond(_) | Next::StreamStart(_) => {
                finish(&pump, &env, &ctx);
                None
            }
        }
    })
}
