//! The few JavaScript helpers the `fetch` hosts call, each doing in one call what
//! would otherwise take one crossing per header: every `Headers.set`, every step
//! of a `Headers` iterator and every string it yields is a call between wasm and
//! JS, and in workerd those were a measurable part of a request's CPU (see
//! `bench/README.md`, "Profiling the Worker").
//!
//! Headers cross as one text of `name:value` lines. HTTP forbids CR and LF in
//! names and values (the `Headers` class rejects them), so [`header_lines`]
//! refuses them instead of letting a line break forge a second header.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
function toHeaders(lines) {
  const h = new Headers();
  for (const line of lines.split("\n")) {
    const i = line.indexOf(":");
    if (i > 0) h.append(line.slice(0, i), line.slice(i + 1));
  }
  return h;
}
export function llmFailoverFetch(url, method, lines, body, signal) {
  const bodyless = method === "GET" || method === "HEAD";
  return fetch(url, { method, headers: toHeaders(lines), body: bodyless ? undefined : body, signal });
}
export function llmFailoverHeaderLines(headers) {
  let s = "";
  for (const [k, v] of headers) s += k + ":" + v + "\n";
  return s;
}
export function llmFailoverWithoutQueueMicrotask(f) {
  const own = Object.getOwnPropertyDescriptor(globalThis, "queueMicrotask");
  try {
    Object.defineProperty(globalThis, "queueMicrotask", { value: undefined, configurable: true, writable: true });
  } catch (_) {
    return f();
  }
  try {
    return f();
  } finally {
    if (own) Object.defineProperty(globalThis, "queueMicrotask", own);
    else delete globalThis.queueMicrotask;
  }
}
export function llmFailoverTransformStream(chunks) {
  return new TransformStream({}, { highWaterMark: chunks });
}
export function llmFailoverResponse(body, status, lines) {
  const empty = status === 204 || status === 304 || body === undefined || body === null;
  return new Response(empty ? null : body, { status, headers: toHeaders(lines) });
}
"#)]
extern "C" {
    /// `fetch(url, {method, headers, body, signal})`; `lines` from [`header_lines`].
    /// Never throws: a bad URL or header is a rejected promise, as for `fetch`.
    #[wasm_bindgen(js_name = llmFailoverFetch)]
    pub fn fetch_with(
        url: &str,
        method: &str,
        lines: &str,
        body: &str,
        signal: &web_sys::AbortSignal,
    ) -> js_sys::Promise;

    #[wasm_bindgen(js_name = llmFailoverHeaderLines)]
    fn header_lines_of(headers: &web_sys::Headers) -> String;

    /// Calls `f` with `globalThis.queueMicrotask` hidden (restored after): the
    /// futures queue, created on its first task, then schedules its ticks with
    /// `Promise.then` instead. In workerd a `queueMicrotask` hop measured ≈1.3 µs
    /// against ≈0.05 µs for a resolved promise's `then`, and a streamed request
    /// takes one hop per chunk (see `bench/README.md`, "Profiling the Worker").
    #[wasm_bindgen(js_name = llmFailoverWithoutQueueMicrotask)]
    pub fn without_queue_microtask(f: &mut dyn FnMut());

    /// An identity `new TransformStream({}, {highWaterMark: chunks})`: its writer
    /// is ready until `chunks` writes wait for the reader.
    #[wasm_bindgen(js_name = llmFailoverTransformStream)]
    pub fn transform_stream(chunks: u32) -> web_sys::TransformStream;

    /// `new Response(body, {status, headers})` (no body for 204 and 304).
    #[wasm_bindgen(catch, js_name = llmFailoverResponse)]
    pub fn response_with(
        body: &JsValue,
        status: u16,
        lines: &str,
    ) -> Result<web_sys::Response, JsValue>;
}

/// `pairs` as `name:value` lines, values trimmed of surrounding whitespace as
/// `Headers` does; `None` if a name is empty or has `:`, or anything has CR/LF.
pub fn header_lines<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    let mut out = String::with_capacity(256);
    for (name, value) in pairs {
        let value = value.trim_matches([' ', '\t', '\r', '\n']);
        let bad = |s: &str| s.contains(['\r', '\n']);
        if name.is_empty() || name.contains(':') || bad(name) || bad(value) {
            return None;
        }
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    Some(out)
}

/// Every header of `headers` (lower-case names, as the `Headers` class gives them).
pub fn headers_of(headers: &web_sys::Headers) -> Vec<(String, String)> {
    header_lines_of(headers)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn header_lines_are_one_text_with_trimmed_values() {
        let lines = header_lines([("content-type", " application/json "), ("x-a", "b:c")]);
        assert_eq!(
            lines.as_deref(),
            Some("content-type:application/json\nx-a:b:c\n")
        );
    }

    #[test]
    fn a_line_break_or_a_bad_name_is_refused_not_forged_into_a_header() {
        for pairs in [
            [("authorization", "Bearer k\r\nx-forged: 1")],
            [("x-a\nx-b", "v")],
            [("x:a", "v")],
            [("", "v")],
        ] {
            assert_eq!(header_lines(pairs), None, "{pairs:?}");
        }
    }

    #[test]
    fn headers_round_trip_through_one_call_each_way() {
        let h = web_sys::Headers::new().unwrap();
        h.append("X-Value", "a: b, c").unwrap();
        h.append("retry-after", "7").unwrap();
        let got = headers_of(&h);
        assert_eq!(
            got,
            vec![
                ("retry-after".to_string(), "7".to_string()),
                ("x-value".to_string(), "a: b, c".to_string()),
            ]
        );
        let lines = header_lines(got.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap();
        let resp = response_with(&JsValue::from_str("{}"), 201, &lines).unwrap();
        assert_eq!(resp.status(), 201);
        assert_eq!(
            resp.headers().get("x-value").unwrap().as_deref(),
            Some("a: b, c")
        );
    }
}
