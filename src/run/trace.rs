//! The decision trace and the attempt records: what a run did and why, as data.
//!
//! Every reason is a typed value (`SkipReason`, `RetryReason`, …) that serialises
//! to `{"reason": "<snake_case>", …fields}`; their `Display` is the sentence a log
//! line shows. Hosts render the values; nothing parses the sentences.

use super::plan::{AttemptId, Continuation};
use crate::cooldown::ScopeKey;
use crate::failure::{FailureKind, Scope};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a (target, key) was not tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// It already failed in this request.
    AlreadyFailed,
    /// The last failure's policy does not allow fallback to another target.
    NoFallback,
    /// After a context overflow: its context window is not declared larger.
    ContextWindow,
    /// It cannot take over a broken stream (`continuation: "off"`).
    CannotContinue,
    /// Its API cannot serve this request (a Responses request to an Anthropic
    /// target, a parameter its API lacks, a stored response on another provider).
    Unsupported {
        /// Why.
        message: String,
    },
    /// One of its scopes is open (cooling down).
    CoolingDown {
        /// The scope.
        scope: ScopeKey,
        /// Until then.
        until: Timestamp,
    },
    /// One of its scopes is half-open and another request's probe is out.
    ProbeInFlight {
        /// The scope.
        scope: ScopeKey,
        /// The probe's lease ends then.
        until: Timestamp,
    },
    /// A retry this run planned was cancelled: the scope is cooling down (another
    /// replica opened it meanwhile).
    RetryCancelled {
        /// The scope.
        scope: ScopeKey,
        /// Until then.
        until: Timestamp,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::AlreadyFailed => f.write_str("already failed in this request"),
            SkipReason::NoFallback => {
                f.write_str("the last failure's policy does not allow fallback")
            }
            SkipReason::ContextWindow => f.write_str(
                "its context window is not declared larger than the one that overflowed",
            ),
            SkipReason::CannotContinue => {
                f.write_str("it cannot finish an answer another target started")
            }
            SkipReason::Unsupported { message } => f.write_str(message),
            SkipReason::CoolingDown { scope, until } => {
                write!(f, "{} cooling down until {until}", scope.as_str())
            }
            SkipReason::ProbeInFlight { scope, until } => {
                write!(
                    f,
                    "{} is being probed by another request until {until}",
                    scope.as_str()
                )
            }
            SkipReason::RetryCancelled { scope, until } => write!(
                f,
                "retry cancelled: {} is cooling down until {until}",
                scope.as_str()
            ),
        }
    }
}

/// Why a same-target retry waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetryReason {
    /// The provider said how long to wait (`Retry-After` and friends).
    ProviderHint,
    /// The policy's backoff.
    Backoff,
}

impl fmt::Display for RetryReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RetryReason::ProviderHint => "honouring the provider's retry hint",
            RetryReason::Backoff => "backoff before a retry",
        })
    }
}

/// Why the run waits without an attempt in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WaitReason {
    /// Every remaining candidate is cooling down; the earliest ends within the
    /// budget's `max_retry_wait_ms`.
    AllCoolingDown,
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("every remaining target is cooling down")
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Ending {
    /// An answer.
    Success,
    /// No answer.
    Failed,
    /// The client cancelled.
    Cancelled,
}

/// One line of the decision trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
#[allow(missing_docs)] // The fields are named for what they hold; `at` is when.
pub enum TraceEvent {
    /// A candidate was passed over.
    Skip {
        at: Timestamp,
        provider: String,
        model: String,
        key: Option<String>,
        why: SkipReason,
    },
    /// An attempt was sent.
    Send {
        at: Timestamp,
        attempt: AttemptId,
        provider: String,
        model: String,
        key: Option<String>,
        probe: bool,
        #[serde(default)]
        continuation: Option<Continuation>,
    },
    /// The attempt's first content went to the client.
    Committed { at: Timestamp, attempt: AttemptId },
    /// An upstream event that was not valid JSON was dropped (never forwarded).
    Dropped {
        at: Timestamp,
        attempt: AttemptId,
        /// How many this attempt has dropped so far.
        count: u32,
        why: String,
    },
    /// A continuation's text joined the client's stream; `overlap_chars` of it
    /// repeated what the client had and were removed.
    Spliced {
        at: Timestamp,
        attempt: AttemptId,
        overlap_chars: u32,
    },
    /// A fresh continuation's answer did not begin with what the client had.
    Diverged { at: Timestamp, attempt: AttemptId },
    /// The attempt failed.
    Failure {
        at: Timestamp,
        attempt: AttemptId,
        kind: FailureKind,
        scope: Scope,
        status: Option<u16>,
        retry_after_ms: Option<u64>,
        reason: String,
    },
    /// The same target will be retried at `until`.
    Retry {
        at: Timestamp,
        attempt: AttemptId,
        until: Timestamp,
        why: RetryReason,
    },
    /// A scope cools down until `until`.
    CooledDown {
        at: Timestamp,
        scope: String,
        until: Timestamp,
        kind: FailureKind,
    },
    /// The run waits.
    Wait {
        at: Timestamp,
        until: Timestamp,
        why: WaitReason,
    },
    /// The attempt answered.
    Success {
        at: Timestamp,
        attempt: AttemptId,
        provider: String,
        model: String,
    },
    /// The host misused the run's API (a host bug, reported instead of dropped).
    HostError { at: Timestamp, message: String },
    /// The run ended.
    Finished {
        at: Timestamp,
        result: Ending,
        kind: Option<FailureKind>,
        message: String,
    },
}

/// A summary of one attempt (the `x-llm-failover-attempts` header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Which attempt.
    pub attempt: AttemptId,
    /// Its provider.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// The key's name.
    pub key: Option<String>,
    /// When it was sent.
    pub started_at: Timestamp,
    /// When it ended (`None` while in flight).
    pub ended_at: Option<Timestamp>,
    /// The failure kind; `None` while in flight or after success.
    pub kind: Option<FailureKind>,
    /// The upstream status of a failure.
    pub status: Option<u16>,
    /// It finished an answer another attempt started.
    #[serde(default)]
    pub continuation: Option<Continuation>,
    /// Its content reached the client.
    #[serde(default)]
    pub committed: bool,
}

impl AttemptRecord {
    /// Its outcome in one word: the failure kind, `ok`, or `None` while in flight.
    pub fn outcome(&self) -> Option<&'static str> {
        match (self.kind, self.ended_at) {
            (Some(k), _) => Some(k.as_str()),
            (None, Some(_)) => Some("ok"),
            (None, None) => None,
        }
    }
}
