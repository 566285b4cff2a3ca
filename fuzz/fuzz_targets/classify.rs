//! Arbitrary bytes as an upstream response, classified for every dialect, and the
//! same bytes as an SSE stream through `SseParser` and `StreamInspector`.
//!
//! Input layout (so seeds are readable and the dictionary's tokens land in text):
//!   bytes 0..2   HTTP status, u16 little-endian
//!   byte  2      SSE chunk size - 1 (the stream is fed in pieces of this size)
//!   bytes 3..11  `now` (Unix ms), u64 little-endian
//!   the rest     `name: value` header lines, a blank line, then the body
//!                (no blank line: all body). The SSE parser gets the rest raw.
//! Missing prefix bytes read as zero. Nothing may panic, loop, or blow up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llm_failover::classify::{classify, inspect_completion, Outcome};
use llm_failover::provider::Dialect;
use llm_failover::sse::{ChunkVerdict, SseParser, StreamInspector};

fn take<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = data.get(at + i).copied().unwrap_or(0);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let status = u16::from_le_bytes(take(data, 0));
    let chunk = usize::from(take::<1>(data, 2)[0]) + 1;
    let now = u64::from_le_bytes(take(data, 3));
    let rest = data.get(11..).unwrap_or(&[]);

    let text = String::from_utf8_lossy(rest);
    let (head, body) = match text.find("\n\n") {
        Some(i) => (&text[..i], &text[i + 2..]),
        None => ("", &text[..]),
    };
    let headers: Vec<(String, String)> = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim_start().to_string()))
        .collect();

    let outcomes = [
        Outcome::Http {
            status,
            headers: headers.clone(),
            body: body.to_string(),
        },
        Outcome::StreamError {
            data: body.to_string(),
        },
        Outcome::InvalidSuccess {
            body: body.to_string(),
        },
    ];
    for dialect in Dialect::ALL {
        for outcome in &outcomes {
            let c = classify(dialect, outcome, now);
            // A reason is shown to users: it stays short whatever came in (the
            // classifier cuts messages to 300 characters; 4 KiB is a loose bound).
            assert!(c.reason.len() <= 4096, "reason of {} bytes", c.reason.len());
        }
        let _ = inspect_completion(dialect, body, now);
    }

    // The same bytes as a stream, fed in `chunk`-sized pieces.
    for dialect in [
        Dialect::OpenAi,
        Dialect::Anthropic,
        Dialect::OpenRouter,
        Dialect::Gemini,
    ] {
        let mut parser = SseParser::new();
        let mut inspector = StreamInspector::new(dialect);
        let mut broken = false;
        for piece in rest.chunks(chunk) {
            match parser.push(piece) {
                Ok(events) => {
                    for ev in &events {
                        let saw_content_before = inspector.saw_content();
                        let verdict = inspector.inspect(ev, now);
                        // Once content was seen (the host committed) it stays seen.
                        assert!(!saw_content_before || inspector.saw_content());
                        if let ChunkVerdict::Error(c) = verdict {
                            assert!(
                                c.reason.len() <= 4096,
                                "stream error reason of {} bytes",
                                c.reason.len()
                            );
                        }
                    }
                }
                Err(_) => {
                    broken = true;
                    break;
                }
            }
        }
        if !broken {
            if let Some(ev) = parser.finish() {
                inspector.inspect(&ev, now);
            }
        }
        let _ = inspector.end();
    }

    // Chunking must not change what the parser sees.
    let mut whole = SseParser::new();
    let mut pieces = SseParser::new();
    if let Ok(mut a) = whole.push(rest) {
        let mut b = Vec::new();
        let mut ok = true;
        for piece in rest.chunks(chunk) {
            match pieces.push(piece) {
                Ok(evs) => b.extend(evs),
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            a.extend(whole.finish());
            b.extend(pieces.finish());
            assert_eq!(
                a, b,
                "events depend on how the stream was chunked (chunk size {chunk})"
            );
        }
    }
});
