//! The upstream driver shared by the hosts that call upstreams with the JavaScript
//! `fetch`: the Cloudflare Worker and the browser package.
//!
//! It performs the run's actions and nothing else: a [`Driver`] asks the
//! [`FallbackRun`] what to do, sends the attempt with `fetch` under an
//! `AbortController` and the plan's timeouts (real timers: `Date.now()` in workerd
//! only moves on some I/O), reads the answer as far as the commit rule needs, feeds
//! the outcome back, and stops at the first of: a complete answer, a committed
//! stream ([`LiveStream`]), the run's failure, or the caller's cancellation. What a
//! host does with that (an HTTP response, a JS promise, an async iterator) is the
//! host's business; what differs between hosts (the clock, where the cooldown table
//! lives, where keys come from, logging) is the [`Host`] trait.
//!
//! Everything here uses only what every JS runtime has: global `fetch`,
//! `setTimeout`, `AbortController`, `ReadableStream` readers.

use crate::classify::{inspect_completion, FailureKind, Outcome, TransportFailure};
use crate::cooldown::CooldownTable;
use crate::gateway::{self, ChatRequest, KeyHeader};
use crate::redact::redact;
use crate::run::TraceEvent;
use crate::run::{Action, AttemptOutcome, AttemptPlan, FallbackRun, RunFailure, RunResult};
use crate::sse::{ChunkVerdict, SseEvent, SseParser, StreamEnd, StreamInspector};
use crate::Timestamp;
use futures_util::future::{select, Either};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// An upstream error body is read this far.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = fetch)]
    fn fetch_request(input: &web_sys::Request) -> js_sys::Promise;
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: i32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
}

/// What differs between the hosts that use the driver.
pub trait Host {
    /// The host's clock, Unix milliseconds.
    fn now(&self) -> Timestamp;
    /// Runs `f` on the cooldown table (never across an `await`); `None` when the
    /// host has no table (the run cannot go on).
    fn with_table<R>(&self, f: impl FnOnce(&mut CooldownTable) -> R) -> Option<R>;
    /// The value of the key the config names `name`.
    fn secret(&self, name: &str) -> Option<String>;
    /// An attempt ended (for logs).
    fn on_attempt(&self, _plan: &AttemptPlan, _outcome: &AttemptOutcome) {}
    /// The run added these trace events (for live timelines).
    fn on_trace(&self, _events: &[TraceEvent]) {}
}

// ---------------------------------------------------------------------------
// Timers and cancellation

/// A `setTimeout` as a future; the timer is cleared when the future is dropped.
pub struct Sleep {
    fut: JsFuture,
    id: JsValue,
}

/// Resolves after `ms` milliseconds (at least 1).
pub fn sleep(ms: u64) -> Sleep {
    let ms = ms.clamp(1, i32::MAX as u64) as i32;
    let mut id = JsValue::UNDEFINED;
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        id = set_timeout(&resolve, ms);
    });
    Sleep {
        fut: JsFuture::from(promise),
        id,
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.fut).poll(cx).map(|_| ())
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        clear_timeout(&self.id);
    }
}

/// The caller's `AbortSignal`, as something the driver can race every wait against.
pub struct Cancel {
    signal: web_sys::AbortSignal,
    state: Rc<CancelState>,
    listener: Closure<dyn FnMut()>,
}

#[derive(Default)]
struct CancelState {
    fired: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
}

impl Cancel {
    pub fn new(signal: web_sys::AbortSignal) -> Cancel {
        let state = Rc::new(CancelState::default());
        let s = state.clone();
        let listener = Closure::<dyn FnMut()>::new(move || {
            s.fired.set(true);
            for w in s.wakers.borrow_mut().drain(..) {
                w.wake();
            }
        });
        let _ = signal.add_event_listener_with_callback("abort", listener.as_ref().unchecked_ref());
        Cancel {
            signal,
            state,
            listener,
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.state.fired.get() || self.signal.aborted()
    }

    /// Resolves when the signal fires.
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled(self)
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        let _ = self
            .signal
            .remove_event_listener_with_callback("abort", self.listener.as_ref().unchecked_ref());
    }
}

pub struct Cancelled<'a>(&'a Cancel);

impl Future for Cancelled<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.is_cancelled() {
            return Poll::Ready(());
        }
        self.0.state.wakers.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

/// How a raced wait ended.
enum Raced<T> {
    Done(T),
    TimedOut,
    Cancelled,
}

/// Awaits `f` for at most `ms`, or until `cancel` fires.
async fn race<F: Future>(f: F, ms: Option<u64>, cancel: Option<&Cancel>) -> Raced<F::Output> {
    let timer = async {
        match ms {
            Some(ms) => sleep(ms).await,
            None => std::future::pending().await,
        }
    };
    let stop = async {
        match cancel {
            Some(c) => c.cancelled().await,
            None => std::future::pending().await,
        }
    };
    match select(Box::pin(f), select(Box::pin(timer), Box::pin(stop))).await {
        Either::Left((v, _)) => Raced::Done(v),
        Either::Right((Either::Left(_), _)) => Raced::TimedOut,
        Either::Right((Either::Right(_), _)) => Raced::Cancelled,
    }
}

// ---------------------------------------------------------------------------
// The driver

/// One request's run, the host it runs on, and what the host must remember.
pub struct Driver<H: Host> {
    pub host: H,
    pub run: FallbackRun,
    /// The key values used so far: redacted from everything the client sees.
    pub secrets: Vec<String>,
    trace_seen: usize,
    cancel: Option<Cancel>,
}

/// Where [`Driver::drive`] stopped.
pub enum Driven<H: Host> {
    /// A complete non-streaming answer from `plan`'s target.
    Answer {
        driver: Driver<H>,
        plan: AttemptPlan,
        body: String,
    },
    /// A stream whose first content arrived: the host passes it on.
    Stream(LiveStream<H>),
    /// The run failed. `upstream` is the status and body of the attempt whose error
    /// the run says to pass on as it came ([`RunFailure::propagate`]).
    Failed {
        driver: Driver<H>,
        failure: RunFailure,
        upstream: Option<(u16, String)>,
    },
    /// The caller's signal fired.
    Cancelled { driver: Driver<H> },
    /// The host's cooldown table was unavailable.
    Unavailable,
}

impl<H: Host> Driver<H> {
    pub fn new(host: H, run: FallbackRun, cancel: Option<web_sys::AbortSignal>) -> Driver<H> {
        Driver {
            host,
            run,
            secrets: Vec::new(),
            trace_seen: 0,
            cancel: cancel.map(Cancel::new),
        }
    }

    /// The secrets as `&str`s, for [`redact`] and [`gateway::failure_response`].
    pub fn secret_refs(&self) -> Vec<&str> {
        self.secrets.iter().map(String::as_str).collect()
    }

    fn emit_trace(&mut self) {
        let trace = self.run.trace();
        if trace.len() > self.trace_seen {
            self.host.on_trace(&trace[self.trace_seen..]);
            self.trace_seen = trace.len();
        }
    }

    fn poll(&mut self) -> Option<Action> {
        let t = self.host.now();
        let run = &mut self.run;
        let action = self.host.with_table(|table| run.poll_action(t, table));
        self.emit_trace();
        action
    }

    /// Ends the run as cancelled by the caller (see [`FallbackRun::cancel`]).
    fn cancel_run(&mut self) {
        let t = self.host.now();
        let run = &mut self.run;
        self.host.with_table(|table| run.cancel(t, table));
        self.emit_trace();
    }

    /// Feeds an attempt's outcome to the run.
    fn feed(&mut self, plan: &AttemptPlan, outcome: AttemptOutcome) {
        self.host.on_attempt(plan, &outcome);
        let t = self.host.now();
        let run = &mut self.run;
        self.host
            .with_table(|table| run.handle_outcome(t, table, plan.attempt, outcome));
        self.emit_trace();
    }

    /// Runs the chain until an answer, a committed stream, a failure or cancellation.
    pub async fn drive(mut self, req: &ChatRequest) -> Driven<H> {
        // The last upstream HTTP error: its status and body, for propagation.
        let mut last_error: Option<(crate::run::AttemptId, u16, String)> = None;
        loop {
            if self.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
                self.cancel_run();
                return Driven::Cancelled { driver: self };
            }
            let Some(action) = self.poll() else {
                return Driven::Unavailable;
            };
            match action {
                Action::Finished(RunResult::Success { .. }) => {
                    // Successes return from inside the loop; a finished success here
                    // is a misuse of the run, reported as a failure.
                    let failure = RunFailure {
                        kind: FailureKind::Unknown,
                        message: "the run finished without an answer".into(),
                        http_status: 500,
                        propagate: None,
                        after_commit: false,
                        retry_after_ms: None,
                    };
                    return Driven::Failed {
                        driver: self,
                        failure,
                        upstream: None,
                    };
                }
                Action::Finished(RunResult::Failed(failure)) => {
                    let upstream = last_error
                        .take()
                        .filter(|(id, _, _)| Some(*id) == failure.propagate)
                        .map(|(_, status, body)| (status, body));
                    return Driven::Failed {
                        driver: self,
                        failure,
                        upstream,
                    };
                }
                Action::Wait { until } => {
                    let wait = until.saturating_sub(self.host.now()).max(1);
                    if let Raced::Cancelled = race(sleep(wait), None, self.cancel.as_ref()).await {
                        self.cancel_run();
                        return Driven::Cancelled { driver: self };
                    }
                }
                Action::Send(plan) => {
                    let key = match plan.key.as_deref() {
                        None => None,
                        Some(name) => match self.host.secret(name) {
                            Some(k) => {
                                self.secrets.push(k.clone());
                                Some(k)
                            }
                            None => {
                                // The config names a key the host does not have: an
                                // auth failure of that key (rotation moves on).
                                let outcome = Outcome::Http {
                                    status: 401,
                                    headers: vec![],
                                    body: serde_json::json!({"error": {
                                        "message": format!("no key named `{name}` was given for provider `{}`", plan.provider),
                                        "type": "authentication_error",
                                    }})
                                    .to_string(),
                                };
                                self.feed(&plan, AttemptOutcome::Failure(outcome));
                                continue;
                            }
                        },
                    };
                    let upstream = gateway::upstream_request(&plan, req);
                    match attempt(
                        &self.host,
                        &plan,
                        &upstream,
                        key.as_deref(),
                        self.cancel.as_ref(),
                    )
                    .await
                    {
                        Attempt::Cancelled => {
                            self.cancel_run();
                            return Driven::Cancelled { driver: self };
                        }
                        Attempt::Done {
                            outcome,
                            error_body,
                        } => {
                            if let (
                                AttemptOutcome::Failure(Outcome::Http { status, .. }),
                                Some(body),
                            ) = (&outcome, error_body)
                            {
                                last_error = Some((plan.attempt, *status, body));
                            }
                            self.feed(&plan, outcome);
                        }
                        Attempt::Answer { body } => {
                            self.feed(&plan, AttemptOutcome::Success);
                            return Driven::Answer {
                                driver: self,
                                plan,
                                body,
                            };
                        }
                        Attempt::Stream(committed) => {
                            self.feed(&plan, AttemptOutcome::Committed);
                            let left = self.run.deadline().saturating_sub(self.host.now());
                            return Driven::Stream(LiveStream {
                                deadline: sleep(left.max(1)),
                                d: self,
                                plan,
                                c: committed,
                                finished: false,
                            });
                        }
                    }
                }
            }
        }
    }
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
    Answer {
        body: String,
    },
    /// A stream whose first content arrived: commit to it.
    Stream(Committed),
    Cancelled,
}

/// What a committed stream carries over from its attempt.
struct Committed {
    items: VecDeque<StreamItem>,
    body: Body,
    parser: SseParser,
    inspector: StreamInspector,
    abort: web_sys::AbortController,
}

/// A response body read chunk by chunk.
struct Body {
    reader: web_sys::ReadableStreamDefaultReader,
}

impl Body {
    /// The next chunk; `None` at the end; `Some(Err)` when the body broke.
    async fn next(&self) -> Option<Result<Vec<u8>, ()>> {
        let read = match JsFuture::from(self.reader.read()).await {
            Ok(r) => r,
            Err(_) => return Some(Err(())),
        };
        let done = js_sys::Reflect::get(&read, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true);
        if done {
            return None;
        }
        match js_sys::Reflect::get(&read, &JsValue::from_str("value")) {
            Ok(v) if v.is_instance_of::<js_sys::Uint8Array>() => {
                Some(Ok(v.unchecked_into::<js_sys::Uint8Array>().to_vec()))
            }
            _ => Some(Err(())),
        }
    }
}

/// What a rejected `fetch` means. Browsers say only "Failed to fetch" (a refused
/// connection, a reset, a DNS failure and a CORS refusal look alike); workerd is
/// more precise.
fn transport_kind(error: &JsValue) -> TransportFailure {
    let message = error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if message.contains("refused") {
        TransportFailure::ConnectionRefused
    } else if message.contains("dns")
        || message.contains("resolve")
        || message.contains("not found")
    {
        TransportFailure::Dns
    } else if message.contains("tls") || message.contains("ssl") || message.contains("certificate")
    {
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

fn transport(t: TransportFailure) -> Attempt {
    failed(Outcome::Transport(t))
}

fn build_request(
    up: &gateway::UpstreamRequest,
    key: Option<&str>,
    signal: &web_sys::AbortSignal,
) -> Result<web_sys::Request, JsValue> {
    let headers = web_sys::Headers::new()?;
    for (k, v) in &up.headers {
        headers.set(k, v)?;
    }
    if let Some(key) = key {
        match up.key_header {
            KeyHeader::Bearer => headers.set("authorization", &format!("Bearer {key}"))?,
            KeyHeader::ApiKey => headers.set("api-key", key)?,
        }
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&up.body));
    init.set_signal(Some(signal));
    web_sys::Request::new_with_str_and_init(&up.url, &init)
}

fn response_headers(resp: &web_sys::Response) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(Some(iter)) = js_sys::try_iter(resp.headers().as_ref()) {
        for pair in iter.flatten() {
            let pair: js_sys::Array = pair.unchecked_into();
            if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                out.push((k, v));
            }
        }
    }
    out
}

async fn text(resp: &web_sys::Response) -> Result<String, ()> {
    let promise = resp.text().map_err(|_| ())?;
    JsFuture::from(promise)
        .await
        .ok()
        .and_then(|v| v.as_string())
        .ok_or(())
}

async fn attempt<H: Host>(
    host: &H,
    plan: &AttemptPlan,
    up: &gateway::UpstreamRequest,
    key: Option<&str>,
    cancel: Option<&Cancel>,
) -> Attempt {
    let Ok(controller) = web_sys::AbortController::new() else {
        return transport(TransportFailure::ResetBeforeHeaders);
    };
    let request = match build_request(up, key, &controller.signal()) {
        Ok(r) => r,
        // An unusable URL (the config validated it, so rarely): the target is unreachable.
        Err(_) => return transport(TransportFailure::Dns),
    };
    let abort = |a: Attempt| {
        controller.abort();
        a
    };
    let sent = race(
        JsFuture::from(fetch_request(&request)),
        Some(plan.header_timeout_ms),
        cancel,
    )
    .await;
    let resp: web_sys::Response = match sent {
        Raced::Cancelled => return abort(Attempt::Cancelled),
        Raced::TimedOut => return abort(transport(TransportFailure::HeaderTimeout)),
        Raced::Done(Err(e)) => return transport(transport_kind(&e)),
        Raced::Done(Ok(r)) => match r.dyn_into() {
            Ok(r) => r,
            Err(_) => return transport(TransportFailure::ResetBeforeHeaders),
        },
    };
    let status = resp.status();
    let headers = response_headers(&resp);
    if !(200..300).contains(&status) {
        let body = match race(text(&resp), Some(plan.idle_timeout_ms), cancel).await {
            Raced::Cancelled => return abort(Attempt::Cancelled),
            Raced::Done(Ok(b)) => truncate(b, MAX_ERROR_BODY),
            _ => String::new(),
        };
        controller.abort();
        return Attempt::Done {
            outcome: AttemptOutcome::Failure(Outcome::Http {
                status,
                headers,
                body: body.clone(),
            }),
            error_body: Some(body),
        };
    }
    if !plan.stream {
        // Non-streaming: the body arrives within the response timeout.
        return match race(text(&resp), Some(plan.header_timeout_ms), cancel).await {
            Raced::Cancelled => abort(Attempt::Cancelled),
            Raced::TimedOut => abort(transport(TransportFailure::HeaderTimeout)),
            Raced::Done(Err(())) => transport(TransportFailure::StreamEndedEarly),
            Raced::Done(Ok(body)) => match inspect_completion(plan.dialect, &body, host.now()) {
                None => Attempt::Answer { body },
                Some(_) => failed(Outcome::InvalidSuccess {
                    body: truncate(body, MAX_ERROR_BODY),
                }),
            },
        };
    }
    // Streaming: read until the first content chunk before committing.
    let reader = match resp.body().map(|b| {
        b.get_reader()
            .dyn_into::<web_sys::ReadableStreamDefaultReader>()
    }) {
        Some(Ok(r)) => r,
        _ => return transport(TransportFailure::StreamEndedEarly),
    };
    let body = Body { reader };
    let mut parser = SseParser::new();
    let mut inspector = StreamInspector::new(plan.dialect);
    let mut items: VecDeque<StreamItem> = VecDeque::new();
    // One timer for the whole wait (see the module docs on clocks).
    let mut first_token = Box::pin(sleep(plan.first_token_timeout_ms.max(1)));
    loop {
        let stop = async {
            match cancel {
                Some(c) => c.cancelled().await,
                None => std::future::pending().await,
            }
        };
        let chunk = match select(
            Box::pin(body.next()),
            select(first_token.as_mut(), Box::pin(stop)),
        )
        .await
        {
            Either::Left((c, _)) => c,
            Either::Right((Either::Left(_), _)) => {
                return abort(transport(TransportFailure::FirstTokenTimeout))
            }
            Either::Right((Either::Right(_), _)) => return abort(Attempt::Cancelled),
        };
        let parsed = match chunk {
            Some(Ok(bytes)) => parser.push(&bytes),
            Some(Err(())) => return transport(TransportFailure::StreamEndedEarly),
            None => {
                // The stream ended before any content.
                if let Some(ev) = parser.finish() {
                    if let ChunkVerdict::Error(_) = inspector.inspect(&ev, host.now()) {
                        return failed(Outcome::StreamError { data: ev.data });
                    }
                }
                return transport(TransportFailure::StreamEndedEarly);
            }
        };
        let events = match parsed {
            Ok(evs) => evs,
            Err(e) => return abort(failed(Outcome::InvalidSuccess { body: e.0 })),
        };
        let mut commit = false;
        for ev in events {
            match inspector.inspect(&ev, host.now()) {
                ChunkVerdict::Error(_) => {
                    return abort(failed(Outcome::StreamError { data: ev.data }))
                }
                ChunkVerdict::Malformed(why) => {
                    return abort(failed(Outcome::InvalidSuccess { body: why }))
                }
                ChunkVerdict::Done => {
                    if !commit {
                        // `[DONE]` before any content: an empty, unusable answer.
                        return abort(failed(Outcome::InvalidSuccess {
                            body: "stream ended with [DONE] before any content".into(),
                        }));
                    }
                    items.push_back(StreamItem::Done);
                }
                ChunkVerdict::Content => {
                    commit = true;
                    items.push_back(StreamItem::Data(ev.data));
                }
                ChunkVerdict::Empty => items.push_back(StreamItem::Data(ev.data)),
            }
        }
        if commit {
            return Attempt::Stream(Committed {
                items,
                body,
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

/// One thing a committed stream gives the client.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// An event's data (a chunk object as JSON text), passed on as it came.
    Data(String),
    /// The upstream's `[DONE]` (or a complete stream's implied one): the end.
    Done,
    /// The stream failed after it was committed: the end, with the run's failure
    /// kind and a message (keys redacted). Never followed by `Done`.
    Error { kind: FailureKind, message: String },
    /// The caller's signal fired: the end.
    Cancelled,
}

/// How one read of a committed stream ended.
enum Read {
    Chunk(Option<Result<Vec<u8>, ()>>),
    Idle,
    Deadline,
    Cancelled,
}

/// A stream committed to one target: yields its events, ends with `Done` or
/// `Error`, and feeds the end to the run.
pub struct LiveStream<H: Host> {
    pub d: Driver<H>,
    pub plan: AttemptPlan,
    c: Committed,
    /// Fires at the request's deadline.
    deadline: Sleep,
    finished: bool,
}

impl<H: Host> LiveStream<H> {
    /// Whether the run has ended (the stream has nothing more after what is queued).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The next item; `None` after the last one.
    pub async fn next(&mut self) -> Option<StreamItem> {
        loop {
            if let Some(item) = self.c.items.pop_front() {
                if item == StreamItem::Done {
                    // Nothing follows the end (an upstream's events after `[DONE]`
                    // are dropped). A `[DONE]` read before the commit (a fast
                    // upstream sends the whole stream at once) ends the run here.
                    self.c.items.clear();
                    if !self.finished {
                        self.end(AttemptOutcome::Success);
                    }
                }
                return Some(item);
            }
            if self.finished {
                return None;
            }
            if self.d.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
                self.cancel();
                continue;
            }
            let read = {
                let idle = sleep(self.plan.idle_timeout_ms.max(1));
                let stop = async {
                    match self.d.cancel.as_ref() {
                        Some(c) => c.cancelled().await,
                        None => std::future::pending().await,
                    }
                };
                let read = Box::pin(self.c.body.next());
                let timers = select(Box::pin(idle), Pin::new(&mut self.deadline));
                match select(read, select(Box::pin(timers), Box::pin(stop))).await {
                    Either::Left((c, _)) => Read::Chunk(c),
                    Either::Right((Either::Left((Either::Left(_), _)), _)) => Read::Idle,
                    Either::Right((Either::Left((Either::Right(_), _)), _)) => Read::Deadline,
                    Either::Right((Either::Right(_), _)) => Read::Cancelled,
                }
            };
            match read {
                Read::Cancelled => self.cancel(),
                Read::Idle => self.end(AttemptOutcome::Failure(Outcome::Transport(
                    TransportFailure::StreamIdleTimeout,
                ))),
                Read::Deadline => {
                    let why = format!(
                        "the request deadline of {} ms was reached while streaming",
                        self.d.run.chain().budgets.deadline_ms
                    );
                    let timeout = Outcome::Transport(TransportFailure::StreamIdleTimeout);
                    self.end_because(AttemptOutcome::Failure(timeout), Some(why));
                }
                Read::Chunk(Some(Err(()))) => self.end(AttemptOutcome::Failure(
                    Outcome::Transport(TransportFailure::StreamEndedEarly),
                )),
                Read::Chunk(None) => {
                    if let Some(ev) = self.c.parser.finish() {
                        self.forward(ev);
                    }
                    if !self.finished {
                        match self.c.inspector.end() {
                            StreamEnd::Complete { saw_done } => {
                                if !saw_done {
                                    self.c.items.push_back(StreamItem::Done);
                                }
                                self.end(AttemptOutcome::Success);
                            }
                            StreamEnd::Truncated => self.end(AttemptOutcome::Failure(
                                Outcome::Transport(TransportFailure::StreamEndedEarly),
                            )),
                        }
                    }
                }
                Read::Chunk(Some(Ok(bytes))) => match self.c.parser.push(&bytes) {
                    Ok(events) => {
                        for ev in events {
                            self.forward(ev);
                            if self.finished {
                                break;
                            }
                        }
                    }
                    Err(e) => self.end(AttemptOutcome::Failure(Outcome::InvalidSuccess {
                        body: e.0,
                    })),
                },
            }
        }
    }

    /// Stops reading: the caller gave up (its signal fired, or it stopped iterating).
    /// The upstream request is aborted and the run ends as cancelled (no upstream
    /// is blamed: nothing cools down).
    pub fn cancel(&mut self) {
        if !self.finished {
            self.finished = true;
            self.c.abort.abort();
            self.c.items.clear();
            self.c.items.push_back(StreamItem::Cancelled);
            self.d.cancel_run();
        }
    }

    /// Passes one upstream event on, or ends the stream on an error or a malformed chunk.
    fn forward(&mut self, ev: SseEvent) {
        if self.finished {
            return;
        }
        let now = self.d.host.now();
        match self.c.inspector.inspect(&ev, now) {
            ChunkVerdict::Content | ChunkVerdict::Empty => {
                self.c.items.push_back(StreamItem::Data(ev.data))
            }
            ChunkVerdict::Done => {
                self.c.items.push_back(StreamItem::Done);
                self.end(AttemptOutcome::Success);
            }
            ChunkVerdict::Error(_) => self.end(AttemptOutcome::Failure(Outcome::StreamError {
                data: ev.data,
            })),
            ChunkVerdict::Malformed(why) => {
                self.end(AttemptOutcome::Failure(Outcome::InvalidSuccess {
                    body: format!("malformed chunk: {why}"),
                }))
            }
        }
    }

    fn end(&mut self, outcome: AttemptOutcome) {
        self.end_because(outcome, None);
    }

    /// Ends the run with `outcome`; on a failure, queues the error item. `why`
    /// replaces the run's message.
    fn end_because(&mut self, outcome: AttemptOutcome, why: Option<String>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let plan = self.plan.clone();
        self.d.feed(&plan, outcome);
        // The run classified the failure and wrote the message (`after_commit`).
        if let Some(RunResult::Failed(f)) = self.d.run.result() {
            self.c.abort.abort();
            let message = match why {
                Some(why) => format!(
                    "the upstream stream from {}/{} failed after the answer started: {why}",
                    plan.provider, plan.model
                ),
                None => f.message.clone(),
            };
            let kind = f.kind;
            let message = redact(&message, &self.d.secret_refs());
            self.c.items.push_back(StreamItem::Error { kind, message });
        }
    }
}
