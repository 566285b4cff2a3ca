//! The client side of `/v1/messages`: the session's canonical output (chat chunks,
//! a chat completion) written in Anthropic's Messages shapes, whatever target
//! answered. One adapter at the end of the session, so the commit rule, the
//! continuation splice and the usage sums are the same for every client API.

use super::{ClientEvent, ClientResponse, Output};
use crate::dialect::anthropic::{message_from_completion, StreamEncoder};
use serde_json::Value;
use std::collections::VecDeque;

/// Writes a Messages client's output.
#[derive(Debug, Clone)]
pub(super) struct MessagesOut {
    model: String,
    encoder: StreamEncoder,
}

impl MessagesOut {
    /// For a client that asked for `model`.
    pub(super) fn new(model: &str) -> MessagesOut {
        MessagesOut {
            model: model.to_string(),
            encoder: StreamEncoder::new(model),
        }
    }

    /// One canonical output → what the Messages client gets, onto `out`.
    pub(super) fn translate(&mut self, output: Output, out: &mut VecDeque<Output>) {
        let native = |events: Vec<crate::sse::SseEvent>, out: &mut VecDeque<Output>| {
            out.extend(
                events
                    .into_iter()
                    .map(|e| Output::StreamEvent(ClientEvent::Native(e))),
            );
        };
        match output {
            Output::StreamEvent(ClientEvent::Data(data)) => {
                if let Ok(v) = serde_json::from_str::<Value>(&data) {
                    native(self.encoder.encode(&v), out);
                }
            }
            Output::StreamEvent(ClientEvent::Done) => native(self.encoder.finish(), out),
            Output::StreamEvent(ClientEvent::Error { kind, message, .. }) => {
                let e = self.encoder.error(kind, &message);
                out.push_back(Output::StreamEvent(ClientEvent::Native(e)));
            }
            Output::Respond(r) if r.status == 200 && r.failure.is_none() => {
                let body = match serde_json::from_str::<Value>(&r.body) {
                    Ok(c) => message_from_completion(&c, &self.model).to_string(),
                    Err(_) => r.body,
                };
                out.push_back(Output::Respond(ClientResponse { body, ..r }));
            }
            other => out.push_back(other),
        }
    }
}
