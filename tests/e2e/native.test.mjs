// Native upstream APIs and the Anthropic Messages client API, end to end: the
// official `@anthropic-ai/sdk` and `openai` clients against the Worker in workerd,
// with chains whose primary is a native Anthropic or Gemini target of the mock
// upstream that fails (429, 529/503, an error event after the first tokens, a stream
// cut) and whose fallback speaks another dialect. Every answer is complete, the
// trace headers name the targets, and no key ever appears.
//
//   node --test tests/e2e/native.test.mjs      (~30 s)

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startMock, startGateway, findLeaks, recordingFetch, MESSAGES, gatewayToken, e2eKeys, FAST_TIMEOUTS } from "./harness.mjs";
import { STORY } from "./mock-upstream.mjs";

let Anthropic;
let OpenAI;
let missing = "";
try {
  ({ default: Anthropic } = await import("@anthropic-ai/sdk"));
  ({ default: OpenAI } = await import("openai"));
} catch (e) {
  missing = `the SDKs are not installed (npm install in the repo root): ${e.message}`;
}

const TOKEN = gatewayToken();
const KEYS = e2eKeys({ ANTHROPIC_KEY: "sk-ant-e2e-SECRET-anthropic-0123456789", GEMINI_KEY: "AIza-e2e-SECRET-gemini-0123456789" });
const BUDGETS = { deadline_ms: 20_000, ...FAST_TIMEOUTS };

let mock;
let gw;
let claude; // @anthropic-ai/sdk client
let openai;

// Each chain has its own copy of the failing provider, so no test's cooldown
// shapes another's.
const CHAINS = [
  // name, primary dialect, primary model (the fault), fallback provider, fallback model
  ["a-429", "anthropic", "fault-429", "compat", "ok-a-429"],
  ["a-529", "anthropic", "fault-529", "gemini-ok", "ok-a-529"],
  ["a-error-event", "anthropic", "fault-story-error-20", "router", "story"],
  ["a-cut", "anthropic", "fault-story-cut-12", "gemini-ok", "story-fresh"],
  ["g-503", "gemini", "fault-503", "claude-ok", "ok-g-503"],
  ["g-429", "gemini", "fault-gemini-429", "compat", "ok-g-429"],
  ["g-cut", "gemini", "fault-story-cut-15", "claude-ok", "story"],
  ["o-503-tools", "compat", "fault-503", "claude-ok", "tool-claude"],
  ["a-503-tools", "anthropic", "fault-503", "gemini-ok", "tool-gemini"],
  // Responses and embeddings: a native primary cannot serve them (skipped, saying
  // why); the OpenAI-compatible fallback answers.
  ["g-responses", "gemini", "fault-503", "compat", "ok-g-responses"],
  ["a-embed", "anthropic", "fault-503", "compat", "ok-a-embed"],
];

function config() {
  const v1 = `${mock.url}/v1`;
  const base = { anthropic: v1, gemini: `${mock.url}/v1beta`, compat: v1 };
  const keyOf = { anthropic: "ANTHROPIC_KEY", gemini: "GEMINI_KEY", compat: "PRIMARY_KEY_1" };
  const dialectOf = { anthropic: "anthropic", gemini: "gemini", compat: "openai-compatible" };
  const providers = [
    { name: "compat", dialect: "openai-compatible", base_url: v1, keys: ["SECONDARY_KEY"] },
    { name: "router", dialect: "openrouter", base_url: v1, keys: ["SECONDARY_KEY"] },
    { name: "claude-ok", dialect: "anthropic", base_url: v1, keys: ["ANTHROPIC_KEY"] },
    { name: "gemini-ok", dialect: "gemini", base_url: `${mock.url}/v1beta`, keys: ["GEMINI_KEY"] },
  ];
  const chains = CHAINS.map(([name, kind, fault, fallback, model]) => {
    providers.push({ name: `p-${name}`, dialect: dialectOf[kind], base_url: base[kind], keys: [keyOf[kind]] });
    return { name, targets: [{ provider: `p-${name}`, model: fault }, { provider: fallback, model }], budgets: BUDGETS };
  });
  return { providers, chains, defaults: { budgets: BUDGETS } };
}

before(async () => {
  if (missing) return;
  mock = await startMock();
  gw = await startGateway({ config: config(), secrets: KEYS, tokens: [TOKEN] });
  claude = new Anthropic({ baseURL: gw.url, apiKey: TOKEN, maxRetries: 0, timeout: 30_000, fetch: recordingFetch });
  openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: TOKEN, maxRetries: 0, timeout: 30_000, fetch: recordingFetch });
});

after(async () => {
  await gw?.stop();
  await mock?.close();
});

function attempts(model) {
  return mock.attempts().filter((a) => a.model === model);
}

const STORY_PROMPT = [{ role: "user", content: "Tell me a story." }];

describe("native upstreams and /v1/messages through the Worker", { skip: missing || false }, () => {
  test("@anthropic-ai/sdk messages.create: a native Anthropic 429 falls back to an OpenAI-compatible target", async () => {
    const { data, response } = await claude.messages.create({ model: "a-429", max_tokens: 100, messages: MESSAGES }).withResponse();
    assert.equal(data.type, "message");
    assert.equal(data.role, "assistant");
    assert.deepEqual(data.content, [{ type: "text", text: "Hello from ok-a-429" }]);
    assert.equal(data.stop_reason, "end_turn");
    assert.ok(data.usage.output_tokens > 0);
    assert.equal(response.headers.get("x-llm-failover-target"), "compat/ok-a-429");
    assert.match(response.headers.get("x-llm-failover-attempts"), /^p-a-429\/fault-429=rate_limited.*compat\/ok-a-429=ok$/);
    const primary = attempts("fault-429").filter((a) => a.api === "anthropic");
    assert.ok(primary.length >= 1, "the primary was called in Anthropic's own API");
    assert.equal(primary[0].api_key, KEYS.ANTHROPIC_KEY, "with x-api-key");
    assert.equal(attempts("ok-a-429")[0].api, "chat");
  });

  test("@anthropic-ai/sdk messages.stream: 529 overloaded falls back to native Gemini, events in Anthropic's shape", async () => {
    const stream = claude.messages.stream({ model: "a-529", max_tokens: 100, messages: MESSAGES });
    const seen = [];
    stream.on("streamEvent", (e) => seen.push(e.type));
    const final = await stream.finalMessage();
    assert.equal(final.content.map((b) => b.text).join(""), "Hello from ok-a-529");
    assert.equal(final.stop_reason, "end_turn");
    assert.equal(seen[0], "message_start");
    assert.equal(seen.at(-1), "message_stop");
    assert.ok(seen.includes("message_delta"));
    const g = attempts("ok-a-529");
    assert.equal(g.length, 1);
    assert.equal(g[0].api, "gemini");
    assert.equal(g[0].api_key, KEYS.GEMINI_KEY);
  });

  test("an overloaded_error event after 20 words is finished by prefill, for both SDKs", async () => {
    const stream = claude.messages.stream({ model: "a-error-event", max_tokens: 500, messages: STORY_PROMPT });
    const final = await stream.finalMessage();
    assert.equal(final.content.map((b) => b.text).join(""), STORY);
    const chat = await openai.chat.completions.create({ model: "a-error-event", messages: STORY_PROMPT, stream: true });
    let text = "";
    for await (const c of chat) text += c.choices[0]?.delta?.content ?? "";
    assert.equal(text, STORY);
    // The first request was continued with the text already sent as a prefill; the
    // second found the primary cooling down (overloaded) and went to the router at once.
    const cont = attempts("story").filter((a) => a.api === "chat" && a.prefill);
    assert.equal(cont.length, 1, JSON.stringify(mock.attempts().map((a) => [a.model, a.api, a.prefill])));
    assert.ok(STORY.startsWith(cont[0].prefill));
  });

  test("a native Anthropic stream cut after 12 words is finished by native Gemini asked afresh", async () => {
    const chat = await openai.chat.completions.create({ model: "a-cut", messages: STORY_PROMPT, stream: true });
    let text = "";
    let finish = null;
    for await (const c of chat) {
      text += c.choices[0]?.delta?.content ?? "";
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, STORY);
    assert.equal(finish, "stop");
    assert.equal(attempts("story-fresh")[0].api, "gemini");
  });

  test("openai SDK: native Gemini 503 and 429 (RetryInfo) fall back to native Anthropic and to OpenAI", async () => {
    const { data, response } = await openai.chat.completions.create({ model: "g-503", messages: MESSAGES }).withResponse();
    assert.equal(data.object, "chat.completion");
    assert.equal(data.choices[0].message.content, "Hello from ok-g-503");
    assert.equal(response.headers.get("x-llm-failover-target"), "claude-ok/ok-g-503");
    assert.equal(attempts("ok-g-503")[0].api, "anthropic");
    const g = attempts("fault-503").filter((a) => a.api === "gemini");
    assert.ok(g.length >= 1 && g[0].api_key === KEYS.GEMINI_KEY, "Gemini called natively with x-goog-api-key");
    const r = await openai.chat.completions.create({ model: "g-429", messages: MESSAGES });
    assert.equal(r.choices[0].message.content, "Hello from ok-g-429");
  });

  test("a native Gemini stream cut after 15 words is continued on native Anthropic by prefill", async () => {
    const chat = await openai.chat.completions.create({ model: "g-cut", messages: STORY_PROMPT, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage = null;
    for await (const c of chat) {
      text += c.choices[0]?.delta?.content ?? "";
      usage = c.usage ?? usage;
    }
    assert.equal(text, STORY);
    assert.ok(usage && usage.completion_tokens > 0, "usage adds up the parts");
    const cont = attempts("story").filter((a) => a.api === "anthropic" && a.prefill);
    assert.ok(cont.length >= 1);
  });

  test("tool use: Anthropic SDK tools answered by native Anthropic after an OpenAI-compatible 503, and by Gemini", async () => {
    const tools = [{ name: "get_weather", description: "Weather", input_schema: { type: "object", properties: { location: { type: "string" } }, required: ["location"] } }];
    for (const model of ["o-503-tools", "a-503-tools"]) {
      const m = await claude.messages.create({ model, max_tokens: 100, tools, messages: [{ role: "user", content: "Weather in Paris?" }] });
      assert.equal(m.stop_reason, "tool_use", model);
      const use = m.content.find((b) => b.type === "tool_use");
      assert.ok(use, `${model}: ${JSON.stringify(m.content)}`);
      assert.equal(use.name, "get_weather");
      assert.deepEqual(use.input, { location: "Paris" });
      const s = claude.messages.stream({ model, max_tokens: 100, tools, messages: [{ role: "user", content: "Weather in Paris?" }] });
      const f = await s.finalMessage();
      assert.deepEqual(f.content.find((b) => b.type === "tool_use")?.input, { location: "Paris" }, `${model} streamed`);
    }
  });

  test("openai SDK responses (plain and streamed) and embeddings skip a native primary for the OpenAI-compatible fallback", async () => {
    const { data, response } = await openai.responses.create({ model: "g-responses", input: "hi" }).withResponse();
    assert.equal(data.status, "completed");
    assert.equal(data.output_text, "Hello from ok-g-responses");
    assert.equal(response.headers.get("x-llm-failover-target"), "compat/ok-g-responses");
    const stream = await openai.responses.create({ model: "g-responses", input: "hi", stream: true });
    let text = "";
    let completed = false;
    for await (const ev of stream) {
      if (ev.type === "response.output_text.delta") text += ev.delta;
      if (ev.type === "response.completed") completed = true;
    }
    assert.equal(text, "Hello from ok-g-responses");
    assert.ok(completed);
    const e = await openai.embeddings.create({ model: "a-embed", input: ["one", "two"] });
    assert.equal(e.data.length, 2);
    assert.ok(e.data.every((d) => d.embedding.length > 0));
    assert.equal(attempts("fault-503").filter((a) => a.api === "responses" || a.api === "embeddings").length, 0, "never sent to a native primary");
  });

  test("errors reach an Anthropic client in Anthropic's shape; no key anywhere", async () => {
    await assert.rejects(
      claude.messages.create({ model: "no-such-chain", max_tokens: 10, messages: MESSAGES }),
      (e) => e.status === 404 && e.error?.type === "error" && typeof e.error?.error?.message === "string",
    );
    await assert.rejects(claude.messages.create({ model: "a-429", messages: MESSAGES }), (e) => e.status === 400 && /max_tokens/.test(e.message));
    const bad = new Anthropic({ baseURL: gw.url, apiKey: "wrong-token", maxRetries: 0, fetch: recordingFetch });
    await assert.rejects(bad.messages.create({ model: "a-429", max_tokens: 10, messages: MESSAGES }), (e) => e.status === 401);
    assert.deepEqual(findLeaks(KEYS, { "wrangler logs": gw.logs() }), []);
  });
});
