// End-to-end tests of the Worker (src/hosts/worker.rs) in workerd via `wrangler dev`,
// against the fault-injecting mock upstream (tests/e2e/mock-upstream.mjs).
//
//   node --test tests/e2e/worker.test.mjs          (~1 min; needs build/ and node_modules)
//
// Every fault runs twice, non-streaming and streaming. Each (fault, mode) gets its
// own chain AND its own copy of the "primary" provider (`p-<id>-<n|s>`, same mock
// base URL, same two keys PRIMARY_KEY_1/2): cooldowns are per scope
// (key|provider|KEY, model|provider|model, endpoint|provider), so a 401 or a reset in
// one scenario would otherwise cool the primary down for every later one. The
// fallback of scenario X is `secondary/ok-X`, so the mock's log tells whose answer
// the client got. For each scenario the test checks the client's result AND what
// the mock saw (attempts per model, which key, spacing from `at_ms`).

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import {
  startMock,
  startGateway,
  chat,
  request,
  mockAttempts,
  flap,
  closedPort,
  secretKey,
  streamText,
  parseAttemptsHeader,
  findLeaks,
  sleep,
  MESSAGES,
  gatewayToken,
  e2eKeys,
  FAST_TIMEOUTS,
  FAST_TIMEOUT_MS,
} from "./harness.mjs";

const TOKEN = gatewayToken();
// ECHO_KEY has the characters URL and base64 encodings change.
const KEYS = e2eKeys({ OTHER_KEY: secretKey("o-"), ECHO_KEY: `sk-echo+${secretKey("e-").slice(3)}/x=` });
const KEY_NAME = Object.fromEntries(Object.entries(KEYS).map(([name, value]) => [value, name]));

// Short timeouts so silent/stalled upstreams resolve fast.
const BUDGETS = { max_attempts: 6, deadline_ms: 30_000, ...FAST_TIMEOUTS };
const TIMEOUT_MS = FAST_TIMEOUT_MS;

// ── Scenarios ─────────────────────────────────────────────────────────────────
//
// id → {model (the mock fault), dialect?, refused? (base_url on a closed port),
//       azure? (Azure dialect, /openai/deployments/…), targets? (extra targets),
//       check(ctx, mode)}.
// ctx = {r (chat result), all (new mock attempts), tried (attempts on the fault
//        model, with .key = key NAME and .dt = ms since the first), fb (attempts on the
//        fallback model), fbModel, hdr (parsed x-llm-failover-attempts), id, mode}

const SCENARIOS = [
  {
    id: "401",
    model: "fault-401",
    check(c) {
      keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_2"]); // rotates to the 2nd key, no wait
      kinds(c, ["auth", "auth"]);
      fallbackAnswer(c);
    },
  },
  {
    id: "402",
    model: "fault-402",
    dialect: "openrouter",
    check(c) {
      keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_2"]);
      kinds(c, ["quota_exhausted", "quota_exhausted"]);
      fallbackAnswer(c);
    },
  },
  {
    id: "403-key-limit",
    model: "fault-403-key-limit",
    dialect: "openrouter",
    check(c) {
      keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_2"]);
      kinds(c, ["quota_exhausted", "quota_exhausted"]);
      fallbackAnswer(c);
    },
  },
  {
    id: "429-retry-after-1",
    model: "fault-429-retry-after-1",
    check(c) {
      // Honours Retry-After: 1 on the SAME key, then rotates (no wait), same again.
      keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_1", "PRIMARY_KEY_2", "PRIMARY_KEY_2"]);
      gap(c, 0, 1, 1000, 2500);
      gap(c, 1, 2, 0, 900);
      gap(c, 2, 3, 1000, 2500);
      kinds(c, ["rate_limited", "rate_limited", "rate_limited", "rate_limited"]);
      fallbackAnswer(c);
    },
  },
  {
    id: "429-no-hint",
    model: "fault-429",
    check(c) {
      // No hint: one jittered retry (≥ 0.5 s, ≤ 1 s nominal) on the same key.
      keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_1", "PRIMARY_KEY_2", "PRIMARY_KEY_2"]);
      gap(c, 0, 1, 500, 2000);
      gap(c, 2, 3, 500, 2000);
      kinds(c, ["rate_limited", "rate_limited", "rate_limited", "rate_limited"]);
      fallbackAnswer(c);
    },
  },
  {
    id: "429-quota",
    model: "fault-429-quota",
    check(c) {
      // insufficient_quota: no wait, next key, then fallback.
      keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_2"]);
      gap(c, 0, 1, 0, 900);
      kinds(c, ["quota_exhausted", "quota_exhausted"]);
      fallbackAnswer(c);
      assert.ok(c.r.ms < 2000, `no wait expected, took ${c.r.ms} ms`);
    },
  },
  ...["500", "503"].map((s) => ({
    id: s,
    model: `fault-${s}`,
    check(c) {
      sameTargetRetryThenFallback(c, s === "500" ? "server_error" : "overloaded");
    },
  })),
  {
    id: "529",
    model: "fault-529",
    dialect: "anthropic",
    check(c) {
      sameTargetRetryThenFallback(c, "overloaded");
    },
  },
  {
    id: "502-html",
    model: "fault-502-html",
    check(c) {
      sameTargetRetryThenFallback(c, "server_error");
    },
  },
  {
    id: "404",
    model: "fault-404",
    check(c) {
      keys(c, ["PRIMARY_KEY_1"]);
      kinds(c, ["model_not_found"]);
      fallbackAnswer(c);
    },
  },
  {
    id: "reset",
    model: "fault-reset",
    check(c) {
      sameTargetRetryThenFallback(c, "connection");
    },
  },
  {
    id: "refused",
    model: "ok-behind-closed-port",
    refused: true,
    check(c) {
      assert.equal(c.tried.length, 0, "nothing listens there: the mock sees nothing");
      kinds(c, ["connection", "connection"]); // one retry, then the fallback
      fallbackAnswer(c);
      assert.ok(c.r.ms >= 250, `the retry waits ≥ 250 ms (took ${c.r.ms} ms)`);
    },
  },
  {
    id: "silent",
    model: "fault-silent",
    check(c) {
      keys(c, ["PRIMARY_KEY_1"]); // a silent target is not retried
      kinds(c, ["timeout"]);
      fallbackAnswer(c);
      const waited = c.fb[0].at_ms - c.tried[0].at_ms;
      assert.ok(waited >= TIMEOUT_MS - 50 && waited < TIMEOUT_MS + 2000, `fallback after the header timeout (${waited} ms)`);
    },
  },
  {
    id: "slow-first-token",
    model: "fault-slow-first-token-4000",
    check(c) {
      keys(c, ["PRIMARY_KEY_1"]);
      kinds(c, ["timeout"]);
      fallbackAnswer(c); // (stream: every chunk is the fallback's, nothing of the slow one)
      const waited = c.fb[0].at_ms - c.tried[0].at_ms;
      assert.ok(waited >= TIMEOUT_MS - 50 && waited < 3500, `fallback after the first-token/response timeout (${waited} ms)`);
    },
  },
  {
    id: "stream-cut",
    model: "fault-stream-cut",
    check(c, mode) {
      if (mode === "n") {
        // Half a JSON body then a cut: the stream ended early (connection): one retry.
        sameTargetRetryThenFallback(c, "connection");
        return;
      }
      keys(c, ["PRIMARY_KEY_1"]);
      continuedAnswer(c, "Hello from", "connection");
    },
  },
  {
    id: "stream-stall",
    model: "fault-stream-stall",
    check(c, mode) {
      keys(c, ["PRIMARY_KEY_1"]);
      if (mode === "n") {
        kinds(c, ["timeout"]);
        fallbackAnswer(c);
        return;
      }
      continuedAnswer(c, "Hello from", "timeout");
      const waited = c.fb[0].at_ms - c.tried[0].at_ms;
      assert.ok(waited >= TIMEOUT_MS - 50, `the continuation starts after the idle timeout (${waited} ms)`);
    },
  },
  {
    id: "malformed-chunk",
    model: "fault-malformed-chunk",
    check(c, mode) {
      assert.equal(c.r.status, 200);
      assert.ok(c.r.ms < 10_000, "never a hang");
      if (mode === "n") {
        // Non-streaming, the mock answers normally.
        keys(c, ["PRIMARY_KEY_1"]);
        assert.equal(c.r.json.choices[0].message.content, "Hello from fault-malformed-chunk");
        assert.equal(c.r.headers["x-llm-failover-target"], `${c.provider}/fault-malformed-chunk`);
        return;
      }
      // The bad event is dropped (never forwarded) and the stream goes on: the
      // whole answer from the primary, no fallback.
      keys(c, ["PRIMARY_KEY_1"]);
      assert.equal(c.fb.length, 0);
      assert.equal(c.r.done, true);
      assert.equal(streamText(c.r.events), "Hello from fault-malformed-chunk");
      assert.ok(!c.r.text.includes("not json"), "the malformed event is not forwarded");
      assert.ok(!c.r.events.some((e) => e.json?.error));
    },
  },
  {
    id: "no-done",
    model: "fault-no-done",
    check(c, mode) {
      keys(c, ["PRIMARY_KEY_1"]);
      assert.equal(c.fb.length, 0);
      assert.equal(c.r.status, 200);
      assert.equal(c.r.headers["x-llm-failover-target"], `${c.provider}/fault-no-done`);
      if (mode === "n") {
        assert.equal(c.r.json.choices[0].message.content, "Hello from fault-no-done");
        return;
      }
      // The gateway adds the missing [DONE]: a complete answer.
      assert.equal(streamText(c.r.events), "Hello from fault-no-done");
      assert.equal(c.r.events.at(-1).data, "[DONE]");
      assert.equal(c.r.events.filter((e) => e.data === "[DONE]").length, 1);
      assert.ok(c.r.events.some((e) => e.json?.choices?.[0]?.finish_reason === "stop"));
      assert.ok(!c.r.events.some((e) => e.json?.error), "no error event");
    },
  },
  {
    id: "context-length-larger",
    model: "fault-context-length",
    // secondary's window is smaller: skipped; other's is larger: answers.
    targets: (id, m) => [
      { provider: "secondary", model: `ok-small-${id}-${m}`, context_window: 4096 },
      { provider: "other", model: `ok-big-${id}-${m}`, context_window: 128_000 },
    ],
    check(c, mode) {
      keys(c, ["PRIMARY_KEY_1"]); // never resent to the same model
      const small = c.all.filter((a) => a.model.startsWith("ok-small-"));
      const big = c.all.filter((a) => a.model.startsWith("ok-big-"));
      assert.equal(small.length, 0, "the smaller-window target is skipped");
      assert.equal(big.length, 1);
      assert.equal(keyOf(big[0]), "OTHER_KEY");
      assert.equal(c.r.status, 200);
      assert.equal(c.r.headers["x-llm-failover-target"], `other/ok-big-context-length-larger-${mode}`);
      const text = mode === "n" ? c.r.json.choices[0].message.content : streamText(c.r.events);
      assert.equal(text, `Hello from ok-big-context-length-larger-${mode}`);
      if (mode === "s") assert.ok(c.r.done);
    },
  },
  {
    id: "context-length-none-larger",
    model: "fault-context-length",
    check(c) {
      keys(c, ["PRIMARY_KEY_1"]);
      assert.equal(c.fb.length, 0, "the fallback's window is not larger: not tried");
      assert.equal(c.r.status, 400);
      assert.equal(c.r.json.error.type, "invalid_request_error");
      assert.match(c.r.json.error.message, /maximum context length is 4097 tokens/);
      kinds(c, ["context_length"]);
    },
  },
  {
    id: "content-filter",
    model: "fault-content-filter",
    azure: true,
    check(c) {
      keys(c, ["PRIMARY_KEY_1"]); // not retried
      assert.equal(c.fb.length, 0, "no fallback (the chain did not opt in)");
      assert.equal(c.r.status, 400);
      assert.deepEqual(c.r.json, c.reference.json, "the provider's reason comes back unchanged");
      assert.equal(c.r.json.error.innererror.code, "ResponsibleAIPolicyViolation");
    },
  },
  {
    id: "invalid-request",
    model: "fault-invalid-request",
    check(c) {
      assert.equal(c.all.length, 1, "exactly one upstream attempt");
      keys(c, ["PRIMARY_KEY_1"]);
      assert.equal(c.r.status, 400);
      assert.equal(c.r.text, c.reference.text, "the provider's body, byte for byte");
      assert.equal(c.r.json.error.param, "max_tokens");
    },
  },
  {
    id: "anthropic-credit",
    model: "fault-anthropic-credit",
    dialect: "anthropic",
    check(c) {
      keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_2"]); // a billing 400 is quota, not a request error
      kinds(c, ["quota_exhausted", "quota_exhausted"]);
      fallbackAnswer(c);
    },
  },
  {
    id: "anthropic-overloaded",
    model: "fault-anthropic-overloaded",
    dialect: "anthropic",
    check(c) {
      sameTargetRetryThenFallback(c, "overloaded");
    },
  },
  {
    id: "gemini-429",
    model: "fault-gemini-429",
    dialect: "gemini",
    check(c) {
      // RetryInfo retryDelay "2s" (no header): honoured on the same key.
      keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_1", "PRIMARY_KEY_2", "PRIMARY_KEY_2"]);
      gap(c, 0, 1, 2000, 3500);
      gap(c, 1, 2, 0, 900);
      gap(c, 2, 3, 2000, 3500);
      fallbackAnswer(c);
    },
  },
  {
    id: "gemini-key",
    model: "fault-gemini-key",
    dialect: "gemini",
    check(c) {
      keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_2"]);
      kinds(c, ["auth", "auth"]);
      fallbackAnswer(c);
    },
  },
  {
    id: "openrouter-wrapped",
    model: "fault-openrouter-wrapped",
    dialect: "openrouter",
    check(c) {
      // The provider behind OpenRouter is limited ("try again in 2s" inside
      // metadata.raw): wait 2 s, retry once; the scope is the model, so no key rotation.
      keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_1"]);
      gap(c, 0, 1, 2000, 3500);
      kinds(c, ["rate_limited", "rate_limited"]);
      fallbackAnswer(c);
    },
  },
  {
    id: "openrouter-stream-error",
    model: "fault-openrouter-stream-error",
    dialect: "openrouter",
    check(c) {
      // An error before any content: an invisible fallback (one retry first).
      sameTargetRetryThenFallback(c, "server_error");
    },
  },
  {
    id: "stream-error-after-content",
    model: "fault-stream-error-event-after-content",
    dialect: "openrouter",
    check(c, mode) {
      if (mode === "n") {
        sameTargetRetryThenFallback(c, "server_error");
        return;
      }
      keys(c, ["PRIMARY_KEY_1"]);
      continuedAnswer(c, "Hello", "server_error");
    },
  },
  {
    id: "invalid-json-200",
    model: "fault-invalid-json-200",
    check(c, mode) {
      if (mode === "n") {
        keys(c, ["PRIMARY_KEY_1"]);
        kinds(c, ["invalid_response"]);
      } else {
        // Asked for a stream, got a truncated JSON body: no event at all, read as a
        // stream that ended early (connection, model scope): one retry.
        keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_1"]);
        kinds(c, ["connection", "connection"]);
      }
      fallbackAnswer(c);
    },
  },
  {
    id: "empty-choices",
    model: "fault-empty-choices",
    check(c) {
      keys(c, ["PRIMARY_KEY_1"]);
      kinds(c, ["invalid_response"]);
      fallbackAnswer(c);
    },
  },
];

// ── Assertion helpers ─────────────────────────────────────────────────────────

function keyOf(a) {
  const bearer = (a.authorization ?? "").replace(/^Bearer /, "");
  return KEY_NAME[bearer] ?? KEY_NAME[a.api_key] ?? `<unknown key ${a.authorization ?? a.api_key}>`;
}

function keys(c, expected) {
  assert.deepEqual(
    c.tried.map((a) => a.key),
    expected,
    `${c.id}/${c.mode}: keys of the attempts on ${c.model} (mock saw: ${describeAttempts(c.all)})`,
  );
}

function gap(c, i, j, min, max) {
  const d = c.tried[j].at_ms - c.tried[i].at_ms;
  assert.ok(d >= min && d <= max, `${c.id}/${c.mode}: attempts ${i}→${j} ${d} ms apart, expected [${min}, ${max}]`);
}

/** The failed attempts' kinds in x-llm-failover-attempts (the fallback's entry excluded). */
function kinds(c, expected) {
  const failed = c.hdr.filter((h) => h.target.startsWith(`${c.provider}/`)).map((h) => h.outcome);
  assert.deepEqual(failed, expected, `${c.id}/${c.mode}: x-llm-failover-attempts = ${c.r.headers["x-llm-failover-attempts"]}`);
}

function sameTargetRetryThenFallback(c, kind) {
  keys(c, ["PRIMARY_KEY_1", "PRIMARY_KEY_1"]); // exactly one retry, same key
  gap(c, 0, 1, 250, 1500); // jittered backoff ≥ 250 ms
  kinds(c, [kind, kind]);
  fallbackAnswer(c);
}

/** A complete answer from the scenario's fallback, with its model. */
function fallbackAnswer(c) {
  const { r, fbModel } = c;
  assert.equal(r.status, 200, `${c.id}/${c.mode}: status ${r.status}: ${r.text.slice(0, 300)}`);
  assert.equal(c.fb.length, 1, `the fallback answered once (mock saw: ${describeAttempts(c.all)})`);
  assert.equal(keyOf(c.fb[0]), "SECONDARY_KEY");
  assert.equal(r.headers["x-llm-failover-target"], `secondary/${fbModel}`);
  const last = c.hdr.at(-1);
  assert.equal(last.target, `secondary/${fbModel}`);
  // (A stream's headers go out at commit: its own entry is still open then.)
  assert.ok(["ok", "pending", "streaming"].includes(last.outcome), `fallback entry ${last.outcome}`);
  if (c.mode === "n") {
    assert.equal(r.json.object, "chat.completion");
    assert.equal(r.json.model, fbModel);
    assert.equal(r.json.choices[0].message.content, `Hello from ${fbModel}`);
    assert.equal(r.json.choices[0].finish_reason, "stop");
    return;
  }
  assert.match(r.headers["content-type"], /^text\/event-stream/);
  const chunks = r.events.filter((e) => e.data !== "[DONE]");
  for (const e of chunks) {
    assert.equal(e.json?.model, fbModel, `every chunk is the fallback's: ${e.data.slice(0, 200)}`);
  }
  assert.equal(streamText(r.events), `Hello from ${fbModel}`);
  assert.ok(chunks.some((e) => e.json.choices?.[0]?.finish_reason === "stop"));
  assert.equal(r.events.at(-1).data, "[DONE]");
  assert.equal(r.events.filter((e) => e.data === "[DONE]").length, 1);
}

/**
 * A stream that broke after `partial` and was finished by the fallback, asked
 * afresh (openai-compatible documents no prefill): its answer begins with what the
 * client had, so the rest is spliced into the same stream, which ends with [DONE].
 */
function continuedAnswer(c, partial, kind) {
  const { r, fbModel } = c;
  assert.equal(r.status, 200);
  assert.match(r.headers["content-type"], /^text\/event-stream/);
  assert.equal(r.headers["x-llm-failover-target"], `${c.provider}/${c.model}`, "the primary started the answer");
  assert.equal(c.fb.length, 1, `the fallback finished it (mock saw: ${describeAttempts(c.all)})`);
  assert.equal(c.fb[0].prefill, null, "asked afresh, no prefill");
  assert.equal(r.done, true, `[DONE] once the answer is complete: ${r.text.slice(-400)}`);
  assert.ok(!r.events.some((e) => e.json?.error), "no error event");
  const text = streamText(r.events);
  assert.ok(text.startsWith(partial));
  assert.equal(text, `Hello from ${fbModel}`, "the fallback's answer after what the client had");
  const last = r.events.filter((e) => e.json?.llm_failover).at(-1);
  assert.equal(last?.json.llm_failover.continued, true);
  assert.deepEqual(
    last.json.llm_failover.parts.map((p) => p.target),
    [`${c.provider}/${c.model}`, `secondary/${fbModel}`],
  );
  assert.equal(r.events.filter((e) => e.data === "[DONE]").length, 1);
  void kind;
}

/** A stream that started: the partial content, then one in-band error event, no [DONE]. */
function partialThenErrorEvent(c, partial, code) {
  const { r } = c;
  assert.equal(r.status, 200);
  assert.match(r.headers["content-type"], /^text\/event-stream/);
  assert.equal(r.done, false, "no [DONE] after a failure");
  assert.ok(
    !r.events.some((e) => e.json?.choices?.some((ch) => ch.finish_reason === "stop")),
    "no finish_reason: stop after a failure",
  );
  const last = r.events.at(-1);
  assert.ok(last.json?.error, `the stream ends with an error event: ${last.data}`);
  assert.equal(last.json.error.code, code);
  assert.equal(last.json.error.type, "upstream_error");
  assert.match(last.json.error.message, /failed after the answer started/);
  assert.equal(r.events.filter((e) => e.json?.error).length, 1);
  assert.equal(streamText(r.events), partial);
}

function describeAttempts(list) {
  if (!list.length) return "(nothing)";
  const t0 = list[0].at_ms;
  return list.map((a) => `${a.model}@+${a.at_ms - t0}ms/${keyOf(a)}/${a.fault}`).join(", ");
}

// ── Setup ─────────────────────────────────────────────────────────────────────

let mock;
let gw;
let deadPort;
const references = {}; // fault model → the mock's own answer (status, text, json)

function buildConfig() {
  const upstream = `${mock.url}/v1`;
  const providers = [
    { name: "primary", dialect: "openai-compatible", base_url: upstream, keys: ["PRIMARY_KEY_1", "PRIMARY_KEY_2"] },
    { name: "secondary", dialect: "openai-compatible", base_url: upstream, keys: ["SECONDARY_KEY"] },
    { name: "other", dialect: "openai-compatible", base_url: upstream, keys: ["OTHER_KEY"] },
    // A second account on the same upstream, for the pinned 401 (which cools both of
    // its keys for 10 min: on `primary` it would take primary out of later tests).
    { name: "primary-b", dialect: "openai-compatible", base_url: upstream, keys: ["PRIMARY_KEY_1", "PRIMARY_KEY_2"] },
    { name: "limited", dialect: "openai-compatible", base_url: upstream, keys: ["PRIMARY_KEY_1", "PRIMARY_KEY_2"] },
  ];
  const chains = [];
  for (const s of SCENARIOS) {
    for (const m of ["n", "s"]) {
      const p = `p-${s.id}-${m}`;
      const base = s.refused ? `http://127.0.0.1:${deadPort}/v1` : s.azure ? `${mock.url}/openai` : upstream;
      providers.push({
        name: p,
        dialect: s.azure ? "azure" : s.dialect ?? "openai-compatible",
        base_url: base,
        keys: ["PRIMARY_KEY_1", "PRIMARY_KEY_2"],
        ...(s.azure ? { api_version: "2024-10-21" } : {}),
      });
      const rest = s.targets
        ? s.targets(s.id, m)
        : [{ provider: "secondary", model: `ok-${s.id}-${m}`, context_window: 8192 }];
      chains.push({
        name: `c-${s.id}-${m}`,
        targets: [{ provider: p, model: s.model, context_window: 8192 }, ...rest],
        budgets: BUDGETS,
      });
    }
  }
  // Flapping backend: short cooldowns so recovery shows within the test.
  chains.push({
    name: "flapping",
    targets: [
      { provider: "primary", model: "flap-primary" },
      { provider: "secondary", model: "ok-flap" },
    ],
    budgets: BUDGETS,
    policy: { overloaded: { cooldown: { base_ms: 1000, max_ms: 3000 } } },
  });
  // Budgets: a committed stream slower than the deadline; a single rate-limited
  // target whose Retry-After (30 s) is beyond max_retry_wait_ms.
  chains.push({
    name: "deadline-stream",
    targets: [{ provider: "other", model: "slow-stream-1000" }],
    budgets: { ...BUDGETS, deadline_ms: 2000 },
  });
  chains.push({
    name: "all-rate-limited",
    targets: [{ provider: "limited", model: "fault-429-retry-after-30" }],
    budgets: BUDGETS,
  });
  chains.push({
    name: "plain",
    targets: [{ provider: "primary", model: "ok-plain" }, { provider: "other", model: "ok-plain-other" }],
  });
  // Upstreams that echo the key they got (raw, base64 Basic-auth, URL-encoded): a
  // provider of their own each, so their 401 cools nothing else.
  for (const form of ["raw", "base64", "url"]) {
    providers.push({ name: `echo-${form}`, dialect: "openai-compatible", base_url: upstream, keys: ["ECHO_KEY"] });
  }
  // A pinned target that will be cooling down.
  providers.push({ name: "cooling", dialect: "openai-compatible", base_url: upstream, keys: ["PRIMARY_KEY_1"] });
  return { providers, chains, defaults: { budgets: BUDGETS } };
}

before(async () => {
  mock = await startMock();
  deadPort = await closedPort();
  gw = await startGateway({ config: buildConfig(), secrets: KEYS, tokens: [TOKEN] });
  for (const s of SCENARIOS) {
    if (references[s.model]) continue;
    const res = await fetch(`${mock.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer reference-call" },
      body: JSON.stringify({ model: s.model, messages: MESSAGES }),
      signal: AbortSignal.timeout(500),
    }).catch(() => null);
    if (!res) continue; // silent/reset faults have no reference answer
    const text = await res.text().catch(() => "");
    let json;
    try {
      json = JSON.parse(text);
    } catch {}
    references[s.model] = { status: res.status, text, json };
  }
});

after(async () => {
  await gw?.stop();
  await mock?.close();
});

function lastSeq() {
  const all = mock.attempts();
  return all.length ? all.at(-1).seq : 0;
}

// ── The fault matrix ──────────────────────────────────────────────────────────

describe("every fault, non-streaming and streaming", () => {
  for (const s of SCENARIOS) {
    for (const mode of ["n", "s"]) {
      test(`${s.id} (${mode === "n" ? "non-streaming" : "streaming"})`, async (t) => {
        const mark = lastSeq();
        const r = await chat(gw.url, { model: `c-${s.id}-${mode}`, messages: MESSAGES }, { token: TOKEN, stream: mode === "s" });
        await sleep(50); // let the mock log anything still in flight
        const all = mock.attempts().filter((a) => a.seq > mark);
        const tried = all.filter((a) => a.model === s.model).map((a) => ({ ...a, key: keyOf(a) }));
        const fbModel = `ok-${s.id}-${mode}`;
        const fb = all.filter((a) => a.model === fbModel);
        const hdr = parseAttemptsHeader(r.headers["x-llm-failover-attempts"]);
        t.diagnostic(`client: ${r.status} in ${r.ms} ms; x-llm-failover-attempts: ${r.headers["x-llm-failover-attempts"]}`);
        t.diagnostic(`mock saw: ${describeAttempts(all)}`);
        s.check({ id: s.id, mode, model: s.model, provider: `p-${s.id}-${mode}`, r, all, tried, fb, fbModel, hdr, reference: references[s.model] }, mode);
      });
    }
  }

  // A context-length 400 with no larger window comes back as the provider sent it
  // (clients detect OpenAI's "context_length_exceeded" code).
  test("context-length with no larger window: the provider's body unchanged", async () => {
    const r = await chat(gw.url, { model: "c-context-length-none-larger-n", messages: MESSAGES }, { token: TOKEN });
    assert.equal(r.status, 400);
    assert.equal(r.text, references["fault-context-length"].text);
  });
});

// ── Pinned ────────────────────────────────────────────────────────────────────

describe("pinned requests never leave their provider", () => {
  // The streaming case pins a different fault: the first run leaves
  // model|primary|fault-503 cooling down, and a pinned request then waits for it
  // (up to max_retry_wait_ms) before its probe.
  for (const [stream, fault, status] of [
    [false, "fault-503", 503],
    [true, "fault-500", 500],
  ]) {
    test(`primary/${fault} (${stream ? "streaming" : "non-streaming"}): primary's real error, nothing elsewhere`, async () => {
      const mark = lastSeq();
      const r = await chat(gw.url, { model: `primary/${fault}`, messages: MESSAGES }, { token: TOKEN, stream });
      await sleep(50);
      const all = mock.attempts().filter((a) => a.seq > mark);
      // One retry on the same key after a backoff, and nothing on secondary/other.
      assert.deepEqual(all.map((a) => [a.model, keyOf(a)]), [
        [fault, "PRIMARY_KEY_1"],
        [fault, "PRIMARY_KEY_1"],
      ], describeAttempts(all));
      assert.ok(all[1].at_ms - all[0].at_ms >= 250);
      assert.equal(r.status, status);
      assert.deepEqual(r.json, references[fault].json, "the upstream's own body");
      assert.equal(r.headers["x-llm-failover-target"], undefined);
      assert.equal(r.headers["x-llm-failover-attempts"], `primary/${fault}=${fault === "fault-503" ? "overloaded" : "server_error"}, primary/${fault}=${fault === "fault-503" ? "overloaded" : "server_error"}`);
    });
  }

  test("a pinned 401 rotates the provider's keys and returns its 401", async () => {
    const mark = lastSeq();
    const r = await chat(gw.url, { model: "primary-b/fault-401", messages: MESSAGES }, { token: TOKEN });
    await sleep(50);
    const all = mock.attempts().filter((a) => a.seq > mark);
    assert.deepEqual(all.map((a) => [a.model, keyOf(a)]), [
      ["fault-401", "PRIMARY_KEY_1"],
      ["fault-401", "PRIMARY_KEY_2"],
    ]);
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, "invalid_api_key");
    assert.match(r.json.error.message, /Incorrect API key provided/);
  });
});

// ── Client errors ─────────────────────────────────────────────────────────────

describe("client errors", () => {
  const url = () => `${gw.url}/v1/chat/completions`;

  test("bad JSON → 400 invalid_json, nothing sent upstream", async () => {
    const mark = lastSeq();
    const r = await request(url(), { method: "POST", token: TOKEN, headers: { "content-type": "application/json" }, body: '{"model": "plain", "messages": [' });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.type, "invalid_request_error");
    assert.equal(r.json.error.code, "invalid_json");
    assert.equal(lastSeq(), mark);
  });

  test("missing messages → 400 naming the param", async () => {
    const r = await request(url(), { method: "POST", token: TOKEN, headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "plain" }) });
    assert.equal(r.status, 400);
    assert.equal(r.json.error.param, "messages");
    assert.match(r.json.error.message, /messages/);
  });

  test("unknown model → 404 model_not_found listing the valid names", async () => {
    const r = await chat(gw.url, { model: "no-such-chain", messages: MESSAGES }, { token: TOKEN });
    assert.equal(r.status, 404);
    assert.equal(r.json.error.code, "model_not_found");
    assert.equal(r.json.error.param, "model");
    assert.match(r.json.error.message, /no-such-chain/);
    for (const name of ["plain", "flapping", "c-503-n", "primary/ok-plain"]) {
      assert.ok(r.json.error.message.includes(name), `message lists ${name}: ${r.json.error.message.slice(0, 300)}`);
    }
  });

  test("no token / a wrong token when GATEWAY_TOKENS is set → 401", async () => {
    const mark = lastSeq();
    for (const token of [undefined, "wrong-token"]) {
      const r = await chat(gw.url, { model: "plain", messages: MESSAGES }, { token });
      assert.equal(r.status, 401);
      assert.equal(r.json.error.type, "authentication_error");
      assert.equal(r.json.error.code, "invalid_api_key");
    }
    const status = await request(`${gw.url}/v1/status`);
    assert.equal(status.status, 401, "/v1/status needs the token too");
    assert.equal(lastSeq(), mark, "nothing reached the upstream");
    const ok = await chat(gw.url, { model: "plain", messages: MESSAGES }, { token: TOKEN });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.model, "ok-plain");
  });

  test("413 for a body over 4 MiB", async () => {
    const big = JSON.stringify({ model: "plain", messages: [{ role: "user", content: "x".repeat(4 * 1024 * 1024 + 10) }] });
    const mark = lastSeq();
    const r = await request(url(), { method: "POST", token: TOKEN, headers: { "content-type": "application/json" }, body: big });
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, "request_too_large");
    assert.equal(lastSeq(), mark);
  });

  test("the auth scheme is case-insensitive, and x-api-key carries the token too", async () => {
    for (const scheme of ["Bearer", "bearer", "BEARER", "BeArEr"]) {
      const r = await chat(gw.url, { model: "plain", messages: MESSAGES }, { headers: { authorization: `${scheme} ${TOKEN}` } });
      assert.equal(r.status, 200, `${scheme}: ${r.text.slice(0, 200)}`);
    }
    const x = await chat(gw.url, { model: "plain", messages: MESSAGES }, { headers: { "x-api-key": TOKEN } });
    assert.equal(x.status, 200, "x-api-key (Anthropic SDK, Claude Code)");
    const basic = await chat(gw.url, { model: "plain", messages: MESSAGES }, { headers: { authorization: `Basic ${TOKEN}` } });
    assert.equal(basic.status, 401, "another scheme is not a bearer token");
  });

  test("GET /v1/models needs the token like every /v1 route", async () => {
    const r = await request(`${gw.url}/v1/models`);
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, "invalid_api_key");
    assert.ok(!r.text.includes("flapping"), "lists nothing");
  });

  test("GET /v1/models lists the chains and pinned names", async () => {
    const r = await request(`${gw.url}/v1/models`, { token: TOKEN });
    assert.equal(r.status, 200);
    assert.equal(r.json.object, "list");
    const ids = r.json.data.map((m) => m.id);
    for (const s of SCENARIOS) assert.ok(ids.includes(`c-${s.id}-n`) && ids.includes(`c-${s.id}-s`), s.id);
    assert.ok(ids.includes("flapping") && ids.includes("plain"));
    assert.ok(ids.includes("primary/flap-primary"));
    assert.equal(r.json.data.find((m) => m.id === "plain").owned_by, "llm-failover chain");
    assert.equal(r.json.data.find((m) => m.id === "primary/ok-plain").owned_by, "llm-failover pinned");
  });

  test("GET /health, 405 and 404 are OpenAI-style", async () => {
    const h = await request(`${gw.url}/health`);
    assert.equal(h.status, 200);
    const m = await request(`${gw.url}/v1/chat/completions`, { token: TOKEN });
    assert.equal(m.status, 405);
    assert.equal(m.json.error.type, "invalid_request_error");
    const n = await request(`${gw.url}/v2/nothing`, { token: TOKEN });
    assert.equal(n.status, 404);
    assert.equal(n.json.error.code, "not_found");
  });

  test("CORS: OPTIONS preflight 204 and the trace headers are exposed", async () => {
    const r = await request(`${gw.url}/v1/chat/completions`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST" } });
    assert.equal(r.status, 204);
    assert.equal(r.headers["access-control-allow-origin"], "*");
    assert.match(r.headers["access-control-allow-headers"], /authorization/);
    assert.match(r.headers["access-control-expose-headers"], /x-llm-failover-attempts/);
  });

  test("GET /v1/status lists the scopes the faults above opened", async () => {
    const r = await request(`${gw.url}/v1/status`, { token: TOKEN });
    assert.equal(r.status, 200);
    const scopes = r.json.scopes.map((s) => s.scope);
    assert.ok(scopes.includes("key|p-401-n|PRIMARY_KEY_1"), scopes.join(" "));
    assert.ok(scopes.includes("key|p-402-n|PRIMARY_KEY_2"), scopes.join(" "));
    const e = r.json.scopes.find((s) => s.scope === "key|p-401-n|PRIMARY_KEY_1");
    assert.equal(e.kind, "auth");
    assert.ok(e.until > r.json.now + 5 * 60_000, "auth cools the key for 10 min");
  });
});

// ── Budgets ───────────────────────────────────────────────────────────────────

describe("budgets", () => {
  test("every way out rate limited beyond max_retry_wait_ms → 429 with Retry-After, no wait", async () => {
    const mark = lastSeq();
    const r = await chat(gw.url, { model: "all-rate-limited", messages: MESSAGES }, { token: TOKEN });
    const all = mock.attempts().filter((a) => a.seq > mark);
    // Each key once: Retry-After 30 s is beyond max_retry_wait_ms (10 s).
    assert.deepEqual(all.map(keyOf), ["PRIMARY_KEY_1", "PRIMARY_KEY_2"]);
    assert.ok(r.ms < 3000, `did not wait (${r.ms} ms)`);
    assert.equal(r.status, 429);
    assert.equal(r.json.error.type, "rate_limit_error");
    assert.equal(r.headers["retry-after"], "30");
  });

  test("a client that goes away mid-stream ends the session: logged as cancelled, nothing more sent upstream", async () => {
    const ac = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "other/slow-stream-400", messages: MESSAGES, stream: true }),
      signal: ac.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    await reader.read(); // the stream started
    const mark = lastSeq();
    ac.abort();
    let line;
    for (let i = 0; i < 60 && !line; i++) {
      await sleep(100);
      line = gw.logs().split("\n").find((l) => l.includes("other/slow-stream-400") && /cancel/i.test(l));
    }
    assert.ok(line, `no cancelled run in the log: ${gw.logs().slice(-1500)}`);
    assert.equal(lastSeq(), mark, "no other attempt was made for a client that left");
  });

  // deadline_ms is "the whole request" (README); the core ends a committed run at
  // the deadline with after_commit (FallbackRun::finish_deadline), but the Worker's
  // committed-stream loop (client_stream) never looks at the deadline.
  test("deadline_ms also bounds a stream that already started", async (t) => {
    const r = await chat(gw.url, { model: "deadline-stream", messages: MESSAGES }, { token: TOKEN, stream: true });
    t.diagnostic(`deadline 2000 ms; stream ended after ${r.ms} ms; done=${r.done}; last event: ${r.events.at(-1)?.data.slice(0, 200)}`);
    assert.equal(r.status, 200);
    assert.ok(r.ms < 2000 + 800, `the stream must end near the 2000 ms deadline, it took ${r.ms} ms`);
    assert.equal(r.done, false, "cut at the deadline: no [DONE]");
    assert.equal(r.events.at(-1).json?.error?.code, "timeout");
  });
});

// ── Flapping backend ──────────────────────────────────────────────────────────

describe("a flapping backend", () => {
  test("breaker: few attempts while down, a probe brings it back soon after", async (t) => {
    const DOWN_MS = 4000;
    const COOLDOWN_MAX = 3000;
    const mark = lastSeq();
    await flap(mock.url, { name: "primary", down_ms: DOWN_MS, status: 503 });
    // The mock runs in this process: its at_ms and Date.now() share a clock.
    const flapStart = Date.now();
    const outageEnd = flapStart + DOWN_MS;
    const pending = [];
    const sent = [];
    while (Date.now() - flapStart < 7000) {
      sent.push(Date.now() - flapStart);
      pending.push(chat(gw.url, { model: "flapping", messages: MESSAGES }, { token: TOKEN }));
      await sleep(300);
    }
    const results = await Promise.all(pending);
    await sleep(50);
    for (const r of results) assert.equal(r.status, 200, r.text.slice(0, 200));

    const attempts = (await mockAttempts(mock.url, "flap-primary")).filter((a) => a.seq > mark);
    const failed = attempts.filter((a) => a.fault !== "ok");
    const okAfter = attempts.filter((a) => a.fault === "ok");
    const requestsDuringOutage = sent.filter((t) => t < DOWN_MS).length;
    const detail = `${failed.length} failed attempts for ${requestsDuringOutage} requests during the outage (${results.length} in all); primary attempts: ${attempts.map((a) => `+${a.at_ms - flapStart}ms:${a.fault}`).join(" ")}`;
    t.diagnostic(detail);
    assert.ok(failed.length >= 1, detail);
    assert.ok(failed.length <= Math.floor(requestsDuringOutage / 2), `breaker open: ${detail}`);

    // A probe is a single attempt: after the first request (one retry), no request
    // makes more than one primary attempt while the breaker is open or half-open.
    const perRequest = results.map((r) => parseAttemptsHeader(r.headers["x-llm-failover-attempts"]).filter((h) => h.target === "primary/flap-primary").length);
    assert.ok(perRequest.slice(1).every((n) => n <= 1), `primary attempts per request: ${perRequest}`);
    // Recovery: a half-open probe succeeds within the cooldown's max after the outage ends.
    assert.ok(okAfter.length >= 1, `primary served again: ${detail}`);
    const firstOk = okAfter[0].at_ms;
    assert.ok(firstOk - outageEnd <= COOLDOWN_MAX + 1000, `first success ${firstOk - outageEnd} ms after the outage ended (${detail})`);
    // And from then on primary answers.
    const last = results.at(-1);
    assert.equal(last.headers["x-llm-failover-target"], "primary/flap-primary");
    assert.equal(last.json.model, "flap-primary");
  });
});

// ── Pinned targets that are cooling down ─────────────────────────────────────

describe("a pinned target that is cooling down", () => {
  test("answers 503 cooling_down with the real remaining time in Retry-After", async () => {
    // A 429 with Retry-After: 30 (beyond max_retry_wait_ms, so nobody waits for it):
    // the pinned request gets the provider's 429, and the key+model cools for 30 s.
    const first = await chat(gw.url, { model: "cooling/fault-429-retry-after-30", messages: MESSAGES }, { token: TOKEN });
    assert.equal(first.status, 429);
    const mark = lastSeq();
    const r = await chat(gw.url, { model: "cooling/fault-429-retry-after-30", messages: MESSAGES }, { token: TOKEN });
    assert.equal(lastSeq(), mark, "nothing is sent while it cools down");
    assert.equal(r.status, 503);
    assert.equal(r.json.error.code, "cooling_down", r.text);
    assert.match(r.json.error.message, /cooling down/);
    const retry = Number(r.headers["retry-after"]);
    assert.ok(retry >= 25 && retry <= 30, `Retry-After ${r.headers["retry-after"]} s is what is left of the 30 s cooldown`);
  });
});

// ── Keys never leak ───────────────────────────────────────────────────────────

describe("keys echoed back by an upstream, in any encoding", () => {
  const key = () => KEYS.ECHO_KEY;
  const forms = () => {
    const b64 = Buffer.from(`apikey:${key()}`).toString("base64");
    return [key(), encodeURIComponent(key()), b64, b64.slice(12, 30), key().slice(8, 24)];
  };
  for (const form of ["raw", "base64", "url"]) {
    test(`${form}: never in the response, /v1/status or the logs`, async () => {
      const r = await chat(gw.url, { model: `echo-${form}/fault-401-echo-${form}`, messages: MESSAGES }, { token: TOKEN });
      assert.equal(r.status, 401, "the pinned provider's own 401");
      assert.match(r.text, /\[redacted\]/, r.text);
      const status = await request(`${gw.url}/v1/status`, { token: TOKEN });
      const reason = status.json.scopes.filter((s) => s.scope.includes(`echo-${form}`)).map((s) => s.reason).join(" ");
      assert.ok(reason.length > 0, "the key's cooldown is listed");
      for (const f of forms()) {
        assert.ok(!r.text.includes(f), `the response holds ${f}: ${r.text}`);
        assert.ok(!status.text.includes(f), `/v1/status holds ${f}`);
        assert.ok(!gw.logs().includes(f), `the logs hold ${f}`);
      }
    });
  }
});

// ── Keys never leak ───────────────────────────────────────────────────────────

describe("keys never leak", () => {
  test("no response body or header, nor the wrangler logs, contains a key value", async () => {
    // Still routed through the mock with the right keys (the mock's log may hold them).
    const seen = new Set(mock.attempts().map(keyOf));
    for (const k of Object.keys(KEYS)) assert.ok(seen.has(k), `${k} was used`);
    const leaks = findLeaks({ ...KEYS }, { "wrangler logs": gw.logs() });
    assert.deepEqual(leaks, []);
    assert.ok(!gw.logs().includes(TOKEN), "the gateway token is not logged either");
  });
});
