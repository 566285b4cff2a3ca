//! Keeping keys out of everything we show.
//!
//! Providers echo keys back in errors: OpenAI masks them ("Incorrect API key
//! provided: sk-proj-****…abcd"), Basic-auth style upstreams echo the credentials
//! base64-encoded, proxies echo URLs with the key percent-encoded. A [`Redactor`]
//! holds every key a request used, in each form it can appear in — raw, JSON-escaped,
//! percent-encoded, and base64 (standard and URL-safe alphabets, at each of the three
//! alignments it can take inside a longer encoded string) — and removes them, plus
//! anything shaped like a provider key, from every reason, body and message the
//! gateway keeps or passes back.

use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Prefixes of provider API keys (OpenAI, Anthropic, OpenRouter, Groq, Google, xAI,
/// Together, DeepSeek, Fireworks, Perplexity, Hugging Face, Mistral-style bearer).
const KEY_PREFIXES: [&str; 9] = [
    "sk-", "sk_", "gsk_", "AIza", "xai-", "hf_", "pplx-", "fw_", "Bearer ",
];

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are ignored: they would match ordinary text.
pub const MIN_SECRET_LEN: usize = 4;
/// Encoded forms shorter than this are not searched for (too likely by chance).
const MIN_FORM_LEN: usize = 8;

/// URL components leave these as they are (RFC 3986 unreserved).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The secrets of one request (or one host), in every form they can be echoed in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Every form of every secret, longest first (so a longer form is removed
    /// before a shorter one inside it).
    forms: Vec<String>,
}

impl Redactor {
    /// A redactor for `secrets`.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s);
        }
        r
    }

    /// Adds a secret (ignored when shorter than [`MIN_SECRET_LEN`]).
    pub fn add(&mut self, secret: &str) {
        if secret.len() < MIN_SECRET_LEN || self.forms.iter().any(|f| f == secret) {
            return;
        }
        let mut forms = vec![secret.to_string()];
        // JSON-escaped (a key with `/` or `"` inside a JSON string).
        if let Ok(json) = serde_json::to_string(secret) {
            forms.push(json[1..json.len() - 1].to_string());
            forms.push(json[1..json.len() - 1].replace('/', "\\/"));
        }
        forms.push(utf8_percent_encode(secret, UNRESERVED).to_string());
        forms.extend(base64_cores(secret.as_bytes()));
        for f in forms {
            if (f == secret || f.len() >= MIN_FORM_LEN) && !self.forms.contains(&f) {
                self.forms.push(f);
            }
        }
        self.forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    /// No secret yet.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` without any form of the secrets and without key-shaped tokens.
    pub fn redact(&self, text: &str) -> String {
        let mut out: Option<String> = None;
        for f in &self.forms {
            let current = out.as_deref().unwrap_or(text);
            if current.contains(f.as_str()) {
                out = Some(current.replace(f.as_str(), REDACTED));
            }
        }
        redact_key_shapes(out.as_deref().unwrap_or(text))
    }
}

/// The base64 encodings of `secret` that can appear inside any longer base64 text
/// containing it: for each alignment (0, 1 or 2 bytes before it in its 3-byte
/// group), the characters that depend on the secret's bytes alone; in the standard
/// and the URL-safe alphabet. (`user:key` encoded for Basic auth contains the
/// key's core at alignment `len("user:") % 3`.)
fn base64_cores(secret: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for offset in 0..3usize {
        let mut bytes = vec![0u8; offset];
        bytes.extend_from_slice(secret);
        let enc = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes);
        // Characters fully made of the secret's bits: from the first whose 6 bits
        // start at or after the padding bytes, to the last that ends within them.
        let start = (offset * 8).div_ceil(6);
        let end = ((offset + secret.len()) * 8) / 6;
        if end > start && end <= enc.len() {
            let core = &enc[start..end];
            out.push(core.to_string());
            out.push(core.replace('+', "-").replace('/', "_"));
        }
    }
    out
}

/// Removes `secrets` (exact values the host holds, in every encoded form) and
/// key-shaped tokens from `text`.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    if secrets.is_empty() {
        return redact_key_shapes(text);
    }
    Redactor::new(secrets.iter().copied()).redact(text)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '.')
}

fn prefix_matcher() -> Option<&'static aho_corasick::AhoCorasick> {
    static MATCHER: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>> =
        std::sync::OnceLock::new();
    // Building from a fixed list of literals cannot fail; if it did, `redact`
    // falls back to a plain scan (see below).
    MATCHER
        .get_or_init(|| aho_corasick::AhoCorasick::new(KEY_PREFIXES).ok())
        .as_ref()
}

fn redact_key_shapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0; // bytes of `text` already handled
    let mut starts: Vec<(usize, usize)> = match prefix_matcher() {
        Some(ac) => ac.find_iter(text).map(|m| (m.start(), m.end())).collect(),
        None => KEY_PREFIXES
            .iter()
            .flat_map(|p| text.match_indices(p).map(move |(i, _)| (i, i + p.len())))
            .collect(),
    };
    if starts.is_empty() {
        return text.to_string();
    }
    starts.sort_unstable();
    for (at, prefix_end) in starts {
        if at < copied {
            continue; // inside a token already redacted
        }
        let prev_ok = text[..at]
            .chars()
            .next_back()
            .map_or(true, |c| !is_key_char(c));
        let after = &text[prefix_end..];
        let mut len: usize = after
            .chars()
            .take_while(|c| is_key_char(*c))
            .map(char::len_utf8)
            .sum();
        // A sentence's full stop after a key is not part of it.
        while len > 0 && after.as_bytes()[len - 1] == b'.' {
            len -= 1;
        }
        if !prev_ok || after[..len].chars().count() < 8 || after[..len] == *REDACTED {
            continue;
        }
        out.push_str(&text[copied..at]);
        if text[at..prefix_end].starts_with("Bearer ") {
            out.push_str("Bearer ");
        }
        out.push_str(REDACTED);
        copied = prefix_end + len;
    }
    out.push_str(&text[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn removes_exact_secrets_and_key_shapes() {
        let t = "Incorrect API key provided: sk-proj-********************abcd. You can find";
        assert_eq!(
            redact(t, &[]),
            "Incorrect API key provided: [redacted]. You can find"
        );
        assert_eq!(
            redact("key=my-secret-value!", &["my-secret-value"]),
            "key=[redacted]!"
        );
        assert_eq!(
            redact("Authorization: Bearer abcdefghijkl", &[]),
            "Authorization: Bearer [redacted]"
        );
        assert_eq!(redact("AIzaSyD-abcdefghijklmnop", &[]), "[redacted]");
        // Words that merely contain a prefix stay.
        assert_eq!(
            redact("task-runner ask-me sk-short", &[]),
            "task-runner ask-me sk-short"
        );
        assert_eq!(redact("", &["abc"]), "");
    }

    #[test]
    fn removes_base64_and_url_encoded_forms_at_any_alignment() {
        let key = "k3y+With/Odd=Chars-0123456789";
        let r = Redactor::new([key]);
        for user in ["", "u", "us", "user:", "apikey:", "x"] {
            let plain = format!("{user}{key}:");
            let basic = base64::engine::general_purpose::STANDARD.encode(&plain);
            let out = r.redact(&format!("Basic {basic} (bad)"));
            // What survives of the encoded text is the user part and at most two
            // boundary characters on each side of the key: none of the key's own.
            let left = out.replace(REDACTED, "").len() - "Basic  (bad)".len();
            let user_chars = (user.len() * 4).div_ceil(3);
            assert!(out.contains(REDACTED), "{user:?}: {out}");
            assert!(left <= user_chars + 4 + 2, "{user:?}: {out}");
            let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&plain);
            assert!(r.redact(&url_safe).contains(REDACTED), "{user:?} url-safe");
        }
        let url = format!("https://h/x?key={}", utf8_percent_encode(key, UNRESERVED));
        assert_eq!(r.redact(&url), "https://h/x?key=[redacted]");
        let json = serde_json::json!({ "echo": key }).to_string();
        assert!(!r.redact(&json).contains("Odd"));
        // Short secrets are ignored; ordinary text stays.
        assert_eq!(Redactor::new(["abc"]).redact("abc abd"), "abc abd");
    }
}
