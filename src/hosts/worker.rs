//! The Cloudflare Worker: an OpenAI-compatible API in front of the core.
//!
//! A thin host. For each request it validates the body ([`crate::gateway`]), asks
//! the run what to do ([`FallbackRun::poll_action`]), performs it with `fetch`
//! under an abort signal, feeds the outcome back, and answers the client. The
//! cooldown table lives per isolate and is shared with other isolates through the
//! `COOLDOWNS` KV namespace: read and merged at most once a second on the request
//! path (with a short timeout), written only when a local event changed it,
//! coalesced to one write per second, off the response path (`wait_until`).
//!
//! Routes: `POST /v1/chat/completions`, `GET /v1/models`, `GET /health`,
//! `GET /v1/status` (behind gateway auth), `OPTIONS *` (CORS preflight).
//!
//! Environment:
//! - `LLM_FAILOVER_CONFIG` (var): the JSON config; empty → the embedded
//!   `config/dev.json` (a demo chain against the local fault upstream).
//! - secrets named by the config's `keys`: the upstream keys.
//! - `GATEWAY_TOKENS` (secret): comma-separated bearer tokens clients must send.
//!   Without it the gateway refuses every call unless `ALLOW_UNAUTHENTICATED` is
//!   `"true"` (local development).
//! - `CORS_ORIGINS` (var): `*` or a comma-separated list of allowed origins.
//! - `COOLDOWNS` (KV binding): the shared cooldown snapshot.

use crate::classify::{inspect_completion, Outcome, TransportFailure};
use crate::config::Config;
use crate::cooldown::{CooldownTable, Snapshot};
use crate::gateway::{self, ApiError, KeyHeader};
use crate::redact::redact;
use crate::run::{
    Action, AttemptOutcome, AttemptPlan, FallbackRun, RunFailure, RunOptions, RunResult,
};
use crate::sse::{ChunkVerdict, SseParser, StreamEnd, StreamInspector};
use crate::Timestamp;
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;
use worker::{
    console_error, console_log, event, ByteStream, Context, Date, Delay, Env, Fetch, Headers,
    Method, Request, RequestInit, Response,
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
/// An upstream error body is read this far.
const MAX_ERROR_BODY: usize = 64 * 1024;

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
    if gateway::authorized(header.as_deref(), &tokens) {
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
        let _ = headers.set("access-control-allow-headers", "authorization, content-type, x-stainless-os, x-stainless-lang, x-stainless-package-version, x-stainless-runtime, x-stainless-runtime-version, x-stainless-arch, x-stainless-retry-count, x-stainless-timeout");
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
        (Method::Get, "/v1/models") => match load_config(env) {
            Ok(c) => json_response(200, gateway::models_body(&c)),
            Err(e) => error_response(&e),
        },
        (Method::Get, "/v1/status") => {
            if let Err(e) = check_auth(&req, env) {
                return error_response(&e);
            }
            if let Err(e) = load_config(env) {
                return error_response(&e);
            }
            sync_from_kv(env, true).await;
            let t = now();
            let body = with_isolate(|i| status_body(&i.table, t)).unwrap_or_default();
            json_response(200, body)
        }
        (Method::Post, "/v1/chat/completions") => {
            if let Err(e) = check_auth(&req, env) {
                return error_response(&e);
            }
            // Refuse an oversized body before reading it.
            let declared = req.headers().get("content-length").ok().flatten().and_then(|v| v.trim().parse::<usize>().ok());
            if declared.is_some_and(|n| n > gateway::MAX_REQUEST_BYTES) {
                return error_response(&gateway::body_too_large(declared.unwrap_or_default()));
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

fn status_body(table: &CooldownTable, now: Timestamp) -> String {
    let open: Vec<serde_json::Value> = table
        .open_scopes(now)
        .into_iter()
        .map(|(scope, state, entry)| {
            serde_json::json!({
                "scope": scope.as_str(),
                "state": state,
                "until": entry.until,
                "streak": entry.streak,
                "kind": entry.kind,
                "reason": entry.reason,
            })
        })
        .collect();
    serde_json::json!({"now": now, "scopes": open}).to_string()
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

/// What the host keeps of a failed upstream response, to pass it on unchanged.
struct UpstreamError {
    attempt: crate::run::AttemptId,
    status: u16,
    body: String,
}

async fn chat(body: &[u8], env: &Env, ctx: Rc<Context>) -> worker::Result<Response> {
    let config = match load_config(env) {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let req = match gateway::parse_chat_request(body) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let route = match config.route(&req.model) {
        Ok(r) => r,
        Err(e) => return error_response(&gateway::route_error(&e)),
    };
    sync_from_kv(env, false).await;

    let start = now();
    let run_id = with_isolate(|i| {
        i.next_run_id += 1;
        i.next_run_id
    })
    .unwrap_or(1);
    let seed = (js_sys::Math::random() * (u64::MAX as f64)) as u64;
    let mut run = FallbackRun::new(
        route,
        RunOptions {
            now: start,
            seed,
            run_id,
            stream: req.stream,
        },
    );
    let mut secrets: Vec<String> = Vec::new();
    let mut last_error: Option<UpstreamError> = None;

    loop {
        let t = now();
        let action = with_isolate(|i| run.poll_action(t, &mut i.table));
        let Some(action) = action else {
            return error_response(&ApiError::new(
                500,
                "server_error",
                "gateway state unavailable",
            ));
        };
        match action {
            Action::Finished(RunResult::Success { .. }) => {
                // Non-streaming successes return from inside the loop; a finished
                // success here means a stream ended (handled by the stream itself).
                return error_response(&ApiError::new(
                    500,
                    "server_error",
                    "run finished without a response",
                ));
            }
            Action::Finished(RunResult::Failed(f)) => {
                schedule_kv_write(env, &ctx);
                return failure_response(&f, last_error.as_ref(), &secrets, &run);
            }
            Action::Wait { until } => {
                let wait = until.saturating_sub(now()).max(1);
                Delay::from(Duration::from_millis(wait)).await;
            }
            Action::Send(plan) => {
                let key = match plan.key.as_deref() {
                    None => None,
                    Some(name) => match string_var(env, name) {
                        Some(k) => {
                            secrets.push(k.clone());
                            Some(k)
                        }
                        None => {
                            // The config names a key the Worker does not have: an auth
                            // failure of that key (rotation moves on), said plainly.
                            console_error!(
                                "llm-failover: secret `{name}` (provider {}) is not set",
                                plan.provider
                            );
                            let outcome = Outcome::Http {
                                status: 401,
                                headers: vec![],
                                body: format!(
                                    r#"{{"error":{{"message":"the gateway has no secret named `{name}` for provider `{}`","type":"authentication_error"}}}}"#,
                                    plan.provider
                                ),
                            };
                            let t = now();
                            with_isolate(|i| {
                                run.handle_outcome(
                                    t,
                                    &mut i.table,
                                    plan.attempt,
                                    AttemptOutcome::Failure(outcome),
                                )
                            });
                            continue;
                        }
                    },
                };
                let upstream = gateway::upstream_request(&plan, &req);
                match attempt(&plan, &upstream, key.as_deref()).await {
                    Attempt::Done {
                        outcome,
                        error_body,
                    } => {
                        if let (AttemptOutcome::Failure(Outcome::Http { status, .. }), Some(body)) =
                            (&outcome, error_body)
                        {
                            last_error = Some(UpstreamError {
                                attempt: plan.attempt,
                                status: *status,
                                body,
                            });
                        }
                        log_attempt(&plan, &outcome);
                        let t = now();
                        with_isolate(|i| {
                            run.handle_outcome(t, &mut i.table, plan.attempt, outcome)
                        });
                    }
                    Attempt::Answer { body } => {
                        let t = now();
                        with_isolate(|i| {
                            run.handle_outcome(
                                t,
                                &mut i.table,
                                plan.attempt,
                                AttemptOutcome::Success,
                            )
                        });
                        log_attempt(&plan, &AttemptOutcome::Success);
                        schedule_kv_write(env, &ctx);
                        let headers = trace_headers(&run, &plan)?;
                        headers.set("content-type", "application/json")?;
                        return Ok(Response::ok(body)?.with_headers(headers));
                    }
                    Attempt::Stream(committed) => {
                        let t = now();
                        with_isolate(|i| {
                            run.handle_outcome(
                                t,
                                &mut i.table,
                                plan.attempt,
                                AttemptOutcome::Committed,
                            )
                        });
                        let headers = trace_headers(&run, &plan)?;
                        headers.set("content-type", "text/event-stream; charset=utf-8")?;
                        headers.set("cache-control", "no-cache")?;
                        let stream =
                            client_stream(committed, run, plan, secrets, env.clone(), ctx.clone());
                        return Ok(Response::from_stream(stream)?.with_headers(headers));
                    }
                }
            }
        }
    }
}

fn log_attempt(plan: &AttemptPlan, outcome: &AttemptOutcome) {
    let what = match outcome {
        AttemptOutcome::Success => "ok".to_string(),
        AttemptOutcome::Committed => "committed".to_string(),
        AttemptOutcome::Failure(Outcome::Http { status, .. }) => format!("http {status}"),
        AttemptOutcome::Failure(Outcome::Transport(t)) => t.as_str().to_string(),
        AttemptOutcome::Failure(Outcome::StreamError { .. }) => "error event in stream".to_string(),
        AttemptOutcome::Failure(_) => "invalid response".to_string(),
    };
    console_log!(
        "llm-failover: attempt {} {}/{}{}: {what}",
        plan.attempt.0,
        plan.provider,
        plan.model,
        if plan.probe { " (probe)" } else { "" }
    );
}

fn trace_headers(run: &FallbackRun, plan: &AttemptPlan) -> worker::Result<Headers> {
    let headers = Headers::new();
    headers.set(
        "x-llm-failover-target",
        &format!("{}/{}", plan.provider, plan.model),
    )?;
    headers.set(
        "x-llm-failover-attempts",
        &gateway::attempts_header(run.attempts()),
    )?;
    Ok(headers)
}

fn failure_response(
    f: &RunFailure,
    last: Option<&UpstreamError>,
    secrets: &[String],
    run: &FallbackRun,
) -> worker::Result<Response> {
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let upstream = last
        .filter(|e| Some(e.attempt) == f.propagate)
        .map(|e| (e.status, e.body.as_str()));
    let (status, body) = gateway::failure_response(f, upstream, &secrets);
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set(
        "x-llm-failover-attempts",
        &gateway::attempts_header(run.attempts()),
    )?;
    if let Some(ms) = f.retry_after_ms {
        headers.set("retry-after", &ms.div_ceil(1000).max(1).to_string())?;
    }
    Ok(Response::ok(body)?
        .with_status(status)
        .with_headers(headers))
}

// ---------------------------------------------------------------------------
// One upstream attempt

enum Attempt {
    /// The attempt ended (a failure, to be fed to the run). `error_body` is the
    /// upstream's error body when it answered with an HTTP error.
    Done {
        outcome: AttemptOutcome,
        error_body: Option<String>,
    },
    /// A complete non-streaming answer.
    Answer { body: String },
    /// A stream whose first content arrived: commit to it.
    Stream(Committed),
}

/// A stream the client will receive: what was read so far, and the rest.
struct Committed {
    events: VecDeque<String>,
    upstream: ByteStream,
    parser: SseParser,
    inspector: StreamInspector,
    abort: web_sys::AbortController,
}

fn transport_kind(message: &str) -> TransportFailure {
    let m = message.to_ascii_lowercase();
    if m.contains("refused") {
        TransportFailure::ConnectionRefused
    } else if m.contains("dns") || m.contains("resolve") || m.contains("not found") {
        TransportFailure::Dns
    } else if m.contains("tls") || m.contains("ssl") || m.contains("certificate") {
        TransportFailure::Tls
    } else {
        TransportFailure::ResetBeforeHeaders
    }
}

fn failed(outcome: Outcome) -> Attempt {
    Attempt::Done {
        outcome: AttemptOutcome::Failure(outcome),
        error_body: None,
    }
}

async fn with_timeout<F: std::future::Future>(ms: u64, f: F) -> Option<F::Output> {
    match select(
        Box::pin(f),
        Box::pin(Delay::from(Duration::from_millis(ms.max(1)))),
    )
    .await
    {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

async fn attempt(plan: &AttemptPlan, up: &gateway::UpstreamRequest, key: Option<&str>) -> Attempt {
    let headers = Headers::new();
    for (k, v) in &up.headers {
        let _ = headers.set(k, v);
    }
    if let Some(key) = key {
        let _ = match up.key_header {
            KeyHeader::Bearer => headers.set("authorization", &format!("Bearer {key}")),
            KeyHeader::ApiKey => headers.set("api-key", key),
        };
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(up.body.clone().into()));
    let request = match Request::new_with_init(&up.url, &init) {
        Ok(r) => r,
        Err(_) => return failed(Outcome::Transport(TransportFailure::Dns)),
    };
    let Ok(controller) = web_sys::AbortController::new() else {
        return failed(Outcome::Transport(TransportFailure::ResetBeforeHeaders));
    };
    let signal = worker::AbortSignal::from(controller.signal());
    let fetch = Fetch::Request(request);
    let sent = with_timeout(plan.header_timeout_ms, fetch.send_with_signal(&signal)).await;
    let mut resp = match sent {
        None => {
            controller.abort();
            return failed(Outcome::Transport(TransportFailure::HeaderTimeout));
        }
        Some(Err(e)) => return failed(Outcome::Transport(transport_kind(&e.to_string()))),
        Some(Ok(r)) => r,
    };
    let status = resp.status_code();
    let response_headers: Vec<(String, String)> = resp.headers().entries().collect();
    if !(200..300).contains(&status) {
        let body = with_timeout(plan.idle_timeout_ms, resp.text()).await;
        let body = match body {
            Some(Ok(b)) => truncate(b, MAX_ERROR_BODY),
            _ => String::new(),
        };
        controller.abort();
        let outcome = Outcome::Http {
            status,
            headers: response_headers,
            body: body.clone(),
        };
        return Attempt::Done {
            outcome: AttemptOutcome::Failure(outcome),
            error_body: Some(body),
        };
    }
    if !plan.stream {
        // Non-streaming: the body arrives within what is left of the response timeout.
        let body = match with_timeout(plan.header_timeout_ms, resp.text()).await {
            None => {
                controller.abort();
                return failed(Outcome::Transport(TransportFailure::HeaderTimeout));
            }
            Some(Err(_)) => return failed(Outcome::Transport(TransportFailure::StreamEndedEarly)),
            Some(Ok(b)) => b,
        };
        return match inspect_completion(plan.dialect, &body, now()) {
            None => Attempt::Answer { body },
            Some(_) => failed(Outcome::InvalidSuccess {
                body: truncate(body, MAX_ERROR_BODY),
            }),
        };
    }
    // Streaming: read until the first content chunk before committing.
    let mut upstream = match resp.stream() {
        Ok(s) => s,
        Err(_) => return failed(Outcome::Transport(TransportFailure::StreamEndedEarly)),
    };
    let mut parser = SseParser::new();
    let mut inspector = StreamInspector::new(plan.dialect);
    let mut events: VecDeque<String> = VecDeque::new();
    // One timer for the whole wait: `Date.now()` in a Worker only moves on some
    // I/O, so "time left" cannot be recomputed between chunks.
    let mut first_token_timer = Box::pin(Delay::from(Duration::from_millis(
        plan.first_token_timeout_ms.max(1),
    )));
    loop {
        let chunk = match select(upstream.next(), first_token_timer.as_mut()).await {
            Either::Right(_) => {
                controller.abort();
                return failed(Outcome::Transport(TransportFailure::FirstTokenTimeout));
            }
            Either::Left((c, _)) => c,
        };
        let parsed = match chunk {
            Some(Ok(bytes)) => parser.push(&bytes),
            Some(Err(_)) => return failed(Outcome::Transport(TransportFailure::StreamEndedEarly)),
            None => {
                // The stream ended before any content.
                if let Some(ev) = parser.finish() {
                    if let ChunkVerdict::Error(_) = inspector.inspect(&ev, now()) {
                        return failed(Outcome::StreamError { data: ev.data });
                    }
                }
                return failed(Outcome::Transport(TransportFailure::StreamEndedEarly));
            }
        };
        let evs = match parsed {
            Ok(evs) => evs,
            Err(e) => {
                controller.abort();
                return failed(Outcome::InvalidSuccess { body: e.0 });
            }
        };
        let mut commit = false;
        for ev in evs {
            match inspector.inspect(&ev, now()) {
                ChunkVerdict::Error(_) => {
                    controller.abort();
                    return failed(Outcome::StreamError { data: ev.data });
                }
                ChunkVerdict::Malformed(why) => {
                    controller.abort();
                    return failed(Outcome::InvalidSuccess { body: why });
                }
                ChunkVerdict::Done => {
                    if !commit {
                        // `[DONE]` before any content: an empty, unusable answer.
                        return failed(Outcome::InvalidSuccess {
                            body: "stream ended with [DONE] before any content".into(),
                        });
                    }
                    events.push_back(gateway::DONE_EVENT.to_string());
                }
                ChunkVerdict::Content => {
                    commit = true;
                    events.push_back(format!("data: {}\n\n", ev.data));
                }
                ChunkVerdict::Empty => events.push_back(format!("data: {}\n\n", ev.data)),
            }
        }
        if commit {
            return Attempt::Stream(Committed {
                events,
                upstream,
                parser,
                inspector,
                abort: controller,
            });
        }
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

// ---------------------------------------------------------------------------
// The committed stream

struct StreamState {
    c: Committed,
    /// Fires at the request's deadline (a real timer, see `attempt`).
    deadline: std::pin::Pin<Box<Delay>>,
    run: FallbackRun,
    plan: AttemptPlan,
    secrets: Vec<String>,
    env: Env,
    ctx: Rc<Context>,
    finished: bool,
}

impl StreamState {
    /// Ends the run with `outcome` and queues the final events for the client.
    fn end(&mut self, outcome: AttemptOutcome) {
        self.end_because(outcome, None);
    }

    /// Like [`StreamState::end`], with an explicit reason for the client's error event.
    fn end_because(&mut self, outcome: AttemptOutcome, why: Option<String>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let t = now();
        log_attempt(&self.plan, &outcome);
        let run = &mut self.run;
        let plan = &self.plan;
        with_isolate(|i| run.handle_outcome(t, &mut i.table, plan.attempt, outcome));
        // The run classified the failure and wrote the message (`after_commit`).
        if let Some(RunResult::Failed(f)) = self.run.result() {
            self.c.abort.abort();
            let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
            let message = match why {
                Some(why) => format!(
                    "the upstream stream from {}/{} failed after the answer started: {why}",
                    self.plan.provider, self.plan.model
                ),
                None => f.message.clone(),
            };
            let event = gateway::stream_error_event(f.kind.as_str(), &redact(&message, &secrets));
            self.c.events.push_back(event);
        }
        schedule_kv_write(&self.env, &self.ctx);
    }
}

fn client_stream(
    c: Committed,
    run: FallbackRun,
    plan: AttemptPlan,
    secrets: Vec<String>,
    env: Env,
    ctx: Rc<Context>,
) -> impl futures_util::Stream<Item = worker::Result<Vec<u8>>> {
    let left = run.deadline().saturating_sub(now()).max(1);
    let deadline = Box::pin(Delay::from(Duration::from_millis(left)));
    let state = StreamState {
        c,
        deadline,
        run,
        plan,
        secrets,
        env,
        ctx,
        finished: false,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(ev) = s.c.events.pop_front() {
                return Some((Ok(ev.into_bytes()), s));
            }
            if s.finished {
                return None;
            }
            // The request's deadline bounds a stream too; between chunks the idle
            // timeout does.
            let idle = Delay::from(Duration::from_millis(s.plan.idle_timeout_ms.max(1)));
            let read = s.c.upstream.next();
            let chunk = match select(read, select(idle, s.deadline.as_mut())).await {
                Either::Left((c, _)) => Some(c),
                Either::Right((Either::Left(_), _)) => None,
                Either::Right((Either::Right(_), _)) => {
                    let why = format!(
                        "the request deadline of {} ms was reached while streaming",
                        s.run.chain().budgets.deadline_ms
                    );
                    let timeout = Outcome::Transport(TransportFailure::StreamIdleTimeout);
                    s.end_because(AttemptOutcome::Failure(timeout), Some(why));
                    continue;
                }
            };
            match chunk {
                None => s.end(AttemptOutcome::Failure(Outcome::Transport(
                    TransportFailure::StreamIdleTimeout,
                ))),
                Some(Some(Err(_))) => s.end(AttemptOutcome::Failure(Outcome::Transport(
                    TransportFailure::StreamEndedEarly,
                ))),
                Some(None) => {
                    if let Some(ev) = s.c.parser.finish() {
                        forward(&mut s, ev);
                    }
                    if !s.finished {
                        match s.c.inspector.end() {
                            StreamEnd::Complete { saw_done } => {
                                if !saw_done {
                                    s.c.events.push_back(gateway::DONE_EVENT.to_string());
                                }
                                s.end(AttemptOutcome::Success);
                            }
                            StreamEnd::Truncated => s.end(AttemptOutcome::Failure(
                                Outcome::Transport(TransportFailure::StreamEndedEarly),
                            )),
                        }
                    }
                }
                Some(Some(Ok(bytes))) => match s.c.parser.push(&bytes) {
                    Ok(evs) => {
                        for ev in evs {
                            forward(&mut s, ev);
                            if s.finished {
                                break;
                            }
                        }
                    }
                    Err(e) => s.end(AttemptOutcome::Failure(Outcome::InvalidSuccess {
                        body: e.0,
                    })),
                },
            }
        }
    })
}

/// Passes one upstream event on, or ends the stream on an error or a malformed chunk.
fn forward(s: &mut StreamState, ev: crate::sse::SseEvent) {
    if s.finished {
        return;
    }
    match s.c.inspector.inspect(&ev, now()) {
        ChunkVerdict::Content | ChunkVerdict::Empty => {
            s.c.events.push_back(format!("data: {}\n\n", ev.data))
        }
        ChunkVerdict::Done => {
            s.c.events.push_back(gateway::DONE_EVENT.to_string());
            s.end(AttemptOutcome::Success);
        }
        ChunkVerdict::Error(_) => s.end(AttemptOutcome::Failure(Outcome::StreamError {
            data: ev.data,
        })),
        ChunkVerdict::Malformed(why) => s.end(AttemptOutcome::Failure(Outcome::InvalidSuccess {
            body: format!("malformed chunk: {why}"),
        })),
    }
}
