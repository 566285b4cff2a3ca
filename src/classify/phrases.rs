//! The phrase tables: what providers write in their messages, matched in one scan.

use super::envelope::Facts;
use super::reason::truncate_str;
use super::retry_hint;

/// Phrase categories found in an error's messages and machine words, in one pass.
pub(super) mod sig {
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

pub(super) fn scan(facts: &Facts) -> u32 {
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
pub(super) fn lower_text(facts: &Facts) -> String {
    let mut t = String::new();
    for m in &facts.messages {
        if !t.is_empty() {
            t.push_str(" | ");
        }
        t.push_str(&truncate_str(m, MAX_SCAN_BYTES).to_ascii_lowercase());
    }
    t
}

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
