// Mid-stream continuation, end to end: the Worker in workerd (`wrangler dev`)
// against the fault upstream's "story" models (tests/e2e/README.md). A stream that
// breaks after it started — cut, stalled, or an in-band error after N words — is
// finished by another target, word for word, in the same client stream; the
// official openai clients (Node and, when installed, Python) parse every stream.
//
//   node --test tests/e2e/continuation.test.mjs      (~20 s)

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startMock, startGateway, chat, streamText, parseSse, REPO, gatewayToken, e2eKeys, FAST_TIMEOUTS, FAST_TIMEOUT_MS } from "./harness.mjs";
import { STORY, OTHER_STORY } from "./mock-upstream.mjs";

let OpenAI;
try {
  ({ default: OpenAI } = await import("openai"));
} catch {
  OpenAI = null;
}
// The Python client, from the venv scripts/test makes (target/py); skipped without it.
const PYTHON = path.join(REPO, "target", "py", "bin", "python");
const HAS_PYTHON_SDK = fs.existsSync(PYTHON) && spawnSync(PYTHON, ["-c", "import openai"]).status === 0;

const TOKEN = gatewayToken();
const KEYS = e2eKeys();
const BUDGETS = { deadline_ms: 30_000, ...FAST_TIMEOUTS };

let mock;
let gw;

/** chain name → [primary fault model, then fallback targets]. */
const CHAINS = {
  cut: ["fault-story-cut-20", { provider: "backup", model: "story" }],
  stall: ["fault-story-stall-33", { provider: "backup", model: "story" }],
  error: ["fault-story-error-41", { provider: "backup", model: "story" }],
  overlap: ["fault-story-cut-25", { provider: "backup", model: "story-overlap-3" }],
  "no-prefill": ["fault-story-cut-12", { provider: "fresh", model: "story-no-prefill", continuation: "prefill" }],
  fresh: ["fault-story-cut-30", { provider: "fresh", model: "story-fresh" }],
  different: ["fault-story-cut-15", { provider: "fresh", model: "story-different" }],
  "different-then-fresh": [
    "fault-story-cut-15",
    { provider: "fresh", model: "story-different" },
    { provider: "fresh", model: "story-fresh" },
  ],
  malformed: ["fault-story-malformed-30", { provider: "backup", model: "story" }],
  off: ["fault-story-cut-20", { provider: "backup", model: "story" }],
};

function config() {
  const upstream = `${mock.url}/v1`;
  const keys = ["PRIMARY_KEY_1", "PRIMARY_KEY_2"];
  const providers = [
    // openrouter documents assistant prefill; openai-compatible servers are asked afresh.
    { name: "backup", dialect: "openrouter", base_url: upstream, keys: ["SECONDARY_KEY"] },
    { name: "fresh", dialect: "openai-compatible", base_url: upstream, keys: ["SECONDARY_KEY"] },
  ];
  const chains = [];
  // The SDK tests get their own copies (`node-cut`, `py-cut`, …): a scenario's
  // cooldowns never shape another's.
  const all = Object.entries(CHAINS).flatMap(([name, spec]) => [
    [name, spec],
    [`node-${name}`, spec],
    [`py-${name}`, spec],
  ]);
  for (const [name, [fault, ...rest]] of all) {
    // Each chain has its own primary provider: cooldowns never cross scenarios.
    providers.push({ name: `p-${name}`, dialect: "openai-compatible", base_url: upstream, keys });
    chains.push({
      name,
      targets: [{ provider: `p-${name}`, model: fault }, ...rest],
      budgets: BUDGETS,
      ...(name.endsWith("off") ? { continuation: false } : {}),
    });
  }
  return { providers, chains };
}

before(async () => {
  mock = await startMock();
  gw = await startGateway({ config: config(), secrets: KEYS, tokens: [TOKEN] });
});

after(async () => {
  await gw?.stop();
  await mock?.close();
});

function attempts(model) {
  return mock.attempts().filter((a) => a.model === model);
}

async function stream(chain, extra = {}) {
  const r = await chat(gw.url, { model: chain, messages: [{ role: "user", content: "Tell me a story." }], stream_options: { include_usage: true }, ...extra }, { token: TOKEN, stream: true });
  r.comments = parseSse(r.text, { comments: true }).filter((e) => e.comment !== undefined).map((e) => e.comment);
  return r;
}

/** The stream is STORY, complete, with [DONE] once and no error event. */
function complete(r, chain) {
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assert.equal(streamText(r.events), STORY, `${chain}: the whole answer, word for word`);
  assert.equal(r.done, true, `${chain}: [DONE]`);
  assert.equal(r.events.filter((e) => e.data === "[DONE]").length, 1);
  assert.ok(!r.events.some((e) => e.json?.error), `${chain}: no error event`);
}

/** Which targets produced which part: the final chunk's field and the trailing comment. */
function parts(r) {
  const annotated = r.events.filter((e) => e.json?.llm_failover).at(-1);
  assert.ok(annotated, "the final chunk says it was continued");
  assert.equal(annotated.json.llm_failover.continued, true);
  const comment = r.comments.find((c) => c.startsWith("x-llm-failover-parts:"));
  assert.ok(comment, `a trailing comment names the parts: ${r.comments}`);
  return annotated.json.llm_failover.parts;
}

/** The SSE text of a stream, parsed by the Node SDK's own decoder. */
async function nodeSdkText(chain) {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: TOKEN, maxRetries: 0 });
  const s = await client.chat.completions.create({ model: chain, messages: [{ role: "user", content: "Tell me a story." }], stream: true, stream_options: { include_usage: true } });
  let text = "";
  let usage = null;
  for await (const chunk of s) {
    for (const c of chunk.choices) text += c.delta?.content ?? "";
    usage = chunk.usage ?? usage;
  }
  return { text, usage };
}

function pythonSdk(chain) {
  const script = `
import json, sys
from openai import OpenAI
c = OpenAI(base_url=sys.argv[1], api_key=sys.argv[2], max_retries=0)
text, usage, error = "", None, None
try:
    for chunk in c.chat.completions.create(model=sys.argv[3], messages=[{"role": "user", "content": "Tell me a story."}], stream=True, stream_options={"include_usage": True}):
        for ch in chunk.choices:
            text += ch.delta.content or ""
        if chunk.usage:
            usage = chunk.usage.model_dump()
except Exception as e:
    error = f"{type(e).__name__}: {e}"
print(json.dumps({"text": text, "usage": usage, "error": error}))
`;
  // Asynchronously: the mock upstream runs in this process and must keep answering.
  return new Promise((resolve, reject) => {
    const p = spawn(PYTHON, ["-c", script, `${gw.url}/v1`, TOKEN, chain], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => p.kill(), 30_000);
    p.on("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`python exited ${code}: ${err}`));
      resolve(JSON.parse(out));
    });
  });
}

describe("a stream that breaks after it started is finished by another target", () => {
  for (const [chain, words, kind] of [
    ["cut", 20, "connection"],
    ["stall", 33, "timeout"],
    ["error", 41, "server_error"],
  ]) {
    test(`${chain} after ${words} words: the complete answer from a prefill continuation`, async () => {
      const fault = CHAINS[chain][0];
      const before = attempts("story").length;
      const r = await stream(chain);
      complete(r, chain);
      assert.equal(r.headers["x-llm-failover-target"], `p-${chain}/${fault}`, "the primary started it");
      const p = parts(r);
      assert.deepEqual(p.map((x) => x.target), [`p-${chain}/${fault}`, "backup/story"]);
      assert.equal(p[0].chars, STORY.split(" ").slice(0, words).join(" ").length);
      // The continuation was sent the text the client had, as a prefill.
      const cont = attempts("story").slice(before);
      assert.equal(cont.length, 1);
      assert.equal(cont[0].prefill, STORY.split(" ").slice(0, words).join(" "));
      assert.equal(attempts(fault).length, 1, "no same-target retry after the commit");
      // The final usage adds up both attempts (the cut one estimated: one token a word).
      const usage = r.events.map((e) => e.json?.usage).filter(Boolean).at(-1);
      assert.equal(usage.completion_tokens, 60, `usage ${JSON.stringify(usage)}`);
      if (chain === "stall") {
        assert.ok(r.ms >= FAST_TIMEOUT_MS - 50, `after the idle timeout (${r.ms} ms)`);
      }
      void kind;
    });
  }

  test("a continuation that repeats the end has the repetition removed", async () => {
    const r = await stream("overlap");
    complete(r, "overlap");
    assert.equal(parts(r)[1].target, "backup/story-overlap-3");
  });

  test("a target that rejects prefill is asked afresh; the 400 never reaches the client", async () => {
    const r = await stream("no-prefill");
    complete(r, "no-prefill");
    assert.ok(!r.text.includes("does not support"), "no trace of the prefill error in the stream");
    const seen = attempts("story-no-prefill");
    assert.equal(seen.length, 2);
    assert.ok(seen[0].prefill, "first asked with a prefill");
    assert.equal(seen[1].prefill, null, "then afresh");
  });

  test("a fresh answer that begins with what the client has is spliced after it", async () => {
    const r = await stream("fresh");
    complete(r, "fresh");
    assert.equal(attempts("story-fresh").at(-1).prefill, null);
  });

  test("a fresh answer that does not begin with it is not used; with nothing else the in-band error ends the stream", async () => {
    const r = await stream("different");
    assert.equal(r.status, 200);
    assert.equal(r.done, false, "no [DONE]");
    assert.equal(streamText(r.events), STORY.split(" ").slice(0, 15).join(" "), "only what the primary sent");
    assert.ok(!streamText(r.events).includes(OTHER_STORY.split(" ")[0] + " " + OTHER_STORY.split(" ")[1]));
    const last = r.events.at(-1);
    assert.equal(last.json?.error?.type, "upstream_error");
    assert.match(last.json.error.message, /failed after the answer started/);
    // ...and a third target that can finish it does.
    complete(await stream("different-then-fresh"), "different-then-fresh");
  });

  test("one malformed event is dropped and the answer goes on (no failover)", async () => {
    const r = await stream("malformed");
    complete(r, "malformed");
    assert.ok(!r.text.includes("not json"));
    assert.equal(attempts("story").filter((a) => a.seq > 0).length >= 0, true);
    assert.ok(!r.events.some((e) => e.json?.llm_failover), "not continued");
  });

  test("with continuation off the stream ends with the in-band error as before", async () => {
    const r = await stream("off");
    assert.equal(r.done, false);
    assert.equal(r.events.at(-1).json?.error?.code, "connection");
    assert.equal(streamText(r.events), STORY.split(" ").slice(0, 20).join(" "));
  });
});

describe("the official openai clients parse every continued stream", () => {
  for (const chain of ["cut", "stall", "error", "overlap", "no-prefill", "malformed"]) {
    test(`node openai: ${chain}`, { skip: OpenAI ? false : "the openai package is not installed" }, async () => {
      const { text, usage } = await nodeSdkText(`node-${chain}`);
      assert.equal(text, STORY);
      assert.ok(usage?.completion_tokens >= 60, JSON.stringify(usage));
    });
    test(`python openai: ${chain}`, { skip: HAS_PYTHON_SDK ? false : `no Python openai client at ${PYTHON}` }, async () => {
      const out = await pythonSdk(`py-${chain}`);
      assert.equal(out.error, null);
      assert.equal(out.text, STORY);
    });
  }
  test("python openai: a stream nothing could finish raises an APIError", { skip: HAS_PYTHON_SDK ? false : "no Python openai client" }, async () => {
    const out = await pythonSdk("py-different");
    assert.match(out.error ?? "", /APIError|failed after the answer started/);
  });
});
