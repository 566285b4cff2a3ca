//! The decision trace and the attempt records as WIT values.

#![allow(unreachable_patterns)] // See the module above: the `other(name)` arms.

use super::bindings::exports::llm_failover::core::fallback as wf;
use super::case_name;
use super::convert::{continuation_to_wit, kind_to_wit, scope_to_wit};
use crate::cooldown::ScopeKey;
use crate::run::{AttemptRecord, Ending, RetryReason, SkipReason, TraceEvent, WaitReason};

fn skip_reason_to_wit(r: SkipReason) -> wf::SkipReason {
    use wf::SkipReason as W;
    let at = |scope: ScopeKey, until| wf::ScopeUntil {
        scope: scope.0,
        until,
    };
    match r {
        SkipReason::AlreadyFailed => W::AlreadyFailed,
        SkipReason::NoFallback => W::NoFallback,
        SkipReason::ContextWindow => W::ContextWindow,
        SkipReason::CannotContinue => W::CannotContinue,
        SkipReason::CoolingDown { scope, until } => W::CoolingDown(at(scope, until)),
        SkipReason::ProbeInFlight { scope, until } => W::ProbeInFlight(at(scope, until)),
        SkipReason::RetryCancelled { scope, until } => W::RetryCancelled(at(scope, until)),
        r => W::Other(case_name(&r)),
    }
}

fn retry_reason_to_wit(r: RetryReason) -> wf::RetryReason {
    match r {
        RetryReason::ProviderHint => wf::RetryReason::ProviderHint,
        RetryReason::Backoff => wf::RetryReason::Backoff,
        r => wf::RetryReason::Other(case_name(&r)),
    }
}

fn wait_reason_to_wit(r: WaitReason) -> wf::WaitReason {
    match r {
        WaitReason::AllCoolingDown => wf::WaitReason::AllCoolingDown,
        r => wf::WaitReason::Other(case_name(&r)),
    }
}

fn ending_to_wit(e: Ending) -> wf::Ending {
    match e {
        Ending::Success => wf::Ending::Success,
        Ending::Failed => wf::Ending::Failed,
        Ending::Cancelled => wf::Ending::Cancelled,
        e => wf::Ending::Other(case_name(&e)),
    }
}

pub(super) fn event_to_wit(e: TraceEvent) -> wf::TraceEvent {
    use wf::TraceEvent as W;
    match e {
        TraceEvent::Skip {
            at,
            provider,
            model,
            key,
            why,
        } => W::Skip(wf::SkipEvent {
            at,
            provider,
            model,
            key,
            why: skip_reason_to_wit(why),
        }),
        TraceEvent::Send {
            at,
            attempt,
            provider,
            model,
            key,
            probe,
            continuation,
        } => W::Send(wf::SendEvent {
            at,
            attempt: attempt.0,
            provider,
            model,
            key,
            probe,
            continuation: continuation.map(continuation_to_wit),
        }),
        TraceEvent::Committed { at, attempt } => W::Committed(wf::AttemptEvent {
            at,
            attempt: attempt.0,
        }),
        TraceEvent::Dropped {
            at,
            attempt,
            count,
            why,
        } => W::Dropped(wf::DroppedEvent {
            at,
            attempt: attempt.0,
            count,
            why,
        }),
        TraceEvent::Spliced {
            at,
            attempt,
            overlap_chars,
        } => W::Spliced(wf::SplicedEvent {
            at,
            attempt: attempt.0,
            overlap_chars,
        }),
        TraceEvent::Diverged { at, attempt } => W::Diverged(wf::AttemptEvent {
            at,
            attempt: attempt.0,
        }),
        TraceEvent::Failure {
            at,
            attempt,
            kind,
            scope,
            status,
            retry_after_ms,
            reason,
        } => W::Failure(wf::FailureEvent {
            at,
            attempt: attempt.0,
            kind: kind_to_wit(kind),
            scope: scope_to_wit(scope),
            status,
            retry_after_ms,
            reason,
        }),
        TraceEvent::Retry {
            at,
            attempt,
            until,
            why,
        } => W::Retry(wf::RetryEvent {
            at,
            attempt: attempt.0,
            until,
            why: retry_reason_to_wit(why),
        }),
        TraceEvent::CooledDown {
            at,
            scope,
            until,
            kind,
        } => W::CooledDown(wf::CooledDownEvent {
            at,
            scope,
            until,
            kind: kind_to_wit(kind),
        }),
        TraceEvent::Wait { at, until, why } => W::Wait(wf::WaitEvent {
            at,
            until,
            why: wait_reason_to_wit(why),
        }),
        TraceEvent::Success {
            at,
            attempt,
            provider,
            model,
        } => W::Success(wf::SuccessEvent {
            at,
            attempt: attempt.0,
            provider,
            model,
        }),
        TraceEvent::HostError { at, message } => W::HostError(wf::HostErrorEvent { at, message }),
        TraceEvent::Finished {
            at,
            result,
            kind,
            message,
        } => W::Finished(wf::FinishedEvent {
            at,
            result: ending_to_wit(result),
            kind: kind.map(kind_to_wit),
            message,
        }),
        e => W::Other(case_name(&e)),
    }
}

pub(super) fn record_to_wit(r: AttemptRecord) -> wf::AttemptRecord {
    wf::AttemptRecord {
        attempt: r.attempt.0,
        provider: r.provider,
        model: r.model,
        key: r.key,
        started_at: r.started_at,
        ended_at: r.ended_at,
        kind: r.kind.map(kind_to_wit),
        status: r.status,
        continuation: r.continuation.map(continuation_to_wit),
        committed: r.committed,
    }
}
