//! Retry hints: how long a provider asked us to wait, from wherever it said so.
//!
//! Providers tell it in many places: `Retry-After` (seconds or an HTTP-date),
//! `retry-after-ms`, `x-ratelimit-reset-*` (Go-style durations such as `6m0s`, Unix
//! timestamps, RFC 3339 dates), Gemini's `details[].retryDelay` in the body, and plain
//! text such as "Please try again in 9m38.016s". Every function here is pure: absolute
//! times are turned into durations against the `now` the caller passes in.

use crate::time::Timestamp;
use std::time::UNIX_EPOCH;

/// The longest hint we believe. Longer ones (or absurd dates) are clamped to this.
pub const MAX_HINT_MS: u64 = 30 * 24 * 3600 * 1000;

/// Looks up a header by case-insensitive name.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Parses a duration written as a number with units, Go style and human style:
/// `20ms`, `1.5s`, `9m38.016s`, `6m0s`, `1h2m3s`, `2 minutes`, `38 seconds`, `500us`.
/// A bare number is seconds. Returns milliseconds, rounded up so a hint of `20ms`
/// or `0.4ms` is never shortened to zero.
pub fn parse_duration_ms(input: &str) -> Option<u64> {
    let s = input.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<f64>() {
        return secs_to_ms(secs);
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total_ms = 0f64;
    let mut parts = 0;
    while i < bytes.len() {
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if start == i {
            return None;
        }
        let number: f64 = s[start..i].parse().ok()?;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let unit_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphabetic() || bytes[i] >= 0x80) {
            i += 1;
        }
        let unit = s[unit_start..i].to_ascii_lowercase();
        let factor = match unit.as_str() {
            "ns" => 1e-6,
            "us" | "µs" | "μs" => 1e-3,
            "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => 1.0,
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1e3,
            "m" | "min" | "mins" | "minute" | "minutes" => 60e3,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600e3,
            "d" | "day" | "days" => 86_400e3,
            _ => return None,
        };
        total_ms += number * factor;
        parts += 1;
        // A bare trailing number after a unit ("1m30") is seconds; a comma/and
        // joins parts ("1 minute and 30 seconds").
        while i < bytes.len() && (bytes[i] == b',' || bytes[i] == b' ') {
            i += 1;
        }
        if s[i..].starts_with("and ") {
            i += 4;
        }
    }
    if parts == 0 || !total_ms.is_finite() || total_ms < 0.0 {
        return None;
    }
    Some(clamp(total_ms.ceil() as u64))
}

fn secs_to_ms(secs: f64) -> Option<u64> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(clamp((secs * 1000.0).ceil() as u64))
}

fn clamp(ms: u64) -> u64 {
    ms.min(MAX_HINT_MS)
}

/// An absolute time in the past or now means "no wait".
fn until(abs_ms: u64, now: Timestamp) -> u64 {
    clamp(abs_ms.saturating_sub(now))
}

/// `Retry-After: 120` or `Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<u64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return secs_to_ms(secs);
    }
    if let Ok(t) = httpdate::parse_http_date(v) {
        let abs = t.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
        return Some(until(abs, now));
    }
    parse_duration_ms(v)
}

/// An RFC 3339 date (`2024-10-08T17:29:44Z`) as Unix milliseconds.
pub fn parse_rfc3339_ms(value: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339_weak(value.trim()).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// A reset header whose meaning depends on its magnitude: Unix ms, Unix seconds,
/// or seconds from now; or a Go duration; or an RFC 3339 date.
pub fn parse_reset_value(value: &str, now: Timestamp) -> Option<u64> {
    let v = value.trim();
    if let Ok(n) = v.parse::<f64>() {
        if !n.is_finite() || n < 0.0 {
            return None;
        }
        if n >= 1e12 {
            return Some(until(n as u64, now));
        }
        if n >= 1e9 {
            return Some(until((n * 1000.0) as u64, now));
        }
        return secs_to_ms(n);
    }
    if let Some(ms) = parse_duration_ms(v) {
        return Some(ms);
    }
    parse_rfc3339_ms(v).map(|abs| until(abs, now))
}

/// The wait a response's headers ask for, most explicit first: `retry-after-ms`,
/// `retry-after`, then the reset time of whichever rate-limit bucket is exhausted
/// (OpenAI/Groq `x-ratelimit-*`, Anthropic `anthropic-ratelimit-*`), then a bare
/// `x-ratelimit-reset` (OpenRouter).
pub fn from_headers(headers: &[(String, String)], now: Timestamp) -> Option<u64> {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(clamp(ms.ceil() as u64));
        }
    }
    if let Some(ms) = header(headers, "retry-after").and_then(|v| parse_retry_after(v, now)) {
        return Some(ms);
    }
    let mut best: Option<u64> = None;
    fn consider(best: &mut Option<u64>, ms: Option<u64>) {
        if let Some(ms) = ms {
            *best = Some(best.map_or(ms, |b| b.max(ms)));
        }
    }
    for bucket in ["requests", "tokens"] {
        let remaining = header(headers, &format!("x-ratelimit-remaining-{bucket}"));
        if remaining.and_then(|r| r.parse::<f64>().ok()) == Some(0.0) {
            consider(
                &mut best,
                header(headers, &format!("x-ratelimit-reset-{bucket}"))
                    .and_then(|v| parse_reset_value(v, now)),
            );
        }
    }
    for bucket in ["requests", "tokens", "input-tokens", "output-tokens"] {
        let remaining = header(headers, &format!("anthropic-ratelimit-{bucket}-remaining"));
        if remaining.and_then(|r| r.parse::<f64>().ok()) == Some(0.0) {
            consider(
                &mut best,
                header(headers, &format!("anthropic-ratelimit-{bucket}-reset"))
                    .and_then(|v| parse_rfc3339_ms(v).map(|abs| until(abs, now))),
            );
        }
    }
    if best.is_none() {
        let remaining = header(headers, "x-ratelimit-remaining");
        if remaining.is_none() || remaining.and_then(|r| r.parse::<f64>().ok()) == Some(0.0) {
            consider(
                &mut best,
                header(headers, "x-ratelimit-reset").and_then(|v| parse_reset_value(v, now)),
            );
        }
    }
    best
}

/// The phrases that introduce a wait in a message.
pub const TEXT_CUES: [&str; 7] = [
    "try again in ",
    "retry in ",
    "retry after ",
    "try again after ",
    "retry-after: ",
    "please wait ",
    "resets in ",
];

/// A wait written in a message: "try again in 9m38.016s", "Please retry in 38.2s",
/// "Please retry after 20 seconds", "retry after 86400 seconds".
/// `lower` must already be lower-case.
pub fn from_text(lower: &str) -> Option<u64> {
    for cue in TEXT_CUES {
        let mut search = lower;
        while let Some(pos) = search.find(cue) {
            let rest = &search[pos + cue.len()..];
            if let Some(ms) = leading_duration(rest) {
                return Some(ms);
            }
            search = rest;
        }
    }
    None
}

/// The duration at the start of `text` ("9m38.016s. Visit …" → 578016 ms).
fn leading_duration(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let mut end = 0;
    let mut saw_digit = false;
    // Take digits, dots, unit letters and single spaces between a number and its unit.
    while end < bytes.len() {
        let b = bytes[end];
        if b.is_ascii_digit() {
            saw_digit = true;
            end += 1;
        } else if (b == b'.' && end + 1 < bytes.len() && bytes[end + 1].is_ascii_digit())
            || b.is_ascii_alphabetic()
            || b == b' '
        {
            end += 1;
        } else {
            break;
        }
    }
    if !saw_digit {
        return None;
    }
    // Trim words that are not units from the end ("20 seconds and retry" → "20 seconds").
    let candidate = &text[..end];
    let mut words: Vec<&str> = candidate.split(' ').filter(|w| !w.is_empty()).collect();
    while !words.is_empty() {
        let joined = words.join(" ");
        if let Some(ms) = parse_duration_ms(&joined) {
            return Some(ms);
        }
        words.pop();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration_ms("9m38.016s"), Some(578_016));
        assert_eq!(parse_duration_ms("6m0s"), Some(360_000));
        assert_eq!(parse_duration_ms("20ms"), Some(20));
        assert_eq!(parse_duration_ms("1h2m3s"), Some(3_723_000));
        assert_eq!(parse_duration_ms("7.66s"), Some(7_660));
        assert_eq!(parse_duration_ms("38.285913524s"), Some(38_286));
        assert_eq!(parse_duration_ms("2 minutes"), Some(120_000));
        assert_eq!(parse_duration_ms("1"), Some(1_000));
        assert_eq!(parse_duration_ms("soon"), None);
        assert_eq!(parse_duration_ms(""), None);
        assert_eq!(parse_duration_ms("-3s"), None);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        // 1999-12-31T23:59:59Z = 946684799 s.
        let now = 946_684_799_000 - 10_000;
        assert_eq!(parse_retry_after("120", now), Some(120_000));
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 1999 23:59:59 GMT", now),
            Some(10_000)
        );
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 1999 23:59:59 GMT", now + 60_000),
            Some(0)
        );
        assert_eq!(parse_retry_after("garbage", now), None);
    }

    #[test]
    fn reset_headers_pick_the_exhausted_bucket() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let headers = h(&[
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);
        assert_eq!(from_headers(&headers, 0), Some(360_000));
        let now = 1_700_000_000_000;
        let openrouter = h(&[
            ("X-RateLimit-Reset", "1700000005000"),
            ("X-RateLimit-Remaining", "0"),
        ]);
        assert_eq!(from_headers(&openrouter, now), Some(5_000));
        let anthropic = h(&[
            ("anthropic-ratelimit-requests-remaining", "0"),
            ("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:30Z"),
        ]);
        assert_eq!(from_headers(&anthropic, 1_700_000_000_000), Some(10_000));
        assert_eq!(
            from_headers(&h(&[("retry-after-ms", "250.5")]), 0),
            Some(251)
        );
    }

    #[test]
    fn text_hints() {
        assert_eq!(
            from_text("please try again in 9m38.016s. visit https://x"),
            Some(578_016)
        );
        assert_eq!(from_text("please retry in 38.285913524s."), Some(38_286));
        assert_eq!(from_text("please retry after 20 seconds."), Some(20_000));
        assert_eq!(from_text("try again in 20ms"), Some(20));
        assert_eq!(from_text("please try again later"), None);
    }
}
