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

mod answer;
mod chunk;
mod messages;
mod output;
mod splice;
mod stream;

pub use output::{ClientEvent, ClientHead, ClientResponse, Output};
pub use splice::{Diverged, Splicer, MAX_OVERLAP, MIN_LOOSE_OVERLAP};

use crate::api::ChatRequest;
use crate::api::ClientApi;
use crate::config::Route;
use crate::cooldown::CooldownTable;
use crate::exchange::upstream::{prepare, upstream_request, Prepared};
use crate::exchange::{Exchange, ExchangeEvent};
use crate::failure::{Classification, FailureKind, Scope, TransportFailure};
use crate::redact::Redactor;
use crate::run::{
    Action, AttemptId, AttemptOutcome, AttemptPlan, FallbackRun, RunError, RunOptions,
};
use crate::time::Timestamp;
use serde_json::Value;
use std::collections::VecDeque;
use stream::Stream;

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
    /// The last upstream error's body is in the client API's shape (it can be
    /// passed on as it came).
    upstream_error_in_client_shape: bool,
    /// The request translated for each target (`None`: the target cannot take it).
    prepared: Vec<Option<Prepared>>,
    /// A Messages client's output, translated from the canonical one.
    messages: Option<messages::MessagesOut>,
    /// Outputs already in the client API's shape.
    translated: VecDeque<Output>,
    done: bool,
}

impl Session {
    /// A session for `request` routed to `route`.
    pub fn new(route: Route, request: ChatRequest, options: RunOptions) -> Session {
        let mut run = FallbackRun::new(route, options);
        let n = request.body.get("n").and_then(Value::as_u64).unwrap_or(1);
        // Only chat streams (and Messages, through them) are continued.
        if n > 1 || !matches!(request.api, ClientApi::Chat | ClientApi::Messages) {
            run.forbid_continuation();
        }
        // A stored response lives on one provider: it cannot fail over.
        let stored = request.api == ClientApi::Responses
            && request
                .body
                .get("previous_response_id")
                .is_some_and(|v| !v.is_null());
        let first = run.chain().targets.first().map(|t| t.provider.clone());
        let mut prepared = Vec::new();
        let mut why = Vec::new();
        for t in run.chain().targets.iter() {
            if stored && Some(&t.provider) != first.as_ref() {
                why.push(Some(format!(
                    "`previous_response_id` ties this request to provider `{}`: a stored response cannot fail over to another provider",
                    first.as_deref().unwrap_or("")
                )));
                prepared.push(None);
                continue;
            }
            match prepare(&request, t) {
                Ok(p) => {
                    prepared.push(Some(p));
                    why.push(None);
                }
                Err(u) => {
                    prepared.push(None);
                    why.push(Some(format!("{}/{}: {u}", t.provider, t.model)));
                }
            }
        }
        for (t, w) in why.into_iter().enumerate() {
            if let Some(w) = w {
                run.exclude_target(t, w);
            }
        }
        let messages = (request.api == ClientApi::Messages)
            .then(|| messages::MessagesOut::new(&request.model));
        Session {
            messages,
            translated: VecDeque::new(),
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
            prepared,
            upstream_error_in_client_shape: false,
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
        self.done && self.out.is_empty() && self.translated.is_empty()
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
        loop {
            if let Some(o) = self.translated.pop_front() {
                return Some(o);
            }
            if self.out.is_empty() {
                self.advance(now, table);
            }
            let o = self.out.pop_front()?;
            match self.messages.as_mut() {
                Some(m) => m.translate(o, &mut self.translated),
                None => return Some(o),
            }
        }
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
                Action::Send(plan) => self.start(now, table, plan),
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

    fn start(&mut self, now: Timestamp, table: &mut CooldownTable, plan: AttemptPlan) {
        if let Some(old) = self.exchange.take() {
            // The run moved on (its deadline): the old request is abandoned.
            self.out.push_back(Output::Abort(old.plan().attempt));
        }
        self.stream.held.clear();
        self.stream.held_native.clear();
        self.stream.splice = plan
            .continuation
            .map(|mode| Splicer::new(&self.stream.text, mode));
        // Every target the run picks was prepared (the others are excluded).
        let Some(prepared) = self.prepared.get(plan.target).and_then(Option::as_ref) else {
            let c = Classification::observed(
                FailureKind::InvalidRequest,
                Scope::Request,
                "the request cannot be sent to this target",
            );
            self.report(now, table, plan.attempt, AttemptOutcome::Classified(c));
            return;
        };
        let req = upstream_request(&plan, prepared, &self.request.body, &self.stream.text);
        let wire = prepared.endpoint.wire();
        let usage = prepared.include_usage;
        self.exchange = Some(Exchange::with_wire(plan, now, wire, usage));
        self.out.push_back(Output::Send(req));
    }

    fn on_exchange(&mut self, now: Timestamp, table: &mut CooldownTable, ev: ExchangeEvent) {
        let Some(plan) = self.exchange.as_ref().map(|e| e.plan().clone()) else {
            return;
        };
        match ev {
            ExchangeEvent::Chunk {
                event,
                data,
                value,
                content,
            } => {
                if self.request.api == ClientApi::Responses {
                    let event = crate::sse::SseEvent { event, data };
                    return self.native_event(now, table, &plan, event, content);
                }
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
                    let target = &self.run.chain().targets[plan.target];
                    let native = target.api == crate::provider::ProviderApi::Native
                        && target.dialect.has_native_api();
                    self.upstream_error_in_client_shape = match self.request.api {
                        ClientApi::Messages => {
                            native && target.dialect == crate::provider::Dialect::Anthropic
                        }
                        _ => !native,
                    };
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
}
