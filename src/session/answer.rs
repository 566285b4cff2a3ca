//! How the session answers the client once the run ended.

use super::{ClientEvent, ClientHead, ClientResponse, Output, Session};
use crate::api::{self, ClientApi};
use crate::failure::FailureKind;
use crate::run::{AttemptPlan, EndCause, RunFailure, RunResult};
use crate::time::Timestamp;

impl Session {
    pub(super) fn trace_headers(&self, target: Option<String>) -> Vec<(String, String)> {
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

    pub(super) fn stream_head(&self, plan: &AttemptPlan) -> ClientHead {
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
    pub(super) fn finish(&mut self, _now: Timestamp, result: RunResult) {
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
                // Chat streams end with `[DONE]`; a Messages client's encoder
                // turns it into `message_delta` + `message_stop`.
                if matches!(self.request.api, ClientApi::Chat | ClientApi::Messages) {
                    self.out.push_back(Output::StreamEvent(ClientEvent::Done));
                }
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
                    cause: EndCause::Upstream,
                    message: "the run finished without an answer".into(),
                    http_status: 500,
                    propagate: None,
                    after_commit: false,
                    retry_after_ms: None,
                }),
            },
            RunResult::Failed(f) if self.stream.started => {
                let message = self.redactor.redact(&f.message);
                let api = self.request.api;
                self.out.push_back(Output::StreamEvent(ClientEvent::Error {
                    api,
                    kind: f.kind,
                    code: f.code(),
                    message,
                }));
            }
            RunResult::Failed(f) => self.respond_failure(&f),
        }
        self.out.push_back(Output::Done);
    }

    pub(super) fn respond_failure(&mut self, f: &RunFailure) {
        let upstream = self
            .upstream_error
            .as_ref()
            .filter(|(id, _, _)| Some(*id) == f.propagate)
            .map(|(_, status, body)| (*status, body.as_str()));
        let upstream = upstream.filter(|_| self.upstream_error_in_client_shape);
        let (status, body) = api::failure_response(f, upstream, &self.redactor, self.request.api);
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
