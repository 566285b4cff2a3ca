//! The core's values as WIT values and back: `types` and `fallback`'s records
//! (the trace's are in [`super::trace`]). Conversions only; a case the core adds
//! later crosses as `other(name)`.

#![allow(unreachable_patterns)] // See the module above: the `other(name)` arms.

use super::bindings::exports::llm_failover::core::fallback as wf;
use super::{by_name, case_name, unsupported, wit};
use crate::classify::{Classification, FailureKind, Outcome, Scope, TransportFailure};
use crate::cooldown::{Entry, FirstTokenSamples, ScopeKey, ScopeState, Snapshot};
use crate::provider::Dialect;
use crate::run::{
    Action, AttemptOutcome, AttemptPlan, Continuation, EndCause, RunFailure, RunOptions, RunResult,
};

/// Every item of `xs`, converted.
pub(super) fn list<T: Clone, U>(xs: &[T], f: impl Fn(T) -> U) -> Vec<U> {
    xs.iter().cloned().map(f).collect()
}

// ---------------------------------------------------------------------------
// types: core -> WIT.

pub(super) fn dialect_to_wit(d: Dialect) -> wit::Dialect {
    use wit::Dialect as W;
    match d {
        Dialect::OpenAi => W::Openai,
        Dialect::Azure => W::Azure,
        Dialect::Anthropic => W::Anthropic,
        Dialect::Gemini => W::Gemini,
        Dialect::OpenRouter => W::Openrouter,
        Dialect::Groq => W::Groq,
        Dialect::DeepSeek => W::Deepseek,
        Dialect::Together => W::Together,
        Dialect::Mistral => W::Mistral,
        Dialect::Vllm => W::Vllm,
        Dialect::Ollama => W::Ollama,
        Dialect::OpenAiCompatible => W::OpenaiCompatible,
        d => W::Other(d.as_str().to_string()),
    }
}

pub(super) fn kind_to_wit(k: FailureKind) -> wit::FailureKind {
    use wit::FailureKind as W;
    match k {
        FailureKind::Auth => W::Auth,
        FailureKind::QuotaExhausted => W::QuotaExhausted,
        FailureKind::RateLimited => W::RateLimited,
        FailureKind::Overloaded => W::Overloaded,
        FailureKind::ServerError => W::ServerError,
        FailureKind::Timeout => W::Timeout,
        FailureKind::Connection => W::Connection,
        FailureKind::ContextLength => W::ContextLength,
        FailureKind::ContentFiltered => W::ContentFiltered,
        FailureKind::ModelNotFound => W::ModelNotFound,
        FailureKind::InvalidRequest => W::InvalidRequest,
        FailureKind::RequestTooLarge => W::RequestTooLarge,
        FailureKind::InvalidResponse => W::InvalidResponse,
        FailureKind::Unknown => W::Unknown,
        k => W::Other(k.as_str().to_string()),
    }
}

pub(super) fn scope_to_wit(s: Scope) -> wit::Scope {
    use wit::Scope as W;
    match s {
        Scope::Key => W::Key,
        Scope::KeyModel => W::KeyModel,
        Scope::Model => W::Model,
        Scope::Endpoint => W::Endpoint,
        Scope::Request => W::Request,
        s => W::Other(s.as_str().to_string()),
    }
}

pub(super) fn classification_to_wit(c: Classification) -> wit::Classification {
    wit::Classification {
        kind: kind_to_wit(c.kind),
        retry_after_ms: c.retry_after_ms,
        scope: scope_to_wit(c.scope),
        reason: c.reason,
        status: c.status,
    }
}

pub(super) fn entry_to_wit(scope: ScopeKey, e: Entry) -> wit::CooldownEntry {
    wit::CooldownEntry {
        scope: scope.0,
        until: e.until,
        since: e.since,
        streak: e.streak,
        kind: e.kind.map(kind_to_wit),
        reason: e.reason,
    }
}

/// The `(at, ms)` pairs of a sample set: `FirstTokenSamples` keeps them private,
/// and its serde form is exactly that list.
fn sample_pairs(s: &FirstTokenSamples) -> Vec<(u64, u32)> {
    serde_json::to_value(s)
        .and_then(serde_json::from_value)
        .unwrap_or_default()
}

pub(super) fn snapshot_to_wit(s: Snapshot) -> wit::Snapshot {
    wit::Snapshot {
        entries: s
            .entries
            .into_iter()
            .map(|(k, e)| entry_to_wit(k, e))
            .collect(),
        first_token: s
            .first_token
            .into_iter()
            .map(|(scope, samples)| wit::FirstTokenSamples {
                scope: scope.0,
                samples: sample_pairs(&samples)
                    .into_iter()
                    .map(|(at, ms)| wit::FirstTokenSample { at, ms })
                    .collect(),
            })
            .collect(),
    }
}

pub(super) fn scope_state_to_wit(s: ScopeState) -> wit::ScopeState {
    match s {
        ScopeState::Closed => wit::ScopeState::Closed,
        ScopeState::Open { until } => wit::ScopeState::Open(until),
        ScopeState::HalfOpen { probe_until } => wit::ScopeState::HalfOpen(probe_until),
    }
}

// ---------------------------------------------------------------------------
// fallback: core -> WIT.

pub(super) fn continuation_to_wit(c: Continuation) -> wf::Continuation {
    match c {
        Continuation::Prefill => wf::Continuation::Prefill,
        Continuation::Fresh => wf::Continuation::Fresh,
        c => wf::Continuation::Other(case_name(&c)),
    }
}

pub(super) fn plan_to_wit(p: AttemptPlan) -> wf::AttemptPlan {
    wf::AttemptPlan {
        attempt: p.attempt.0,
        // A chain has at most a few targets; saturate rather than wrap.
        target: u32::try_from(p.target).unwrap_or(u32::MAX),
        provider: p.provider,
        dialect: dialect_to_wit(p.dialect),
        base_url: p.base_url,
        model: p.model,
        key: p.key,
        api_version: p.api_version,
        stream: p.stream,
        header_timeout_ms: p.header_timeout_ms,
        first_token_timeout_ms: p.first_token_timeout_ms,
        idle_timeout_ms: p.idle_timeout_ms,
        deadline: p.deadline,
        probe: p.probe,
        continuation: p.continuation.map(continuation_to_wit),
    }
}

fn cause_to_wit(c: EndCause) -> wf::EndCause {
    use wf::EndCause as W;
    match c {
        EndCause::Upstream => W::Upstream,
        EndCause::CoolingDown => W::CoolingDown,
        EndCause::Deadline => W::Deadline,
        EndCause::AttemptBudget => W::AttemptBudget,
        EndCause::Cancelled => W::Cancelled,
        c => W::Other(case_name(&c)),
    }
}

pub(super) fn failure_to_wit(f: RunFailure) -> wf::RunFailure {
    wf::RunFailure {
        code: f.code().to_string(),
        kind: kind_to_wit(f.kind),
        cause: cause_to_wit(f.cause),
        message: f.message,
        http_status: f.http_status,
        propagate: f.propagate.map(|a| a.0),
        after_commit: f.after_commit,
        retry_after_ms: f.retry_after_ms,
    }
}

pub(super) fn result_to_wit(r: RunResult) -> wf::RunResult {
    match r {
        RunResult::Success {
            attempt,
            provider,
            model,
        } => wf::RunResult::Success(wf::RunSuccess {
            attempt: attempt.0,
            provider,
            model,
        }),
        RunResult::Failed(f) => wf::RunResult::Failed(failure_to_wit(f)),
        r => wf::RunResult::Other(case_name(&r)),
    }
}

pub(super) fn action_to_wit(a: Action) -> wf::Action {
    match a {
        Action::Send(plan) => wf::Action::Send(plan_to_wit(plan)),
        Action::Wait { until } => wf::Action::Wait(until),
        Action::Finished(r) => wf::Action::Finished(result_to_wit(r)),
        a => wf::Action::Other(case_name(&a)),
    }
}

// ---------------------------------------------------------------------------
// WIT -> core.

pub(super) fn dialect_from_wit(d: wit::Dialect) -> Result<Dialect, wit::Error> {
    use wit::Dialect as W;
    Ok(match d {
        W::Openai => Dialect::OpenAi,
        W::Azure => Dialect::Azure,
        W::Anthropic => Dialect::Anthropic,
        W::Gemini => Dialect::Gemini,
        W::Openrouter => Dialect::OpenRouter,
        W::Groq => Dialect::Groq,
        W::Deepseek => Dialect::DeepSeek,
        W::Together => Dialect::Together,
        W::Mistral => Dialect::Mistral,
        W::Vllm => Dialect::Vllm,
        W::Ollama => Dialect::Ollama,
        W::OpenaiCompatible => Dialect::OpenAiCompatible,
        W::Other(name) => Dialect::from_name(&name)
            .ok_or_else(|| unsupported(format!("unknown dialect `{name}`")))?,
    })
}

fn kind_from_wit(k: wit::FailureKind) -> Result<FailureKind, wit::Error> {
    use wit::FailureKind as W;
    Ok(match k {
        W::Auth => FailureKind::Auth,
        W::QuotaExhausted => FailureKind::QuotaExhausted,
        W::RateLimited => FailureKind::RateLimited,
        W::Overloaded => FailureKind::Overloaded,
        W::ServerError => FailureKind::ServerError,
        W::Timeout => FailureKind::Timeout,
        W::Connection => FailureKind::Connection,
        W::ContextLength => FailureKind::ContextLength,
        W::ContentFiltered => FailureKind::ContentFiltered,
        W::ModelNotFound => FailureKind::ModelNotFound,
        W::InvalidRequest => FailureKind::InvalidRequest,
        W::RequestTooLarge => FailureKind::RequestTooLarge,
        W::InvalidResponse => FailureKind::InvalidResponse,
        W::Unknown => FailureKind::Unknown,
        W::Other(name) => by_name("failure kind", &name)?,
    })
}

fn scope_from_wit(s: wit::Scope) -> Result<Scope, wit::Error> {
    use wit::Scope as W;
    Ok(match s {
        W::Key => Scope::Key,
        W::KeyModel => Scope::KeyModel,
        W::Model => Scope::Model,
        W::Endpoint => Scope::Endpoint,
        W::Request => Scope::Request,
        W::Other(name) => by_name("scope", &name)?,
    })
}

pub(super) fn transport_from_wit(t: wit::TransportFailure) -> Result<TransportFailure, wit::Error> {
    use wit::TransportFailure as W;
    Ok(match t {
        W::ConnectionRefused => TransportFailure::ConnectionRefused,
        W::Dns => TransportFailure::Dns,
        W::ResetBeforeHeaders => TransportFailure::ResetBeforeHeaders,
        W::Tls => TransportFailure::Tls,
        W::HeaderTimeout => TransportFailure::HeaderTimeout,
        W::FirstTokenTimeout => TransportFailure::FirstTokenTimeout,
        W::StreamIdleTimeout => TransportFailure::StreamIdleTimeout,
        W::StreamEndedEarly => TransportFailure::StreamEndedEarly,
        W::Other(name) => by_name("transport failure", &name)?,
    })
}

pub(super) fn outcome_from_wit(o: wit::Outcome) -> Result<Outcome, wit::Error> {
    Ok(match o {
        wit::Outcome::Http(r) => Outcome::Http {
            status: r.status,
            headers: r.headers,
            body: r.body,
        },
        wit::Outcome::Transport(t) => Outcome::Transport(transport_from_wit(t)?),
        wit::Outcome::StreamError(data) => Outcome::StreamError { data },
        wit::Outcome::InvalidSuccess(body) => Outcome::InvalidSuccess { body },
        wit::Outcome::Other(name) => return Err(unsupported(format!("unknown outcome `{name}`"))),
    })
}

fn classification_from_wit(c: wit::Classification) -> Result<Classification, wit::Error> {
    Ok(Classification {
        kind: kind_from_wit(c.kind)?,
        retry_after_ms: c.retry_after_ms,
        scope: scope_from_wit(c.scope)?,
        reason: c.reason,
        status: c.status,
    })
}

pub(super) fn attempt_outcome_from_wit(
    o: wf::AttemptOutcome,
) -> Result<AttemptOutcome, wit::Error> {
    use wf::AttemptOutcome as W;
    Ok(match o {
        W::Success => AttemptOutcome::Success,
        W::Committed => AttemptOutcome::Committed,
        W::Failure(o) => AttemptOutcome::Failure(outcome_from_wit(o)?),
        W::Classified(c) => AttemptOutcome::Classified(classification_from_wit(c)?),
        W::Diverged => AttemptOutcome::Diverged,
        W::Other(name) => return Err(unsupported(format!("unknown attempt outcome `{name}`"))),
    })
}

pub(super) fn snapshot_from_wit(s: wit::Snapshot) -> Result<Snapshot, wit::Error> {
    let mut entries = Vec::with_capacity(s.entries.len());
    for e in s.entries {
        let entry = Entry {
            until: e.until,
            since: e.since,
            streak: e.streak,
            kind: e.kind.map(kind_from_wit).transpose()?,
            reason: e.reason,
        };
        entries.push((ScopeKey(e.scope), entry));
    }
    // A scope listed twice keeps the greater entry, as a merge would.
    let mut out = Snapshot::from_entries(entries);
    for set in s.first_token {
        let samples = out.first_token.entry(ScopeKey(set.scope)).or_default();
        for sample in set.samples {
            samples.record(sample.at, u64::from(sample.ms));
        }
    }
    Ok(out)
}

pub(super) fn options_from_wit(o: wf::RunOptions) -> RunOptions {
    RunOptions {
        now: o.now,
        seed: o.seed,
        run_id: o.run_id,
        stream: o.stream,
    }
}
