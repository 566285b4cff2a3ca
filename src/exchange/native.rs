//! Native upstream APIs (Anthropic's Messages, Gemini's `generateContent`) read
//! as the canonical chat shapes: each native event or answer is translated by
//! [`crate::dialect`] and then goes through the same checks as chat completions
//! (the commit rule, the stream's completeness, the classifier).

use super::{Exchange, ExchangeEvent, Phase, Wire};
use crate::dialect::{anthropic, gemini, Decoded};
use crate::failure::Outcome;
use crate::time::Timestamp;
use serde_json::Value;

/// The translation of a native stream into canonical chunks.
#[derive(Debug, Clone)]
pub(super) enum Decoder {
    Anthropic(anthropic::StreamDecoder),
    Gemini(gemini::StreamDecoder),
}

impl Exchange {
    /// One event of a native stream: translated, then read as canonical chunks.
    pub(super) fn native_event(&mut self, now: Timestamp, ev: crate::sse::SseEvent) {
        let value: Value = match serde_json::from_str(ev.data.trim()) {
            Ok(v @ Value::Object(_)) => v,
            Err(_) if ev.event.as_deref() == Some("error") => {
                return self.fail(now, Outcome::StreamError { data: ev.data }, None);
            }
            _ => {
                self.dropped += 1;
                let why = "stream event is not a JSON object".to_string();
                self.events.push_back(ExchangeEvent::Dropped { why });
                return;
            }
        };
        let decoded = match self.decoder.as_mut() {
            Some(Decoder::Anthropic(d)) => d.decode(ev.event.as_deref(), &value),
            Some(Decoder::Gemini(d)) => d.decode(&value),
            None => Vec::new(),
        };
        self.decoded(now, decoded);
    }

    pub(super) fn decoded(&mut self, now: Timestamp, decoded: Vec<Decoded>) {
        for d in decoded {
            if self.phase == Phase::Ended {
                return;
            }
            match d {
                Decoded::Chunk(value) => {
                    let data = value.to_string();
                    let read = self.inspector.read_value(value, &data, now);
                    self.canonical(now, None, data, read);
                }
                Decoded::Done => {
                    let done = crate::sse::SseEvent {
                        event: None,
                        data: "[DONE]".into(),
                    };
                    let read = self.inspector.read(&done, now);
                    self.canonical(now, None, done.data, read);
                }
                Decoded::Error(data) => self.fail(now, Outcome::StreamError { data }, None),
            }
        }
    }

    /// A native answer as a chat completion (others as they are); `Err` says why
    /// it is not an answer.
    pub(super) fn translate_answer(&self, body: &str) -> Result<String, String> {
        if !matches!(self.wire, Wire::Anthropic | Wire::Gemini) {
            return Ok(body.to_string());
        }
        let value: Value = serde_json::from_str(body)
            .map_err(|e| format!("200 response body is not valid JSON: {e}"))?;
        let chat = match self.wire {
            Wire::Anthropic => anthropic::completion_from_message(&value)?,
            _ => gemini::completion_from_response(&value, &self.plan.model)?,
        };
        Ok(chat.to_string())
    }
}
