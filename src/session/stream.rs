//! The client's stream: commit, forwarding, continuation splicing, usage and the
//! parts each target produced.

use super::chunk::{self, Usage};
use super::splice::{Diverged, Splicer};
use super::{ClientEvent, Output, Session};
use crate::cooldown::CooldownTable;
use crate::run::{AttemptId, AttemptOutcome, AttemptPlan, Continuation};
use crate::sse::SseEvent;
use crate::time::Timestamp;
use serde_json::{json, Value};

/// What one attempt put into the client's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Part {
    pub(super) attempt: AttemptId,
    pub(super) target: String,
    pub(super) chars: usize,
    /// Content deltas forwarded (an estimate of its completion tokens).
    pub(super) deltas: u64,
    pub(super) usage: Option<Usage>,
    pub(super) continuation: Option<Continuation>,
}

/// The client's stream, once it started.
#[derive(Debug, Clone, Default)]
pub(super) struct Stream {
    pub(super) started: bool,
    /// Events of the current attempt held back until its first content.
    pub(super) held: Vec<String>,
    /// The same, for native events (an API passed through).
    pub(super) held_native: Vec<SseEvent>,
    /// The answer's text so far (first choice).
    pub(super) text: String,
    pub(super) parts: Vec<Part>,
    /// The current continuation's splice.
    pub(super) splice: Option<Splicer>,
    /// The first chunk's id: continuations' chunks carry it too.
    pub(super) id: Option<String>,
    /// The final chunk was forwarded (the answer is complete once the stream ends).
    pub(super) finished: bool,
}

impl Session {
    /// An event of an upstream whose API is the client's (a Responses stream):
    /// held until the attempt's first content, then passed on as it came.
    pub(super) fn native_event(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        plan: &AttemptPlan,
        event: SseEvent,
        content: bool,
    ) {
        if content {
            self.note_first_token(now, table);
        }
        if !self.stream.started {
            if !content {
                self.stream.held_native.push(event);
                return;
            }
            self.report(now, table, plan.attempt, AttemptOutcome::Committed);
            self.stream.started = true;
            self.out
                .push_back(Output::StreamStart(self.stream_head(plan)));
            for held in std::mem::take(&mut self.stream.held_native) {
                self.out
                    .push_back(Output::StreamEvent(ClientEvent::Native(held)));
            }
        }
        self.part(plan);
        self.out
            .push_back(Output::StreamEvent(ClientEvent::Native(event)));
    }

    /// Records the attempt's time to first token (for its adaptive bound).
    pub(super) fn note_first_token(&mut self, now: Timestamp, table: &mut CooldownTable) {
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

    pub(super) fn part(&mut self, plan: &AttemptPlan) -> &mut Part {
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
    pub(super) fn chunk(
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
    pub(super) fn continuation_chunk(
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
    pub(super) fn forward_text(
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
    pub(super) fn flush_splice(
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
    pub(super) fn summed_usage(&self) -> (Usage, bool) {
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
    pub(super) fn annotate(&self, v: &mut Value, usage_estimated: bool) {
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

    pub(super) fn parts_list(&self) -> Vec<Value> {
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

    pub(super) fn diverged(
        &mut self,
        now: Timestamp,
        table: &mut CooldownTable,
        plan: &AttemptPlan,
    ) {
        self.exchange = None;
        self.stream.splice = None;
        self.out.push_back(Output::Abort(plan.attempt));
        self.report(now, table, plan.attempt, AttemptOutcome::Diverged);
    }
}
