//! Server-sent events, sans-IO: bytes in, events out, and what each event of an
//! OpenAI-style chat-completion stream means for fallback.
//!
//! Hosts feed the upstream body as it arrives to [`SseParser::push`] and each event to
//! [`StreamInspector::inspect`]. Before the first [`ChunkVerdict::Content`] the host may
//! still fall back invisibly; after it, the host has committed. [`StreamInspector::end`]
//! tells a complete stream (saw `[DONE]` or a `finish_reason`) from a truncated one,
//! which must end in an error event, never in a fake success.

use crate::classify::classify;
use crate::failure::{Classification, Outcome};
use crate::provider::Dialect;
use crate::time::Timestamp;
use serde_json::Value;

/// The longest line we buffer: a stream sending more without a newline is broken.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The stream broke the SSE framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseError(pub String);

impl SseEvent {
    /// This event as SSE text (`event:` line if any, `data:` lines, blank line).
    pub fn to_sse(&self) -> String {
        let mut out = String::with_capacity(self.data.len() + 16);
        if let Some(e) = &self.event {
            out.push_str("event: ");
            out.push_str(e);
            out.push('\n');
        }
        for line in self.data.split('\n') {
            out.push_str("data: ");
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
        out
    }
}

/// An incremental SSE parser (WHATWG event-stream rules: `\n`, `\r\n` or `\r` line
/// ends, `:` comments, multi-line `data`, dispatch on a blank line).
#[derive(Debug, Default, Clone)]
pub struct SseParser {
    line: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
    last_was_cr: bool,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds bytes; returns the events they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        for &b in bytes {
            match b {
                b'\n' if self.last_was_cr => self.last_was_cr = false,
                b'\n' | b'\r' => {
                    self.last_was_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, &mut out);
                }
                _ => {
                    self.last_was_cr = false;
                    if self.line.len() >= MAX_LINE_BYTES {
                        return Err(SseError(format!(
                            "an SSE line exceeded {MAX_LINE_BYTES} bytes"
                        )));
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(out)
    }

    /// The stream ended: an event not closed by a blank line is still delivered
    /// (many servers omit the final blank line).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let line = std::mem::take(&mut self.line);
        let mut out = Vec::new();
        if !line.is_empty() {
            self.line_done(&line, &mut out);
        }
        self.line_done(b"", &mut out);
        out.pop()
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(SseEvent {
                    event: self.event.take(),
                    data,
                });
            }
            self.event = None;
            return;
        }
        if line[0] == b':' {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let (field, value) = match text.find(':') {
            Some(i) => {
                let v = &text[i + 1..];
                (&text[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&text[..], ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            _ => {}
        }
    }
}

/// What one event means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkVerdict {
    /// Carries answer content (text, tool calls, refusal): the host may commit.
    Content,
    /// A valid chunk with nothing to show yet (role, empty delta, usage, keep-alive).
    Empty,
    /// The `[DONE]` marker.
    Done,
    /// An error event or an error inside a chunk.
    Error(Classification),
    /// Not valid JSON, or not a chunk: the event is unusable (it is dropped, never
    /// forwarded; only a stream that then ends incomplete is a failure).
    Malformed(String),
}

/// An event as the inspector read it: its verdict, and its JSON when it parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspected {
    /// What the event means.
    pub verdict: ChunkVerdict,
    /// The event's data as JSON (a chunk object), when it is one.
    pub value: Option<Value>,
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// `[DONE]` arrived, or a `finish_reason` did (then the host adds `[DONE]`).
    Complete {
        /// `[DONE]` itself arrived.
        saw_done: bool,
    },
    /// It stopped before any `finish_reason`: a cut. Never report it as success.
    Truncated,
}

/// Tracks one OpenAI-style chat-completion stream.
#[derive(Debug, Clone)]
pub struct StreamInspector {
    dialect: Dialect,
    saw_content: bool,
    saw_finish: bool,
    saw_done: bool,
}

impl StreamInspector {
    /// An inspector for a stream of `dialect`.
    pub fn new(dialect: Dialect) -> StreamInspector {
        StreamInspector {
            dialect,
            saw_content: false,
            saw_finish: false,
            saw_done: false,
        }
    }

    /// Some event carried content.
    pub fn saw_content(&self) -> bool {
        self.saw_content
    }

    /// Reads one event. `now` is for retry hints inside error events.
    pub fn inspect(&mut self, ev: &SseEvent, now: Timestamp) -> ChunkVerdict {
        self.read(ev, now).verdict
    }

    /// Reads one event, keeping its parsed JSON (each event is parsed once).
    pub fn read(&mut self, ev: &SseEvent, now: Timestamp) -> Inspected {
        let data = ev.data.trim();
        if data == "[DONE]" {
            self.saw_done = true;
            return Inspected {
                verdict: ChunkVerdict::Done,
                value: None,
            };
        }
        let is_error_event = ev.event.as_deref() == Some("error");
        let value: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(_) if is_error_event => {
                return Inspected {
                    verdict: ChunkVerdict::Error(self.error(data, now)),
                    value: None,
                }
            }
            Err(e) => {
                return Inspected {
                    verdict: ChunkVerdict::Malformed(format!(
                        "stream chunk is not valid JSON: {e}"
                    )),
                    value: None,
                }
            }
        };
        let verdict = self.judge(&value, is_error_event, data, now);
        Inspected {
            verdict,
            value: Some(value),
        }
    }

    /// Reads one event already parsed (a translated chunk): `data` is its text.
    pub fn read_value(&mut self, value: Value, data: &str, now: Timestamp) -> Inspected {
        let verdict = self.judge(&value, false, data, now);
        Inspected {
            verdict,
            value: Some(value),
        }
    }

    fn judge(
        &mut self,
        value: &Value,
        is_error_event: bool,
        data: &str,
        now: Timestamp,
    ) -> ChunkVerdict {
        let Some(obj) = value.as_object() else {
            return ChunkVerdict::Malformed("stream chunk is not a JSON object".into());
        };
        if is_error_event
            || obj.get("error").is_some_and(|e| !e.is_null())
            || obj.get("type").and_then(Value::as_str) == Some("error")
        {
            return ChunkVerdict::Error(self.error(data, now));
        }
        let Some(choices) = obj.get("choices") else {
            // Keep-alives and usage-only chunks without choices are harmless.
            return ChunkVerdict::Empty;
        };
        let Some(choices) = choices.as_array() else {
            return ChunkVerdict::Malformed("`choices` is not a list".into());
        };
        let mut content = false;
        for c in choices {
            if c.get("finish_reason").and_then(Value::as_str) == Some("error") {
                return ChunkVerdict::Error(self.error(data, now));
            }
            if c.get("finish_reason").is_some_and(|f| !f.is_null()) {
                self.saw_finish = true;
            }
            if let Some(delta) = c.get("delta").or_else(|| c.get("message")) {
                let text = |k: &str| {
                    delta
                        .get(k)
                        .and_then(Value::as_str)
                        .is_some_and(|s| !s.is_empty())
                };
                if text("content")
                    || text("refusal")
                    || text("reasoning")
                    || text("reasoning_content")
                {
                    content = true;
                }
                if delta
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
                    || delta.get("function_call").is_some_and(|f| !f.is_null())
                {
                    content = true;
                }
            }
        }
        if content {
            self.saw_content = true;
            ChunkVerdict::Content
        } else if self.saw_finish {
            // A finish without content (e.g. an empty answer) is still an answer.
            ChunkVerdict::Content
        } else {
            ChunkVerdict::Empty
        }
    }

    fn error(&self, data: &str, now: Timestamp) -> Classification {
        classify(
            self.dialect,
            &Outcome::StreamError {
                data: data.to_string(),
            },
            now,
        )
    }

    /// The upstream body ended.
    pub fn end(&self) -> StreamEnd {
        if self.saw_done || self.saw_finish {
            StreamEnd::Complete {
                saw_done: self.saw_done,
            }
        } else {
            StreamEnd::Truncated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::FailureKind;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn parses_events_across_chunk_boundaries_and_line_endings() {
        let mut p = SseParser::new();
        let mut evs = p.push(b"data: {\"a\":").unwrap();
        assert!(evs.is_empty());
        evs.extend(
            p.push(b"1}\r\n\r\n: keep-alive\n\nevent: error\ndata: x\ndata: y\r\r")
                .unwrap(),
        );
        assert_eq!(evs.len(), 2);
        assert_eq!(
            evs[0],
            SseEvent {
                event: None,
                data: "{\"a\":1}".into()
            }
        );
        assert_eq!(
            evs[1],
            SseEvent {
                event: Some("error".into()),
                data: "x\ny".into()
            }
        );
        let _ = p.push(b"data: [DONE]").unwrap();
        assert_eq!(
            p.finish(),
            Some(SseEvent {
                event: None,
                data: "[DONE]".into()
            })
        );
    }

    #[test]
    fn inspector_tells_content_errors_and_truncation() {
        let mut i = StreamInspector::new(Dialect::OpenAi);
        let ev = |d: &str| SseEvent {
            event: None,
            data: d.into(),
        };
        assert_eq!(
            i.inspect(&ev(r#"{"choices":[{"delta":{"role":"assistant"}}]}"#), 0),
            ChunkVerdict::Empty
        );
        assert_eq!(i.end(), StreamEnd::Truncated);
        assert_eq!(
            i.inspect(&ev(r#"{"choices":[{"delta":{"content":"Hi"}}]}"#), 0),
            ChunkVerdict::Content
        );
        assert!(matches!(
            i.inspect(&ev("{not json"), 0),
            ChunkVerdict::Malformed(_)
        ));
        assert_eq!(i.end(), StreamEnd::Truncated);
        i.inspect(
            &ev(r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#),
            0,
        );
        assert_eq!(i.end(), StreamEnd::Complete { saw_done: false });
        let mut a = StreamInspector::new(Dialect::Anthropic);
        let err = SseEvent {
            event: Some("error".into()),
            data: r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                .into(),
        };
        match a.inspect(&err, 0) {
            ChunkVerdict::Error(c) => assert_eq!(c.kind, FailureKind::Overloaded),
            v => panic!("{v:?}"),
        }
    }
}
