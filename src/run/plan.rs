//! What crosses the run's API: its options, the actions it asks for, the outcomes
//! it is told, and how it ends.

use crate::failure::{Classification, FailureKind, Outcome};
use crate::provider::Dialect;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Names one attempt of a run (0, 1, 2, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AttemptId(pub u32);

/// How a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// When the client request arrived.
    pub now: Timestamp,
    /// Seeds the jitter. Hosts pass fresh randomness; tests pass a constant.
    pub seed: u64,
    /// Distinguishes this run's probes in a shared table (unique per host).
    pub run_id: u64,
    /// The client asked for a stream.
    pub stream: bool,
}

/// How a continuation attempt asks its target to finish an answer that another
/// attempt started (see [`crate::session`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Continuation {
    /// The conversation plus the text already sent as a trailing assistant message.
    Prefill,
    /// The conversation as the client sent it; the answer must begin with the text
    /// already sent.
    Fresh,
}

/// Everything the host needs to make one upstream attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptPlan {
    /// Which attempt this is.
    pub attempt: AttemptId,
    /// Index of the target in the chain.
    pub target: usize,
    /// The provider's name in the config.
    pub provider: String,
    /// How the provider speaks.
    pub dialect: Dialect,
    /// The provider's base URL.
    pub base_url: String,
    /// The concrete model (or Azure deployment).
    pub model: String,
    /// The *name* of the key to use (the host resolves it to a secret); `None` for
    /// keyless providers.
    pub key: Option<String>,
    /// Azure's `api-version`.
    pub api_version: Option<String>,
    /// A streaming attempt.
    pub stream: bool,
    /// Streaming: time to response headers. Non-streaming: time to the whole
    /// response (`response_timeout_ms`), since the headers come only at the end.
    pub header_timeout_ms: u64,
    /// Streaming: time from the headers to the first content (the adaptive bound
    /// when the target has one, see [`crate::config::Budgets`]).
    pub first_token_timeout_ms: u64,
    /// Streaming: the longest silence between chunks.
    pub idle_timeout_ms: u64,
    /// The attempt must be over by then (the run's deadline).
    pub deadline: Timestamp,
    /// This attempt is a half-open probe of a scope that was cooling down: it is a
    /// single attempt (no same-target retry follows it).
    pub probe: bool,
    /// This attempt finishes an answer another attempt started.
    #[serde(default)]
    pub continuation: Option<Continuation>,
}

/// What the host should do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[must_use = "an action is what the host must do next"]
#[non_exhaustive]
pub enum Action {
    /// Make this attempt and report its outcome with [`super::FallbackRun::handle_outcome`].
    Send(AttemptPlan),
    /// Nothing to do before `until` (a backoff, or an attempt in flight); poll again
    /// then, or when an outcome arrives.
    Wait {
        /// Poll again at this time.
        until: Timestamp,
    },
    /// The run is over.
    Finished(RunResult),
}

/// How an attempt went, as the host saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttemptOutcome {
    /// A complete answer: a valid body, or a stream that ended properly.
    Success,
    /// Streaming: the attempt's first content went to the client. After the
    /// run's first commit no failure can be hidden from the client any more: it
    /// is finished by a continuation, or ends the stream with an error.
    Committed,
    /// It failed; the classifier reads the details.
    Failure(Outcome),
    /// It failed, and the host's exchange has already classified it (each response
    /// is classified exactly once).
    Classified(Classification),
    /// A fresh continuation's answer did not begin with the text the client
    /// already has: the target is healthy but cannot finish this answer.
    Diverged,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunResult {
    /// An attempt answered.
    Success {
        /// The attempt that finished the answer.
        attempt: AttemptId,
        /// Its provider.
        provider: String,
        /// Its model.
        model: String,
    },
    /// No answer.
    Failed(RunFailure),
}

/// What ended a failed run (beyond the failure kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EndCause {
    /// An upstream failure that may not fall back (a request error, a pinned
    /// provider's error) or the last of the chain.
    Upstream,
    /// Nothing was tried: every candidate is cooling down (the client's error code
    /// is `cooling_down`, `Retry-After` the time until the first one ends).
    CoolingDown,
    /// The request's deadline.
    Deadline,
    /// `max_attempts` was used up.
    AttemptBudget,
    /// The client cancelled.
    Cancelled,
}

/// Why a run failed, ready to become an OpenAI-style error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFailure {
    /// The kind that decided the outcome (the last failure's, or `timeout` for the
    /// deadline, `unknown` when nothing could be tried).
    pub kind: FailureKind,
    /// What ended the run.
    pub cause: EndCause,
    /// A precise message naming what was tried (no keys).
    pub message: String,
    /// The HTTP status to answer the client with.
    pub http_status: u16,
    /// Return this attempt's upstream error to the client as it came (request
    /// errors, pinned requests): the host kept its status and body.
    pub propagate: Option<AttemptId>,
    /// The failure happened after the stream was committed: end the client's
    /// stream with an error event, never with `[DONE]`.
    pub after_commit: bool,
    /// The time to wait before retrying, for a `Retry-After` to the client.
    pub retry_after_ms: Option<u64>,
}

impl RunFailure {
    /// The client-facing error code: `cooling_down` when nothing could be tried,
    /// else the failure kind.
    pub fn code(&self) -> &'static str {
        match self.cause {
            EndCause::CoolingDown => "cooling_down",
            _ => self.kind.as_str(),
        }
    }
}

/// Misuse of the run's API (a host bug), never a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunError {
    /// No attempt with this id is in flight (already reported, never sent, or the
    /// run ended at its deadline).
    NotInFlight(AttemptId),
    /// The run is already finished.
    Finished,
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::NotInFlight(a) => write!(f, "attempt {} is not in flight", a.0),
            RunError::Finished => f.write_str("the run is already finished"),
        }
    }
}

impl std::error::Error for RunError {}
