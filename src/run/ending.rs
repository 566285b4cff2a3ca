//! How a failed run ends for the client: the status, whether the provider's own
//! error is passed on, the `Retry-After`, and the message. One rule, used by every
//! way a run can fail.

use super::plan::{AttemptId, EndCause, RunFailure};
use super::trace::AttemptRecord;
use crate::failure::{Classification, FailureKind};
use crate::redact::redact;

/// What the run knows when it fails.
pub(super) struct Context<'a> {
    /// The request pinned one provider.
    pub pinned: bool,
    /// The chain's name (for a pinned route, `provider/model`).
    pub chain: &'a str,
    /// The pinned provider's name.
    pub provider: &'a str,
    /// Every attempt so far.
    pub attempts: &'a [AttemptRecord],
    /// The last failure and its attempt.
    pub last: Option<&'a (AttemptId, Classification)>,
    /// The client's stream has started.
    pub committed: bool,
    /// Why each target that cannot serve this request cannot; `all_unsupported`:
    /// that is every target.
    pub unsupported: Vec<&'a str>,
    /// No target of the chain can serve this request.
    pub all_unsupported: bool,
}

/// Why nothing more is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Why {
    /// The last failure's policy forbids fallback (a request error, or a rule
    /// without fallback): its error goes back to the client.
    NoFallback,
    /// Every candidate failed or is out.
    NothingLeft,
    /// The remaining candidates are cooling down until `until` (beyond the wait
    /// budget); `ms` is the time left.
    CoolingDown { ms: u64 },
    /// `max_attempts` attempts were made.
    AttemptBudget,
    /// The deadline passed.
    Deadline { deadline_ms: u64 },
}

/// The client's status and whether the failure's upstream error is passed on as
/// it came. `pass_on`: the provider's own error is the answer (a pinned request,
/// or a failure whose policy forbids fallback).
fn client_status(c: &Classification, pass_on: bool, cooling: bool) -> (u16, bool) {
    let http_error = c.status.filter(|s| (400..600).contains(s));
    let request_error = c.kind.is_request_error();
    if pass_on {
        // Only an HTTP error can be passed on as it came; a request error without
        // one (an in-stream event, an error object in a 200) is still the
        // client's to fix: 400, not 502.
        let fallback = if request_error { 400 } else { 502 };
        return (http_error.unwrap_or(fallback), http_error.is_some());
    }
    if request_error {
        // A request error no other target could take (a context overflow with no
        // larger window): the provider's own 4xx is the clearest answer (clients
        // detect `context_length_exceeded`), never a 2xx.
        let client = c.status.filter(|s| (400..500).contains(s));
        return (client.unwrap_or(400), client.is_some());
    }
    if matches!(
        c.kind,
        FailureKind::RateLimited | FailureKind::QuotaExhausted
    ) {
        // Every way out is limited: tell the client to slow down, as the
        // providers did (OpenAI SDKs back off on 429).
        return (429, false);
    }
    (if cooling { 503 } else { 502 }, false)
}

/// `provider/model: kind; …` for every attempt.
fn summary(attempts: &[AttemptRecord]) -> String {
    if attempts.is_empty() {
        return "no attempt was made".to_string();
    }
    let parts: Vec<String> = attempts
        .iter()
        .map(|a| {
            let what = a.outcome().unwrap_or("no answer");
            format!("{}/{}: {what}", a.provider, a.model)
        })
        .collect();
    format!("attempts: {}", parts.join("; "))
}

/// The run's failure, by the one rule.
pub(super) fn failure(cx: &Context<'_>, why: Why) -> RunFailure {
    let cooling_ms = match why {
        Why::CoolingDown { ms } => Some(ms),
        _ => None,
    };
    if cx.committed {
        return after_commit(cx, why);
    }
    if let Why::Deadline { deadline_ms } = why {
        return RunFailure {
            kind: FailureKind::Timeout,
            cause: EndCause::Deadline,
            message: format!(
                "request deadline of {deadline_ms} ms reached after {} attempt(s) on chain `{}`",
                cx.attempts.len(),
                cx.chain
            ),
            http_status: 504,
            propagate: None,
            after_commit: false,
            retry_after_ms: None,
        };
    }
    if cx.all_unsupported && cx.attempts.is_empty() {
        return RunFailure {
            kind: FailureKind::InvalidRequest,
            cause: EndCause::Upstream,
            message: format!(
                "no target of `{}` can serve this request: {}",
                cx.chain,
                cx.unsupported.join("; ")
            ),
            http_status: 400,
            propagate: None,
            after_commit: false,
            retry_after_ms: None,
        };
    }
    let what = if cx.pinned {
        format!("pinned provider `{}` failed", cx.provider)
    } else {
        format!("all targets of `{}` failed", cx.chain)
    };
    let reason = match why {
        Why::NoFallback => "the failure's policy does not allow fallback".to_string(),
        Why::NothingLeft => "no target left to try".to_string(),
        Why::CoolingDown { .. } => "every remaining target is cooling down".to_string(),
        Why::AttemptBudget => format!(
            "gave up after {} attempts (max_attempts)",
            cx.attempts.len()
        ),
        // Handled above.
        Why::Deadline { .. } => String::new(),
    };
    let cause = match why {
        Why::AttemptBudget => EndCause::AttemptBudget,
        _ => EndCause::Upstream,
    };
    match cx.last {
        Some((id, c)) if why == Why::NoFallback => {
            let rec = cx.attempts.get(id.0 as usize);
            let (provider, model) =
                rec.map_or(("?", "?"), |r| (r.provider.as_str(), r.model.as_str()));
            let (http_status, propagate) = client_status(c, true, false);
            RunFailure {
                kind: c.kind,
                cause,
                message: format!("{provider}/{model} failed: {}", c.reason),
                http_status,
                propagate: propagate.then_some(*id),
                after_commit: false,
                retry_after_ms: c.retry_after_ms,
            }
        }
        Some((id, c)) => {
            let (http_status, propagate) = client_status(c, cx.pinned, cooling_ms.is_some());
            let retry_after_ms = if cx.pinned {
                c.retry_after_ms
            } else {
                cooling_ms.or(c.retry_after_ms)
            };
            RunFailure {
                kind: c.kind,
                cause,
                message: redact(
                    &format!(
                        "{what} ({reason}); {}; last error: {}",
                        summary(cx.attempts),
                        c.reason
                    ),
                    &[],
                ),
                http_status,
                propagate: propagate.then_some(*id),
                after_commit: false,
                retry_after_ms,
            }
        }
        None => RunFailure {
            // Nothing was sent: every candidate is cooling down (or none exists).
            kind: FailureKind::Unknown,
            cause: if cooling_ms.is_some() {
                EndCause::CoolingDown
            } else {
                cause
            },
            message: format!("{what} ({reason}); {}", summary(cx.attempts)),
            http_status: 503,
            propagate: None,
            after_commit: false,
            retry_after_ms: cooling_ms,
        },
    }
}

/// The client's stream started and no target could finish it: the stream ends
/// with an error event naming the failure (never `[DONE]`).
fn after_commit(cx: &Context<'_>, why: Why) -> RunFailure {
    let (kind, detail) = match (why, cx.last) {
        (Why::Deadline { deadline_ms }, _) => (
            FailureKind::Timeout,
            format!("the request deadline of {deadline_ms} ms was reached while streaming"),
        ),
        (_, Some((_, c))) => (c.kind, c.reason.clone()),
        (_, None) => (FailureKind::Unknown, "no answer".to_string()),
    };
    // The attempt that broke the stream is the first committed one that failed.
    let broken = cx
        .attempts
        .iter()
        .find(|a| a.committed && a.kind.is_some())
        .or_else(|| cx.attempts.iter().rev().find(|a| a.committed));
    let origin = broken.map_or_else(String::new, |a| format!(" from {}/{}", a.provider, a.model));
    let continued = cx.attempts.iter().any(|a| a.continuation.is_some());
    let tail = if continued {
        format!("; no target could finish it ({})", summary(cx.attempts))
    } else {
        String::new()
    };
    RunFailure {
        kind,
        cause: match why {
            Why::Deadline { .. } => EndCause::Deadline,
            Why::AttemptBudget => EndCause::AttemptBudget,
            _ => EndCause::Upstream,
        },
        message: format!(
            "the upstream stream{origin} failed after the answer started: {detail}{tail}"
        ),
        http_status: 502,
        propagate: None,
        after_commit: true,
        retry_after_ms: None,
    }
}
