//! Splicing a continuation into a stream the client already reads.
//!
//! The client has `sent`, the answer's text so far. A continuation attempt's text
//! arrives piece by piece; the [`Splicer`] decides what of it the client gets:
//!
//! - **Prefill** (the target was sent `sent` as a trailing assistant message and
//!   continues it): some models first repeat the end of what they were given. The
//!   splicer holds the continuation back while it could still be such a repetition
//!   (while it occurs within the last [`MAX_OVERLAP`] bytes of `sent`), then drops
//!   the longest repeated part: an overlap of whole words (it starts at a word start
//!   in `sent` and ends at a word end in the continuation), or any overlap of at
//!   least [`MIN_LOOSE_OVERLAP`] bytes. A genuine repetition shorter than that and
//!   not word-aligned is kept (cutting text the model meant is worse).
//! - **Fresh** (the target was asked afresh): its answer is used only if it begins
//!   with exactly `sent`; that part is dropped and the rest forwarded. Anything else
//!   is a [`Diverged`] answer: the session moves on to the next target.

use crate::run::Continuation;

/// A repetition longer than this is not looked for (bytes).
pub const MAX_OVERLAP: usize = 1024;
/// A repetition that is not word-aligned must be at least this long (bytes) to be
/// removed.
pub const MIN_LOOSE_OVERLAP: usize = 16;

/// The continuation cannot finish the answer the client has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diverged;

/// One continuation's splice into the client's text.
#[derive(Debug, Clone)]
pub struct Splicer {
    /// The end of what the client has (at most `MAX_OVERLAP` bytes of it, or all
    /// of it for a fresh attempt).
    sent: String,
    /// `sent` is the whole of what the client has.
    sent_is_whole: bool,
    mode: Continuation,
    /// Continuation text held back until the splice is decided.
    held: String,
    decided: bool,
    overlap: usize,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '\''
}

impl Splicer {
    /// A splice after `sent`, for a continuation asked in `mode`.
    pub fn new(sent: &str, mode: Continuation) -> Splicer {
        let (tail, whole) = match mode {
            Continuation::Fresh => (sent, true),
            Continuation::Prefill => {
                let mut start = sent.len().saturating_sub(MAX_OVERLAP);
                while !sent.is_char_boundary(start) {
                    start += 1;
                }
                (&sent[start..], start == 0)
            }
        };
        Splicer {
            sent: tail.to_string(),
            sent_is_whole: whole,
            mode,
            held: String::new(),
            decided: sent.is_empty(),
            overlap: 0,
        }
    }

    /// Whether the splice is decided (text now passes straight through).
    pub fn is_decided(&self) -> bool {
        self.decided
    }

    /// How many bytes of the continuation repeated what the client had.
    pub fn overlap(&self) -> usize {
        self.overlap
    }

    /// Feeds continuation text; returns what the client gets now (possibly empty,
    /// while the splice is undecided).
    pub fn push(&mut self, text: &str) -> Result<String, Diverged> {
        if self.decided {
            return Ok(text.to_string());
        }
        self.held.push_str(text);
        match self.mode {
            Continuation::Fresh => {
                if self.held.len() < self.sent.len() {
                    if self.sent.starts_with(self.held.as_str()) {
                        return Ok(String::new());
                    }
                    return Err(Diverged);
                }
                if !self.held.starts_with(self.sent.as_str()) {
                    return Err(Diverged);
                }
                self.overlap = self.sent.len();
                Ok(self.release(self.sent.len()))
            }
            Continuation::Prefill => {
                if self.sent.contains(self.held.as_str()) && self.held.len() < self.sent.len() {
                    // It could still be repeating the end of what the client has.
                    return Ok(String::new());
                }
                let k = self.best_overlap(false);
                self.overlap = k;
                Ok(self.release(k))
            }
        }
    }

    /// The continuation ended: what is still held goes out (a fresh answer that
    /// never reached the client's text is [`Diverged`]).
    pub fn finish(&mut self) -> Result<String, Diverged> {
        if self.decided {
            return Ok(String::new());
        }
        match self.mode {
            Continuation::Fresh => {
                if self.held.starts_with(self.sent.as_str()) {
                    self.overlap = self.sent.len();
                    Ok(self.release(self.sent.len()))
                } else {
                    Err(Diverged)
                }
            }
            Continuation::Prefill => {
                let k = self.best_overlap(true);
                self.overlap = k;
                Ok(self.release(k))
            }
        }
    }

    fn release(&mut self, drop: usize) -> String {
        self.decided = true;
        let rest = self.held[drop..].to_string();
        self.held.clear();
        self.sent.clear();
        rest
    }

    /// The longest `k` such that the held text's first `k` bytes repeat the end of
    /// `sent`, and the repetition qualifies (see the module docs). `ended`: the held
    /// text is all the continuation will say.
    fn best_overlap(&self, ended: bool) -> usize {
        let max = self.sent.len().min(self.held.len());
        for k in (1..=max).rev() {
            if !self.held.is_char_boundary(k) {
                continue;
            }
            let start = self.sent.len() - k;
            if !self.sent.is_char_boundary(start) || !self.sent.ends_with(&self.held[..k]) {
                continue;
            }
            let starts_word = self.sent[..start]
                .chars()
                .next_back()
                .map_or(self.sent_is_whole, |c| !is_word_char(c))
                || !self.sent[start..].starts_with(is_word_char);
            let ends_word = self.held[k..]
                .chars()
                .next()
                .map_or(ended, |c| !is_word_char(c))
                || !self.held[..k].ends_with(is_word_char);
            if (starts_word && ends_word) || k >= MIN_LOOSE_OVERLAP {
                return k;
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn feed(s: &mut Splicer, parts: &[&str]) -> Result<String, Diverged> {
        let mut out = String::new();
        for p in parts {
            out.push_str(&s.push(p)?);
        }
        out.push_str(&s.finish()?);
        Ok(out)
    }

    #[test]
    fn a_prefill_continuation_passes_through_when_it_does_not_repeat() {
        let mut s = Splicer::new("Once upon a time", Continuation::Prefill);
        assert_eq!(
            feed(&mut s, &[" there", " lived", " a king."]).unwrap(),
            " there lived a king."
        );
        assert_eq!(s.overlap(), 0);
    }

    #[test]
    fn a_repeated_ending_is_removed_once() {
        let mut s = Splicer::new("Once upon a time there", Continuation::Prefill);
        let out = feed(&mut s, &[" time", " there", " lived", " a king."]).unwrap();
        assert_eq!(out, " lived a king.");
        assert_eq!(s.overlap(), " time there".len());
        // Whole-word repetition of one short word is removed too.
        let mut s = Splicer::new("sat on the", Continuation::Prefill);
        assert_eq!(feed(&mut s, &[" the", " mat"]).unwrap(), " mat");
    }

    #[test]
    fn a_short_partial_word_match_is_kept() {
        // "e" ends `sent` and starts the continuation, but it is not a repetition of
        // whole words and is shorter than the loose minimum.
        let mut s = Splicer::new("Once upon a time", Continuation::Prefill);
        assert_eq!(feed(&mut s, &["e", "xactly"]).unwrap(), "exactly");
        assert_eq!(s.overlap(), 0);
        // A prefill cut inside a word is continued inside the word.
        let mut s = Splicer::new("the quick bro", Continuation::Prefill);
        assert_eq!(feed(&mut s, &["wn fox"]).unwrap(), "wn fox");
    }

    #[test]
    fn a_fresh_answer_must_begin_with_what_the_client_has() {
        let mut s = Splicer::new("Once upon a", Continuation::Fresh);
        assert_eq!(
            feed(&mut s, &["Once", " upon", " a", " time."]).unwrap(),
            " time."
        );
        let mut s = Splicer::new("Once upon a", Continuation::Fresh);
        assert_eq!(s.push("Once"), Ok(String::new()));
        assert_eq!(s.push(" there"), Err(Diverged));
        let mut s = Splicer::new("Once upon a", Continuation::Fresh);
        assert_eq!(
            feed(&mut s, &["Once up"]),
            Err(Diverged),
            "too short to finish it"
        );
    }

    #[test]
    fn nothing_sent_means_nothing_to_splice() {
        let mut s = Splicer::new("", Continuation::Fresh);
        assert!(s.is_decided());
        assert_eq!(feed(&mut s, &["Hello"]).unwrap(), "Hello");
    }
}
