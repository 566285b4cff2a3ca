//! One client request, end to end, sans-IO: the run, its upstream exchanges, and
//! the answer the client gets.
//!
//! A [`Session`] owns a [`FallbackRun`] and the [`Exchange`] of the attempt in
//! flight, and decides what reaches the client. The host only moves bytes and time:
//!
//! ```text
//! let mut s = Session::new(route, request, options);
//! loop {
//!     while let Some(out) = s.poll_output(now, &mut table) {
//!         match out {
//!             Output::Send(req)        => /* fetch req (add the key it names: s.add_secret(v)) */,
//!             Output::Abort(attempt)   => /* abort that fetch if it is still open */,
//!             Output::Respond(r)       => /* the whole answer (or error): send it */,
//!             Output::StreamStart(h)   => /* the stream starts: send the head */,
//!             Output::StreamEvent(e)   => /* send e.to_sse() */,
//!             Output::Done             => return,
//!         }
//!     }
//!     // wait for the fetch (head, body bytes, end, error), for s.next_timeout(), or
//!     // for the client to go away; then call the matching s.handle_*(now, &mut table, …)
//! }
//! ```
//!
//! The session owns these rules (one implementation for every host):
//!
//! - **Commit**: a stream's events are held back until its first content; then
//!   the client's stream starts (`StreamStart`, with the trace headers) and the
//!   held events follow. Before that, any failure falls back invisibly.
//! - **Dropped events**: an event that is not valid JSON is never forwarded; it is
//!   counted in the trace and the stream goes on (before the commit it does not
//!   count as the first token).
//! - **Continuation**: a failure after the commit does not end the answer. The run
//!   continues on the next target that can finish it — sent the conversation plus
//!   the text already streamed as a trailing assistant message (prefill), or asked
//!   afresh — and the [`Splicer`] joins its text to the same client stream (an
//!   overlap is removed; a fresh answer must begin with what the client has). The
//!   final chunk's `usage` adds up every attempt (estimating those cut before they
//!   reported it), and a trailing SSE comment plus an `llm_failover` field on the
//!   final chunk say which targets produced which part. Only when nothing can
//!   finish the answer does the stream end with an error event, never `[DONE]`.
//!   Tool-call deltas and several choices are not continued.
//! - **Deadline**: at the run's deadline the attempt in flight is aborted and fails
//!   as a timeout (its model cools down per the policy).
//! - **Keys**: the host registers each key value it sends ([`Session::add_secret`]);
//!   every reason, body and message the session keeps or passes back is redacted of
//!   it in every encoding ([`Redactor`]). A key the host does not have is an auth
//!   failure of that key ([`Session::handle_missing_key`]).

mod chunk;
mod splice;

pub use splice::{Diverged, Splicer, MAX_OVERLAP, MIN_LOOSE_OVERLAP};

use crate::api::{self, ChatRequest};
use crate::config::Route;
use crate::cooldown::CooldownTable;
use crate::exchange::upstream::{upstream_request, UpstreamRequest};
use crate::exchange::{Exchange, ExchangeEvent};
use crate::failure::{Classification, FailureKind, Scope, TransportFailure};
use crate::redact::Redactor;
use crate::run::{
    Action, AttemptId, AttemptOutcome, AttemptPlan, Continuation, FallbackRun, RunError,
    RunFailure, RunOptions, RunResult,
};
use crate::time::Timestamp;
use chunk::Usage;
use serde_json::{json, Value};
use std::collections::VecDeque;

/// What the host must do next.
#[derive(Debug, Clone, PartialEq)]
#[must_use = "every output is something the host must do"]
#[non_exhaustive]
pub enum Output {
    /// Send this request upstream (adding the key it names).
    Send(UpstreamRequest),
    /// Abort this attempt's request if it is still open (stop reading its body).
    Abort(AttemptId),
    /// The whole answer, or an error before any stream started.
    Respond(ClientResponse),
    /// The client's stream starts: send this head, then the events that follow.
    StreamStart(ClientHead),
    /// One piece of the client's stream, in order.
    StreamEvent(ClientEvent),
    /// Nothing more comes: the response (or the stream's last event) went out.
    Done,
}

/// A complete response to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientResponse {
    /// The HTTP status.
    pub status: u16,
    /// Its headers (content type, trace headers, `retry-after`).
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: String,
    /// Why the run failed, for an error response.
    pub failure: Option<RunFailure>,
    /// `provider/model` of the target that answered, for an answer.
    pub target: Option<String>,
}

/// The head of the client's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHead {
    /// Its headers (content type, trace headers).
    pub headers: Vec<(String, String)>,
    /// `provider/model` of the target that started the answer.
    pub target: String,
}

/// One piece of the client's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A chunk object, as JSON text.
    Data(String),
    /// An SSE comment (clients ignore it; people and tools can read it).
    Comment(String),
    /// The answer is complete (`[DONE]`).
    Done,
    /// The stream failed and nothing could finish it: the end, never followed by
    /// `Done`.
    Error {
        /// The run's failure kind.
        kind: FailureKind,
        /// The client-facing error code.
        code: &'static str,
        /// What happened (keys redacted).
        message: String,
    },
}

impl ClientEvent {
    /// The event as SSE text for an OpenAI chat-completions client.
    pub fn to_sse(&self) -> String {
        match self {
            ClientEvent::Data(data) => format!("data: {data}\n\n"),
            ClientEvent::Comment(text) => format!(": {text}\n\n"),
            ClientEvent::Done => api::DONE_EVENT.to_string(),
            ClientEvent::Error { code, message, .. } => api::stream_error_event(code, message),
        }
    }
}

/// What one attempt put into the client's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Part {
    attempt: AttemptId,
    target: String,
    chars: usize,
    /// Content deltas forwarded (an estimate of its completion tokens).
    deltas: u64,
    usage: Option<Usage>,
    continuation: Option<Continuation>,
}

/// The client's stream, once it started.
#[derive(Debug, Clone, Default)]
struct Stream {
    started: bool,
    /// Events of the current attempt held back until its first content.
    held: Vec<String>,
    /// The answer's text so far (first choice).
    text: String,
    parts: Vec<Part>,
    /// The current continuation's splice.
    splice: Option<Splicer>,
    /// The first chunk's id: continuations' chunks carry it too.
    id: Option<String>,
    /// The final chunk was forwarded (the answer is complete once the stream ends).
    finished: bool,
}

/// One client request's session.
#[derive(Debug, Clone)]
pub struct Session {
    run: FallbackRun,
    request: ChatRequest,
    redactor: Redactor,
    exchange: Option<Exchange>,
    out: VecDeque<Output>,
    /// The run asked to be polled again then.
    wake_at: Option<Timestamp>,
    /// The latest time seen (inputs never move the clock back).
    now: Timestamp,
    stream: Stream,
    /// The last upstream HTTP error (attempt, status, body redacted), for passing
    /// it on when the run says so.
    upstream_error: Option<(AttemptId, u16, String)>,
    /// A complete non-streaming answer, until the run confirms it.
    answer: Option<(AttemptPlan, String)>,
    /// The attempt whose time to first token was recorded last.
    first_token_noted: Option<AttemptId>,
    done: bool,
}

impl Session {
    /// A session for `request` routed to `route`.
    pub fn new(route: Route, request: ChatRequest, options: RunOptions) -> Session {
        let mut run = FallbackRun::new(route, options);
        let n = request.body.get("n").and_then(Value::as_u64).unwrap_or(1);
        if n > 1 {
            run.forbid_continuation();
        }
        Session {
            run,
            request,
            redactor: Redactor::default(),
            exchange: None,
            out: VecDeque::new(),
            wake_at: None,
            now: options.now,
            stream: Stream::default(),
            upstream_error: None,
            answer: None,
            first_token_noted: None,
            done: false,
        }
    }

    /// The run (its trace, attempts and result).
    pub fn run(&self) -> &FallbackRun {
        &self.run
    }

    /// The client's request.
    pub fn request(&self) -> &ChatRequest {
        &self.request
    }

    /// The secrets registered so far (for hosts that write their own messages).
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Every output has been produced and the session is over.
    pub fn is_done(&self) -> bool {
        self.done && self.out.is_empty()
    }

    /// The host sends a key's value upstream: it is redacted from everything the
    /// session keeps or passes back, in every encoding.
    pub fn add_secret(&mut self, value: &str) {
        self.redactor.add(value);
    }

    fn clock(&mut self, now: Timestamp) -> Timestamp {
        self.now = self.now.max(now);
        self.now
    }

    /// When the host must call [`Session::handle_timeout`] next.
    pub fn next_timeout(&self) -> Option<Timestamp> {
        if self.done {
            return None;
        }
        let exchange = self.exchange.as_ref().and_then(Exchange::next_timeout);
        let deadline = self.exchange.as_ref().map(|_| self.run.deadline());
        [exchange, deadline, self.wake_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next thing to do. Call it until it returns `None` after creating the
    /// session and after every `handle_*`.
    pub fn poll_output(&mut self, now: Timestamp, table: &mut CooldownTable) -> Option<Output> {
        let now = self.clock(now);
        if self.out.is_empty() {
            self.advance(now, table);
        }
        self.out.pop_front()
    }

    fn current(&self, attempt: AttemptId) -> bool {
        self.exchange
            .as_ref()
            .is_some_and(|e| e.plan().attempt == attempt)
    }

    /// The response headers of `attempt` arrived.
    pub fn handle_head(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        attempt: AttemptId,
        status: u16,
        headers: Vec<(String, String)>,
    ) {
        let now = self.clock(now);
        if let (true, Some(e)) = (self.current(attempt), self.exchange.as_mut()) {
            e.handle_head(now, status, headers);
            self.advance(now, table);
        }
    }

    /// Some of `attempt`'s body arrived.
    pub fn handle_body(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        attempt: AttemptId,
        bytes: &[u8],
    ) {
        let now = self.clock(now);
        if let (true, Some(e)) = (self.current(attempt), self.exchange.as_mut()) {
            e.handle_body(now, bytes);
            self.advance(now, table);
        }
    }

    /// `attempt`'s body ended.
    pub fn handle_end(&mut self, now: Timestamp, table: &mut CooldownTable, attempt: AttemptId) {
        let now = self.clock(now);
        if let (true, Some(e)) = (self.current(attempt), self.exchange.as_mut()) {
            e.handle_end(now);
            self.advance(now, table);
        }
    }

    /// `attempt`'s request failed below HTTP (see [`Exchange::handle_error`]).
    pub fn handle_error(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        attempt: AttemptId,
        failure: TransportFailure,
    ) {
        let now = self.clock(now);
        if let (true, Some(e)) = (self.current(attempt), self.exchange.as_mut()) {
            e.handle_error(now, failure);
            self.advance(now, table);
        }
    }

    /// The host has no value for the key `attempt`'s request names: an auth failure
    /// of that key (rotation moves on to the next one).
    pub fn handle_missing_key(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        attempt: AttemptId,
    ) {
        let now = self.clock(now);
        let Some(e) = self.exchange.take_if(|e| e.plan().attempt == attempt) else {
            return;
        };
        let plan = e.plan();
        let reason = format!(
            "{} auth: no key named `{}` was given for provider `{}`",
            plan.dialect,
            plan.key.as_deref().unwrap_or(""),
            plan.provider
        );
        let c = Classification::observed(FailureKind::Auth, Scope::Key, reason);
        self.report(now, table, attempt, AttemptOutcome::Classified(c));
        self.advance(now, table);
    }

    /// Time passed: fires what is due at `now` (an attempt's timers, the run's
    /// wait, the deadline). A host that set a timer for time T may pass `max(clock,
    /// T)` when it fires (a Worker's clock only moves on I/O).
    pub fn handle_timeout(&mut self, now: Timestamp, table: &mut CooldownTable) {
        let now = self.clock(now);
        if self.wake_at.is_some_and(|w| now >= w) {
            self.wake_at = None;
        }
        if let Some(e) = self.exchange.as_mut() {
            e.handle_timeout(now);
        }
        self.advance(now, table);
    }

    /// The client went away: the upstream request is aborted and the run ends as
    /// cancelled (nothing cools down). Nothing more is output but [`Output::Done`].
    pub fn cancel(&mut self, now: Timestamp, table: &mut CooldownTable) {
        let now = self.clock(now);
        if self.done {
            return;
        }
        if let Some(e) = self.exchange.take() {
            self.out.push_back(Output::Abort(e.plan().attempt));
        }
        self.run.cancel(now, table);
        self.done = true;
        self.out.push_back(Output::Done);
    }

    fn report(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        attempt: AttemptId,
        outcome: AttemptOutcome,
    ) {
        if let Err(e) = self.run.handle_outcome(now, table, attempt, outcome) {
            self.host_error(now, &e);
        }
    }

    fn host_error(&mut self, now: Timestamp, e: &RunError) {
        self.run.record_host_error(now, e);
    }

    /// Moves everything on as far as it goes without new input.
    fn advance(&mut self, now: Timestamp, table: &mut CooldownTable) {
        for _ in 0..10_000 {
            if self.done {
                return;
            }
            if let Some(ev) = self.exchange.as_mut().and_then(Exchange::poll_event) {
                self.on_exchange(now, table, ev);
                continue;
            }
            if self.exchange.is_some() && now < self.run.deadline() {
                return; // waiting for the network
            }
            if self.wake_at.is_some_and(|w| now < w) {
                return;
            }
            self.wake_at = None;
            // Nothing in flight (or the deadline passed): the run decides.
            match self.run.poll_action(now, table) {
                Action::Send(plan) => self.start(now, plan),
                Action::Wait { until } => {
                    self.wake_at = Some(until);
                    return;
                }
                Action::Finished(result) => {
                    self.finish(now, result);
                    return;
                }
            }
        }
    }

    fn start(&mut self, now: Timestamp, plan: AttemptPlan) {
        if let Some(old) = self.exchange.take() {
            // The run moved on (its deadline): the old request is abandoned.
            self.out.push_back(Output::Abort(old.plan().attempt));
        }
        self.stream.held.clear();
        self.stream.splice = plan
            .continuation
            .map(|mode| Splicer::new(&self.stream.text, mode));
        let req = upstream_request(&plan, &self.request, &self.stream.text);
        self.exchange = Some(Exchange::new(plan, now));
        self.out.push_back(Output::Send(req));
    }

    fn on_exchange(&mut self, now: Timestamp, table: &mut CooldownTable, ev: ExchangeEvent) {
        let Some(plan) = self.exchange.as_ref().map(|e| e.plan().clone()) else {
            return;
        };
        match ev {
            ExchangeEvent::Chunk {
                data,
                value,
                content,
            } => {
                if content {
                    self.note_first_token(now, table);
                }
                if plan.continuation.is_some() {
                    self.continuation_chunk(now, table, &plan, value);
                } else {
                    self.chunk(now, table, &plan, data, value, content);
                }
            }
            ExchangeEvent::Dropped { why } => {
                let count = self.exchange.as_ref().map_or(0, Exchange::dropped);
                self.run
                    .record_dropped(now, plan.attempt, count, &self.redactor.redact(&why));
            }
            ExchangeEvent::Complete { saw_done: _ } => {
                if plan.continuation.is_some() && !self.flush_splice(now, table, &plan, None) {
                    return;
                }
                self.exchange = None;
                self.out.push_back(Output::Abort(plan.attempt));
                self.report(now, table, plan.attempt, AttemptOutcome::Success);
            }
            ExchangeEvent::Answer { headers: _, body } => {
                self.exchange = None;
                self.answer = Some((plan.clone(), body));
                self.report(now, table, plan.attempt, AttemptOutcome::Success);
            }
            ExchangeEvent::Failed {
                mut classification,
                upstream,
            } => {
                classification.reason = self.redactor.redact(&classification.reason);
                if let Some((status, body)) = upstream {
                    self.upstream_error = Some((plan.attempt, status, self.redactor.redact(&body)));
                }
                self.exchange = None;
                self.stream.held.clear();
                self.out.push_back(Output::Abort(plan.attempt));
                self.report(
                    now,
                    table,
                    plan.attempt,
                    AttemptOutcome::Classified(classification),
                );
            }
        }
    }

    /// Records the attempt's time to first token (for its adaptive bound).
    fn note_first_token(&mut self, now: Timestamp, table: &mut CooldownTable) {
        let Some(e) = self.exchange.as_ref() else {
            return;
        };
        let attempt = e.plan().attempt;
        if self.first_token_noted == Some(attempt) {
            return;
        }
        if let Some(ms) = e.time_to_first_token() {
            self.first_token_noted = Some(attempt);
            let scope = &self.run.chain().targets[e.plan().target].scopes.model;
            table.record_first_token(scope, now, ms);
        }
    }

    fn part(&mut self, plan: &AttemptPlan) -> &mut Part {
        if !self.stream.parts.iter().any(|p| p.attempt == plan.attempt) {
            self.stream.parts.push(Part {
                attempt: plan.attempt,
                target: format!("{}/{}", plan.provider, plan.model),
                chars: 0,
                deltas: 0,
                usage: None,
                continuation: plan.continuation,
            });
        }
        // Just pushed or found above.
        let i = self
            .stream
            .parts
            .iter()
            .position(|p| p.attempt == plan.attempt)
            .unwrap_or(0);
        &mut self.stream.parts[i]
    }

    /// A chunk of an attempt that is not a continuation.
    fn chunk(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        plan: &AttemptPlan,
        data: String,
        value: Value,
        content: bool,
    ) {
        if !self.stream.started {
            if !content {
                self.stream.held.push(data);
                return;
            }
            self.report(now, table, plan.attempt, AttemptOutcome::Committed);
            self.stream.started = true;
            self.out
                .push_back(Output::StreamStart(self.stream_head(plan)));
            for held in std::mem::take(&mut self.stream.held) {
                self.out
                    .push_back(Output::StreamEvent(ClientEvent::Data(held)));
            }
        }
        if chunk::uncontinuable(&value) {
            self.run.forbid_continuation();
        }
        if self.stream.id.is_none() {
            self.stream.id = chunk::id(&value).map(str::to_string);
        }
        let text = chunk::delta_text(&value).map(str::to_string);
        let usage = Usage::of(&value);
        let finish = chunk::finish_reason(&value).is_some();
        let part = self.part(plan);
        if let Some(t) = &text {
            part.chars += t.chars().count();
            part.deltas += 1;
        }
        if usage.is_some() {
            part.usage = usage;
        }
        if let Some(t) = text {
            self.stream.text.push_str(&t);
        }
        if finish {
            self.stream.finished = true;
        }
        self.out
            .push_back(Output::StreamEvent(ClientEvent::Data(data)));
    }

    /// A chunk of a continuation attempt: spliced after what the client has.
    fn continuation_chunk(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        plan: &AttemptPlan,
        value: Value,
    ) {
        if chunk::uncontinuable(&value) {
            // A continuation that turns to tool calls cannot finish this text.
            self.diverged(now, table, plan);
            return;
        }
        let usage = Usage::of(&value);
        if usage.is_some() {
            self.part(plan).usage = usage;
        }
        if let Some(text) = chunk::delta_text(&value) {
            let pushed = match self.stream.splice.as_mut() {
                Some(s) => s.push(text),
                None => Ok(text.to_string()),
            };
            match pushed {
                Ok(out) => self.forward_text(now, table, plan, &value, &out),
                Err(Diverged) => return self.diverged(now, table, plan),
            }
        }
        let finish = chunk::finish_reason(&value).is_some();
        if finish || (usage.is_some() && chunk::delta_text(&value).is_none()) {
            self.flush_splice(now, table, plan, Some(value));
        }
    }

    /// Forwards continuation text (if any) as a content chunk.
    fn forward_text(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        plan: &AttemptPlan,
        like: &Value,
        text: &str,
    ) {
        if text.is_empty() {
            return;
        }
        if !self.run.attempts()[plan.attempt.0 as usize].committed {
            self.report(now, table, plan.attempt, AttemptOutcome::Committed);
            let overlap = self.stream.splice.as_ref().map_or(0, Splicer::overlap);
            self.run.record_spliced(now, plan.attempt, overlap);
        }
        let id = self.stream.id.clone();
        let v = chunk::text_chunk(like, text, id.as_deref());
        let part = self.part(plan);
        part.chars += text.chars().count();
        part.deltas += 1;
        self.stream.text.push_str(text);
        self.out
            .push_back(Output::StreamEvent(ClientEvent::Data(v.to_string())));
    }

    /// The continuation's text ended (a finish chunk, a usage chunk, or the end of
    /// the stream): what the splice still holds goes out, then `last` (the finish or
    /// usage chunk) with the summed usage. False if the continuation diverged.
    fn flush_splice(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        plan: &AttemptPlan,
        last: Option<Value>,
    ) -> bool {
        let rest = match self.stream.splice.as_mut().map(Splicer::finish) {
            Some(Err(Diverged)) => {
                self.diverged(now, table, plan);
                return false;
            }
            Some(Ok(rest)) => rest,
            None => String::new(),
        };
        if let Some(like) = last.as_ref() {
            self.forward_text(now, table, plan, like, &rest);
        } else if !rest.is_empty() {
            let like =
                json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}}]});
            self.forward_text(now, table, plan, &like, &rest);
        }
        self.stream.splice = None;
        if let Some(mut v) = last {
            let id = self.stream.id.clone();
            let finish = chunk::finish_reason(&v).is_some();
            chunk::rewrite(&mut v, None, id.as_deref());
            if Usage::of(&v).is_some() {
                let (sum, estimated) = self.summed_usage();
                sum.write(&mut v);
                self.annotate(&mut v, estimated);
            } else if finish {
                self.annotate(&mut v, false);
            }
            if finish {
                self.stream.finished = true;
            }
            self.out
                .push_back(Output::StreamEvent(ClientEvent::Data(v.to_string())));
        }
        true
    }

    /// The usage of every attempt that produced tokens: reported counts, and for an
    /// attempt cut before it reported them, its content deltas as completion tokens
    /// and the final attempt's prompt (less the prefill) as its prompt.
    fn summed_usage(&self) -> (Usage, bool) {
        let last = self.stream.parts.iter().rev().find_map(|p| p.usage);
        let mut sum = Usage::default();
        let mut estimated = false;
        let mut before = 0;
        for p in &self.stream.parts {
            match p.usage {
                Some(u) => {
                    sum.prompt += u.prompt;
                    sum.completion += u.completion;
                }
                None => {
                    estimated = true;
                    let prompt = last.map_or(0, |u| u.prompt);
                    sum.prompt += prompt.saturating_sub(before);
                    sum.completion += p.deltas;
                }
            }
            if p.continuation == Some(Continuation::Prefill) || p.continuation.is_none() {
                before += p.deltas;
            }
        }
        (sum, estimated)
    }

    /// Adds `llm_failover: {continued, parts, usage_estimated}` to the final chunk of
    /// a continued answer.
    fn annotate(&self, v: &mut Value, usage_estimated: bool) {
        if self.stream.parts.len() < 2 {
            return;
        }
        let parts: Vec<Value> = self.parts_list();
        if let Some(obj) = v.as_object_mut() {
            obj.insert(
                "llm_failover".into(),
                json!({"continued": true, "parts": parts, "usage_estimated": usage_estimated}),
            );
        }
    }

    fn parts_list(&self) -> Vec<Value> {
        let mut at = 0;
        self.stream
            .parts
            .iter()
            .map(|p| {
                let v = json!({
                    "attempt": p.attempt.0,
                    "target": p.target,
                    "from": at,
                    "chars": p.chars,
                    "continuation": p.continuation,
                });
                at += p.chars;
                v
            })
            .collect()
    }

    fn diverged(&mut self, now: Timestamp, table: &mut CooldownTable, plan: &AttemptPlan) {
        self.exchange = None;
        self.stream.splice = None;
        self.out.push_back(Output::Abort(plan.attempt));
        self.report(now, table, plan.attempt, AttemptOutcome::Diverged);
    }

    fn trace_headers(&self, target: Option<String>) -> Vec<(String, String)> {
        let mut h = Vec::with_capacity(3);
        if let Some(t) = target {
            h.push(("x-llm-failover-target".to_string(), t));
        }
        h.push((
            "x-llm-failover-attempts".to_string(),
            api::attempts_header(self.run.attempts()),
        ));
        h
    }

    fn stream_head(&self, plan: &AttemptPlan) -> ClientHead {
        let target = format!("{}/{}", plan.provider, plan.model);
        let mut headers = vec![
            (
                "content-type".to_string(),
                "text/event-stream; charset=utf-8".to_string(),
            ),
            ("cache-control".to_string(), "no-cache".to_string()),
        ];
        headers.extend(self.trace_headers(Some(target.clone())));
        ClientHead { headers, target }
    }

    /// The run ended: the client's answer, or its error.
    fn finish(&mut self, _now: Timestamp, result: RunResult) {
        self.done = true;
        if let Some(e) = self.exchange.take() {
            self.out.push_back(Output::Abort(e.plan().attempt));
        }
        match result {
            RunResult::Success { .. } if self.stream.started => {
                if self.stream.parts.len() > 1 {
                    let parts: Vec<String> = self
                        .parts_list()
                        .iter()
                        .map(|p| {
                            format!(
                                "{}={}+{}",
                                p["target"].as_str().unwrap_or(""),
                                p["from"],
                                p["chars"]
                            )
                        })
                        .collect();
                    let comment = format!("x-llm-failover-parts: {}", parts.join(", "));
                    self.out
                        .push_back(Output::StreamEvent(ClientEvent::Comment(comment)));
                }
                self.out.push_back(Output::StreamEvent(ClientEvent::Done));
            }
            RunResult::Success { .. } => match self.answer.take() {
                Some((plan, body)) => {
                    let target = format!("{}/{}", plan.provider, plan.model);
                    let mut headers =
                        vec![("content-type".to_string(), "application/json".to_string())];
                    headers.extend(self.trace_headers(Some(target.clone())));
                    self.out.push_back(Output::Respond(ClientResponse {
                        status: 200,
                        headers,
                        body,
                        failure: None,
                        target: Some(target),
                    }));
                }
                None => self.respond_failure(&RunFailure {
                    kind: FailureKind::Unknown,
                    cause: crate::run::EndCause::Upstream,
                    message: "the run finished without an answer".into(),
                    http_status: 500,
                    propagate: None,
                    after_commit: false,
                    retry_after_ms: None,
                }),
            },
            RunResult::Failed(f) if self.stream.started => {
                let message = self.redactor.redact(&f.message);
                self.out.push_back(Output::StreamEvent(ClientEvent::Error {
                    kind: f.kind,
                    code: f.code(),
                    message,
                }));
            }
            RunResult::Failed(f) => self.respond_failure(&f),
        }
        self.out.push_back(Output::Done);
    }

    fn respond_failure(&mut self, f: &RunFailure) {
        let upstream = self
            .upstream_error
            .as_ref()
            .filter(|(id, _, _)| Some(*id) == f.propagate)
            .map(|(_, status, body)| (*status, body.as_str()));
        let (status, body) = api::failure_response(f, upstream, &self.redactor);
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        headers.extend(self.trace_headers(None));
        if let Some(ms) = f.retry_after_ms {
            headers.push((
                "retry-after".to_string(),
                api::retry_after_secs(ms).to_string(),
            ));
        }
        let mut failure = f.clone();
        failure.message = self.redactor.redact(&failure.message);
        self.out.push_back(Output::Respond(ClientResponse {
            status,
            headers,
            body,
            failure: Some(failure),
            target: None,
        }));
    }
}
