// Tests for tests/e2e/mock-upstream.mjs.  Run: node --test tests/e2e/mock-upstream.test.mjs
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startMockUpstream, maskKey } from "./mock-upstream.mjs";
import { parseSse as parseSseText } from "./harness.mjs";

const MOCK_PATH = fileURLToPath(new URL("./mock-upstream.mjs", import.meta.url));

let mock;
before(async () => {
  mock = await startMockUpstream({ port: 0 });
});
after(async () => {
  await mock?.close();
});

// ── helpers ────────────────────────────────────────────────────────────────────

function chat(model, { stream = false, headers = {}, path = "/v1/chat/completions", body, signal, extra = {} } = {}) {
  const payload = body ?? JSON.stringify({ model, stream, messages: [{ role: "user", content: "hi" }], ...extra });
  return fetch(mock.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer sk-test-key-000000000000wxyz", ...headers },
    body: payload,
    signal,
  });
}

/** Parse a complete SSE text into events: {comment} | {data, json?}. */
const parseSse = (text) => parseSseText(text, { comments: true });

/** Read a streaming body incrementally; returns {events, error, ended, times} (times = ms since t0 per event). */
async function readSseIncrementally(res, { t0 = Date.now(), stopAfterMs = 10_000 } = {}) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  const events = [];
  const times = [];
  let error = null;
  let ended = false;
  const deadline = Date.now() + stopAfterMs;
  try {
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      let timer;
      const r = await Promise.race([
        reader.read(),
        new Promise((resolve) => (timer = setTimeout(() => resolve({ timeout: true }), remaining))),
      ]);
      clearTimeout(timer);
      if (r.timeout) break;
      if (r.done) {
        ended = true;
        break;
      }
      buf += dec.decode(r.value, { stream: true });
      let idx;
      while ((idx = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, idx + 2);
        buf = buf.slice(idx + 2);
        for (const ev of parseSse(block)) {
          events.push(ev);
          times.push(Date.now() - t0);
        }
      }
    }
  } catch (err) {
    error = err;
  }
  return { events, times, error, ended, reader };
}

const contentOf = (events) =>
  events
    .filter((e) => e.json?.choices?.[0]?.delta?.content)
    .map((e) => e.json.choices[0].delta.content);

const isDone = (e) => e.data === "[DONE]";

/** Attach a handler now (no unhandled rejection), assert later with expectRejects(settled). */
function settle(promise) {
  return promise.then(
    (value) => ({ value }),
    (error) => ({ error }),
  );
}

async function expectRejects(promise) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, "expected the promise to reject");
  return err;
}

async function clearAttempts() {
  const r = await fetch(mock.url + "/__attempts", { method: "DELETE" });
  assert.equal(r.status, 200);
}

// ── basics ─────────────────────────────────────────────────────────────────────

describe("basics", () => {
  test("health and models", async () => {
    const h = await fetch(mock.url + "/health");
    assert.equal(h.status, 200);
    assert.equal(await h.text(), "ok");
    const m = await fetch(mock.url + "/v1/models");
    assert.equal(m.status, 200);
    const list = await m.json();
    assert.equal(list.object, "list");
    assert.ok(list.data.length > 20);
    for (const x of list.data) assert.equal(x.object, "model");
    assert.ok(list.data.some((x) => x.id === "fault-stream-cut"));
  });

  test("non-streaming success shape", async () => {
    const r = await chat("ok");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /application\/json/);
    assert.equal(r.headers.get("access-control-allow-origin"), "*");
    const b = await r.json();
    assert.equal(b.object, "chat.completion");
    assert.equal(b.model, "ok");
    assert.equal(b.choices[0].message.role, "assistant");
    assert.equal(b.choices[0].message.content, "Hello from ok");
    assert.equal(b.choices[0].finish_reason, "stop");
    assert.ok(b.usage.prompt_tokens > 0 && b.usage.completion_tokens > 0);
    assert.equal(b.usage.total_tokens, b.usage.prompt_tokens + b.usage.completion_tokens);
  });

  test("unknown model succeeds and echoes the model; both paths", async () => {
    for (const path of ["/v1/chat/completions", "/chat/completions", "/api/v1/chat/completions"]) {
      const r = await chat("gpt-4o-mini", { path });
      assert.equal(r.status, 200, path);
      const b = await r.json();
      assert.equal(b.model, "gpt-4o-mini");
      assert.equal(b.choices[0].message.content, "Hello from gpt-4o-mini");
    }
  });

  test("streaming success shape", async () => {
    const r = await chat("my-model", { stream: true });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /text\/event-stream/);
    const text = await r.text();
    assert.ok(text.endsWith("data: [DONE]\n\n"));
    const ev = parseSse(text);
    assert.ok(isDone(ev.at(-1)));
    const chunks = ev.filter((e) => e.json);
    assert.equal(chunks.length, ev.length - 1, "every non-DONE event is JSON");
    for (const c of chunks) {
      assert.equal(c.json.object, "chat.completion.chunk");
      assert.equal(c.json.model, "my-model");
    }
    assert.deepEqual(chunks[0].json.choices[0].delta, { role: "assistant", content: "" });
    const pieces = contentOf(ev);
    assert.ok(pieces.length >= 3);
    assert.equal(pieces.join(""), "Hello from my-model");
    const last = chunks.at(-1).json;
    assert.equal(last.choices[0].finish_reason, "stop");
    for (const c of chunks.slice(0, -1)) assert.equal(c.json.choices[0].finish_reason, null);
  });

  test("streaming with stream_options.include_usage adds a usage chunk", async () => {
    const r = await chat("ok", { stream: true, extra: { stream_options: { include_usage: true } } });
    const ev = parseSse(await r.text());
    const usageChunk = ev.at(-2).json;
    assert.deepEqual(usageChunk.choices, []);
    assert.ok(usageChunk.usage.total_tokens > 0);
    assert.equal(ev.at(-3).json.choices[0].finish_reason, "stop");
    assert.ok(isDone(ev.at(-1)));
  });

  test("slow-ok-<ms> answers after ms (both modes)", async () => {
    let t0 = Date.now();
    let r = await chat("slow-ok-250");
    assert.ok(Date.now() - t0 >= 240, "non-stream delayed");
    assert.equal((await r.json()).choices[0].message.content, "Hello from slow-ok-250");
    t0 = Date.now();
    r = await chat("slow-ok-250", { stream: true });
    assert.ok(Date.now() - t0 >= 240, "stream headers delayed");
    assert.ok(isDone(parseSse(await r.text()).at(-1)));
  });

  test("slow-stream-<ms> spaces the chunks", async () => {
    const t0 = Date.now();
    const r = await chat("slow-stream-40", { stream: true });
    const { events, times, ended } = await readSseIncrementally(r, { t0 });
    assert.ok(ended);
    assert.equal(contentOf(events).join(""), "Hello from slow-stream-40");
    assert.ok(times.at(-1) - times[0] >= 150, `spread ${times.at(-1) - times[0]}`);
  });
});

// ── HTTP error faults ──────────────────────────────────────────────────────────

const ERROR_FAULTS = [
  ["fault-401", 401, (b) => b.error.code === "invalid_api_key" && b.error.type === "invalid_request_error"],
  ["fault-402", 402, (b) => b.error.code === 402 && /^Insufficient credits/.test(b.error.message)],
  ["fault-403-key-limit", 403, (b) => b.error.code === 403 && /^Key limit exceeded \(daily limit\)/.test(b.error.message)],
  ["fault-404", 404, (b) => b.error.code === "model_not_found"],
  ["fault-429", 429, (b) => b.error.code === "rate_limit_exceeded" && !/try again in/i.test(b.error.message)],
  ["fault-429-quota", 429, (b) => b.error.code === "insufficient_quota" && b.error.type === "insufficient_quota"],
  ["fault-500", 500, (b) => b.error.type === "server_error"],
  ["fault-503", 503, (b) => b.error.type === "server_error" && /overloaded/.test(b.error.message)],
  ["fault-529", 529, (b) => b.type === "error" && b.error.type === "overloaded_error"],
  ["fault-anthropic-overloaded", 529, (b) => b.type === "error" && b.error.type === "overloaded_error" && b.error.message === "Overloaded"],
  ["fault-context-length", 400, (b) => b.error.code === "context_length_exceeded"],
  [
    "fault-content-filter",
    400,
    (b) => b.error.code === "content_filter" && b.error.innererror.code === "ResponsibleAIPolicyViolation",
  ],
  ["fault-invalid-request", 400, (b) => b.error.type === "invalid_request_error" && b.error.param === "max_tokens"],
  [
    "fault-anthropic-credit",
    400,
    (b) => b.type === "error" && /^Your credit balance is too low to access the Anthropic API/.test(b.error.message),
  ],
  [
    "fault-gemini-429",
    429,
    (b) =>
      b.error.status === "RESOURCE_EXHAUSTED" &&
      b.error.details.some((d) => d["@type"].endsWith("RetryInfo") && d.retryDelay === "2s") &&
      b.error.details.some((d) => d["@type"].endsWith("QuotaFailure") && /PerMinute/.test(d.violations[0].quotaId)),
  ],
  [
    "fault-gemini-key",
    400,
    (b) => b.error.status === "INVALID_ARGUMENT" && b.error.details.some((d) => d.reason === "API_KEY_INVALID"),
  ],
  [
    "fault-openrouter-wrapped",
    429,
    (b) => {
      if (b.error.code !== 429 || typeof b.error.metadata.raw !== "string") return false;
      const inner = JSON.parse(b.error.metadata.raw);
      return inner.error.code === "rate_limit_exceeded";
    },
  ],
];

describe("HTTP error faults", () => {
  for (const [name, status, check] of ERROR_FAULTS) {
    test(`${name} → ${status}`, async () => {
      for (const stream of [false, true]) {
        const r = await chat(name, { stream });
        assert.equal(r.status, status, `stream=${stream}`);
        assert.match(r.headers.get("content-type"), /application\/json/);
        assert.equal(r.headers.get("access-control-allow-origin"), "*");
        const b = await r.json();
        assert.ok(check(b), `${name} body: ${JSON.stringify(b)}`);
      }
    });
  }

  test("fault-529 carries x-should-retry", async () => {
    const r = await chat("fault-529");
    assert.equal(r.headers.get("x-should-retry"), "true");
    await r.arrayBuffer();
  });

  test("fault-401 echoes a masked key, never the key", async () => {
    const key = "sk-proj-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcd";
    const r = await chat("fault-401", { headers: { authorization: `Bearer ${key}` } });
    const b = await r.json();
    assert.match(b.error.message, /^Incorrect API key provided: sk-proj-\*+abcd\. /);
    assert.ok(!b.error.message.includes(key));
    assert.ok(!b.error.message.includes("0123456789"));
    // api-key header (Azure style) is used when there is no Authorization
    const r2 = await fetch(mock.url + "/v1/chat/completions", {
      method: "POST",
      headers: { "api-key": "azurekey-1234567890-qrst" },
      body: JSON.stringify({ model: "fault-401" }),
    });
    const b2 = await r2.json();
    assert.match(b2.error.message, /\*+qrst\./);
    assert.ok(!b2.error.message.includes("1234567890"));
    assert.equal(maskKey("short"), "*****");
    assert.equal(maskKey(""), "''");
  });

  test("fault-429-retry-after-<s> sets Retry-After", async () => {
    const r = await chat("fault-429-retry-after-7");
    assert.equal(r.status, 429);
    assert.equal(r.headers.get("retry-after"), "7");
    const b = await r.json();
    assert.equal(b.error.code, "rate_limit_exceeded");
    const plain = await chat("fault-429");
    assert.equal(plain.headers.get("retry-after"), null);
    await plain.arrayBuffer();
  });

  test("fault-502-html → nginx HTML", async () => {
    for (const stream of [false, true]) {
      const r = await chat("fault-502-html", { stream });
      assert.equal(r.status, 502);
      assert.match(r.headers.get("content-type"), /text\/html/);
      const t = await r.text();
      assert.match(t, /<title>502 Bad Gateway<\/title>/);
      assert.match(t, /nginx/);
    }
  });

  test("fault-invalid-json-200 → 200 with a non-JSON body", async () => {
    const r = await chat("fault-invalid-json-200");
    assert.equal(r.status, 200);
    const t = await r.text();
    assert.ok(t.length > 0);
    assert.throws(() => JSON.parse(t));
  });

  test("fault-empty-choices → 200 with choices []", async () => {
    const r = await chat("fault-empty-choices");
    assert.equal(r.status, 200);
    const b = await r.json();
    assert.deepEqual(b.choices, []);
    const s = await chat("fault-empty-choices", { stream: true });
    const ev = parseSse(await s.text());
    assert.deepEqual(ev[0].json.choices, []);
    assert.ok(isDone(ev.at(-1)));
    assert.equal(contentOf(ev).length, 0);
  });

  test("fault-after-<n>-ok fails n times then succeeds; DELETE /__attempts resets", async () => {
    await clearAttempts();
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const r = await chat("fault-after-2-ok");
      statuses.push(r.status);
      await r.arrayBuffer();
    }
    assert.deepEqual(statuses, [503, 503, 200, 200]);
    await clearAttempts();
    const r = await chat("fault-after-2-ok");
    assert.equal(r.status, 503);
    await r.arrayBuffer();
  });
});

// ── connection faults ──────────────────────────────────────────────────────────

describe("connection faults", () => {
  test("fault-reset → fetch rejects", async () => {
    for (const stream of [false, true]) {
      const err = await expectRejects(chat("fault-reset", { stream }));
      assert.equal(err.name, "TypeError");
    }
    // the mock is still fine afterwards
    assert.equal((await chat("ok")).status, 200);
  });

  test("fault-silent never answers; abort after 300 ms", async () => {
    await clearAttempts();
    const ac = new AbortController();
    const t0 = Date.now();
    const timer = setTimeout(() => ac.abort(), 300);
    const err = await expectRejects(chat("fault-silent", { signal: ac.signal }));
    clearTimeout(timer);
    assert.equal(err.name, "AbortError");
    assert.ok(Date.now() - t0 >= 290);
    const log = mock.attempts();
    assert.equal(log.length, 1);
    assert.equal(log[0].fault, "fault-silent");
  });

  test("fault-slow-first-token-<ms>: headers + role at once, content after ms", async () => {
    const t0 = Date.now();
    const r = await chat("fault-slow-first-token-400", { stream: true });
    const headersAt = Date.now() - t0;
    assert.equal(r.status, 200);
    assert.ok(headersAt < 250, `headers after ${headersAt} ms`);
    const { events, times, ended } = await readSseIncrementally(r, { t0 });
    assert.ok(ended);
    assert.deepEqual(events[0].json.choices[0].delta, { role: "assistant", content: "" });
    assert.ok(times[0] < 250, `role chunk after ${times[0]} ms`);
    const firstContent = events.findIndex((e) => e.json?.choices?.[0]?.delta?.content);
    assert.ok(times[firstContent] >= 390, `first content after ${times[firstContent]} ms`);
    assert.equal(contentOf(events).join(""), "Hello from fault-slow-first-token-400");
    assert.ok(isDone(events.at(-1)));
    // non-streaming: the whole answer after ms
    const t1 = Date.now();
    const r2 = await chat("fault-slow-first-token-200");
    assert.ok(Date.now() - t1 >= 190);
    assert.equal((await r2.json()).choices[0].message.content, "Hello from fault-slow-first-token-200");
  });

  test("fault-stream-cut: 2 content chunks then the connection dies", async () => {
    const r = await chat("fault-stream-cut", { stream: true });
    assert.equal(r.status, 200);
    const { events, error, ended } = await readSseIncrementally(r, { stopAfterMs: 3000 });
    assert.ok(error, "reading the body must fail");
    assert.ok(!ended);
    assert.equal(contentOf(events).length, 2);
    assert.ok(!events.some(isDone));
    assert.ok(!events.some((e) => e.json?.choices?.[0]?.finish_reason));
    // non-streaming: truncated body
    const r2 = await chat("fault-stream-cut");
    assert.equal(r2.status, 200);
    await expectRejects(r2.text());
  });

  test("fault-stream-stall: 2 content chunks then silence", async () => {
    const ac = new AbortController();
    const r = await chat("fault-stream-stall", { stream: true, signal: ac.signal });
    assert.equal(r.status, 200);
    const { events, error, ended, reader } = await readSseIncrementally(r, { stopAfterMs: 400 });
    assert.equal(error, null);
    assert.ok(!ended, "stream must still be open");
    assert.equal(contentOf(events).length, 2);
    assert.ok(!events.some(isDone));
    ac.abort();
    await reader.cancel().catch(() => {});
    // non-streaming: headers then half a body, then nothing
    const ac2 = new AbortController();
    const r2 = await chat("fault-stream-stall", { signal: ac2.signal });
    assert.equal(r2.status, 200);
    const timer = setTimeout(() => ac2.abort(), 300);
    const err = await expectRejects(r2.text());
    clearTimeout(timer);
    assert.equal(err.name, "AbortError");
  });
});

// ── stream-shape faults ────────────────────────────────────────────────────────

describe("stream-shape faults", () => {
  test("fault-malformed-chunk: content, `data: {not json`, the rest", async () => {
    const r = await chat("fault-malformed-chunk", { stream: true });
    const ev = parseSse(await r.text());
    const bad = ev.findIndex((e) => e.data === "{not json");
    assert.ok(bad > 0);
    assert.equal(ev[bad].json, undefined);
    assert.equal(contentOf(ev.slice(0, bad)).length, 1);
    assert.ok(contentOf(ev.slice(bad)).length >= 1);
    assert.equal(contentOf(ev).join(""), "Hello from fault-malformed-chunk");
    assert.ok(isDone(ev.at(-1)));
    const r2 = await chat("fault-malformed-chunk");
    assert.equal(r2.status, 200);
    assert.equal((await r2.json()).choices[0].message.content, "Hello from fault-malformed-chunk");
  });

  test("fault-no-done: finish_reason stop, no [DONE], clean end", async () => {
    const r = await chat("fault-no-done", { stream: true });
    const text = await r.text(); // resolves: the response ends properly
    const ev = parseSse(text);
    assert.ok(!ev.some(isDone));
    assert.equal(ev.at(-1).json.choices[0].finish_reason, "stop");
    assert.equal(contentOf(ev).join(""), "Hello from fault-no-done");
  });

  test("fault-openrouter-stream-error: in-band error before any content", async () => {
    const r = await chat("fault-openrouter-stream-error", { stream: true });
    assert.equal(r.status, 200);
    const ev = parseSse(await r.text());
    assert.ok(ev.some((e) => e.comment === "OPENROUTER PROCESSING"));
    const errIdx = ev.findIndex((e) => e.json?.error);
    assert.ok(errIdx >= 0);
    assert.equal(ev.filter((e) => e.json).length, 1, "the error chunk is the only data chunk");
    const e = ev[errIdx].json;
    assert.equal(e.error.code, 502);
    assert.equal(e.error.message, "Provider returned error");
    assert.equal(e.choices[0].finish_reason, "error");
    assert.equal(e.choices[0].delta.content, "");
    assert.equal(contentOf(ev).length, 0);
    assert.ok(!ev.some(isDone));
    const r2 = await chat("fault-openrouter-stream-error");
    assert.equal(r2.status, 200);
    assert.equal((await r2.json()).error.code, 502);
  });

  test("fault-stream-error-event-after-content: 1 content chunk, then error", async () => {
    const r = await chat("fault-stream-error-event-after-content", { stream: true });
    assert.equal(r.status, 200);
    const ev = parseSse(await r.text());
    const errIdx = ev.findIndex((e) => e.json?.error);
    assert.ok(errIdx > 0);
    assert.equal(contentOf(ev.slice(0, errIdx)).length, 1);
    assert.equal(ev[errIdx].json.choices[0].finish_reason, "error");
    assert.ok(!ev.some(isDone));
  });
});

// ── flaps ──────────────────────────────────────────────────────────────────────

describe("flap control", () => {
  test("flap-<name> is down for down_ms, then healthy", async () => {
    assert.equal((await chat("flap-primary")).status, 200);
    const set = await fetch(mock.url + "/__control/flap", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "primary", down_ms: 400, status: 503 }),
    });
    assert.equal(set.status, 200);
    const t0 = Date.now();
    const r = await chat("flap-primary");
    assert.equal(r.status, 503);
    assert.equal((await r.json()).error.type, "server_error");
    const other = await chat("flap-secondary");
    assert.equal(other.status, 200, "other flap names unaffected");
    await other.arrayBuffer();
    const state = await (await fetch(mock.url + "/__control/flap")).json();
    assert.equal(state.flaps.primary.down, true);
    assert.ok(state.flaps.primary.remaining_ms > 0 && state.flaps.primary.remaining_ms <= 400);
    await new Promise((res) => setTimeout(res, Math.max(0, 420 - (Date.now() - t0))));
    const ok = await chat("flap-primary", { stream: true });
    assert.equal(ok.status, 200);
    assert.equal(contentOf(parseSse(await ok.text())).join(""), "Hello from flap-primary");
    const state2 = await (await fetch(mock.url + "/__control/flap")).json();
    assert.equal(state2.flaps.primary.down, false);
  });

  test("flap mode reset, custom status + retry_after, DELETE clears, bad input → 400", async () => {
    const post = (b) =>
      fetch(mock.url + "/__control/flap", { method: "POST", body: typeof b === "string" ? b : JSON.stringify(b) });
    assert.equal((await post({ name: "b", down_ms: 5000, mode: "reset" })).status, 200);
    await expectRejects(chat("flap-b"));
    assert.equal((await post({ name: "c", down_ms: 5000, status: 429, retry_after: 3 })).status, 200);
    const r = await chat("flap-c");
    assert.equal(r.status, 429);
    assert.equal(r.headers.get("retry-after"), "3");
    await r.arrayBuffer();
    assert.equal((await fetch(mock.url + "/__control/flap", { method: "DELETE" })).status, 200);
    assert.equal((await chat("flap-b")).status, 200);
    assert.equal((await post("{nope")).status, 400);
    assert.equal((await post({ name: "x" })).status, 400);
    assert.equal((await post({ name: "x", down_ms: 10, mode: "weird" })).status, 400);
  });
});

// ── routing, attempts log, CORS, robustness ────────────────────────────────────

describe("routing and log", () => {
  test("x-mock-fault header overrides the model", async () => {
    await clearAttempts();
    const r = await chat("gpt-4o", { headers: { "x-mock-fault": "fault-500" } });
    assert.equal(r.status, 500);
    await r.arrayBuffer();
    const [a] = mock.attempts();
    assert.equal(a.model, "gpt-4o");
    assert.equal(a.fault, "fault-500");
  });

  test("Azure deployment path: deployment = model, api-key recorded", async () => {
    await clearAttempts();
    const path = "/openai/deployments/my-deploy/chat/completions?api-version=2024-10-21";
    const r = await fetch(mock.url + path, {
      method: "POST",
      headers: { "api-key": "azure-secret", "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).model, "my-deploy");
    const f = await fetch(mock.url + "/openai/deployments/fault-content-filter/chat/completions?api-version=2024-10-21", {
      method: "POST",
      headers: { "api-key": "azure-secret" },
      body: JSON.stringify({ model: "ignored", messages: [] }),
    });
    assert.equal(f.status, 400);
    assert.equal((await f.json()).error.code, "content_filter");
    const log = mock.attempts();
    assert.equal(log.length, 2);
    assert.equal(log[0].path, "/openai/deployments/my-deploy/chat/completions");
    assert.equal(log[0].query, "api-version=2024-10-21");
    assert.equal(log[0].model, "my-deploy");
    assert.equal(log[0].api_key, "azure-secret");
    assert.equal(log[0].authorization, null);
    assert.equal(log[1].model, "fault-content-filter");
  });

  test("attempts log: fields, filter, clear", async () => {
    await clearAttempts();
    const before = Date.now();
    await (await chat("ok")).arrayBuffer();
    await (await chat("fault-503", { stream: true, headers: { authorization: "Bearer sk-abc" } })).arrayBuffer();
    await (await chat("ok", { stream: true })).arrayBuffer();
    const all = await (await fetch(mock.url + "/__attempts")).json();
    assert.equal(all.length, 3);
    assert.deepEqual(
      Object.keys(all[0]).sort(),
      ["api_key", "at_ms", "authorization", "fault", "model", "path", "query", "seq", "stream"].sort(),
    );
    assert.ok(all[0].seq < all[1].seq && all[1].seq < all[2].seq);
    assert.ok(all[0].at_ms >= before && all[2].at_ms <= Date.now());
    assert.equal(all[0].path, "/v1/chat/completions");
    assert.equal(all[0].stream, false);
    assert.equal(all[1].stream, true);
    assert.equal(all[1].authorization, "Bearer sk-abc");
    assert.equal(all[1].api_key, null);
    assert.equal(all[1].fault, "fault-503");
    assert.equal(all[0].fault, "ok");
    const filtered = await (await fetch(mock.url + "/__attempts?model=ok")).json();
    assert.equal(filtered.length, 2);
    assert.ok(filtered.every((a) => a.model === "ok"));
    assert.deepEqual(mock.attempts(), all);
    await clearAttempts();
    assert.deepEqual(await (await fetch(mock.url + "/__attempts")).json(), []);
  });

  test("attempts log is capped", async () => {
    const small = await startMockUpstream({ port: 0, maxAttempts: 5 });
    try {
      for (let i = 0; i < 8; i++) {
        const r = await fetch(small.url + "/v1/chat/completions", {
          method: "POST",
          body: JSON.stringify({ model: `m${i}` }),
        });
        await r.arrayBuffer();
      }
      const log = small.attempts();
      assert.equal(log.length, 5);
      assert.deepEqual(log.map((a) => a.model), ["m3", "m4", "m5", "m6", "m7"]);
    } finally {
      await small.close();
    }
  });

  test("CORS preflight and headers", async () => {
    const r = await fetch(mock.url + "/v1/chat/completions", {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:8787",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-mock-fault",
      },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get("access-control-allow-origin"), "*");
    const allowHeaders = r.headers.get("access-control-allow-headers").toLowerCase();
    for (const h of ["*", "authorization", "content-type", "api-key", "x-api-key"]) assert.ok(allowHeaders.includes(h), h);
    const methods = r.headers.get("access-control-allow-methods");
    for (const m of ["GET", "POST", "DELETE", "OPTIONS"]) assert.ok(methods.includes(m), m);
    assert.ok(r.headers.get("access-control-expose-headers").includes("*"));
    // also on errors and streams
    const e = await chat("fault-429-retry-after-1");
    assert.equal(e.headers.get("access-control-allow-origin"), "*");
    await e.arrayBuffer();
    const s = await chat("ok", { stream: true });
    assert.equal(s.headers.get("access-control-allow-origin"), "*");
    await s.arrayBuffer();
  });

  test("bad input never crashes the mock", async () => {
    const bad = await chat(null, { body: "{not json" });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error.type, "invalid_request_error");
    const arr = await chat(null, { body: "[1,2]" });
    assert.equal(arr.status, 400);
    await arr.arrayBuffer();
    const noModel = await chat(null, { body: JSON.stringify({ messages: [] }) });
    assert.equal(noModel.status, 400);
    assert.equal((await noModel.json()).error.param, "model");
    const empty = await chat(null, { body: "" });
    assert.equal(empty.status, 400);
    await empty.arrayBuffer();
    const nf = await fetch(mock.url + "/nope");
    assert.equal(nf.status, 404);
    assert.equal((await nf.json()).error.code, "unknown_url");
    const getChat = await fetch(mock.url + "/v1/chat/completions");
    assert.equal(getChat.status, 404);
    await getChat.arrayBuffer();
    const weird = await fetch(mock.url + "/openai/deployments/%E0%A4%A/chat/completions", {
      method: "POST",
      body: "{}",
    });
    assert.equal(weird.status, 200);
    await weird.arrayBuffer();
    assert.equal((await chat("ok")).status, 200);
  });
});

// ── lifecycle ──────────────────────────────────────────────────────────────────

describe("lifecycle", () => {
  test("close() ends silent and stalled connections promptly", async () => {
    const m = await startMockUpstream({ port: 0 });
    const req = (model, stream) =>
      fetch(m.url + "/v1/chat/completions", { method: "POST", body: JSON.stringify({ model, stream }) });
    const silent = settle(req("fault-silent", false));
    const stalled = await req("fault-stream-stall", true);
    const stalledBody = settle(stalled.text());
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    await m.close();
    assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
    assert.ok((await silent).error, "silent request must fail");
    assert.ok((await stalledBody).error, "stalled body must fail");
    await m.close(); // idempotent
  });

  test("refuses non-loopback hosts", async () => {
    await expectRejects(startMockUpstream({ port: 0, host: "0.0.0.0" }));
  });

  test("CLI prints exactly one listening line", async () => {
    const child = spawn(process.execPath, [MOCK_PATH, "--port", "0", "--host", "127.0.0.1"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let out = "";
      const line = await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no listening line")), 5000);
        child.stdout.on("data", (d) => {
          out += d;
          if (out.includes("\n")) {
            clearTimeout(timer);
            resolve(out.split("\n")[0]);
          }
        });
        child.on("exit", (code) => reject(new Error(`exited ${code}`)));
      });
      assert.match(line, /^\{"listening": true, "port": \d+\}$/);
      const { listening, port } = JSON.parse(line);
      assert.equal(listening, true);
      assert.ok(port > 0);
      const h = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(await h.text(), "ok");
      const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "ok" }),
      });
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
      assert.equal(out, line + "\n", "nothing else on stdout");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  test("CLI rejects bad arguments", async () => {
    const child = spawn(process.execPath, [MOCK_PATH, "--port", "abc"], { stdio: ["ignore", "pipe", "pipe"] });
    const code = await new Promise((resolve) => child.on("exit", resolve));
    assert.equal(code, 2);
  });
});
