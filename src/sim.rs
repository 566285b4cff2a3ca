//! A fake-clock host for [`Session`]s: scripted upstreams, no I/O.
//!
//! [`SessionSim`] plays the host's part of the session loop: it answers each
//! [`Output::Send`] with the [`Reply`] a script gives (timed wire events: the
//! head, body pieces, the end, a transport failure, or silence), jumps the clock
//! straight to the next wire event or [`Session::next_timeout`], and collects what
//! the client receives. Tests use it to check every exchange rule in microseconds;
//! it is the same loop a real host runs, minus the network.

use crate::cooldown::CooldownTable;
use crate::exchange::upstream::UpstreamRequest;
use crate::failure::TransportFailure;
use crate::run::AttemptId;
use crate::session::{ClientEvent, ClientHead, ClientResponse, Output, Session};
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// One thing the network does, `after_ms` after the previous one (the first after
/// the send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// The response head.
    Head {
        /// The status.
        status: u16,
        /// The headers.
        headers: Vec<(String, String)>,
    },
    /// Some body bytes.
    Body(Vec<u8>),
    /// The body ends.
    End,
    /// The connection fails.
    Error(TransportFailure),
}

/// How a scripted upstream answers one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reply {
    /// The wire events, each after a delay (ms) from the previous one. Nothing
    /// after the last: a reply without `End` or `Error` goes silent.
    pub wire: Vec<(u64, Wire)>,
}

impl Reply {
    /// `status` with a JSON `body`, after `latency_ms`.
    pub fn json(latency_ms: u64, status: u16, body: &str) -> Reply {
        Reply::with_headers(latency_ms, status, &[], body)
    }

    /// `status` with `headers` and `body`, after `latency_ms`.
    pub fn with_headers(
        latency_ms: u64,
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let headers = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Reply {
            wire: vec![
                (latency_ms, Wire::Head { status, headers }),
                (0, Wire::Body(body.as_bytes().to_vec())),
                (0, Wire::End),
            ],
        }
    }

    /// A 200 SSE stream: the head after `latency_ms`, then each `(delay, text)` as a
    /// body piece (write whole `data: …\n\n` events, or split them anywhere).
    pub fn sse(latency_ms: u64, pieces: &[(u64, String)]) -> Reply {
        let mut wire = vec![(
            latency_ms,
            Wire::Head {
                status: 200,
                headers: vec![("content-type".into(), "text/event-stream".into())],
            },
        )];
        wire.extend(
            pieces
                .iter()
                .map(|(d, t)| (*d, Wire::Body(t.as_bytes().to_vec()))),
        );
        Reply { wire }
    }

    /// Then the body ends.
    pub fn then_end(mut self) -> Reply {
        self.wire.push((0, Wire::End));
        self
    }

    /// Then, after `after_ms`, the connection fails.
    pub fn then_error(mut self, after_ms: u64, t: TransportFailure) -> Reply {
        self.wire.push((after_ms, Wire::Error(t)));
        self
    }

    /// A transport failure before any head, after `latency_ms`.
    pub fn transport(latency_ms: u64, t: TransportFailure) -> Reply {
        Reply {
            wire: vec![(latency_ms, Wire::Error(t))],
        }
    }

    /// No answer at all.
    pub fn silent() -> Reply {
        Reply::default()
    }
}

/// What the client received.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Received {
    /// A complete response (non-streaming answers, errors before a stream).
    pub response: Option<ClientResponse>,
    /// The stream's head.
    pub head: Option<ClientHead>,
    /// The stream's events, in order.
    pub events: Vec<ClientEvent>,
    /// Every request sent upstream, in order, with the time it was sent.
    pub sent: Vec<(Timestamp, UpstreamRequest)>,
    /// Attempts the session aborted.
    pub aborted: Vec<AttemptId>,
    /// When `Output::Done` came.
    pub done_at: Option<Timestamp>,
}

impl Received {
    /// The stream's events as SSE text.
    pub fn sse(&self) -> String {
        self.events.iter().map(ClientEvent::to_sse).collect()
    }
}

/// A session driven by a fake clock and a scripted upstream.
pub struct SessionSim<'a> {
    /// The session.
    pub session: Session,
    /// The clock.
    pub now: Timestamp,
    /// What the client received so far.
    pub received: Received,
    /// Key values by name (missing ones are reported as missing).
    pub keys: BTreeMap<String, String>,
    /// Wire events due, per attempt: (at, event).
    pending: BTreeMap<AttemptId, Vec<(Timestamp, Wire)>>,
    upstream: Upstream<'a>,
}

/// A scripted upstream: each request (and the time it is sent) to its reply.
pub type Upstream<'a> = Box<dyn FnMut(&UpstreamRequest, Timestamp) -> Reply + 'a>;

/// The most steps a simulation takes (a session that never ends is a bug).
const MAX_STEPS: usize = 100_000;

impl<'a> SessionSim<'a> {
    /// A simulation of `session` starting at `now`; `upstream` scripts each
    /// request.
    pub fn new(
        session: Session,
        now: Timestamp,
        upstream: impl FnMut(&UpstreamRequest, Timestamp) -> Reply + 'a,
    ) -> SessionSim<'a> {
        SessionSim {
            session,
            now,
            received: Received::default(),
            keys: BTreeMap::new(),
            pending: BTreeMap::new(),
            upstream: Box::new(upstream),
        }
    }

    /// With these keys (name, value).
    pub fn with_keys(mut self, keys: &[(&str, &str)]) -> SessionSim<'a> {
        self.keys = keys
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self
    }

    fn drain(&mut self, table: &mut CooldownTable) {
        while let Some(out) = self.session.poll_output(self.now, table) {
            match out {
                Output::Send(req) => {
                    let attempt = req.attempt;
                    if let Some(k) = &req.key {
                        match self.keys.get(&k.name) {
                            Some(v) => self.session.add_secret(v),
                            None => {
                                self.received.sent.push((self.now, req));
                                self.session.handle_missing_key(self.now, table, attempt);
                                continue;
                            }
                        }
                    }
                    let reply = (self.upstream)(&req, self.now);
                    let mut at = self.now;
                    let events = reply
                        .wire
                        .into_iter()
                        .map(|(d, w)| {
                            at += d;
                            (at, w)
                        })
                        .collect();
                    self.pending.insert(attempt, events);
                    self.received.sent.push((self.now, req));
                }
                Output::Abort(a) => {
                    self.pending.remove(&a);
                    self.received.aborted.push(a);
                }
                Output::Respond(r) => self.received.response = Some(r),
                Output::StreamStart(h) => self.received.head = Some(h),
                Output::StreamEvent(e) => self.received.events.push(e),
                Output::Done => self.received.done_at = Some(self.now),
            }
        }
    }

    /// Runs until the session is done; returns what the client received.
    pub fn run(&mut self, table: &mut CooldownTable) -> &Received {
        self.run_until(table, Timestamp::MAX)
    }

    /// Runs until the session is done or the next event would be after `until`.
    pub fn run_until(&mut self, table: &mut CooldownTable, until: Timestamp) -> &Received {
        self.drain(table);
        for _ in 0..MAX_STEPS {
            if self.received.done_at.is_some() {
                break;
            }
            let wire_at = self
                .pending
                .iter()
                .filter_map(|(a, evs)| evs.first().map(|(t, _)| (*t, *a)))
                .min();
            let timer = self.session.next_timeout();
            let next = [wire_at.map(|(t, _)| t), timer].into_iter().flatten().min();
            if next.map_or(true, |t| t > until) {
                break;
            }
            match (wire_at, timer) {
                (Some((t, a)), timer) if timer.map_or(true, |x| t <= x) => {
                    self.now = self.now.max(t);
                    let Some(events) = self.pending.get_mut(&a) else {
                        continue;
                    };
                    let (_, w) = events.remove(0);
                    match w {
                        Wire::Head { status, headers } => self
                            .session
                            .handle_head(self.now, table, a, status, headers),
                        Wire::Body(b) => self.session.handle_body(self.now, table, a, &b),
                        Wire::End => self.session.handle_end(self.now, table, a),
                        Wire::Error(t) => self.session.handle_error(self.now, table, a, t),
                    }
                    if self.pending.get(&a).is_some_and(Vec::is_empty) {
                        self.pending.remove(&a);
                    }
                }
                (_, Some(t)) => {
                    self.now = self.now.max(t);
                    self.session.handle_timeout(self.now, table);
                }
                (_, None) => break,
            }
            self.drain(table);
        }
        &self.received
    }

    /// The client goes away now.
    pub fn cancel(&mut self, table: &mut CooldownTable) {
        self.session.cancel(self.now, table);
        self.drain(table);
    }
}
