//! One upstream exchange, sans-IO: what one attempt sends and what its response
//! means.
//!
//! An [`Exchange`] is made from an [`AttemptPlan`]; [`upstream::upstream_request`]
//! gives the request to send. The host then feeds what the network did —
//! [`Exchange::handle_head`], [`Exchange::handle_body`], [`Exchange::handle_end`],
//! [`Exchange::handle_error`] — and calls [`Exchange::handle_timeout`] when
//! [`Exchange::next_timeout`] passes. After every input, drain
//! [`Exchange::poll_event`]. The exchange owns the attempt's rules:
//!
//! - timers: the response headers within `header_timeout_ms` of the send (for a
//!   non-streaming attempt: the whole answer), the first content within
//!   `first_token_timeout_ms` of the headers, then no silence longer than
//!   `idle_timeout_ms`;
//! - an HTTP error's body is read (up to [`MAX_ERROR_BODY`]) and classified;
//! - a 200 is checked: a non-streaming body must be a completion, a stream is
//!   parsed event by event; an event that is not valid JSON is dropped (reported,
//!   never forwarded); an error event ends the attempt; a stream that ends before
//!   `[DONE]` or a `finish_reason` is a failure, never a success;
//! - every response is classified exactly once, into the [`ExchangeEvent::Failed`]
//!   the run is told about.
//!
//! What to forward to the client, when the attempt commits and how a continuation
//! is spliced in is the session's business ([`crate::session`]).

mod native;
mod passthrough;
pub mod upstream;

use crate::classify::{classify, inspect_completion};
use crate::dialect::{anthropic, gemini};
use crate::failure::{Classification, Outcome, TransportFailure};
use crate::run::AttemptPlan;
use crate::sse::{ChunkVerdict, SseParser, StreamEnd, StreamInspector};
use crate::time::Timestamp;
use native::Decoder;
use serde_json::Value;
use std::collections::VecDeque;

/// An upstream error body is read this far.
pub const MAX_ERROR_BODY: usize = 64 * 1024;
/// A non-streaming answer larger than this is refused (a broken upstream).
pub const MAX_ANSWER_BODY: usize = 32 * 1024 * 1024;

/// How an attempt's response is read: which API's shapes it has.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub enum Wire {
    /// OpenAI chat completions (the canonical shape).
    #[default]
    Chat,
    /// OpenAI Responses: its events pass through as they are; content, completion
    /// and failure come from their `type`s.
    Responses,
    /// OpenAI embeddings: a JSON body with a non-empty `data` list.
    Embeddings,
    /// Anthropic's native Messages API: its message and its event stream are
    /// translated into the canonical chat shapes ([`crate::dialect::anthropic`])
    /// and then read exactly like chat completions.
    Anthropic,
    /// Gemini's native `generateContent`: translated the same way
    /// ([`crate::dialect::gemini`]).
    Gemini,
}

/// What an exchange tells the session, in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ExchangeEvent {
    /// One event of a 200 stream: its data as it came, its JSON, and whether it
    /// carries answer content (the commit rule).
    Chunk {
        /// The event's name (`event:`), if it had one.
        event: Option<String>,
        /// The event's data text.
        data: String,
        /// The data as JSON.
        value: Value,
        /// It carries content (text, tool calls, reasoning, refusal, a finish).
        content: bool,
    },
    /// An event whose data is unusable was dropped.
    Dropped {
        /// What was wrong with it.
        why: String,
    },
    /// The stream ended properly (`[DONE]`, or a finish followed by the end).
    Complete {
        /// `[DONE]` itself arrived (else the session adds it).
        saw_done: bool,
    },
    /// A complete non-streaming answer.
    Answer {
        /// The upstream's headers.
        headers: Vec<(String, String)>,
        /// The body, a chat completion.
        body: String,
    },
    /// The attempt failed, classified once. `upstream` is an HTTP error's status
    /// and body as it came (for passing it on when the run says so).
    Failed {
        /// What the failure means.
        classification: Classification,
        /// The HTTP error, if it was one.
        upstream: Option<(u16, String)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the response headers.
    Head,
    /// Reading a non-streaming body (a 2xx answer, or any HTTP error).
    Body { status: u16 },
    /// Reading a 2xx stream.
    Stream,
    /// Over: nothing more is read.
    Ended,
}

/// The attempt's timers, by what they bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Timers {
    /// Headers (streaming), or the whole answer (non-streaming).
    response: Option<Timestamp>,
    /// The first content after the headers.
    first_token: Option<Timestamp>,
    /// The next chunk after content.
    idle: Option<Timestamp>,
}

impl Timers {
    fn next(&self) -> Option<Timestamp> {
        [self.response, self.first_token, self.idle]
            .into_iter()
            .flatten()
            .min()
    }
}

/// One attempt's response, as it arrives.
#[derive(Debug, Clone)]
pub struct Exchange {
    plan: AttemptPlan,
    wire: Wire,
    phase: Phase,
    timers: Timers,
    headers: Vec<(String, String)>,
    head_at: Option<Timestamp>,
    first_content_at: Option<Timestamp>,
    body: Vec<u8>,
    parser: SseParser,
    inspector: StreamInspector,
    dropped: u32,
    decoder: Option<Decoder>,
    events: VecDeque<ExchangeEvent>,
}

impl Exchange {
    /// An exchange for `plan`, sent at `now`, reading chat completions.
    pub fn new(plan: AttemptPlan, now: Timestamp) -> Exchange {
        Exchange::with_wire(plan, now, Wire::Chat, false)
    }

    /// An exchange for `plan`, sent at `now`, reading `wire`'s shapes; a
    /// translated stream reports usage if `include_usage`.
    pub fn with_wire(
        plan: AttemptPlan,
        now: Timestamp,
        wire: Wire,
        include_usage: bool,
    ) -> Exchange {
        let decoder = match wire {
            Wire::Anthropic => Some(Decoder::Anthropic(anthropic::StreamDecoder::new(
                include_usage,
            ))),
            Wire::Gemini => Some(Decoder::Gemini(gemini::StreamDecoder::new(
                &plan.model,
                include_usage,
            ))),
            _ => None,
        };
        let timers = Timers {
            response: Some(now.saturating_add(plan.header_timeout_ms.max(1))),
            ..Timers::default()
        };
        Exchange {
            inspector: StreamInspector::new(plan.dialect),
            plan,
            wire,
            phase: Phase::Head,
            timers,
            headers: Vec::new(),
            head_at: None,
            first_content_at: None,
            body: Vec::new(),
            parser: SseParser::new(),
            dropped: 0,
            decoder,
            events: VecDeque::new(),
        }
    }

    /// The attempt's plan.
    pub fn plan(&self) -> &AttemptPlan {
        &self.plan
    }

    /// Nothing more will be read; the host should abort the request if it is
    /// still open.
    pub fn is_over(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// The time from the response headers to the first content, once it came.
    pub fn time_to_first_token(&self) -> Option<u64> {
        Some(self.first_content_at?.saturating_sub(self.head_at?))
    }

    /// How many unusable events were dropped.
    pub fn dropped(&self) -> u32 {
        self.dropped
    }

    /// When the host must call [`Exchange::handle_timeout`] next.
    pub fn next_timeout(&self) -> Option<Timestamp> {
        if self.phase == Phase::Ended {
            None
        } else {
            self.timers.next()
        }
    }

    /// The next event for the session.
    pub fn poll_event(&mut self) -> Option<ExchangeEvent> {
        self.events.pop_front()
    }

    fn fail(&mut self, now: Timestamp, outcome: Outcome, upstream: Option<(u16, String)>) {
        let classification = classify(self.plan.dialect, &outcome, now);
        self.fail_classified(classification, upstream);
    }

    fn fail_classified(&mut self, classification: Classification, upstream: Option<(u16, String)>) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Ended;
        self.events.push_back(ExchangeEvent::Failed {
            classification,
            upstream,
        });
    }

    fn transport(&mut self, now: Timestamp, t: TransportFailure) {
        self.fail(now, Outcome::Transport(t), None);
    }

    /// The response headers arrived.
    pub fn handle_head(&mut self, now: Timestamp, status: u16, headers: Vec<(String, String)>) {
        if self.phase != Phase::Head {
            return;
        }
        self.head_at = Some(now);
        self.headers = headers;
        let ok = (200..300).contains(&status);
        if ok && self.plan.stream {
            self.phase = Phase::Stream;
            self.timers.response = None;
            self.timers.first_token =
                Some(now.saturating_add(self.plan.first_token_timeout_ms.max(1)));
        } else {
            self.phase = Phase::Body { status };
            if !ok {
                // An error body is small: read it within the idle bound.
                self.timers.response = Some(now.saturating_add(self.plan.idle_timeout_ms.max(1)));
            }
        }
    }

    /// Some body bytes arrived.
    pub fn handle_body(&mut self, now: Timestamp, bytes: &[u8]) {
        match self.phase {
            Phase::Body { status } => {
                let cap = if (200..300).contains(&status) {
                    MAX_ANSWER_BODY
                } else {
                    MAX_ERROR_BODY
                };
                let room = cap.saturating_sub(self.body.len());
                self.body.extend_from_slice(&bytes[..bytes.len().min(room)]);
                if bytes.len() > room && (200..300).contains(&status) {
                    let body = format!("the answer exceeds {MAX_ANSWER_BODY} bytes");
                    self.fail(now, Outcome::InvalidSuccess { body }, None);
                }
            }
            Phase::Stream => {
                if self.first_content_at.is_some() {
                    self.timers.idle = Some(now.saturating_add(self.plan.idle_timeout_ms.max(1)));
                }
                match self.parser.push(bytes) {
                    Ok(events) => {
                        for ev in events {
                            self.stream_event(now, ev);
                            if self.phase == Phase::Ended {
                                break;
                            }
                        }
                    }
                    Err(e) => self.fail(now, Outcome::InvalidSuccess { body: e.0 }, None),
                }
            }
            Phase::Head | Phase::Ended => {}
        }
    }

    fn stream_event(&mut self, now: Timestamp, ev: crate::sse::SseEvent) {
        if self.wire == Wire::Responses {
            return self.responses_event(now, ev);
        }
        if self.decoder.is_some() {
            return self.native_event(now, ev);
        }
        let read = self.inspector.read(&ev, now);
        self.canonical(now, ev.event, ev.data, read);
    }

    /// A canonical chunk, read by the inspector.
    fn canonical(
        &mut self,
        now: Timestamp,
        event: Option<String>,
        data: String,
        read: crate::sse::Inspected,
    ) {
        match read.verdict {
            ChunkVerdict::Content | ChunkVerdict::Empty => {
                let content = read.verdict == ChunkVerdict::Content;
                if content && self.first_content_at.is_none() {
                    self.first_content_at = Some(now);
                    self.timers.first_token = None;
                    self.timers.idle = Some(now.saturating_add(self.plan.idle_timeout_ms.max(1)));
                }
                self.events.push_back(ExchangeEvent::Chunk {
                    event,
                    data,
                    value: read.value.unwrap_or(Value::Null),
                    content,
                });
            }
            ChunkVerdict::Done => {
                if self.first_content_at.is_none() {
                    // `[DONE]` before any content: an empty, unusable answer.
                    let body = "stream ended with [DONE] before any content".to_string();
                    self.fail(now, Outcome::InvalidSuccess { body }, None);
                } else {
                    self.phase = Phase::Ended;
                    self.events
                        .push_back(ExchangeEvent::Complete { saw_done: true });
                }
            }
            ChunkVerdict::Error(c) => self.fail_classified(c, None),
            ChunkVerdict::Malformed(why) => {
                self.dropped += 1;
                self.events.push_back(ExchangeEvent::Dropped { why });
            }
        }
    }

    fn first_content(&mut self, now: Timestamp) {
        if self.first_content_at.is_none() {
            self.first_content_at = Some(now);
            self.timers.first_token = None;
            self.timers.idle = Some(now.saturating_add(self.plan.idle_timeout_ms.max(1)));
        }
    }

    /// One event of a Responses stream: passed on as it is.
    fn responses_event(&mut self, now: Timestamp, ev: crate::sse::SseEvent) {
        let value: Value = match serde_json::from_str(ev.data.trim()) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                self.dropped += 1;
                let why = "stream event is not a JSON object".to_string();
                self.events.push_back(ExchangeEvent::Dropped { why });
                return;
            }
        };
        match passthrough::responses_event(&value) {
            passthrough::Event::Failed => {
                let data = ev.data;
                self.fail(now, Outcome::StreamError { data }, None);
            }
            kind => {
                let content = kind == passthrough::Event::Content;
                if content {
                    self.first_content(now);
                }
                let complete = kind == passthrough::Event::Complete;
                self.events.push_back(ExchangeEvent::Chunk {
                    event: ev.event,
                    data: ev.data,
                    value,
                    content: content || (complete && self.first_content_at.is_some()),
                });
                if complete {
                    if self.first_content_at.is_none() {
                        // A completed response with no output at all: the first
                        // event that counts is the completion itself.
                        self.first_content(now);
                    }
                    self.phase = Phase::Ended;
                    self.events
                        .push_back(ExchangeEvent::Complete { saw_done: true });
                }
            }
        }
    }

    /// The body ended (the response is complete as far as the network goes).
    pub fn handle_end(&mut self, now: Timestamp) {
        match self.phase {
            Phase::Head => self.transport(now, TransportFailure::ResetBeforeHeaders),
            Phase::Body { status } => {
                let body = String::from_utf8_lossy(&self.body).into_owned();
                if !(200..300).contains(&status) {
                    let outcome = Outcome::Http {
                        status,
                        headers: std::mem::take(&mut self.headers),
                        body: body.clone(),
                    };
                    self.fail(now, outcome, Some((status, body)));
                    return;
                }
                let body = match self.translate_answer(&body) {
                    Ok(b) => b,
                    Err(body) => {
                        return self.fail(now, Outcome::InvalidSuccess { body }, None);
                    }
                };
                let verdict = match self.wire {
                    Wire::Chat | Wire::Anthropic | Wire::Gemini => {
                        inspect_completion(self.plan.dialect, &body, now)
                    }
                    Wire::Responses => passthrough::inspect_response(self.plan.dialect, &body, now),
                    Wire::Embeddings => {
                        passthrough::inspect_embeddings(self.plan.dialect, &body, now)
                    }
                };
                match verdict {
                    None => {
                        self.phase = Phase::Ended;
                        self.events.push_back(ExchangeEvent::Answer {
                            headers: std::mem::take(&mut self.headers),
                            body,
                        });
                    }
                    Some(c) => self.fail_classified(c, None),
                }
            }
            Phase::Stream => {
                if let Some(ev) = self.parser.finish() {
                    self.stream_event(now, ev);
                }
                if let Some(Decoder::Gemini(d)) = self.decoder.as_mut() {
                    let rest = d.finish();
                    self.decoded(now, rest);
                }
                if self.phase == Phase::Ended {
                    return;
                }
                match self.inspector.end() {
                    StreamEnd::Complete { saw_done } if self.first_content_at.is_some() => {
                        self.phase = Phase::Ended;
                        self.events.push_back(ExchangeEvent::Complete { saw_done });
                    }
                    _ => self.transport(now, TransportFailure::StreamEndedEarly),
                }
            }
            Phase::Ended => {}
        }
    }

    /// The request failed below HTTP: `fetch` rejected (before the headers) or
    /// reading the body failed (after them). The host says what it saw; a body that
    /// breaks is a stream that ended early, whatever the host calls it.
    pub fn handle_error(&mut self, now: Timestamp, failure: TransportFailure) {
        let t = match self.phase {
            Phase::Head => failure,
            _ => TransportFailure::StreamEndedEarly,
        };
        self.transport(now, t);
    }

    /// Time passed; `now` at or after [`Exchange::next_timeout`] fires the timer.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let due = |t: Option<Timestamp>| t.is_some_and(|t| now >= t);
        if self.phase == Phase::Ended {
            return;
        }
        if due(self.timers.response) {
            self.transport(now, TransportFailure::HeaderTimeout);
        } else if due(self.timers.first_token) {
            self.transport(now, TransportFailure::FirstTokenTimeout);
        } else if due(self.timers.idle) {
            self.transport(now, TransportFailure::StreamIdleTimeout);
        }
    }
}
