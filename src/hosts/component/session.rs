//! The `session` export: [`crate::session::Session`] as a resource sharing its
//! gateway's cooldown table. Conversions only: the session decides everything.

#![allow(unreachable_patterns)] // See the module above: the `other(name)` arms.

use super::bindings::exports::llm_failover::core::{fallback as wf, session as ws};
use super::convert::{failure_to_wit, kind_to_wit, list, result_to_wit, transport_from_wit};
use super::fallback::{Gateway, SharedTable};
use super::trace::{event_to_wit, record_to_wit};
use super::{bad_request, case_name, wit, Component};
use crate::api;
use crate::cooldown::CooldownTable;
use crate::exchange::upstream::UpstreamRequest;
use crate::run::{AttemptId, RunOptions};
use crate::session::{ClientEvent, Output, Session};
use std::cell::RefCell;

/// `resource session`: one client request's session, and its gateway's table.
pub struct ClientSession {
    session: RefCell<Session>,
    table: SharedTable,
}

impl ClientSession {
    /// Calls `f` on the session and the table.
    fn with<R>(&self, f: impl FnOnce(&mut Session, &mut CooldownTable) -> R) -> R {
        f(&mut self.session.borrow_mut(), &mut self.table.borrow_mut())
    }
}

fn request_to_wit(r: UpstreamRequest) -> ws::UpstreamRequest {
    ws::UpstreamRequest {
        attempt: r.attempt.0,
        method: r.method.to_string(),
        url: r.url,
        headers: r.headers,
        key: r.key.map(|k| ws::KeyUse {
            name: k.name,
            header: k.header.name().to_string(),
            prefix: k.header.prefix().to_string(),
        }),
        body: r.body,
        stream: r.stream,
    }
}

fn client_event_to_wit(e: ClientEvent) -> ws::StreamEvent {
    let sse = e.to_sse();
    let event = match e {
        ClientEvent::Data(data) => ws::ClientEvent::Data(data),
        ClientEvent::Comment(text) => ws::ClientEvent::Comment(text),
        ClientEvent::Done => ws::ClientEvent::Done,
        ClientEvent::Error {
            kind,
            code,
            message,
            ..
        } => ws::ClientEvent::Error(ws::StreamError {
            kind: kind_to_wit(kind),
            code: code.to_string(),
            message,
        }),
        e => ws::ClientEvent::Other(case_name(&e)),
    };
    ws::StreamEvent { event, sse }
}

fn output_to_wit(o: Output) -> ws::Output {
    match o {
        Output::Send(r) => ws::Output::Send(request_to_wit(r)),
        Output::Abort(a) => ws::Output::Abort(a.0),
        Output::Respond(r) => ws::Output::Respond(ws::ClientResponse {
            status: r.status,
            headers: r.headers,
            body: r.body,
            target: r.target,
            failure: r.failure.map(failure_to_wit),
        }),
        Output::StreamStart(h) => ws::Output::StreamStart(ws::ClientHead {
            headers: h.headers,
            target: h.target,
        }),
        Output::StreamEvent(e) => ws::Output::StreamEvent(client_event_to_wit(e)),
        Output::Done => ws::Output::Done,
        o => ws::Output::Other(case_name(&o)),
    }
}

impl ws::Guest for Component {
    type Session = ClientSession;
}

impl ws::GuestSession for ClientSession {
    fn create(
        gateway: wf::GatewayBorrow<'_>,
        request_json: String,
        options: ws::SessionOptions,
    ) -> Result<ws::Session, wit::Error> {
        let gateway = gateway.get::<Gateway>();
        let request = api::parse_chat_request(request_json.as_bytes()).map_err(bad_request)?;
        let route = gateway
            .config
            .route(&request.model)
            .map_err(|e| bad_request(api::route_error(&e)))?;
        let options = RunOptions {
            now: options.now,
            seed: options.seed,
            run_id: options.run_id,
            stream: request.stream,
        };
        Ok(ws::Session::new(ClientSession {
            session: RefCell::new(Session::new(route, request, options)),
            table: gateway.table.clone(),
        }))
    }

    fn poll_output(&self, now: wit::Timestamp) -> Option<ws::Output> {
        self.with(|s, table| s.poll_output(now, table))
            .map(output_to_wit)
    }

    fn next_timeout(&self) -> Option<wit::Timestamp> {
        self.session.borrow().next_timeout()
    }

    fn handle_head(
        &self,
        now: wit::Timestamp,
        attempt: wit::AttemptId,
        status: u16,
        headers: Vec<(String, String)>,
    ) {
        self.with(|s, t| s.handle_head(now, t, AttemptId(attempt), status, headers));
    }

    fn handle_body(&self, now: wit::Timestamp, attempt: wit::AttemptId, bytes: Vec<u8>) {
        self.with(|s, t| s.handle_body(now, t, AttemptId(attempt), &bytes));
    }

    fn handle_end(&self, now: wit::Timestamp, attempt: wit::AttemptId) {
        self.with(|s, t| s.handle_end(now, t, AttemptId(attempt)));
    }

    fn handle_error(
        &self,
        now: wit::Timestamp,
        attempt: wit::AttemptId,
        failure: wit::TransportFailure,
    ) -> Result<(), wit::Error> {
        let failure = transport_from_wit(failure)?;
        self.with(|s, t| s.handle_error(now, t, AttemptId(attempt), failure));
        Ok(())
    }

    fn handle_missing_key(&self, now: wit::Timestamp, attempt: wit::AttemptId) {
        self.with(|s, t| s.handle_missing_key(now, t, AttemptId(attempt)));
    }

    fn handle_timeout(&self, now: wit::Timestamp) {
        self.with(|s, t| s.handle_timeout(now, t));
    }

    fn add_secret(&self, value: String) {
        self.session.borrow_mut().add_secret(&value);
    }

    fn cancel(&self, now: wit::Timestamp) {
        self.with(|s, t| s.cancel(now, t));
    }

    fn trace(&self) -> Vec<wf::TraceEvent> {
        list(self.session.borrow().run().trace(), event_to_wit)
    }

    fn attempts(&self) -> Vec<wf::AttemptRecord> {
        list(self.session.borrow().run().attempts(), record_to_wit)
    }

    fn final_result(&self) -> Option<wf::RunResult> {
        let session = self.session.borrow();
        session.run().result().cloned().map(result_to_wit)
    }
}
