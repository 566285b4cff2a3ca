//! The classifier: what an upstream failure *means*.
//!
//! Input is the target's [`Dialect`] and an [`Outcome`] (an HTTP response, a
//! transport failure, an error event inside a 200 stream, or a 200 whose body is not
//! a completion). Output is a [`Classification`]: plain data saying the
//! [`FailureKind`], any retry hint, the [`Scope`] the failure belongs to, and a short
//! reason that is safe to show (keys are redacted). What to *do* about it is the
//! failure policy's business ([`crate::policy`]), not the classifier's.
//!
//! The classifier reads every provider's error envelope regardless of the dialect
//! (OpenAI `{"error":{type,code,message}}`, Anthropic `{"type":"error","error":{…}}`,
//! Gemini `{"error":{status,details[]}}` possibly wrapped in a list, OpenRouter
//! `error.metadata.raw` as a string or an object, Ollama `{"error":"…"}`, vLLM and
//! Mistral top-level `{"object":"error","message":…}`, HTML error pages), because
//! OpenAI-compatible endpoints forward other providers' shapes verbatim.

use crate::provider::Dialect;
use crate::redact::redact;
use crate::retry_hint;
use crate::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How much of a body the classifier reads. Error bodies are small; a huge one is
/// read only this far (its JSON then fails to parse and the text is searched).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
    ConnectionRefused,
    Dns,
    /// The connection was reset or closed before response headers arrived.
    ResetBeforeHeaders,
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
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// A transport-level failure.
    Transport(TransportFailure),
    /// An error event inside a stream that started with HTTP 200: the event's
    /// `data` (e.g. Anthropic's `{"type":"error","error":{"type":"overloaded_error"}}`
    /// or OpenRouter's chunk with an `error` member).
    StreamError { data: String },
    /// A 200 whose body is not a usable completion (see [`inspect_completion`]).
    InvalidSuccess { body: String },
}

/// The classifier's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classification {
    pub kind: FailureKind,
    /// How long the provider asked us to wait, in milliseconds, if it said.
    pub retry_after_ms: Option<u64>,
    pub scope: Scope,
    /// A short reason safe to show a user: provider message, keys redacted.
    pub reason: String,
    /// The HTTP status, or the status carried inside an in-stream error.
    pub status: Option<u16>,
}

/// Classifies one outcome. `now` turns HTTP-dates and reset timestamps into waits.
pub fn classify(dialect: Dialect, outcome: &Outcome, now: Timestamp) -> Classification {
    match outcome {
        Outcome::Transport(t) => classify_transport(*t),
        Outcome::Http {
            status,
            headers,
            body,
        } => {
            if (200..300).contains(status) {
                return invalid_success(dialect, body, now);
            }
            classify_error(dialect, Some(*status), headers, body, now)
        }
        Outcome::StreamError { data } => classify_error(dialect, None, &[], data, now),
        Outcome::InvalidSuccess { body } => invalid_success(dialect, body, now),
    }
}

fn classify_transport(t: TransportFailure) -> Classification {
    let (kind, scope) = match t {
        TransportFailure::ConnectionRefused
        | TransportFailure::Dns
        | TransportFailure::ResetBeforeHeaders
        | TransportFailure::Tls => (FailureKind::Connection, Scope::Endpoint),
        TransportFailure::HeaderTimeout
        | TransportFailure::FirstTokenTimeout
        | TransportFailure::StreamIdleTimeout => (FailureKind::Timeout, Scope::Model),
        TransportFailure::StreamEndedEarly => (FailureKind::Connection, Scope::Model),
    };
    Classification {
        kind,
        retry_after_ms: None,
        scope,
        reason: t.as_str().to_string(),
        status: None,
    }
}

fn invalid_success(dialect: Dialect, body: &str, now: Timestamp) -> Classification {
    match inspect_completion(dialect, body, now) {
        Some(c) => c,
        None => Classification {
            kind: FailureKind::InvalidResponse,
            retry_after_ms: None,
            scope: Scope::Model,
            reason: "the upstream answered 200 but the host reported the body as unusable".into(),
            status: Some(200),
        },
    }
}

/// Checks a 200 non-streaming body: `None` if it is a usable chat completion,
/// else the classification (unparseable, an `error` object inside a 200, no choices).
pub fn inspect_completion(dialect: Dialect, body: &str, now: Timestamp) -> Option<Classification> {
    let invalid = |reason: &str| {
        Some(Classification {
            kind: FailureKind::InvalidResponse,
            retry_after_ms: None,
            scope: Scope::Model,
            reason: reason.to_string(),
            status: Some(200),
        })
    };
    let value: Value = match serde_json::from_str(body.trim()) {
        Ok(v) => v,
        Err(_) => return invalid("200 response body is not valid JSON"),
    };
    let Some(obj) = value.as_object() else {
        return invalid("200 response body is not a JSON object");
    };
    if obj.get("error").is_some_and(|e| !e.is_null())
        && obj.get("choices").map_or(true, is_empty_choices)
    {
        let mut c = classify_error(dialect, None, &[], body, now);
        c.status = c.status.or(Some(200));
        return Some(c);
    }
    match obj.get("choices") {
        None => invalid("200 response has no `choices`"),
        Some(Value::Array(a)) if a.is_empty() => {
            invalid("200 response has an empty `choices` list")
        }
        Some(Value::Array(_)) => None,
        Some(_) => invalid("200 response `choices` is not a list"),
    }
}

fn is_empty_choices(v: &Value) -> bool {
    v.as_array().map_or(true, |a| a.is_empty())
}

/// What an error body says, gathered from every envelope we know.
#[derive(Debug, Default)]
struct Facts {
    /// Lower-cased machine words: `error.type`, string `error.code`, Gemini `status`,
    /// `details[].reason`, Azure `innererror.code`.
    words: Vec<String>,
    /// A numeric `error.code` (OpenRouter, Gemini): the status the error stands for.
    numeric_code: Option<u16>,
    /// Human messages, original case.
    messages: Vec<String>,
    /// Gemini quota ids and metrics, lower-cased.
    quota_ids: Vec<String>,
    /// Gemini `RetryInfo.retryDelay`.
    retry_delay_ms: Option<u64>,
    /// Something came from OpenRouter's `metadata.raw` (an upstream's error).
    wrapped_upstream: bool,
    /// OpenRouter moderation metadata (`metadata.reasons` / `flagged_input`).
    moderation: bool,
}

impl Facts {
    fn word(&self, candidates: &[&str]) -> bool {
        self.words.iter().any(|w| candidates.iter().any(|c| w == c))
    }
}

const MAX_DEPTH: usize = 4;

fn gather(value: &Value, facts: &mut Facts, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Array(items) => {
            for item in items.iter().take(4) {
                gather(item, facts, depth + 1);
            }
        }
        Value::Object(obj) => match obj.get("error") {
            Some(Value::String(s)) => facts.messages.push(s.clone()),
            Some(e @ Value::Object(_)) => gather_error(e, facts, depth + 1),
            // OpenAI Responses API stream: `{"type":"response.failed","response":{"error":{…}}}`.
            _ if obj
                .get("response")
                .and_then(|r| r.get("error"))
                .is_some_and(Value::is_object) =>
            {
                if let Some(e) = obj.get("response").and_then(|r| r.get("error")) {
                    gather_error(e, facts, depth + 1);
                }
            }
            _ => {
                // vLLM / Mistral / Together / FastAPI put the error at the top level.
                if obj.contains_key("message")
                    || obj.contains_key("detail")
                    || obj.contains_key("type")
                {
                    gather_error(value, facts, depth + 1);
                }
            }
        },
        Value::String(s) => facts.messages.push(s.clone()),
        _ => {}
    }
}

fn push_word(facts: &mut Facts, v: &Value) {
    match v {
        Value::String(s) if !s.is_empty() => facts.words.push(s.to_ascii_lowercase()),
        Value::Number(n) => {
            if let Some(code) = n.as_u64().filter(|c| (100..600).contains(c)) {
                facts.numeric_code.get_or_insert(code as u16);
            }
        }
        _ => {}
    }
}

fn gather_error(e: &Value, facts: &mut Facts, depth: usize) {
    let Some(obj) = e.as_object() else { return };
    for key in ["message", "detail", "msg"] {
        match obj.get(key) {
            Some(Value::String(m)) => facts.messages.push(m.clone()),
            Some(Value::Array(items)) => {
                // FastAPI-style `detail: [{msg: …}]`.
                for it in items.iter().take(4) {
                    if let Some(m) = it.get("msg").and_then(Value::as_str) {
                        facts.messages.push(m.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    for key in ["type", "code", "status"] {
        if let Some(v) = obj.get(key) {
            if key == "type" && v.as_str() == Some("error") {
                continue; // Anthropic's outer envelope
            }
            push_word(facts, v);
        }
    }
    if let Some(inner) = obj.get("innererror").and_then(Value::as_object) {
        if let Some(c) = inner.get("code") {
            push_word(facts, c);
        }
        if inner.contains_key("content_filter_result") {
            facts.words.push("content_filter".into());
        }
    }
    if let Some(Value::Array(details)) = obj.get("details") {
        for d in details.iter().take(8) {
            let Some(d) = d.as_object() else { continue };
            if let Some(r) = d.get("reason") {
                push_word(facts, r);
            }
            if let Some(delay) = d.get("retryDelay").and_then(Value::as_str) {
                facts.retry_delay_ms = retry_hint::parse_duration_ms(delay);
            }
            if let Some(Value::Array(violations)) = d.get("violations") {
                for v in violations.iter().take(8) {
                    for k in ["quotaId", "quotaMetric"] {
                        if let Some(q) = v.get(k).and_then(Value::as_str) {
                            facts.quota_ids.push(q.to_ascii_lowercase());
                        }
                    }
                    if v.get("quotaValue").and_then(Value::as_str) == Some("0") {
                        facts.quota_ids.push("limit-0".into());
                    }
                }
            }
        }
    }
    if let Some(meta) = obj.get("metadata").and_then(Value::as_object) {
        if meta.contains_key("reasons") || meta.contains_key("flagged_input") {
            facts.moderation = true;
        }
        match meta.get("raw") {
            Some(Value::String(raw)) => {
                facts.wrapped_upstream = true;
                match serde_json::from_str::<Value>(raw) {
                    Ok(v @ (Value::Object(_) | Value::Array(_))) => gather(&v, facts, depth + 1),
                    _ => facts.messages.push(raw.clone()),
                }
            }
            Some(v @ (Value::Object(_) | Value::Array(_))) => {
                facts.wrapped_upstream = true;
                gather(v, facts, depth + 1);
            }
            _ => {}
        }
    }
}

fn grpc_status(word: &str) -> Option<u16> {
    Some(match word {
        "resource_exhausted" => 429,
        "unavailable" => 503,
        "invalid_argument" | "failed_precondition" | "out_of_range" => 400,
        "permission_denied" => 403,
        "unauthenticated" => 401,
        "not_found" => 404,
        "internal" | "unknown" | "data_loss" => 500,
        "deadline_exceeded" => 504,
        _ => return None,
    })
}

/// Phrase categories found in an error's messages and machine words, in one pass.
mod sig {
    pub const QUOTA: u32 = 1 << 0;
    pub const QUOTA_429: u32 = 1 << 1;
    pub const DAILY: u32 = 1 << 2;
    pub const OVERLOAD: u32 = 1 << 3;
    pub const CONTEXT: u32 = 1 << 4;
    pub const CONTENT: u32 = 1 << 5;
    pub const MODEL_GONE: u32 = 1 << 6;
    pub const AUTH: u32 = 1 << 7;
    pub const TOO_LARGE: u32 = 1 << 8;
    pub const UPSTREAM_LIMIT: u32 = 1 << 9;
    pub const LIMIT_ZERO: u32 = 1 << 10;
    pub const MODEL_WORD: u32 = 1 << 11;
    pub const LIMIT_403: u32 = 1 << 12;
    pub const REQUESTED: u32 = 1 << 13;
    pub const RETRY_CUE: u32 = 1 << 14;
}

/// The phrase table: every phrase is matched ASCII-case-insensitively anywhere in
/// a message or word; each category lists its phrases.
fn phrase_table() -> Vec<(&'static str, u32)> {
    let lists: [(&[&str], u32); 15] = [
        (QUOTA_TEXT, sig::QUOTA),
        (QUOTA_TEXT_429, sig::QUOTA_429),
        (DAILY_TEXT, sig::DAILY),
        (OVERLOAD_TEXT, sig::OVERLOAD),
        (CONTEXT_TEXT, sig::CONTEXT),
        (CONTENT_TEXT, sig::CONTENT),
        (MODEL_TEXT, sig::MODEL_GONE),
        (AUTH_TEXT, sig::AUTH),
        (
            &["request too large", "request is too large"],
            sig::TOO_LARGE,
        ),
        (
            &["rate-limited upstream", "rate limited upstream"],
            sig::UPSTREAM_LIMIT,
        ),
        (&["limit: 0"], sig::LIMIT_ZERO),
        (&["model", "deployment"], sig::MODEL_WORD),
        (
            &["limit exceeded", "limit reached", "quota"],
            sig::LIMIT_403,
        ),
        (&["requested"], sig::REQUESTED),
        (&retry_hint::TEXT_CUES, sig::RETRY_CUE),
    ];
    let mut table: Vec<(&'static str, u32)> = Vec::new();
    for (phrases, bit) in lists {
        for p in phrases {
            match table.iter_mut().find(|(q, _)| q == p) {
                Some((_, bits)) => *bits |= bit,
                None => table.push((p, bit)),
            }
        }
    }
    // The scan reports leftmost-longest, non-overlapping matches, so a phrase also
    // carries the bits of every phrase it contains ("key limit exceeded" ⊃ "limit
    // exceeded").
    let snapshot = table.clone();
    for (p, bits) in table.iter_mut() {
        for (q, qbits) in &snapshot {
            if p.len() > q.len() && p.contains(q) {
                *bits |= qbits;
            }
        }
    }
    table
}

struct PhraseMatcher {
    automaton: Option<aho_corasick::AhoCorasick>,
    bits: Vec<u32>,
}

fn matcher() -> &'static PhraseMatcher {
    static MATCHER: std::sync::OnceLock<PhraseMatcher> = std::sync::OnceLock::new();
    MATCHER.get_or_init(|| {
        let table = phrase_table();
        // Building from a fixed list of short literals cannot fail; if it ever did,
        // the classifier still works from status codes and machine words alone.
        let automaton = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(table.iter().map(|(p, _)| *p))
            .ok();
        PhraseMatcher {
            automaton,
            bits: table.iter().map(|(_, b)| *b).collect(),
        }
    })
}

/// How much of each message is searched for phrases: the signal is at the start of
/// real messages, and this bounds the cost of huge bodies.
const MAX_SCAN_BYTES: usize = 4 * 1024;

fn scan(facts: &Facts) -> u32 {
    let m = matcher();
    let Some(ac) = &m.automaton else { return 0 };
    let mut bits = 0;
    let all = facts.messages.iter().chain(facts.words.iter());
    for text in all {
        let text = truncate_str(text, MAX_SCAN_BYTES);
        for hit in ac.find_iter(text) {
            bits |= m.bits[hit.pattern().as_usize()];
        }
    }
    bits
}

/// The messages and words as one lower-case text (for number and duration parsing;
/// the cues are ASCII, so ASCII case folding is enough).
fn lower_text(facts: &Facts) -> String {
    let mut t = String::new();
    for m in &facts.messages {
        if !t.is_empty() {
            t.push_str(" | ");
        }
        t.push_str(&truncate_str(m, MAX_SCAN_BYTES).to_ascii_lowercase());
    }
    t
}

/// "Limit 6000, Requested 7000" → the request can never fit this window.
fn requested_exceeds_limit(text: &str) -> bool {
    /// The first number right after an occurrence of `cue` ("limit 7000", "requested ~12903").
    fn number_after(text: &str, cue: &str) -> Option<u64> {
        let mut from = 0;
        while let Some(pos) = text[from..].find(cue) {
            let at = from + pos + cue.len();
            let digits: String = text[at..]
                .trim_start_matches([' ', ':', '~', '≈'])
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == ',')
                .filter(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse() {
                return Some(n);
            }
            from = at;
        }
        None
    }
    match (number_after(text, "limit"), number_after(text, "requested")) {
        (Some(limit), Some(requested)) => requested > limit,
        _ => false,
    }
}

const QUOTA_WORDS: &[&str] = &[
    "insufficient_quota",
    "billing_hard_limit_reached",
    "billing_not_active",
    "billing_error",
    "insufficient_balance",
    "insufficient_credits",
    "payment_required",
    "quota_exceeded",
];
const QUOTA_TEXT: &[&str] = &[
    "credit balance is too low",
    "insufficient balance",
    "insufficient credits",
    "insufficient credit",
    "insufficient funds",
    "out of credits",
    "requires more credits",
    "never purchased credits",
    "key limit exceeded",
    "key limit reached",
    "spending limit",
    "spend limit",
    "credit limit",
    "exceeded your current quota",
    "billing",
    "payment required",
    "monthly limit",
    "usage limit",
];
/// Quota phrases that are safe inside a 429 (which often links a billing page even
/// for per-minute limits, so "billing" alone proves nothing there).
const QUOTA_TEXT_429: &[&str] = &[
    "credit balance is too low",
    "insufficient balance",
    "insufficient credits",
    "insufficient funds",
    "out of credits",
    "requires more credits",
    "key limit exceeded",
    "spending limit",
    "spend limit",
    "exceeded your current quota",
    "monthly limit",
    "usage limit",
];
const DAILY_TEXT: &[&str] = &[
    "per day",
    "per-day",
    "perday",
    "daily",
    "(rpd)",
    "free-models-per-day",
];
const OVERLOAD_TEXT: &[&str] = &[
    "overloaded",
    "over capacity",
    "at capacity",
    "capacity exceeded",
    "too busy",
    "high demand",
    "peak load",
];
const CONTEXT_TEXT: &[&str] = &[
    "context length",
    "context_length",
    "context window",
    "context limit",
    "maximum context",
    "prompt is too long",
    "input is too long",
    "input too long",
    "exceeds the maximum number of tokens",
    "input token count",
    "reduce the length of the messages",
    "too many input tokens",
    "prompt too long",
    "maximum prompt length",
];
const CONTENT_WORDS: &[&str] = &[
    "content_filter",
    "content_policy_violation",
    "responsibleaipolicyviolation",
    "moderation",
    "safety",
    "prohibited_content",
    "blocklist",
];
const CONTENT_TEXT: &[&str] = &[
    "content management policy",
    "content filter",
    "content_filter",
    "content policy",
    "safety system",
    "requires moderation",
    "flagged",
    "responsible ai",
    "usage policies",
    "inappropriate content",
    "request blocked",
    "guardrail",
    "prompt injection",
    "datainspectionfailed",
];
const MODEL_WORDS: &[&str] = &[
    "model_not_found",
    "model_decommissioned",
    "deploymentnotfound",
    "not_found_error",
    "model_not_available",
    "invalid_model",
];
const MODEL_TEXT: &[&str] = &[
    "does not exist",
    "not found",
    "decommissioned",
    "not a valid model",
    "invalid model",
    "unknown model",
    "no longer supported",
    "no endpoints found",
    "model is not supported",
    "not supported for generatecontent",
    "deprecated",
];
const AUTH_WORDS: &[&str] = &[
    "invalid_api_key",
    "authentication_error",
    "api_key_invalid",
    "unauthenticated",
    "permission_error",
    "permission_denied",
    "invalid_authentication",
    "account_deactivated",
    "unsupported_country_region_territory",
    "api_key_expired",
    "invalid_key",
    "unauthorized",
    "401",
];
const AUTH_TEXT: &[&str] = &[
    "invalid api key",
    "incorrect api key",
    "api key not valid",
    "api key expired",
    "invalid x-api-key",
    "no auth credentials",
    "invalid authentication",
    "authentication fails",
    "authentication failed",
    "unauthorized",
    "user not found",
    "invalid subscription key",
    "permission denied",
    "location is not supported",
    "not supported in your country",
    "country, region, or territory not supported",
    "account is not active",
    "api key is invalid",
];
const TIMEOUT_WORDS: &[&str] = &[
    "timeout_error",
    "timeout",
    "deadline_exceeded",
    "request_timeout",
];
const SERVER_WORDS: &[&str] = &[
    "api_error",
    "server_error",
    "internal",
    "internal_server_error",
    "internal_error",
];
const RATE_WORDS: &[&str] = &[
    "rate_limit_error",
    "rate_limit_exceeded",
    "resource_exhausted",
    "rate_limited",
    "too_many_requests",
];

fn classify_error(
    dialect: Dialect,
    http_status: Option<u16>,
    headers: &[(String, String)],
    body: &str,
    now: Timestamp,
) -> Classification {
    let body = truncate_str(body, MAX_BODY_BYTES);
    let mut facts = Facts::default();
    let trimmed = body.trim_start();
    let parsed = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        serde_json::from_str::<Value>(trimmed).ok()
    } else {
        None
    };
    match &parsed {
        Some(v) => gather(v, &mut facts, 0),
        None => {
            // Not JSON (HTML page, plain text, truncated JSON): the text is the message.
            let text = strip_html(trimmed);
            if !text.is_empty() {
                facts.messages.push(text);
            }
        }
    }
    let signals = scan(&facts);
    // Numbers and durations are read only when a phrase says they are there.
    let text = if signals & (sig::REQUESTED | sig::RETRY_CUE) != 0 {
        lower_text(&facts)
    } else {
        String::new()
    };
    let status = http_status
        .filter(|s| !(200..300).contains(s))
        .or(facts.numeric_code)
        .or_else(|| facts.words.iter().find_map(|w| grpc_status(w)));

    let kind = decide(dialect, status, &facts, signals, &text);
    let scope = scope_of(kind, &facts, signals);
    let retry_after_ms = retry_hint::from_headers(headers, now)
        .or(facts.retry_delay_ms)
        .or_else(|| {
            if signals & sig::RETRY_CUE != 0 {
                retry_hint::from_text(&text)
            } else {
                None
            }
        });
    let reason = reason_text(dialect, status, kind, &facts, body);
    Classification {
        kind,
        retry_after_ms,
        scope,
        reason,
        status,
    }
}

fn decide(
    dialect: Dialect,
    status: Option<u16>,
    f: &Facts,
    signals: u32,
    text: &str,
) -> FailureKind {
    use FailureKind::*;
    let has = |bit: u32| signals & bit != 0;
    let client_error = status.map_or(true, |s| (400..500).contains(&s));

    // Rate-limit responses first: several of them are really quota, overload or a
    // request that can never fit, and say so only in the body.
    if status == Some(429) || f.word(RATE_WORDS) {
        if f.word(QUOTA_WORDS) {
            return QuotaExhausted;
        }
        if has(sig::OVERLOAD) || f.word(&["overloaded_error"]) {
            return Overloaded;
        }
        if has(sig::TOO_LARGE) || (has(sig::REQUESTED) && requested_exceeds_limit(text)) {
            return RequestTooLarge;
        }
        if !f.quota_ids.is_empty() || f.word(&["resource_exhausted"]) || dialect == Dialect::Gemini
        {
            // Gemini says "You exceeded your current quota" for per-minute limits
            // too; only the quota id tells a daily quota from a rate limit.
            let daily = f
                .quota_ids
                .iter()
                .any(|q| q.contains("perday") || q.contains("per_day") || q == "limit-0")
                || has(sig::LIMIT_ZERO);
            return if daily { QuotaExhausted } else { RateLimited };
        }
        if has(sig::DAILY | sig::QUOTA_429) {
            return QuotaExhausted;
        }
        return RateLimited;
    }
    if status == Some(402) || f.word(QUOTA_WORDS) || has(sig::QUOTA) {
        return QuotaExhausted;
    }
    if status == Some(403) && has(sig::LIMIT_403) {
        return QuotaExhausted;
    }
    // Safety refusals come as 400s, 403s, in-stream errors and even 200/502 bodies.
    if f.moderation || f.word(CONTENT_WORDS) || has(sig::CONTENT) {
        return ContentFiltered;
    }
    if client_error {
        if f.word(&["context_length_exceeded"]) || has(sig::CONTEXT) {
            return ContextLength;
        }
        if f.word(&["request_too_large"]) || status == Some(413) {
            return RequestTooLarge;
        }
        if f.word(MODEL_WORDS) || (has(sig::MODEL_WORD) && has(sig::MODEL_GONE)) {
            return ModelNotFound;
        }
        if status == Some(401) || f.word(AUTH_WORDS) || has(sig::AUTH) {
            return Auth;
        }
    }
    if status == Some(529) || f.word(&["overloaded_error", "overloaded"]) || has(sig::OVERLOAD) {
        return Overloaded;
    }
    if matches!(status, Some(408 | 504 | 524 | 598 | 599)) || f.word(TIMEOUT_WORDS) {
        return Timeout;
    }
    match status {
        Some(503) => return Overloaded,
        Some(521..=523) => return Connection,
        Some(s) if s >= 500 => return ServerError,
        _ => {}
    }
    if f.word(SERVER_WORDS) {
        return ServerError;
    }
    match status {
        Some(403) => Auth,
        Some(404) => ModelNotFound,
        Some(400 | 405 | 409 | 410 | 411 | 415 | 422) => InvalidRequest,
        Some(_) => Unknown,
        // An error event in a stream: the request was accepted, so an unrecognised
        // in-band error is the server's.
        None if f.word(&["invalid_request_error", "invalid_request", "bad_request"]) => {
            InvalidRequest
        }
        None if !f.words.is_empty() || !f.messages.is_empty() => ServerError,
        None => Unknown,
    }
}

fn scope_of(kind: FailureKind, f: &Facts, signals: u32) -> Scope {
    match kind {
        FailureKind::Auth => Scope::Key,
        FailureKind::QuotaExhausted => {
            if f.quota_ids.iter().any(|q| q.contains("permodel")) {
                Scope::KeyModel
            } else {
                Scope::Key
            }
        }
        FailureKind::RateLimited => {
            // OpenRouter passing on an upstream provider's limit: every key is
            // behind the same upstream, so the model is what is limited.
            if f.wrapped_upstream || signals & sig::UPSTREAM_LIMIT != 0 {
                Scope::Model
            } else {
                Scope::KeyModel
            }
        }
        FailureKind::Connection => Scope::Endpoint,
        FailureKind::Overloaded
        | FailureKind::ServerError
        | FailureKind::Timeout
        | FailureKind::ModelNotFound
        | FailureKind::InvalidResponse
        | FailureKind::Unknown => Scope::Model,
        FailureKind::ContextLength
        | FailureKind::ContentFiltered
        | FailureKind::InvalidRequest
        | FailureKind::RequestTooLarge => Scope::Request,
    }
}

const MAX_REASON_CHARS: usize = 300;

fn reason_text(
    dialect: Dialect,
    status: Option<u16>,
    kind: FailureKind,
    f: &Facts,
    body: &str,
) -> String {
    let message = f
        .messages
        .iter()
        .rev() // the innermost (upstream) message is usually the most precise
        .find(|m| !m.trim().is_empty())
        .cloned()
        .or_else(|| f.words.first().cloned())
        .unwrap_or_else(|| {
            if body.trim().is_empty() {
                "empty body".to_string()
            } else {
                strip_html(body)
            }
        });
    // Only the start of a message becomes the reason: cut before folding and
    // redacting, so a huge message costs nothing extra.
    let message = truncate_str(&message, MAX_REASON_CHARS + 100);
    let mut folded = String::with_capacity(message.len());
    for word in message.split_whitespace() {
        if !folded.is_empty() {
            folded.push(' ');
        }
        folded.push_str(word);
    }
    let message = folded;
    let mut message = redact(&message, &[]);
    if message.chars().count() > MAX_REASON_CHARS {
        message = message.chars().take(MAX_REASON_CHARS).collect::<String>() + "…";
    }
    match status {
        Some(s) => format!("{dialect} {s} {kind}: {message}"),
        None => format!("{dialect} {kind}: {message}"),
    }
}

/// Cuts at a char boundary at or below `max` bytes.
fn truncate_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Text of an HTML page (tags dropped, whitespace folded), first 500 chars.
fn strip_html(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
        if out.len() > 2000 {
            break;
        }
    }
    let folded: String = out.split_whitespace().collect::<Vec<_>>().join(" ");
    folded.chars().take(500).collect()
}
