// Tests for tests/e2e/mock-upstream.mjs.  Run: node --test tests/e2e/mock-upstream.test.mjs
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startMockUpstream, maskKey, STORY, OTHER_STORY } from "./mock-upstream.mjs";
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
    assert.equal(log[0].api, "azure");
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
      ["api", "api_key", "at_ms", "authorization", "fault", "messages", "model", "path", "prefill", "query", "seq", "stream"].sort(),
    );
    assert.equal(all[0].api, "chat");
    assert.equal(all[0].prefill, null);
    assert.equal(all[0].messages, 1);
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

// ── story answers and continuation ─────────────────────────────────────────────

const words = (s) => s.split(/\s+/).filter(Boolean).length;
/** The first n words of STORY, as a prefill (no trailing space). */
const storyPrefix = (n) => STORY.split(" ").slice(0, n).join(" ");
const storyChunks = (text) => text.match(/\s*\S+/g);

/** Parse SSE text into [{event, data, json}] (keeps `event:` lines, unlike harness parseSse). */
function parseEvents(text) {
  const out = [];
  for (const block of text.replace(/\r\n/g, "\n").split("\n\n")) {
    if (!block.trim()) continue;
    let event = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (!data.length && event === null) continue;
    const d = data.join("\n");
    let json;
    try {
      json = JSON.parse(d);
    } catch {
      json = undefined;
    }
    out.push({ event, data: d, json });
  }
  return out;
}

function storyChat(model, { stream = false, messages, extra = {}, signal } = {}) {
  return chat(model, { stream, signal, extra: { messages: messages ?? [{ role: "user", content: "Tell me a story" }], ...extra } });
}

const withPrefill = (p, userText = "Tell me a story") => [
  { role: "user", content: userText },
  { role: "assistant", content: p },
];

describe("story answers", () => {
  test("STORY and OTHER_STORY: 60 ASCII words, one line, no shared start", () => {
    for (const s of [STORY, OTHER_STORY]) {
      assert.equal(words(s), 60);
      assert.match(s, /^[\x20-\x7e]+$/);
      assert.ok(!/\s$/.test(s) && !/^\s/.test(s));
      assert.match(s, /[,.;:]/);
    }
    assert.notEqual(STORY.split(" ")[0], OTHER_STORY.split(" ")[0]);
  });

  test("streaming story: role, one chunk per word, finish, usage, [DONE]", async () => {
    const r = await storyChat("story", { stream: true, extra: { stream_options: { include_usage: true } } });
    assert.equal(r.status, 200);
    const ev = parseSse(await r.text());
    assert.deepEqual(ev[0].json.choices[0].delta, { role: "assistant", content: "" });
    const pieces = contentOf(ev);
    assert.equal(pieces.length, 60);
    assert.equal(pieces[0], "Once");
    assert.equal(pieces[1], " upon");
    assert.equal(pieces[2], " a");
    assert.deepEqual(pieces, storyChunks(STORY));
    assert.equal(pieces.join(""), STORY);
    assert.equal(ev.at(-3).json.choices[0].finish_reason, "stop");
    assert.deepEqual(ev.at(-2).json.usage, { prompt_tokens: 4, completion_tokens: 60, total_tokens: 64 });
    assert.ok(isDone(ev.at(-1)));
    assert.equal(ev.length, 1 + 60 + 1 + 1 + 1);
  });

  test("non-streaming story; usage counts the words of every message (string or text parts)", async () => {
    const messages = [
      { role: "system", content: "Be brief." },
      { role: "user", content: [{ type: "text", text: "Tell me" }, { type: "image_url", image_url: { url: "x" } }, { type: "text", text: " a story" }] },
    ];
    const r = await storyChat("STORY-Anything", { messages });
    assert.equal(r.status, 200);
    const b = await r.json();
    assert.equal(b.choices[0].message.content, STORY);
    assert.equal(b.choices[0].finish_reason, "stop");
    assert.equal(b.model, "STORY-Anything");
    assert.deepEqual(b.usage, { prompt_tokens: 2 + 4, completion_tokens: 60, total_tokens: 66 });
  });

  test("prefill continuation: P + answer == STORY (streaming and not, many cut points)", async () => {
    const cuts = [
      storyPrefix(1),
      storyPrefix(8), // ends after "town,"
      storyPrefix(30),
      storyPrefix(59),
      "Once upon a ti", // mid-word
      storyPrefix(10) + " ", // a trailing space that STORY has there: P + answer == STORY exactly
      storyPrefix(10) + "  \n", // trailing whitespace STORY does not have: trimmed
      "", // an empty prefill: the whole story
    ];
    for (const p of cuts) {
      const r = await storyChat("story", { stream: true, messages: withPrefill(p) });
      const ev = parseSse(await r.text());
      const answer = contentOf(ev).join("");
      const expected = STORY.startsWith(p) ? STORY.slice(p.length) : STORY.slice(p.trimEnd().length);
      assert.equal(answer, expected, JSON.stringify(p));
      if (STORY.startsWith(p)) assert.equal(p + answer, STORY);
      else assert.equal(p.trimEnd() + answer, STORY);
      assert.ok(isDone(ev.at(-1)));
      const nb = await (await storyChat("story", { messages: withPrefill(p) })).json();
      assert.equal(nb.choices[0].message.content, expected);
      assert.equal(nb.usage.completion_tokens, storyChunks(expected).length);
      assert.equal(nb.usage.prompt_tokens, 4 + words(p));
    }
    // the first chunk carries STORY's leading space
    const ev = parseSse(await (await storyChat("story", { stream: true, messages: withPrefill(storyPrefix(5)) })).text());
    assert.equal(contentOf(ev)[0], " " + STORY.split(" ")[5]);
    // prefill as text parts
    const parts = [
      { role: "user", content: "go" },
      { role: "assistant", content: [{ type: "text", text: storyPrefix(4) }, { type: "text", text: " in" }] },
    ];
    const b = await (await storyChat("story", { messages: parts })).json();
    assert.equal(storyPrefix(4) + " in" + b.choices[0].message.content, STORY);
    // the whole story as prefill: nothing left to say
    const all = await (await storyChat("story", { messages: withPrefill(STORY) })).json();
    assert.equal(all.choices[0].message.content, "");
    assert.equal(all.usage.completion_tokens, 0);
  });

  test("prefill that is not a prefix of STORY → ' [unrelated continuation]'", async () => {
    for (const p of ["Once upon a midnight dreary", "once upon a time", " Once upon"]) {
      const b = await (await storyChat("story", { messages: withPrefill(p) })).json();
      assert.equal(b.choices[0].message.content, " [unrelated continuation]", p);
      assert.equal(b.usage.completion_tokens, 2);
    }
    const ev = parseSse(await (await storyChat("story", { stream: true, messages: withPrefill("Hello") })).text());
    assert.deepEqual(contentOf(ev), [" [unrelated", " continuation]"]);
  });

  test("story-overlap-<k> repeats the last k words of P, then continues", async () => {
    const p = storyPrefix(12); // "… keeper named"
    const r = await storyChat("story-overlap-3", { stream: true, messages: withPrefill(p) });
    const answer = contentOf(parseSse(await r.text())).join("");
    const overlap = " " + STORY.split(" ").slice(9, 12).join(" ");
    assert.ok(answer.startsWith(overlap), answer);
    assert.equal(answer, overlap + STORY.slice(p.length));
    assert.notEqual(p + answer, STORY);
    assert.equal(p + answer.slice(overlap.length), STORY, "removing the overlap gives STORY");
    // k larger than P: the whole of P is repeated
    const short = await (await storyChat("story-overlap-5", { messages: withPrefill("Once upon") })).json();
    assert.equal(short.choices[0].message.content, "Once upon" + STORY.slice(9));
    // no prefill: a plain story
    const fresh = await (await storyChat("story-overlap-3")).json();
    assert.equal(fresh.choices[0].message.content, STORY);
  });

  test("story-no-prefill: 400 on a trailing assistant message, else the story", async () => {
    for (const stream of [false, true]) {
      const r = await storyChat("story-no-prefill", { stream, messages: withPrefill(storyPrefix(4)) });
      assert.equal(r.status, 400);
      assert.deepEqual(await r.json(), {
        error: {
          message: "This model does not support assistant message prefill. The conversation must end with a user message.",
          type: "invalid_request_error",
          param: "messages",
          code: null,
        },
      });
    }
    const ok = await (await storyChat("story-no-prefill")).json();
    assert.equal(ok.choices[0].message.content, STORY);
  });

  test("story-different answers OTHER_STORY; story-fresh answers STORY from the start", async () => {
    for (const messages of [undefined, withPrefill(storyPrefix(8))]) {
      const d = await storyChat("story-different", { stream: true, messages });
      assert.equal(contentOf(parseSse(await d.text())).join(""), OTHER_STORY);
      const f = await (await storyChat("story-fresh", { messages })).json();
      assert.equal(f.choices[0].message.content, STORY);
      assert.equal(f.usage.completion_tokens, 60);
    }
  });

  test("fault-story-cut-<n>: role + n words, then the connection dies", async () => {
    const r = await storyChat("fault-story-cut-7", { stream: true });
    const { events, error, ended } = await readSseIncrementally(r, { stopAfterMs: 3000 });
    assert.ok(error, "reading the body must fail");
    assert.ok(!ended);
    assert.deepEqual(events[0].json.choices[0].delta, { role: "assistant", content: "" });
    assert.equal(contentOf(events).join(""), storyPrefix(7));
    assert.ok(!events.some(isDone));
    assert.ok(!events.some((e) => e.json?.choices?.[0]?.finish_reason));
    // applies to a continuation too
    const c = await storyChat("fault-story-cut-3", { stream: true, messages: withPrefill(storyPrefix(10)) });
    const cont = await readSseIncrementally(c, { stopAfterMs: 3000 });
    assert.ok(cont.error);
    assert.equal(contentOf(cont.events).join(""), " " + STORY.split(" ").slice(10, 13).join(" "));
    // non-streaming: half the JSON
    const n = await storyChat("fault-story-cut-7");
    assert.equal(n.status, 200);
    assert.ok(Number(n.headers.get("content-length")) > 300);
    await expectRejects(n.text());
  });

  test("fault-story-stall-<n>: role + n words, then silence", async () => {
    const ac = new AbortController();
    const r = await storyChat("fault-story-stall-4", { stream: true, signal: ac.signal });
    const { events, error, ended, reader } = await readSseIncrementally(r, { stopAfterMs: 300 });
    assert.equal(error, null);
    assert.ok(!ended, "still open");
    assert.equal(contentOf(events).join(""), storyPrefix(4));
    ac.abort();
    await reader.cancel().catch(() => {});
  });

  test("fault-story-error-<n>: n words, then the OpenRouter mid-stream error chunk", async () => {
    const r = await storyChat("fault-story-error-5", { stream: true });
    assert.equal(r.status, 200);
    const ev = parseSse(await r.text()); // ends properly
    const errIdx = ev.findIndex((e) => e.json?.error);
    assert.equal(errIdx, ev.length - 1);
    assert.equal(contentOf(ev.slice(0, errIdx)).join(""), storyPrefix(5));
    const e = ev[errIdx].json;
    assert.equal(e.error.code, "server_error");
    assert.equal(e.choices[0].finish_reason, "error");
    assert.equal(e.object, "chat.completion.chunk");
    assert.ok(!ev.some(isDone));
    const n = await storyChat("fault-story-error-5");
    assert.equal(n.status, 200);
    assert.equal((await n.json()).error.code, "server_error");
  });

  test("fault-story-malformed-<n>: n words, `data: {not json`, the rest exactly once", async () => {
    const r = await storyChat("fault-story-malformed-9", { stream: true });
    const ev = parseSse(await r.text());
    const bad = ev.findIndex((e) => e.data === "{not json");
    assert.ok(bad > 0);
    assert.equal(contentOf(ev.slice(0, bad)).join(""), storyPrefix(9));
    assert.equal(contentOf(ev).join(""), STORY);
    assert.equal(contentOf(ev).length, 60);
    assert.ok(isDone(ev.at(-1)));
    const n = await (await storyChat("fault-story-malformed-9")).json();
    assert.equal(n.choices[0].message.content, STORY);
  });

  test("fault-story-slow-first-<ms>: role at once, first word after ms, then the rest at once", async () => {
    const t0 = Date.now();
    const r = await storyChat("fault-story-slow-first-300", { stream: true });
    assert.ok(Date.now() - t0 < 200, "headers at once");
    const { events, times, ended } = await readSseIncrementally(r, { t0 });
    assert.ok(ended);
    assert.ok(times[0] < 200, `role after ${times[0]} ms`);
    const first = events.findIndex((e) => e.json?.choices?.[0]?.delta?.content);
    assert.ok(times[first] >= 290, `first word after ${times[first]} ms`);
    assert.ok(times.at(-1) - times[first] < 150, "the rest at once");
    assert.equal(contentOf(events).join(""), STORY);
  });

  test("attempts log: prefill and messages", async () => {
    await clearAttempts();
    await (await storyChat("story", { messages: withPrefill(storyPrefix(3)) })).arrayBuffer();
    await (await storyChat("story")).arrayBuffer();
    await (await storyChat("ok", { messages: [{ role: "user", content: "a" }, { role: "assistant", content: [{ type: "text", text: "b" }] }, { role: "user", content: "c" }] })).arrayBuffer();
    const log = mock.attempts();
    assert.equal(log[0].prefill, storyPrefix(3));
    assert.equal(log[0].messages, 2);
    assert.equal(log[0].fault, "story");
    assert.equal(log[1].prefill, null);
    assert.equal(log[1].messages, 1);
    assert.equal(log[2].prefill, null);
    assert.equal(log[2].messages, 3);
  });
});

// ── Anthropic Messages ─────────────────────────────────────────────────────────

const ANTHROPIC_HEADERS = { "x-api-key": "sk-ant-api03-test-key-000000wxyz", "anthropic-version": "2023-06-01" };

function post(path, body, { headers = {}, signal } = {}) {
  return fetch(mock.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal,
  });
}

function anthropic(model, { stream = false, messages = [{ role: "user", content: "hi" }], headers = ANTHROPIC_HEADERS, extra = {}, path = "/v1/messages", signal } = {}) {
  return post(path, { model, max_tokens: 256, stream, messages, ...extra }, { headers, signal });
}

const anthropicText = (events) =>
  events
    .filter((e) => e.json?.type === "content_block_delta" && e.json.delta.type === "text_delta")
    .map((e) => e.json.delta.text)
    .join("");

describe("Anthropic Messages", () => {
  test("non-streaming success shape", async () => {
    const r = await anthropic("claude-mock");
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /application\/json/);
    const b = await r.json();
    assert.match(b.id, /^msg_mock_\d+$/);
    assert.deepEqual(
      { ...b, id: "x", usage: { ...b.usage, input_tokens: 1 } },
      {
        id: "x",
        type: "message",
        role: "assistant",
        model: "claude-mock",
        content: [{ type: "text", text: "Hello from claude-mock" }],
        stop_reason: "end_turn",
        stop_sequence: null,
        usage: { input_tokens: 1, output_tokens: 3, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      },
    );
    assert.ok(b.usage.input_tokens > 0);
    // any path ending in /messages
    const r2 = await anthropic("ok", { path: "/anthropic/v1/messages" });
    assert.equal(r2.status, 200);
    assert.equal((await r2.json()).type, "message");
  });

  test("streaming: the real event sequence", async () => {
    const r = await anthropic("story", { stream: true });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /text\/event-stream/);
    const ev = parseEvents(await r.text());
    const names = ev.map((e) => e.event);
    assert.deepEqual(names, [
      "message_start",
      "content_block_start",
      "ping",
      ...Array(60).fill("content_block_delta"),
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    for (const e of ev) assert.equal(e.json.type, e.event, "data.type matches the event line");
    const start = ev[0].json.message;
    assert.deepEqual(start.content, []);
    assert.equal(start.role, "assistant");
    assert.equal(start.stop_reason, null);
    assert.equal(start.usage.input_tokens, 1);
    assert.deepEqual(ev[1].json, { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } });
    assert.deepEqual(ev[3].json, { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Once" } });
    assert.equal(anthropicText(ev), STORY);
    assert.deepEqual(ev.at(-3).json, { type: "content_block_stop", index: 0 });
    assert.deepEqual(ev.at(-2).json, {
      type: "message_delta",
      delta: { stop_reason: "end_turn", stop_sequence: null },
      usage: { output_tokens: 60 },
    });
  });

  test("anthropic-version and max_tokens are required", async () => {
    await clearAttempts();
    const noVersion = await post("/v1/messages", { model: "ok", max_tokens: 5, messages: [] }, { headers: { "x-api-key": "k" } });
    assert.equal(noVersion.status, 400);
    const b1 = await noVersion.json();
    assert.equal(b1.type, "error");
    assert.deepEqual(b1.error, { type: "invalid_request_error", message: "anthropic-version: header is required" });
    const noMax = await post("/v1/messages", { model: "ok", messages: [] }, { headers: ANTHROPIC_HEADERS });
    assert.equal(noMax.status, 400);
    assert.deepEqual((await noMax.json()).error, { type: "invalid_request_error", message: "max_tokens: Field required" });
    const bad = await post("/v1/messages", "{nope", { headers: ANTHROPIC_HEADERS });
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).type, "error");
    const log = mock.attempts();
    assert.deepEqual(log.map((a) => a.fault), ["missing-anthropic-version", "missing-max-tokens", "invalid-json-request"]);
    assert.ok(log.every((a) => a.api === "anthropic"));
  });

  const A_FAULTS = [
    ["fault-401", 401, "authentication_error", /^invalid x-api-key$/],
    ["fault-gemini-key", 401, "authentication_error", /x-api-key/],
    ["fault-402", 400, "invalid_request_error", /^Your credit balance is too low to access the Anthropic API/],
    ["fault-anthropic-credit", 400, "invalid_request_error", /^Your credit balance is too low/],
    ["fault-403-key-limit", 403, "permission_error", /permission/],
    ["fault-404", 404, "not_found_error", /^model: fault-404$/],
    ["fault-429-quota", 429, "rate_limit_error", /usage limits/],
    ["fault-500", 500, "api_error", /^Internal server error$/],
    ["fault-503", 529, "overloaded_error", /^Overloaded$/],
    ["fault-529", 529, "overloaded_error", /^Overloaded$/],
    ["fault-anthropic-overloaded", 529, "overloaded_error", /^Overloaded$/],
    ["fault-context-length", 400, "invalid_request_error", /^prompt is too long: 210000 tokens > 200000 maximum$/],
    ["fault-invalid-request", 400, "invalid_request_error", /max_tokens/],
    ["fault-413", 413, "request_too_large", /^Request exceeds the maximum allowed number of bytes\.$/],
    ["fault-content-filter", 400, "invalid_request_error", /^Output blocked by content filtering policy$/],
  ];

  test("HTTP faults in Anthropic's envelope (both modes)", async () => {
    for (const [name, status, type, message] of A_FAULTS) {
      for (const stream of [false, true]) {
        const r = await anthropic(name, { stream });
        assert.equal(r.status, status, `${name} stream=${stream}`);
        assert.match(r.headers.get("content-type"), /application\/json/);
        const b = await r.json();
        assert.equal(b.type, "error", name);
        assert.equal(b.error.type, type, name);
        assert.match(b.error.message, message, name);
        assert.match(b.request_id, /^req_mock_\d+$/);
      }
    }
    const html = await anthropic("fault-502-html");
    assert.equal(html.status, 502);
    assert.match(await html.text(), /502 Bad Gateway/);
    const region = await anthropic("fault-gemini-location");
    assert.equal(region.status, 403);
    assert.deepEqual(await region.json(), { error: { type: "forbidden", message: "Request not allowed" } });
    // every HTTP fault the chat path has answers in an Anthropic shape here
    const models = await (await fetch(mock.url + "/v1/models")).json();
    for (const { id } of models.data.filter((m) => /^fault-(4|5|gemini|anthropic|openrouter)/.test(m.id) && !/after|retry/.test(m.id))) {
      const r = await anthropic(id);
      const b = await r.text();
      assert.ok(r.status >= 400, id);
      if (id !== "fault-502-html" && id !== "fault-gemini-location") assert.equal(JSON.parse(b).type, "error", id);
    }
  });

  test("429: anthropic-ratelimit-* headers; retry-after only when the fault has one", async () => {
    const r = await anthropic("fault-429");
    assert.equal(r.status, 429);
    assert.equal(r.headers.get("anthropic-ratelimit-requests-limit"), "50");
    assert.equal(r.headers.get("anthropic-ratelimit-requests-remaining"), "0");
    const reset = r.headers.get("anthropic-ratelimit-requests-reset");
    assert.match(reset, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Date.parse(reset) > Date.now() - 2000);
    assert.equal(r.headers.get("retry-after"), null);
    assert.equal((await r.json()).error.type, "rate_limit_error");
    const s = await anthropic("fault-429-retry-after-3");
    assert.equal(s.status, 429);
    assert.equal(s.headers.get("retry-after"), "3");
    const d = Date.parse(s.headers.get("anthropic-ratelimit-requests-reset")) - Date.now();
    assert.ok(d > 1000 && d <= 4000, `reset in ${d} ms`);
    assert.equal((await s.json()).error.type, "rate_limit_error");
  });

  test("in-stream faults: cut, stall, error event, malformed", async () => {
    const cut = await anthropic("fault-stream-cut", { stream: true });
    const c = await readSseIncrementally(cut, { stopAfterMs: 3000 });
    assert.ok(c.error);
    assert.deepEqual(c.events.map((e) => e.json?.type), ["message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta"]);
    const storyCut = await anthropic("fault-story-cut-6", { stream: true });
    const sc = await readSseIncrementally(storyCut, { stopAfterMs: 3000 });
    assert.ok(sc.error);
    assert.equal(anthropicText(sc.events), storyPrefix(6));

    const ac = new AbortController();
    const stall = await anthropic("fault-story-stall-2", { stream: true, signal: ac.signal });
    const st = await readSseIncrementally(stall, { stopAfterMs: 300 });
    assert.ok(!st.ended && st.error === null);
    assert.equal(anthropicText(st.events), storyPrefix(2));
    ac.abort();
    await st.reader.cancel().catch(() => {});

    for (const [name, text] of [["fault-stream-error-event-after-content", "Hello"], ["fault-story-error-4", storyPrefix(4)]]) {
      const r = await anthropic(name, { stream: true });
      const ev = parseEvents(await r.text());
      assert.equal(ev.at(-1).event, "error", name);
      assert.deepEqual(ev.at(-1).json, { type: "error", error: { type: "overloaded_error", message: "Overloaded" } });
      assert.equal(anthropicText(ev), text);
      assert.ok(!ev.some((e) => e.event === "message_stop" || e.event === "message_delta"));
      // non-streaming: the overloaded answer
      const n = await anthropic(name);
      assert.equal(n.status, 529);
      assert.equal((await n.json()).error.type, "overloaded_error");
    }

    const mal = await anthropic("fault-story-malformed-3", { stream: true });
    const mev = parseEvents(await mal.text());
    const bad = mev.findIndex((e) => e.data === "{not json");
    assert.ok(bad > 0);
    assert.equal(mev[bad].event, "content_block_delta");
    assert.equal(anthropicText(mev.slice(0, bad)), storyPrefix(3));
    assert.equal(anthropicText(mev), STORY);
    assert.equal(mev.at(-1).event, "message_stop");

    const noStop = await anthropic("fault-no-done", { stream: true });
    const nev = parseEvents(await noStop.text());
    assert.equal(nev.at(-1).event, "message_delta");
  });

  test("tool use: a tool_use block calling the first tool", async () => {
    const tools = [
      { name: "get_weather", description: "Weather", input_schema: { type: "object", properties: { location: { type: "string" } } } },
      { name: "other", input_schema: { type: "object" } },
    ];
    const b = await (await anthropic("tool-weather", { extra: { tools } })).json();
    assert.equal(b.stop_reason, "tool_use");
    assert.equal(b.content.length, 1);
    assert.equal(b.content[0].type, "tool_use");
    assert.equal(b.content[0].name, "get_weather");
    assert.match(b.content[0].id, /^toolu_/);
    assert.deepEqual(b.content[0].input, { location: "Paris" });
    const ev = parseEvents(await (await anthropic("tool-weather", { stream: true, extra: { tools } })).text());
    const start = ev.find((e) => e.event === "content_block_start").json.content_block;
    assert.equal(start.type, "tool_use");
    assert.equal(start.name, "get_weather");
    assert.deepEqual(start.input, {});
    const deltas = ev.filter((e) => e.event === "content_block_delta").map((e) => e.json.delta);
    assert.ok(deltas.length >= 2 && deltas.every((d) => d.type === "input_json_delta"));
    assert.deepEqual(JSON.parse(deltas.map((d) => d.partial_json).join("")), { location: "Paris" });
    assert.equal(ev.find((e) => e.event === "message_delta").json.delta.stop_reason, "tool_use");
    // without tools: a text answer
    const plain = await (await anthropic("tool-weather")).json();
    assert.equal(plain.content[0].text, "Hello from tool-weather");
  });

  test("prefill continues natively; story-no-prefill answers Anthropic's 400", async () => {
    await clearAttempts();
    const p = storyPrefix(20);
    const b = await (await anthropic("story", { messages: withPrefill(p, "go on"), extra: { system: "You tell stories." } })).json();
    assert.equal(p + b.content[0].text, STORY);
    assert.equal(b.usage.input_tokens, 2 + 20 + 3, "messages + system words");
    assert.equal(b.usage.output_tokens, 40);
    const blocks = [{ role: "user", content: [{ type: "text", text: "go" }] }, { role: "assistant", content: [{ type: "text", text: p }] }];
    const ev = parseEvents(await (await anthropic("story", { stream: true, messages: blocks })).text());
    assert.equal(p + anthropicText(ev), STORY);
    const no = await anthropic("story-no-prefill", { messages: withPrefill(p) });
    assert.equal(no.status, 400);
    const nb = await no.json();
    assert.equal(nb.type, "error");
    assert.deepEqual(nb.error, {
      type: "invalid_request_error",
      message: "This model does not support assistant message prefill. The conversation must end with a user message.",
    });
    const log = mock.attempts();
    assert.equal(log[0].prefill, p);
    assert.equal(log[0].messages, 2);
    assert.equal(log[0].api, "anthropic");
    assert.equal(log[0].api_key, ANTHROPIC_HEADERS["x-api-key"]);
    assert.equal(log[0].authorization, null);
  });

  test("fault-require-key, flaps and fault-after-<n>-ok in Anthropic's shapes", async () => {
    const none = await anthropic("fault-require-key", { headers: { "anthropic-version": "2023-06-01" } });
    assert.equal(none.status, 401);
    assert.deepEqual((await none.json()).error, { type: "authentication_error", message: "x-api-key header is required" });
    const wrong = await anthropic("fault-require-key", { headers: { "anthropic-version": "2023-06-01", authorization: "Bearer sk-ant-x" } });
    assert.equal(wrong.status, 401, "Authorization is not Anthropic's key header");
    await wrong.arrayBuffer();
    const ok = await anthropic("fault-require-key");
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();

    await clearAttempts();
    const after = [];
    for (let i = 0; i < 2; i++) {
      const r = await anthropic("fault-after-1-ok");
      after.push(r.status);
      await r.arrayBuffer();
    }
    assert.deepEqual(after, [529, 200]);

    const set = await post("/__control/flap", { name: "anth", down_ms: 5000, status: 503, retry_after: 2 });
    assert.equal(set.status, 200);
    const f = await anthropic("flap-anth");
    assert.equal(f.status, 503);
    assert.equal(f.headers.get("retry-after"), "2");
    assert.equal((await f.json()).error.type, "overloaded_error");
    await fetch(mock.url + "/__control/flap", { method: "DELETE" });
  });
});

// ── Gemini ─────────────────────────────────────────────────────────────────────

const GEMINI_KEY = "AIzaSyMockKey0000000000000000000wxyz";

function gemini(model, { stream = false, sse = true, contents = [{ role: "user", parts: [{ text: "hi" }] }], headers = { "x-goog-api-key": GEMINI_KEY }, extra = {}, version = "v1beta", query = "", signal } = {}) {
  const method = stream ? "streamGenerateContent" : "generateContent";
  const qs = [stream && sse ? "alt=sse" : "", query].filter(Boolean).join("&");
  return post(`/${version}/models/${model}:${method}${qs ? "?" + qs : ""}`, { contents, ...extra }, { headers, signal });
}

const geminiText = (objs) =>
  objs
    .flatMap((o) => o?.candidates?.[0]?.content?.parts ?? [])
    .map((p) => p.text ?? "")
    .join("");

describe("Gemini", () => {
  test("generateContent success shape; model from the path; key header or ?key=", async () => {
    await clearAttempts();
    const r = await gemini("gemini-2.5-flash");
    assert.equal(r.status, 200);
    const b = await r.json();
    assert.deepEqual(b.candidates, [
      { content: { parts: [{ text: "Hello from gemini-2.5-flash" }], role: "model" }, finishReason: "STOP", index: 0 },
    ]);
    assert.equal(b.modelVersion, "gemini-2.5-flash");
    const u = b.usageMetadata;
    assert.equal(u.candidatesTokenCount, 3);
    assert.equal(u.totalTokenCount, u.promptTokenCount + u.candidatesTokenCount);
    const q = await gemini("ok", { headers: {}, query: "key=AIzaQueryKey", version: "v1" });
    assert.equal(q.status, 200);
    await q.arrayBuffer();
    const log = mock.attempts();
    assert.equal(log[0].api, "gemini");
    assert.equal(log[0].model, "gemini-2.5-flash");
    assert.equal(log[0].api_key, GEMINI_KEY);
    assert.equal(log[0].path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert.equal(log[0].stream, false);
    assert.equal(log[1].api_key, "AIzaQueryKey");
    assert.equal(log[1].query, "key=AIzaQueryKey");
    assert.equal(log[1].path, "/v1/models/ok:generateContent");
  });

  test("streamGenerateContent?alt=sse: one response per chunk, finishReason + usage on the last", async () => {
    await clearAttempts();
    const r = await gemini("story", { stream: true, contents: [{ role: "user", parts: [{ text: "a story please" }] }] });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /text\/event-stream/);
    const text = await r.text();
    assert.ok(!/^event:/m.test(text), "no event lines");
    const ev = parseSse(text);
    assert.equal(ev.length, 60);
    assert.ok(ev.every((e) => e.json?.candidates?.[0]?.content?.role === "model"));
    assert.equal(geminiText(ev.map((e) => e.json)), STORY);
    assert.equal(ev[0].json.candidates[0].content.parts[0].text, "Once");
    for (const e of ev.slice(0, -1)) {
      assert.equal(e.json.candidates[0].finishReason, undefined);
      assert.equal(e.json.usageMetadata, undefined);
    }
    const last = ev.at(-1).json;
    assert.equal(last.candidates[0].finishReason, "STOP");
    assert.deepEqual(last.usageMetadata, { promptTokenCount: 3, candidatesTokenCount: 60, totalTokenCount: 63 });
    assert.equal(mock.attempts()[0].stream, true);
  });

  test("streamGenerateContent without alt=sse: a JSON array (errors list-wrapped too)", async () => {
    const r = await gemini("ok", { stream: true, sse: false });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), /application\/json/);
    const arr = await r.json();
    assert.ok(Array.isArray(arr));
    assert.equal(arr.length, 3);
    assert.equal(geminiText(arr), "Hello from ok");
    assert.equal(arr.at(-1).candidates[0].finishReason, "STOP");
    const e = await gemini("fault-503", { stream: true, sse: false });
    assert.equal(e.status, 503);
    const eb = await e.json();
    assert.ok(Array.isArray(eb));
    assert.equal(eb[0].error.status, "UNAVAILABLE");
    const e2 = await gemini("fault-503", { stream: true });
    assert.equal((await e2.json()).error.status, "UNAVAILABLE", "alt=sse: a plain object");
  });

  const G_FAULTS = [
    ["fault-401", 400, "INVALID_ARGUMENT", /^API key not valid\. Please pass a valid API key\.$/],
    ["fault-gemini-key", 400, "INVALID_ARGUMENT", /^API key not valid/],
    ["fault-429", 429, "RESOURCE_EXHAUSTED", /quota/],
    ["fault-gemini-429", 429, "RESOURCE_EXHAUSTED", /quota/],
    ["fault-429-quota", 429, "RESOURCE_EXHAUSTED", /quota/],
    ["fault-500", 500, "INTERNAL", /internal error/],
    ["fault-503", 503, "UNAVAILABLE", /^The model is overloaded\. Please try again later\.$/],
    ["fault-529", 503, "UNAVAILABLE", /^The model is overloaded/],
    ["fault-404", 404, "NOT_FOUND", /^models\/fault-404 is not found for API version v1beta, or is not supported for generateContent\./],
    ["fault-context-length", 400, "INVALID_ARGUMENT", /^The input token count \(1200000\) exceeds the maximum number of tokens allowed \(1048576\)\.$/],
    ["fault-gemini-location", 400, "FAILED_PRECONDITION", /^User location is not supported for the API use\.$/],
    ["fault-403-key-limit", 403, "PERMISSION_DENIED", /suspended/],
    ["fault-invalid-request", 400, "INVALID_ARGUMENT", /invalid argument/],
  ];

  test("HTTP faults in Google's envelope", async () => {
    for (const [name, status, statusName, message] of G_FAULTS) {
      for (const stream of [false, true]) {
        const r = await gemini(name, { stream });
        assert.equal(r.status, status, `${name} stream=${stream}`);
        const b = await r.json();
        assert.equal(b.error.code, status, name);
        assert.equal(b.error.status, statusName, name);
        assert.match(b.error.message, message, name);
      }
    }
    const key = await (await gemini("fault-401")).json();
    assert.ok(key.error.details.some((d) => d["@type"].endsWith("ErrorInfo") && d.reason === "API_KEY_INVALID"));
    const retry = (b) => b.error.details.find((d) => d["@type"].endsWith("RetryInfo"))?.retryDelay;
    const quotaId = (b) => b.error.details.find((d) => d["@type"].endsWith("QuotaFailure")).violations[0].quotaId;
    const rl = await (await gemini("fault-429")).json();
    assert.equal(retry(rl), "2s");
    assert.match(quotaId(rl), /PerMinute/);
    const rl7 = await gemini("fault-429-retry-after-7");
    assert.equal(rl7.status, 429);
    assert.equal(retry(await rl7.json()), "7s");
    const day = await (await gemini("fault-429-quota")).json();
    assert.equal(quotaId(day), "GenerateRequestsPerDayPerProjectPerModel-FreeTier");
    assert.equal(retry(day), "2s");
    const v1 = await (await gemini("fault-404", { version: "v1" })).json();
    assert.match(v1.error.message, /for API version v1,/);
  });

  test("fault-content-filter: 200 with promptFeedback.blockReason / a SAFETY candidate", async () => {
    const r = await gemini("fault-content-filter");
    assert.equal(r.status, 200);
    const b = await r.json();
    assert.equal(b.promptFeedback.blockReason, "SAFETY");
    assert.equal(b.candidates, undefined);
    const s = await gemini("fault-content-filter", { stream: true });
    const ev = parseSse(await s.text());
    assert.equal(ev.length, 1);
    assert.equal(ev[0].json.candidates[0].finishReason, "SAFETY");
    assert.equal(geminiText(ev.map((e) => e.json)), "");
  });

  test("in-stream faults: cut, stall, in-band error, malformed", async () => {
    const cut = await gemini("fault-story-cut-5", { stream: true });
    const c = await readSseIncrementally(cut, { stopAfterMs: 3000 });
    assert.ok(c.error);
    assert.equal(geminiText(c.events.map((e) => e.json)), storyPrefix(5));
    assert.ok(c.events.every((e) => !e.json.candidates[0].finishReason));

    const ac = new AbortController();
    const stall = await gemini("fault-stream-stall", { stream: true, signal: ac.signal });
    const st = await readSseIncrementally(stall, { stopAfterMs: 300 });
    assert.ok(!st.ended && st.error === null);
    assert.equal(geminiText(st.events.map((e) => e.json)), "Hello from");
    ac.abort();
    await st.reader.cancel().catch(() => {});

    const err = await gemini("fault-story-error-3", { stream: true });
    const ev = parseSse(await err.text());
    assert.equal(geminiText(ev.slice(0, -1).map((e) => e.json)), storyPrefix(3));
    assert.deepEqual(ev.at(-1).json, { error: { code: 503, message: "The model is overloaded. Please try again later.", status: "UNAVAILABLE" } });
    const errN = await gemini("fault-story-error-3");
    assert.equal(errN.status, 503);
    await errN.arrayBuffer();

    const mal = await gemini("fault-story-malformed-2", { stream: true });
    const mev = parseSse(await mal.text());
    const bad = mev.findIndex((e) => e.data === "{not json");
    assert.equal(bad, 2);
    assert.equal(geminiText(mev.filter((e) => e.json).map((e) => e.json)), STORY);

    const arrCut = await gemini("fault-stream-cut", { stream: true, sse: false });
    await expectRejects(arrCut.text());
  });

  test("function calling: a functionCall part for the first function", async () => {
    const tools = [{ functionDeclarations: [{ name: "get_weather", parameters: { type: "OBJECT" } }] }];
    const b = await (await gemini("tool-weather", { extra: { tools } })).json();
    assert.deepEqual(b.candidates[0].content.parts, [{ functionCall: { name: "get_weather", args: { location: "Paris" } } }]);
    assert.equal(b.candidates[0].finishReason, "STOP");
    const ev = parseSse(await (await gemini("tool-weather", { stream: true, extra: { tools } })).text());
    assert.equal(ev.length, 1);
    assert.deepEqual(ev[0].json.candidates[0].content.parts[0].functionCall, { name: "get_weather", args: { location: "Paris" } });
    assert.equal(ev[0].json.candidates[0].finishReason, "STOP");
  });

  test("a trailing role:model content is a prefill; story-no-prefill; missing contents; fault-require-key", async () => {
    await clearAttempts();
    const p = storyPrefix(33);
    const contents = [
      { role: "user", parts: [{ text: "story" }] },
      { role: "model", parts: [{ text: p }] },
    ];
    const ev = parseSse(await (await gemini("story", { stream: true, contents, extra: { systemInstruction: { parts: [{ text: "Be kind." }] } } })).text());
    assert.equal(p + geminiText(ev.map((e) => e.json)), STORY);
    assert.deepEqual(ev.at(-1).json.usageMetadata, { promptTokenCount: 1 + 33 + 2, candidatesTokenCount: 27, totalTokenCount: 63 });
    const log = mock.attempts();
    assert.equal(log[0].prefill, p);
    assert.equal(log[0].messages, 2);
    const no = await gemini("story-no-prefill", { contents });
    assert.equal(no.status, 400);
    const nb = await no.json();
    assert.equal(nb.error.status, "INVALID_ARGUMENT");
    assert.match(nb.error.message, /does not support assistant message prefill/);
    const missing = await post("/v1beta/models/ok:generateContent", { prompt: "x" }, { headers: { "x-goog-api-key": GEMINI_KEY } });
    assert.equal(missing.status, 400);
    assert.equal((await missing.json()).error.status, "INVALID_ARGUMENT");
    const noKey = await gemini("fault-require-key", { headers: {} });
    assert.equal(noKey.status, 403);
    const kb = await noKey.json();
    assert.equal(kb.error.status, "PERMISSION_DENIED");
    assert.match(kb.error.message, /unregistered callers/);
    const wrong = await gemini("fault-require-key", { headers: { authorization: "Bearer x" } });
    assert.equal(wrong.status, 403);
    await wrong.arrayBuffer();
    for (const opts of [{}, { headers: {}, query: "key=k" }]) {
      const ok = await gemini("fault-require-key", opts);
      assert.equal(ok.status, 200);
      await ok.arrayBuffer();
    }
  });
});

// ── OpenAI Responses ───────────────────────────────────────────────────────────

function responses(model, { stream = false, input = "hi", extra = {}, headers = { authorization: "Bearer sk-test" }, signal } = {}) {
  return post("/v1/responses", { model, input, stream, ...extra }, { headers, signal });
}

const RESPONSES_ORDER = (n) => [
  "response.created",
  "response.in_progress",
  "response.output_item.added",
  "response.content_part.added",
  ...Array(n).fill("response.output_text.delta"),
  "response.output_text.done",
  "response.content_part.done",
  "response.output_item.done",
  "response.completed",
];

describe("OpenAI Responses", () => {
  test("non-streaming: a completed response object", async () => {
    const r = await responses("gpt-mock", { extra: { instructions: "Be brief." } });
    assert.equal(r.status, 200);
    const b = await r.json();
    assert.equal(b.object, "response");
    assert.equal(b.status, "completed");
    assert.equal(b.model, "gpt-mock");
    assert.equal(b.instructions, "Be brief.");
    assert.match(b.id, /^resp_/);
    assert.equal(b.output.length, 1);
    assert.equal(b.output[0].type, "message");
    assert.equal(b.output[0].role, "assistant");
    assert.deepEqual(b.output[0].content, [{ type: "output_text", text: "Hello from gpt-mock", annotations: [] }]);
    assert.equal(b.usage.output_tokens, 3);
    assert.equal(b.usage.total_tokens, b.usage.input_tokens + b.usage.output_tokens);
  });

  test("streaming: event order, sequence numbers, deltas", async () => {
    const r = await responses("story", { stream: true, input: [{ role: "user", content: [{ type: "input_text", text: "a story" }] }], extra: { instructions: "Be brief." } });
    assert.match(r.headers.get("content-type"), /text\/event-stream/);
    const ev = parseEvents(await r.text());
    assert.deepEqual(ev.map((e) => e.event), RESPONSES_ORDER(60));
    ev.forEach((e, i) => {
      assert.equal(e.json.type, e.event);
      assert.equal(e.json.sequence_number, i);
    });
    assert.equal(ev[0].json.response.status, "in_progress");
    const deltas = ev.filter((e) => e.event === "response.output_text.delta");
    assert.equal(deltas.map((e) => e.json.delta).join(""), STORY);
    assert.equal(deltas[0].json.output_index, 0);
    assert.equal(deltas[0].json.content_index, 0);
    assert.equal(deltas[0].json.item_id, ev[2].json.item.id);
    assert.equal(ev.find((e) => e.event === "response.output_text.done").json.text, STORY);
    const done = ev.at(-1).json.response;
    assert.equal(done.status, "completed");
    assert.equal(done.output[0].content[0].text, STORY);
    assert.deepEqual(
      { i: done.usage.input_tokens, o: done.usage.output_tokens, t: done.usage.total_tokens },
      { i: 4, o: 60, t: 64 },
    );
  });

  test("HTTP faults: the same OpenAI bodies as chat", async () => {
    for (const [name, status, check] of ERROR_FAULTS.filter(([n]) => ["fault-401", "fault-429", "fault-503", "fault-529", "fault-context-length"].includes(n))) {
      for (const stream of [false, true]) {
        const r = await responses(name, { stream });
        assert.equal(r.status, status, name);
        assert.ok(check(await r.json()), name);
      }
    }
    const ra = await responses("fault-429-retry-after-2");
    assert.equal(ra.headers.get("retry-after"), "2");
    await ra.arrayBuffer();
  });

  test("in-stream failure: response.failed after the deltas; cut; non-stream failed object", async () => {
    const r = await responses("fault-story-error-3", { stream: true });
    const ev = parseEvents(await r.text());
    assert.deepEqual(ev.map((e) => e.event), [...RESPONSES_ORDER(3).slice(0, 7), "response.failed"]);
    const failed = ev.at(-1).json.response;
    assert.equal(failed.status, "failed");
    assert.equal(failed.error.code, "server_error");
    assert.ok(failed.error.message.length > 0);
    assert.equal(ev.filter((e) => e.event === "response.output_text.delta").map((e) => e.json.delta).join(""), storyPrefix(3));
    const after = parseEvents(await (await responses("fault-stream-error-event-after-content", { stream: true })).text());
    assert.equal(after.at(-1).event, "response.failed");
    const n = await responses("fault-story-error-3");
    assert.equal(n.status, 200);
    assert.equal((await n.json()).status, "failed");
    const cut = await responses("fault-stream-cut", { stream: true });
    const c = await readSseIncrementally(cut, { stopAfterMs: 3000 });
    assert.ok(c.error);
    assert.equal(c.events.filter((e) => e.json?.type === "response.output_text.delta").length, 2);
  });

  test("prefill from the input items; no-prefill 400", async () => {
    await clearAttempts();
    const p = storyPrefix(50);
    const input = [
      { role: "user", content: "story" },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: p }] },
    ];
    const b = await (await responses("story", { input })).json();
    assert.equal(p + b.output[0].content[0].text, STORY);
    const no = await responses("story-no-prefill", { input });
    assert.equal(no.status, 400);
    const nb = await no.json();
    assert.equal(nb.error.param, "input");
    assert.match(nb.error.message, /does not support assistant message prefill/);
    const log = mock.attempts();
    assert.equal(log[0].api, "responses");
    assert.equal(log[0].prefill, p);
    assert.equal(log[0].messages, 2);
  });
});

// ── Embeddings ─────────────────────────────────────────────────────────────────

function embeddings(model, input, extra = {}) {
  return post("/v1/embeddings", { model, input, ...extra }, { headers: { authorization: "Bearer sk-test" } });
}

describe("Embeddings", () => {
  test("deterministic unit vectors, one per input; usage", async () => {
    const a = await (await embeddings("text-embedding-3-small", ["alpha beta", "gamma", [1, 2, 3]])).json();
    assert.equal(a.object, "list");
    assert.equal(a.model, "text-embedding-3-small");
    assert.equal(a.data.length, 3);
    a.data.forEach((d, i) => {
      assert.equal(d.object, "embedding");
      assert.equal(d.index, i);
      assert.equal(d.embedding.length, 8);
      const norm = Math.hypot(...d.embedding);
      assert.ok(Math.abs(norm - 1) < 1e-5, `norm ${norm}`);
    });
    assert.deepEqual(a.usage, { prompt_tokens: 2 + 1 + 3, total_tokens: 6 });
    const b = await (await embeddings("other-model", "alpha beta")).json();
    assert.deepEqual(b.data[0].embedding, a.data[0].embedding, "same text, same vector");
    assert.notDeepEqual(a.data[0].embedding, a.data[1].embedding);
    const tokens = await (await embeddings("m", [[1, 2], [3]])).json();
    assert.equal(tokens.data.length, 2);
    const single = await (await embeddings("m", [5, 6, 7])).json();
    assert.equal(single.data.length, 1, "one token array is one input");
    assert.equal(single.usage.prompt_tokens, 3);
  });

  test("dimensions (up to 64) and base64 (little-endian float32)", async () => {
    const d16 = await (await embeddings("m", "hello", { dimensions: 16 })).json();
    assert.equal(d16.data[0].embedding.length, 16);
    const d100 = await (await embeddings("m", "hello", { dimensions: 100 })).json();
    assert.equal(d100.data[0].embedding.length, 64);
    const f = await (await embeddings("m", ["x", "y"])).json();
    const b = await (await embeddings("m", ["x", "y"], { encoding_format: "base64" })).json();
    for (let i = 0; i < 2; i++) {
      assert.equal(typeof b.data[i].embedding, "string");
      const buf = Buffer.from(b.data[i].embedding, "base64");
      assert.equal(buf.length, 8 * 4);
      const floats = Array.from({ length: 8 }, (_, k) => buf.readFloatLE(k * 4));
      assert.deepEqual(floats, f.data[i].embedding);
    }
    const bad = await embeddings("m", "x", { dimensions: 0 });
    assert.equal(bad.status, 400);
    await bad.arrayBuffer();
  });

  test("HTTP faults as on chat; stream faults answer a success; bad input → 400", async () => {
    await clearAttempts();
    const r = await embeddings("fault-429-retry-after-1", "x");
    assert.equal(r.status, 429);
    assert.equal(r.headers.get("retry-after"), "1");
    assert.equal((await r.json()).error.code, "rate_limit_exceeded");
    const a = await embeddings("fault-401", "x");
    assert.equal(a.status, 401);
    assert.equal((await a.json()).error.code, "invalid_api_key");
    for (const name of ["fault-stream-cut", "fault-stream-stall", "fault-story-cut-3", "story", "fault-malformed-chunk"]) {
      const s = await embeddings(name, "x");
      assert.equal(s.status, 200, name);
      assert.equal((await s.json()).data.length, 1);
    }
    const missing = await post("/v1/embeddings", { model: "m" });
    assert.equal(missing.status, 400);
    assert.equal((await missing.json()).error.type, "invalid_request_error");
    const weird = await embeddings("m", [{ nope: 1 }]);
    assert.equal(weird.status, 400);
    await weird.arrayBuffer();
    const empty = await embeddings("fault-empty-choices", "x");
    assert.deepEqual((await empty.json()).data, []);
    const log = mock.attempts();
    assert.ok(log.every((x) => x.api === "embeddings" && x.messages === 0 && x.prefill === null));
    assert.equal(log[0].fault, "fault-429-retry-after-1");
    assert.equal(log[2].fault, "ok");
  });
});

// ── model lists ────────────────────────────────────────────────────────────────

describe("model lists", () => {
  test("OpenAI, Anthropic (anthropic-version) and Gemini (/v1beta/models) shapes", async () => {
    const o = await (await fetch(mock.url + "/v1/models")).json();
    assert.equal(o.object, "list");
    assert.ok(o.data.some((m) => m.id === "story"));
    const a = await (await fetch(mock.url + "/v1/models", { headers: { "anthropic-version": "2023-06-01", "x-api-key": "k" } })).json();
    assert.equal(a.has_more, false);
    assert.ok(a.data.every((m) => m.type === "model" && typeof m.display_name === "string" && /Z$/.test(m.created_at)));
    assert.equal(a.first_id, a.data[0].id);
    assert.equal(a.last_id, a.data.at(-1).id);
    const g = await (await fetch(mock.url + "/v1beta/models")).json();
    assert.ok(Array.isArray(g.models));
    assert.ok(g.models.some((m) => m.name === "models/fault-503"));
    assert.ok(g.models.every((m) => m.supportedGenerationMethods.includes("generateContent")));
    // the OpenAI-compatible Gemini base keeps the OpenAI shape
    const go = await (await fetch(mock.url + "/v1beta/openai/models")).json();
    assert.equal(go.object, "list");
  });

  test("bad input on the native endpoints never crashes the mock", async () => {
    for (const path of ["/v1/messages", "/v1beta/models/ok:generateContent", "/v1beta/models/ok:streamGenerateContent", "/v1/responses", "/v1/embeddings"]) {
      for (const body of ["{not json", "[1]", "", "null", JSON.stringify({ model: 5, messages: "x", contents: 1, input: {} })]) {
        const r = await post(path, body, { headers: ANTHROPIC_HEADERS });
        assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `${path} ${body} → ${r.status}`);
        await r.arrayBuffer();
      }
      const g = await fetch(mock.url + path);
      assert.equal(g.status, 404);
      await g.arrayBuffer();
    }
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
