// The official `openai` npm client against the Worker in workerd (`wrangler dev`),
// with baseURL = <gateway>/v1 and apiKey = a gateway token. maxRetries: 0, so the
// SDK's own retries never hide what the gateway did.
//
//   node --test tests/e2e/openai-sdk.test.mjs      (~20 s)

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { startMock, startGateway, findLeaks, recordingFetch, transcript, sleep, MESSAGES, gatewayToken, e2eKeys, FAST_TIMEOUTS } from "./harness.mjs";

let OpenAI;
let sdkMissing = "";
try {
  // Resolved from the repo (tests/e2e → <repo>/node_modules/openai).
  ({ default: OpenAI } = await import("openai"));
} catch (e) {
  sdkMissing = `the openai package is not installed (npm install in the repo root): ${e.message}`;
}

const TOKEN = gatewayToken();
const KEYS = e2eKeys();
const BUDGETS = { deadline_ms: 20_000, ...FAST_TIMEOUTS };

let mock;
let gw;
let client;

function config() {
  const upstream = `${mock.url}/v1`;
  const keys = ["PRIMARY_KEY_1", "PRIMARY_KEY_2"];
  // Cooldowns are per scope (key|provider|KEY, model|…, endpoint|provider): each
  // chain fails on its own copy of the primary provider, and the pinned tests use
  // `primary` itself, so no test's cooldown shapes another's.
  const providers = [
    { name: "primary", dialect: "openai-compatible", base_url: upstream, keys },
    { name: "secondary", dialect: "openai-compatible", base_url: upstream, keys: ["SECONDARY_KEY"] },
  ];
  const chains = [];
  for (const [name, fault] of [
    ["smart", "fault-503"],
    ["smart-stream", "fault-529"],
    ["cut", "fault-stream-cut"],
    ["rotate", "fault-401"],
    ["responses", "fault-503"],
    ["responses-stream", "fault-503"],
    ["responses-cut", "fault-stream-cut"],
    ["embed", "fault-503"],
  ]) {
    providers.push({ name: `primary-${name}`, dialect: "openai-compatible", base_url: upstream, keys });
    chains.push({
      name,
      targets: [
        { provider: `primary-${name}`, model: fault },
        { provider: "secondary", model: `ok-${name}` },
      ],
      budgets: BUDGETS,
    });
  }
  return { providers, chains, defaults: { budgets: BUDGETS } };
}

before(async () => {
  if (sdkMissing) return;
  mock = await startMock();
  gw = await startGateway({ config: config(), secrets: KEYS, tokens: [TOKEN] });
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: TOKEN, maxRetries: 0, timeout: 30_000, fetch: recordingFetch });
});

after(async () => {
  await gw?.stop();
  await mock?.close();
});

function attempts(model) {
  return mock.attempts().filter((a) => a.model === model);
}

describe("the openai SDK through the gateway", { skip: sdkMissing || false }, () => {
  test("non-streaming create() through a failing primary gets the fallback's answer and model", async () => {
    const { data, response } = await client.chat.completions.create({ model: "smart", messages: MESSAGES }).withResponse();
    assert.equal(data.object, "chat.completion");
    assert.equal(data.model, "ok-smart");
    assert.equal(data.choices[0].message.content, "Hello from ok-smart");
    assert.equal(data.choices[0].finish_reason, "stop");
    assert.ok(data.usage.total_tokens > 0);
    assert.equal(response.headers.get("x-llm-failover-target"), "secondary/ok-smart");
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.headers.get("x-llm-failover-attempts"), "primary-smart/fault-503=overloaded, primary-smart/fault-503=overloaded, secondary/ok-smart=ok");
    assert.equal(attempts("fault-503").length, 2, "one retry on the primary");
    assert.equal(attempts("ok-smart").length, 1);
  });

  test("streaming create() iterates chunks to the complete fallback text", async () => {
    const stream = await client.chat.completions.create({ model: "smart-stream", messages: MESSAGES, stream: true });
    let text = "";
    const models = new Set();
    let finish = null;
    for await (const chunk of stream) {
      models.add(chunk.model);
      for (const c of chunk.choices) {
        text += c.delta?.content ?? "";
        finish = c.finish_reason ?? finish;
      }
    }
    assert.equal(text, "Hello from ok-smart-stream");
    assert.equal(finish, "stop");
    assert.deepEqual([...models], ["ok-smart-stream"], "nothing of the failed primary");
    assert.equal(attempts("fault-529").length, 2);
    assert.equal(attempts("ok-smart-stream").length, 1);
  });

  test("key rotation and fallback are invisible to the SDK", async () => {
    const r = await client.chat.completions.create({ model: "rotate", messages: MESSAGES });
    assert.equal(r.model, "ok-rotate");
    assert.deepEqual(
      attempts("fault-401").map((a) => a.authorization),
      [`Bearer ${KEYS.PRIMARY_KEY_1}`, `Bearer ${KEYS.PRIMARY_KEY_2}`],
    );
  });

  test("a stream cut after it started is finished by the fallback in the same iteration", async () => {
    const stream = await client.chat.completions.create({ model: "cut", messages: MESSAGES, stream: true });
    let text = "";
    for await (const chunk of stream) {
      for (const c of chunk.choices) text += c.delta?.content ?? "";
    }
    // "Hello from" came from the primary before the cut; the fallback, asked afresh,
    // answered "Hello from ok-cut": what the client had is not repeated.
    assert.equal(text, "Hello from ok-cut");
    assert.equal(attempts("ok-cut").length, 1, "one continuation");
    assert.equal(attempts("fault-stream-cut").length, 1, "no retry of the cut primary");
  });

  test("responses.create() falls back past a failing primary and returns the fallback's response", async () => {
    const r = await client.responses.create({ model: "responses", input: "hi" });
    assert.equal(r.object, "response");
    assert.equal(r.status, "completed");
    assert.equal(r.output_text, "Hello from ok-responses");
    assert.equal(attempts("fault-503").filter((a) => a.api === "responses").length >= 2, true, "one retry on the primary");
    assert.equal(attempts("ok-responses").length, 1);
    assert.equal(attempts("ok-responses")[0].path, "/v1/responses");
  });

  test("a streamed response passes its events through from the fallback", async () => {
    const stream = await client.responses.create({ model: "responses-stream", input: "hi", stream: true });
    let text = "";
    const types = [];
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === "response.output_text.delta") text += ev.delta;
    }
    assert.equal(text, "Hello from ok-responses-stream");
    assert.equal(types[0], "response.created");
    assert.equal(types.at(-1), "response.completed");
  });

  test("a streamed response cut after it started raises (no continuation for Responses)", async () => {
    const stream = await client.responses.create({ model: "responses-cut", input: "hi", stream: true });
    let error;
    try {
      for await (const ev of stream) void ev;
    } catch (e) {
      error = e;
    }
    assert.ok(error, "the cut stream does not end like a success");
    assert.equal(attempts("ok-responses-cut").length, 0, "not continued on another target");
  });

  test("embeddings.create() falls back and returns one vector per input", async () => {
    const r = await client.embeddings.create({ model: "embed", input: ["alpha", "beta"] });
    assert.equal(r.object, "list");
    assert.equal(r.data.length, 2);
    assert.ok(r.data.every((d) => Array.isArray(d.embedding) && d.embedding.length > 0));
    assert.equal(attempts("ok-embed").length, 1);
    assert.equal(attempts("ok-embed")[0].api, "embeddings");
  });

  test("a pinned request to a failing provider raises APIError with the upstream status", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "primary/fault-500", messages: MESSAGES }),
      (e) => {
        assert.ok(e instanceof OpenAI.APIError);
        assert.ok(e instanceof OpenAI.InternalServerError);
        assert.equal(e.status, 500);
        assert.equal(e.type, "server_error", "the upstream's error body");
        assert.match(e.message, /The server had an error processing your request/);
        return true;
      },
    );
    assert.equal(attempts("fault-500").length, 2);
    assert.equal(attempts("ok-smart").length, 1, "nothing else reached (only the earlier test's one)");
  });

  test("a pinned streaming request raises the upstream status too", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "primary/fault-invalid-request", messages: MESSAGES, stream: true }),
      (e) => {
        assert.ok(e instanceof OpenAI.BadRequestError);
        assert.equal(e.status, 400);
        assert.equal(e.param, "max_tokens");
        assert.equal(e.code, "integer_below_min_value");
        return true;
      },
    );
    assert.equal(attempts("fault-invalid-request").length, 1);
  });

  test("a wrong gateway token raises AuthenticationError; models.list() lists the chains", async () => {
    const bad = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: "not-a-token", maxRetries: 0, fetch: recordingFetch });
    await assert.rejects(bad.chat.completions.create({ model: "smart", messages: MESSAGES }), (e) => {
      assert.ok(e instanceof OpenAI.AuthenticationError);
      assert.equal(e.status, 401);
      return true;
    });
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    for (const name of ["smart", "smart-stream", "cut", "rotate", "primary-smart/fault-503"]) assert.ok(ids.includes(name), name);
  });

  test("no key in any response or log", async () => {
    await sleep(100); // the recorder reads response copies asynchronously
    assert.ok(transcript.length >= 7, `responses recorded: ${transcript.length}`);
    assert.deepEqual(findLeaks(KEYS, { "wrangler logs": gw.logs() }), []);
  });
});
