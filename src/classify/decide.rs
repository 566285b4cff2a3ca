//! The decision: which [`FailureKind`] an error is, and what it belongs to.

use super::envelope::Facts;
use super::phrases::sig;
use crate::failure::{FailureKind, Scope};
use crate::provider::Dialect;

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

const CONTENT_WORDS: &[&str] = &[
    "content_filter",
    "content_policy_violation",
    "responsibleaipolicyviolation",
    "moderation",
    "safety",
    "prohibited_content",
    "blocklist",
];

const MODEL_WORDS: &[&str] = &[
    "model_not_found",
    "model_decommissioned",
    "deploymentnotfound",
    "not_found_error",
    "model_not_available",
    "invalid_model",
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

pub(super) fn decide(
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

pub(super) fn scope_of(kind: FailureKind, f: &Facts, signals: u32) -> Scope {
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
