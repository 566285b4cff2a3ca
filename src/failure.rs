//! The failure taxonomy: what can go wrong with an upstream, in the terms the
//! failure policy acts on. Plain data shared by the classifier ([`crate::classify`]),
//! the policy ([`crate::policy`]), the cooldown table and the state machine.

use crate::provider::Dialect;
use serde::{Deserialize, Serialize};

/// What went wrong, in the terms the failure policy acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// Bad, missing, revoked or unauthorised key (or a region the key cannot use).
    Auth,
    /// Out of credits, billing off, spend/key limit, daily quota: waiting minutes will not help.
    QuotaExhausted,
    /// A short-window rate limit.
    RateLimited,
    /// The provider or model is overloaded or temporarily unavailable.
    Overloaded,
    /// A 5xx or an internal error event.
    ServerError,
    /// No headers, no first token, or the stream went idle in time; a gateway timeout.
    Timeout,
    /// Refused, DNS, TLS, reset, or the stream ended early.
    Connection,
    /// The prompt does not fit this model's context window.
    ContextLength,
    /// The provider's safety system refused the request.
    ContentFiltered,
    /// The model or deployment does not exist (or no longer does): a config problem.
    ModelNotFound,
    /// The request itself is wrong: the client must fix it.
    InvalidRequest,
    /// The request exceeds this target's per-minute token window: it can never succeed there.
    RequestTooLarge,
    /// A 200 whose body is not a usable completion.
    InvalidResponse,
    /// Nothing above fits.
    Unknown,
}

impl FailureKind {
    /// Every kind, in a stable order (the policy table's rows, docs, bindings).
    pub const ALL: [FailureKind; 14] = [
        FailureKind::Auth,
        FailureKind::QuotaExhausted,
        FailureKind::RateLimited,
        FailureKind::Overloaded,
        FailureKind::ServerError,
        FailureKind::Timeout,
        FailureKind::Connection,
        FailureKind::ContextLength,
        FailureKind::ContentFiltered,
        FailureKind::ModelNotFound,
        FailureKind::InvalidRequest,
        FailureKind::RequestTooLarge,
        FailureKind::InvalidResponse,
        FailureKind::Unknown,
    ];

    /// The snake_case name used in configs, JSON and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Auth => "auth",
            FailureKind::QuotaExhausted => "quota_exhausted",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Overloaded => "overloaded",
            FailureKind::ServerError => "server_error",
            FailureKind::Timeout => "timeout",
            FailureKind::Connection => "connection",
            FailureKind::ContextLength => "context_length",
            FailureKind::ContentFiltered => "content_filtered",
            FailureKind::ModelNotFound => "model_not_found",
            FailureKind::InvalidRequest => "invalid_request",
            FailureKind::RequestTooLarge => "request_too_large",
            FailureKind::InvalidResponse => "invalid_response",
            FailureKind::Unknown => "unknown",
        }
    }

    /// The HTTP status that stands for this kind when a client API needs one (an
    /// error event's type in Anthropic's shape).
    pub fn client_status(self) -> u16 {
        match self {
            FailureKind::Auth => 401,
            FailureKind::QuotaExhausted | FailureKind::RateLimited => 429,
            FailureKind::Overloaded => 529,
            FailureKind::ModelNotFound => 404,
            FailureKind::RequestTooLarge => 413,
            FailureKind::InvalidRequest
            | FailureKind::ContextLength
            | FailureKind::ContentFiltered => 400,
            FailureKind::Timeout => 504,
            _ => 500,
        }
    }

    /// The kinds that are about the request, not the backend: they never cool
    /// anything down.
    pub fn is_request_error(self) -> bool {
        matches!(
            self,
            FailureKind::InvalidRequest
                | FailureKind::ContextLength
                | FailureKind::ContentFiltered
                | FailureKind::RequestTooLarge
        )
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a failure belongs to, and so what cools down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Scope {
    /// This API key, for every model (bad key, no credits).
    Key,
    /// This key on this model (most rate limits and per-model quotas).
    KeyModel,
    /// This model on this endpoint, whatever the key (overload, 5xx, timeouts).
    Model,
    /// The whole endpoint (connection refused, DNS, TLS).
    Endpoint,
    /// Only this request: nothing cools down.
    Request,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: [Scope; 5] = [
        Scope::Key,
        Scope::KeyModel,
        Scope::Model,
        Scope::Endpoint,
        Scope::Request,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Key => "key",
            Scope::KeyModel => "key_model",
            Scope::Model => "model",
            Scope::Endpoint => "endpoint",
            Scope::Request => "request",
        }
    }
}

/// A failure below HTTP, or a stream that broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransportFailure {
    /// Nothing listens at the upstream's address.
    ConnectionRefused,
    /// The upstream's host name does not resolve.
    Dns,
    /// The connection was reset or closed before response headers arrived.
    ResetBeforeHeaders,
    /// The TLS handshake failed.
    Tls,
    /// No response headers within the attempt's header timeout.
    HeaderTimeout,
    /// Headers came, but no first content token within the first-token timeout.
    FirstTokenTimeout,
    /// The stream went silent for longer than the idle timeout.
    StreamIdleTimeout,
    /// The stream ended (EOF or reset) before it was complete.
    StreamEndedEarly,
}

impl TransportFailure {
    /// Every transport failure, in a stable order.
    pub const ALL: [TransportFailure; 8] = [
        TransportFailure::ConnectionRefused,
        TransportFailure::Dns,
        TransportFailure::ResetBeforeHeaders,
        TransportFailure::Tls,
        TransportFailure::HeaderTimeout,
        TransportFailure::FirstTokenTimeout,
        TransportFailure::StreamIdleTimeout,
        TransportFailure::StreamEndedEarly,
    ];

    /// The snake_case name (as in JSON).
    pub fn name(self) -> &'static str {
        match self {
            TransportFailure::ConnectionRefused => "connection_refused",
            TransportFailure::Dns => "dns",
            TransportFailure::ResetBeforeHeaders => "reset_before_headers",
            TransportFailure::Tls => "tls",
            TransportFailure::HeaderTimeout => "header_timeout",
            TransportFailure::FirstTokenTimeout => "first_token_timeout",
            TransportFailure::StreamIdleTimeout => "stream_idle_timeout",
            TransportFailure::StreamEndedEarly => "stream_ended_early",
        }
    }

    /// What happened, in words.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportFailure::ConnectionRefused => "connection refused",
            TransportFailure::Dns => "DNS lookup failed",
            TransportFailure::ResetBeforeHeaders => "connection reset before response headers",
            TransportFailure::Tls => "TLS handshake failed",
            TransportFailure::HeaderTimeout => "no response headers before the header timeout",
            TransportFailure::FirstTokenTimeout => "no first token before the first-token timeout",
            TransportFailure::StreamIdleTimeout => "stream went idle past the idle timeout",
            TransportFailure::StreamEndedEarly => "stream ended before it was complete",
        }
    }
}

/// One upstream outcome to classify. Bodies are text (hosts decode lossily); only
/// the first [`MAX_BODY_BYTES`] are read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// A non-2xx HTTP response (a 2xx here is read as [`Outcome::InvalidSuccess`]).
    Http {
        /// The HTTP status.
        status: u16,
        /// The response headers (names in any case).
        headers: Vec<(String, String)>,
        /// The body as text (decoded lossily).
        body: String,
    },
    /// A transport-level failure.
    Transport(TransportFailure),
    /// An error event inside a stream that started with HTTP 200: the event's
    /// `data` (e.g. Anthropic's `{"type":"error","error":{"type":"overloaded_error"}}`
    /// or OpenRouter's chunk with an `error` member).
    StreamError {
        /// The event's data, as it came.
        data: String,
    },
    /// A 200 whose body is not a usable completion (see [`inspect_completion`]).
    InvalidSuccess {
        /// The body (or what was wrong with it).
        body: String,
    },
}

/// The classifier's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    /// What went wrong.
    pub kind: FailureKind,
    /// How long the provider asked us to wait, in milliseconds, if it said.
    pub retry_after_ms: Option<u64>,
    /// What the failure belongs to (what cools down).
    pub scope: Scope,
    /// A short reason safe to show a user: provider message, keys redacted.
    pub reason: String,
    /// The HTTP status, or the status carried inside an in-stream error.
    pub status: Option<u16>,
}

impl Classification {
    /// A classification for a failure the core itself observed (a missing key, a
    /// transport failure): no retry hint, no upstream status.
    pub fn observed(kind: FailureKind, scope: Scope, reason: impl Into<String>) -> Classification {
        Classification {
            kind,
            retry_after_ms: None,
            scope,
            reason: reason.into(),
            status: None,
        }
    }
}

/// Where a classification's reason names its provider: `openai 429 rate_limited: …`.
pub(crate) fn reason_prefix(dialect: Dialect, status: Option<u16>, kind: FailureKind) -> String {
    match status {
        Some(s) => format!("{dialect} {s} {kind}"),
        None => format!("{dialect} {kind}"),
    }
}
