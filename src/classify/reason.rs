//! The reason text: a short, safe line saying what the provider said.

use super::envelope::Facts;
use crate::failure::{reason_prefix, FailureKind};
use crate::provider::Dialect;
use crate::redact::redact;

const MAX_REASON_CHARS: usize = 300;

pub(super) fn reason_text(
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
    format!("{}: {message}", reason_prefix(dialect, status, kind))
}

/// Cuts at a char boundary at or below `max` bytes.
pub(crate) fn truncate_str(s: &str, max: usize) -> &str {
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
pub(super) fn strip_html(s: &str) -> String {
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
