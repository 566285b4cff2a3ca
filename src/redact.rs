//! Keeping keys out of everything we show.
//!
//! Providers echo keys back in errors (OpenAI: "Incorrect API key provided:
//! sk-proj-****…abcd"). Every reason the classifier writes and every upstream body a
//! host propagates goes through [`redact`], which removes the exact secrets the host
//! knows and anything shaped like a provider key.

/// Prefixes of provider API keys (OpenAI, Anthropic, OpenRouter, Groq, Google, xAI,
/// Together, DeepSeek, Fireworks, Perplexity, Hugging Face, Mistral-style bearer).
const KEY_PREFIXES: [&str; 9] = [
    "sk-", "sk_", "gsk_", "AIza", "xai-", "hf_", "pplx-", "fw_", "Bearer ",
];

/// What replaces a secret.
pub const REDACTED: &str = "[redacted]";

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '.')
}

/// Removes `secrets` (exact values the host holds) and key-shaped tokens from `text`.
/// Secrets shorter than 4 characters are ignored: they would match ordinary text.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.len() >= 4 && out.contains(s) {
            out = out.replace(s, REDACTED);
        }
    }
    redact_key_shapes(&out)
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
        if !prev_ok || after[..len].chars().count() < 8 {
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
}
