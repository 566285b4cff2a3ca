//! The I/O loop of the hosts that have the JavaScript `fetch` (the Cloudflare
//! Worker and the browser package): it moves bytes and time between `fetch` and a
//! [`Session`], and nothing else. Every rule is the session's.
//!
//! [`Pump::next`] runs the session loop until the next thing the client gets: a
//! whole response, the head of a stream, one stream event, or the end. Between
//! outputs it waits for the one upstream request in flight (its response head,
//! then each body chunk), for the session's next timer (`setTimeout`), or for the
//! caller's `AbortSignal`, and feeds what happened to the session.
//!
//! Only what every JS runtime has is used: global `fetch`, `setTimeout`,
//! `AbortController`, `ReadableStream` readers.

use super::js;
use crate::cooldown::CooldownTable;
use crate::exchange::upstream::UpstreamRequest;
use crate::failure::TransportFailure;
use crate::run::{AttemptId, TraceEvent};
use crate::session::{ClientEvent, ClientHead, ClientResponse, Output, Session};
use crate::time::Timestamp;
use futures_util::future::{select, Either};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: i32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
    /// A promise, seen only for `then(ok, err)` with callbacks JS already owns.
    type Thenable;
    #[wasm_bindgen(method, js_name = then)]
    fn then_with(this: &Thenable, ok: &js_sys::Function, err: &js_sys::Function) -> JsValue;
}

/// What differs between the hosts that use the pump.
pub trait Host {
    /// The host's clock, Unix milliseconds.
    fn now(&self) -> Timestamp;
    /// Runs `f` on the cooldown table (never across an `await`); `None` when the
    /// table is unavailable.
    fn with_table<R>(&self, f: impl FnOnce(&mut CooldownTable) -> R) -> Option<R>;
    /// The value of the key the config names `name`.
    fn secret(&self, name: &str) -> Option<String>;
    /// The run added these trace events (for live timelines).
    fn on_trace(&self, _events: &[TraceEvent]) {}
}

// ---------------------------------------------------------------------------
// Timers and cancellation

/// A `setTimeout` as a future. Dropped before it fires, the timer is cleared and
/// its promise settled at once: a `JsFuture` frees its callbacks only when its
/// promise settles, so a cleared timer whose promise stayed pending would leak
/// them (one per stream chunk, when every chunk re-armed the idle timer).
pub struct Sleep {
    fut: JsFuture,
    id: JsValue,
    resolve: Option<js_sys::Function>,
    fired: bool,
}

/// Resolves after `ms` milliseconds (at least 1).
pub fn sleep(ms: u64) -> Sleep {
    let ms = ms.clamp(1, i32::MAX as u64) as i32;
    let mut id = JsValue::UNDEFINED;
    let mut resolver = None;
    let promise = js_sys::Promise::new(&mut |resolve, _reject| {
        id = set_timeout(&resolve, ms);
        resolver = Some(resolve);
    });
    Sleep {
        fut: JsFuture::from(promise),
        id,
        resolve: resolver,
        fired: false,
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let ready = Pin::new(&mut self.fut).poll(cx).is_ready();
        if ready {
            self.fired = true;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if !self.fired {
            clear_timeout(&self.id);
            if let Some(resolve) = self.resolve.take() {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        }
    }
}

/// The caller's `AbortSignal`, as a future every wait is raced against.
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
    /// Listens to `signal`.
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

    /// The signal fired.
    pub fn is_cancelled(&self) -> bool {
        self.state.fired.get() || self.signal.aborted()
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        let _ = self
            .signal
            .remove_event_listener_with_callback("abort", self.listener.as_ref().unchecked_ref());
    }
}

/// Resolves when the signal fires; never without one.
struct Cancelled<'a>(Option<&'a Cancel>);

impl Future for Cancelled<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.0 {
            Some(c) if c.is_cancelled() => Poll::Ready(()),
            Some(c) => {
                // One entry per waiting task, however often it is polled.
                let mut wakers = c.state.wakers.borrow_mut();
                if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
            None => Poll::Pending,
        }
    }
}

// ---------------------------------------------------------------------------
// The upstream request in flight

/// What the network did.
enum Io {
    Head(Result<web_sys::Response, TransportFailure>),
    Chunk(Option<Vec<u8>>),
    /// A whole body, read in one `arrayBuffer()` ([`read_whole`]).
    Whole(Vec<u8>),
    BodyError,
}

/// Why a wait ended.
enum Woke {
    Io(Io),
    Timer,
    Cancelled,
}

/// The one upstream request in flight: its abort controller and the next I/O
/// (the response head, then the body's reads).
struct InFlight {
    attempt: AttemptId,
    controller: web_sys::AbortController,
    head: Option<Pin<Box<dyn Future<Output = Io>>>>,
    body: Option<BodyReader>,
}

impl InFlight {
    async fn next(&mut self) -> Io {
        if let Some(head) = self.head.as_mut() {
            let io = head.as_mut().await;
            self.head = None;
            return io;
        }
        match self.body.as_mut() {
            Some(b) => b.next().await,
            None => std::future::pending().await,
        }
    }
}

/// Where a body read's result lands, and who waits for it.
#[derive(Default)]
struct ReadSlot {
    result: RefCell<Option<Io>>,
    waker: RefCell<Option<Waker>>,
}

impl ReadSlot {
    fn put(&self, io: Io) {
        *self.result.borrow_mut() = Some(io);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// A response body read chunk by chunk with one pair of callbacks for the whole
/// body: a `JsFuture` per read would create two JS functions (and a boxed future)
/// per chunk, which is most of what a streamed chunk costs the host. The callbacks
/// are owned by JS (freed when collected), so a read that settles after the
/// request was abandoned still finds them.
struct BodyReader {
    reader: web_sys::ReadableStreamDefaultReader,
    slot: Rc<ReadSlot>,
    on_read: js_sys::Function,
    on_error: js_sys::Function,
    reading: bool,
}

impl BodyReader {
    fn new(reader: web_sys::ReadableStreamDefaultReader) -> BodyReader {
        let slot = Rc::new(ReadSlot::default());
        let done_key = JsValue::from_str("done");
        let value_key = JsValue::from_str("value");
        let s = slot.clone();
        let on_read = Closure::<dyn FnMut(JsValue)>::new(move |r: JsValue| {
            let done = js_sys::Reflect::get(&r, &done_key)
                .ok()
                .and_then(|d| d.as_bool())
                .unwrap_or(true);
            let io = if done {
                Io::Chunk(None)
            } else {
                match js_sys::Reflect::get(&r, &value_key) {
                    Ok(v) if v.is_instance_of::<js_sys::Uint8Array>() => {
                        Io::Chunk(Some(v.unchecked_into::<js_sys::Uint8Array>().to_vec()))
                    }
                    _ => Io::BodyError,
                }
            };
            s.put(io);
        })
        .into_js_value()
        .unchecked_into();
        let s = slot.clone();
        let on_error = Closure::<dyn FnMut(JsValue)>::new(move |_: JsValue| s.put(Io::BodyError))
            .into_js_value()
            .unchecked_into();
        BodyReader {
            reader,
            slot,
            on_read,
            on_error,
            reading: false,
        }
    }

    /// Starts the next read now (its rejection is handled from the start: a read
    /// aborted before anyone waits is never an unhandled rejection).
    fn start(&mut self) {
        if !self.reading {
            self.reading = true;
            let read = self.reader.read();
            let _ = read
                .unchecked_ref::<Thenable>()
                .then_with(&self.on_read, &self.on_error);
        }
    }

    fn next(&mut self) -> impl Future<Output = Io> + '_ {
        self.start();
        std::future::poll_fn(move |cx| match self.slot.result.borrow_mut().take() {
            Some(io) => {
                self.reading = false;
                Poll::Ready(io)
            }
            None => {
                *self.slot.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }
}

/// Whether a response's body is read in one `arrayBuffer()` rather than chunk by
/// chunk: a body that is not a stream and that says it is small. One read costs a
/// body one promise instead of a reader, two reads and their callbacks; the
/// session sees the same bytes and the same end. A body of unknown length is
/// read chunk by chunk, so the session's caps bound what is held.
fn read_whole(status: u16, headers: &[(String, String)]) -> bool {
    use crate::classify::retry_hint::header;
    let stream = (200..300).contains(&status)
        && header(headers, "content-type").is_some_and(|t| {
            t.get(..17)
                .is_some_and(|p| p.eq_ignore_ascii_case("text/event-stream"))
        });
    let small = header(headers, "content-length")
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n <= crate::exchange::MAX_ERROR_BODY);
    small && !stream
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
    } else if message.contains("invalid url")
        || message.contains("dns")
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

/// Sends `up` (with its key) through `fetch`; a header that cannot be sent (a
/// line break in a configured value or a key) is refused like an unusable URL.
fn start_fetch(
    up: &UpstreamRequest,
    key: Option<&str>,
    signal: &web_sys::AbortSignal,
) -> Option<js_sys::Promise> {
    let auth = match (&up.key, key) {
        (Some(k), Some(key)) => Some(k.header.header(key)),
        _ => None,
    };
    let pairs = up.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let auth = auth.as_ref().map(|(name, value)| (*name, value.as_str()));
    let lines = js::header_lines(pairs.chain(auth))?;
    Some(js::fetch_with(&up.url, up.method, &lines, &up.body, signal))
}

// ---------------------------------------------------------------------------
// The pump

/// What the client gets next.
pub enum Next {
    /// The whole response (an answer, or an error before any stream started).
    Respond(ClientResponse),
    /// The stream starts.
    StreamStart(ClientHead),
    /// One stream event.
    Event(ClientEvent),
    /// Nothing more.
    Done,
}

/// One client request's session, driven over `fetch`.
pub struct Pump<H: Host> {
    /// The host.
    pub host: H,
    /// The session.
    pub session: Session,
    inflight: Option<InFlight>,
    cancel: Option<Cancel>,
    trace_seen: usize,
    /// The armed timer and the time it was set for (passed as `now` when it fires:
    /// a Worker's clock only moves on I/O). It is kept while it fires no later than
    /// the session needs (the idle bound moves later with every chunk; re-arming a
    /// `setTimeout` per chunk would cost more than one early, harmless wake-up).
    timer: Option<(Timestamp, Sleep)>,
}

impl<H: Host> Pump<H> {
    /// A pump for `session` on `host`, cancelled by `signal`.
    pub fn new(host: H, session: Session, signal: Option<web_sys::AbortSignal>) -> Pump<H> {
        Pump {
            host,
            session,
            inflight: None,
            cancel: signal.map(Cancel::new),
            trace_seen: 0,
            timer: None,
        }
    }

    fn emit_trace(&mut self) {
        let trace = self.session.run().trace();
        if trace.len() > self.trace_seen {
            self.host.on_trace(&trace[self.trace_seen..]);
            self.trace_seen = trace.len();
        }
    }

    /// Calls the session with the table, then reports new trace events.
    fn with_session(
        &mut self,
        now: Timestamp,
        f: impl FnOnce(&mut Session, Timestamp, &mut CooldownTable),
    ) {
        let session = &mut self.session;
        // No table (a host bug): the session cannot go on; it is cancelled below.
        if self.host.with_table(|t| f(session, now, t)).is_none() {
            let mut t = CooldownTable::default();
            self.session.cancel(now, &mut t);
        }
        self.emit_trace();
    }

    fn poll_output(&mut self) -> Option<Output> {
        let now = self.host.now();
        let session = &mut self.session;
        let out = self.host.with_table(|t| session.poll_output(now, t));
        self.emit_trace();
        match out {
            Some(out) => out,
            None => {
                let mut t = CooldownTable::default();
                self.session.cancel(now, &mut t);
                self.session.poll_output(now, &mut t)
            }
        }
    }

    fn abort(&mut self, attempt: AttemptId) {
        if self.inflight.as_ref().is_some_and(|f| f.attempt == attempt) {
            if let Some(f) = self.inflight.take() {
                f.controller.abort();
            }
        }
    }

    /// Starts `req` (adding its key) without waiting for it.
    fn send(&mut self, req: UpstreamRequest) {
        let now = self.host.now();
        let attempt = req.attempt;
        let key = match &req.key {
            None => None,
            Some(k) => match self.host.secret(&k.name) {
                Some(v) => {
                    self.session.add_secret(&v);
                    Some(v)
                }
                None => {
                    self.with_session(now, |s, n, t| s.handle_missing_key(n, t, attempt));
                    return;
                }
            },
        };
        let Ok(controller) = web_sys::AbortController::new() else {
            self.with_session(now, |s, n, t| {
                s.handle_error(n, t, attempt, TransportFailure::ResetBeforeHeaders)
            });
            return;
        };
        let Some(sent) = start_fetch(&req, key.as_deref(), &controller.signal()) else {
            // An unsendable header (a line break in a value or a key): unreachable.
            self.with_session(now, |s, n, t| {
                s.handle_error(n, t, attempt, TransportFailure::Dns)
            });
            return;
        };
        // Handled from now on (see `read`): an aborted fetch never goes unhandled.
        let sent = JsFuture::from(sent);
        let io = Box::pin(async move {
            match sent.await {
                Ok(r) => match r.dyn_into::<web_sys::Response>() {
                    Ok(r) => Io::Head(Ok(r)),
                    Err(_) => Io::Head(Err(TransportFailure::ResetBeforeHeaders)),
                },
                Err(e) => Io::Head(Err(transport_kind(&e))),
            }
        });
        self.inflight = Some(InFlight {
            attempt,
            controller,
            head: Some(io),
            body: None,
        });
    }

    /// Runs the session until the client's next output.
    pub async fn next(&mut self) -> Next {
        loop {
            if let Some(next) = self.next_ready() {
                return next;
            }
            self.wait().await;
        }
    }

    /// The client's next output if the session has it without waiting for
    /// anything (a host writing a stream batches what is ready into one write).
    pub fn next_ready(&mut self) -> Option<Next> {
        loop {
            if self.cancel.as_ref().is_some_and(Cancel::is_cancelled) {
                self.cancel_now();
            }
            match self.poll_output()? {
                Output::Send(req) => self.send(req),
                Output::Abort(a) => self.abort(a),
                Output::Respond(r) => return Some(Next::Respond(r)),
                Output::StreamStart(h) => return Some(Next::StreamStart(h)),
                Output::StreamEvent(e) => return Some(Next::Event(e)),
                Output::Done => {
                    if let Some(f) = self.inflight.take() {
                        f.controller.abort();
                    }
                    return Some(Next::Done);
                }
                #[allow(unreachable_patterns)]
                _ => {}
            }
        }
    }

    /// The client went away: the session ends (nothing cools down).
    pub fn cancel_now(&mut self) {
        let now = self.host.now();
        self.with_session(now, |s, n, t| s.cancel(n, t));
    }

    /// Waits for the next thing that happens and feeds it to the session.
    async fn wait(&mut self) {
        let now = self.host.now();
        match (self.timer.as_ref(), self.session.next_timeout()) {
            // The armed timer fires in time: keep it.
            (Some((at, _)), Some(want)) if *at <= want => {}
            (_, Some(want)) => {
                self.timer = Some((want, sleep(want.saturating_sub(now).max(1))));
            }
            // Nothing to wait for: an armed timer only wakes the loop once.
            (_, None) => {}
        }
        let inflight = &mut self.inflight;
        let armed = &mut self.timer;
        let io = async {
            match inflight.as_mut() {
                Some(f) => Some(f.next().await),
                None => std::future::pending().await,
            }
        };
        let timer = async {
            match armed.as_mut() {
                Some((_, t)) => t.await,
                None => std::future::pending().await,
            }
        };
        let cancelled = Cancelled(self.cancel.as_ref());
        let woke = match select(Box::pin(io), select(Box::pin(timer), cancelled)).await {
            Either::Left((Some(io), _)) => Woke::Io(io),
            Either::Left((None, _)) => return,
            Either::Right((Either::Left(_), _)) => Woke::Timer,
            Either::Right((Either::Right(_), _)) => Woke::Cancelled,
        };
        match woke {
            Woke::Io(io) => self.on_io(io),
            Woke::Timer => {
                // The timer fired: at least its time has passed.
                let at = self.timer.take().map_or(0, |(at, _)| at);
                let now = self.host.now().max(at);
                self.with_session(now, |s, n, t| s.handle_timeout(n, t));
            }
            Woke::Cancelled => self.cancel_now(),
        }
    }

    fn on_io(&mut self, io: Io) {
        let now = self.host.now();
        let Some(attempt) = self.inflight.as_ref().map(|f| f.attempt) else {
            return;
        };
        match io {
            Io::Head(Err(t)) => {
                self.inflight = None;
                self.with_session(now, |s, n, tb| s.handle_error(n, tb, attempt, t));
            }
            Io::Head(Ok(resp)) => {
                let status = resp.status();
                let headers = js::headers_of(&resp.headers());
                let whole = read_whole(status, &headers)
                    .then(|| resp.array_buffer().ok())
                    .flatten();
                let reader = match whole {
                    Some(_) => None,
                    None => resp.body().and_then(|b| {
                        b.get_reader()
                            .dyn_into::<web_sys::ReadableStreamDefaultReader>()
                            .ok()
                    }),
                };
                self.with_session(now, |s, n, t| s.handle_head(n, t, attempt, status, headers));
                match (whole, reader, self.inflight.as_mut()) {
                    (Some(buf), _, Some(f)) => {
                        let buf = JsFuture::from(buf);
                        f.head = Some(Box::pin(async move {
                            match buf.await {
                                Ok(b) => Io::Whole(js_sys::Uint8Array::new(&b).to_vec()),
                                Err(_) => Io::BodyError,
                            }
                        }));
                    }
                    (None, Some(r), Some(f)) => {
                        let mut body = BodyReader::new(r);
                        body.start();
                        f.body = Some(body);
                    }
                    (None, None, Some(_)) => {
                        // No body at all: it ended.
                        self.inflight = None;
                        self.with_session(now, |s, n, t| s.handle_end(n, t, attempt));
                    }
                    _ => {}
                }
            }
            Io::Whole(bytes) => {
                self.inflight = None;
                self.with_session(now, |s, n, t| {
                    s.handle_body(n, t, attempt, &bytes);
                    s.handle_end(n, t, attempt);
                });
            }
            Io::Chunk(Some(bytes)) => {
                self.with_session(now, |s, n, t| s.handle_body(n, t, attempt, &bytes));
                // The next read starts at once (it overlaps the session's work).
                if let Some(b) = self.inflight.as_mut().and_then(|f| f.body.as_mut()) {
                    b.start();
                }
            }
            Io::Chunk(None) => {
                self.inflight = None;
                self.with_session(now, |s, n, t| s.handle_end(n, t, attempt));
            }
            Io::BodyError => {
                self.inflight = None;
                self.with_session(now, |s, n, t| {
                    s.handle_error(n, t, attempt, TransportFailure::StreamEndedEarly)
                });
            }
        }
    }
}
