// Sticky cooldowns across isolates: two `wrangler dev` processes (two workerd
// isolates) sharing one `--persist-to` directory, hence one local COOLDOWNS KV
// namespace. A failure seen through gateway A must keep gateway B off the failed
// backend: B answers from the fallback and the mock sees no new attempt on it.
//
//   node --test tests/e2e/stickiness.test.mjs      (~30 s)
//
// The Worker writes the cooldown snapshot in waitUntil, coalesced to at most one
// write a second, and reads it at most once a second on the request path; the
// tests wait 2.5 s between A's failure and B's request.

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startMock, startGateway, chat, request, findLeaks, sleep, MESSAGES, gatewayToken, e2eKeys } from "./harness.mjs";

const TOKEN = gatewayToken();
const KEYS = e2eKeys();
const KV_SETTLE_MS = 2500;

let mock;
let a;
let b;
let stateDir;

function config() {
  const upstream = `${mock.url}/v1`;
  const budgets = { deadline_ms: 20_000, response_timeout_ms: 3000, header_timeout_ms: 3000, first_token_timeout_ms: 3000, idle_timeout_ms: 3000 };
  return {
    providers: [
      { name: "primary", dialect: "openai-compatible", base_url: upstream, keys: ["PRIMARY_KEY_1", "PRIMARY_KEY_2"] },
      { name: "secondary", dialect: "openai-compatible", base_url: upstream, keys: ["SECONDARY_KEY"] },
    ],
    chains: [
      {
        // 503 twice (one retry) opens model|primary|fault-503 for ≥ 5 s.
        name: "overloaded",
        targets: [
          { provider: "primary", model: "fault-503" },
          { provider: "secondary", model: "ok-overloaded" },
        ],
        budgets,
      },
      {
        // Retry-After: 30 is beyond max_retry_wait_ms (10 s): no wait, both keys'
        // key_model scopes open for 30 s.
        name: "rate-limited",
        targets: [
          { provider: "primary", model: "fault-429-retry-after-30" },
          { provider: "secondary", model: "ok-rate-limited" },
        ],
        budgets,
      },
      {
        name: "healthy",
        targets: [
          { provider: "primary", model: "ok-primary" },
          { provider: "secondary", model: "ok-healthy" },
        ],
        budgets,
      },
    ],
  };
}

before(async () => {
  mock = await startMock();
  stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "llm-failover-shared-state-"));
  const cfg = config();
  // Started one after the other: two wranglers booting at once on 2 cores is slow.
  a = await startGateway({ config: cfg, secrets: KEYS, tokens: [TOKEN], persistTo: stateDir });
  b = await startGateway({ config: cfg, secrets: KEYS, tokens: [TOKEN], persistTo: stateDir });
});

after(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await mock?.close();
  if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
});

function attemptsOn(model, afterSeq) {
  return mock.attempts().filter((x) => x.model === model && x.seq > afterSeq);
}
function lastSeq() {
  const all = mock.attempts();
  return all.length ? all.at(-1).seq : 0;
}

describe("cooldowns are shared through KV between two gateways", () => {
  test("the two gateways are separate processes on separate ports", () => {
    assert.notEqual(a.port, b.port);
    assert.notEqual(a.inspectorPort, b.inspectorPort);
    assert.notEqual(a.pid, b.pid);
    assert.equal(a.persistTo, b.persistTo);
  });

  test("both serve a healthy chain from its first target", async () => {
    for (const gw of [a, b]) {
      const r = await chat(gw.url, { model: "healthy", messages: MESSAGES }, { token: TOKEN });
      assert.equal(r.status, 200);
      assert.equal(r.json.model, "ok-primary");
    }
  });

  test("a 503 seen through A keeps B off the overloaded model", async () => {
    let mark = lastSeq();
    const ra = await chat(a.url, { model: "overloaded", messages: MESSAGES }, { token: TOKEN });
    assert.equal(ra.status, 200);
    assert.equal(ra.json.model, "ok-overloaded");
    assert.equal(attemptsOn("fault-503", mark).length, 2, "A: one attempt and one retry");

    await sleep(KV_SETTLE_MS);
    mark = lastSeq();
    const rb = await chat(b.url, { model: "overloaded", messages: MESSAGES }, { token: TOKEN, stream: true });
    assert.equal(rb.status, 200);
    assert.equal(rb.headers["x-llm-failover-target"], "secondary/ok-overloaded");
    assert.ok(rb.done);
    assert.equal(attemptsOn("fault-503", mark).length, 0, "B: zero new attempts on the overloaded backend");
    assert.equal(attemptsOn("ok-overloaded", mark).length, 1);
    assert.match(rb.headers["x-llm-failover-attempts"], /^secondary\/ok-overloaded=/, "B tried nothing else");

    const status = await request(`${b.url}/v1/status`, { token: TOKEN });
    assert.equal(status.status, 200);
    const scope = status.json.scopes.find((s) => s.scope === "model|primary|fault-503");
    assert.ok(scope, `B's /v1/status lists the scope: ${status.text}`);
    assert.equal(scope.state.state ?? scope.state, "open");
    assert.equal(scope.kind, "overloaded");
    assert.ok(scope.until > status.json.now);
  });

  // Where the sharing breaks, this says why: the snapshot A wrote to the local KV
  // (miniflare keeps values as blob files under <persist-to>/v3/kv/<namespace>/blobs).
  test("the KV value holds the open scope", (t) => {
    const kvDir = path.join(stateDir, "v3", "kv");
    const blobs = [];
    const walk = (d) => {
      for (const e of fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }) : []) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (path.basename(d) === "blobs") blobs.push({ p, mtime: fs.statSync(p).mtimeMs });
      }
    };
    walk(kvDir);
    if (!blobs.length) {
      t.skip(`no KV blob files under ${kvDir} (miniflare's layout changed?)`);
      return;
    }
    const newest = blobs.sort((x, y) => y.mtime - x.mtime)[0];
    const text = fs.readFileSync(newest.p, "utf8");
    t.diagnostic(`KV cooldowns/v1 = ${text.slice(0, 300)}`);
    const snapshot = JSON.parse(text);
    assert.ok(
      snapshot.entries && snapshot.entries["model|primary|fault-503"],
      `the snapshot written to KV should hold model|primary|fault-503, it is: ${text.slice(0, 300)}`,
    );
  });

  test("a 429 with Retry-After: 30 seen through A keeps B off both keys", async () => {
    let mark = lastSeq();
    const ra = await chat(a.url, { model: "rate-limited", messages: MESSAGES }, { token: TOKEN });
    assert.equal(ra.status, 200);
    assert.equal(ra.json.model, "ok-rate-limited");
    const seen = attemptsOn("fault-429-retry-after-30", mark);
    assert.equal(seen.length, 2, "A: each key once, no wait (30 s > max_retry_wait_ms)");
    assert.notEqual(seen[0].authorization, seen[1].authorization);
    assert.ok(ra.ms < 3000, `A did not wait for Retry-After (${ra.ms} ms)`);

    await sleep(KV_SETTLE_MS);
    mark = lastSeq();
    const rb = await chat(b.url, { model: "rate-limited", messages: MESSAGES }, { token: TOKEN });
    assert.equal(rb.status, 200);
    assert.equal(rb.json.model, "ok-rate-limited");
    assert.equal(attemptsOn("fault-429-retry-after-30", mark).length, 0, "B: zero new attempts on the rate-limited backend");

    const status = await request(`${b.url}/v1/status`, { token: TOKEN });
    const open = status.json.scopes.filter((s) => s.scope.startsWith("key_model|primary|") && s.scope.endsWith("|fault-429-retry-after-30"));
    assert.deepEqual(
      open.map((s) => s.scope).sort(),
      ["key_model|primary|PRIMARY_KEY_1|fault-429-retry-after-30", "key_model|primary|PRIMARY_KEY_2|fault-429-retry-after-30"],
      status.text,
    );
    for (const s of open) {
      assert.equal(s.kind, "rate_limited");
      assert.ok(s.until - status.json.now > 20_000, "the 30 s hint is the cooldown");
    }
  });

  test("and the other way round: B's failure keeps A off", async () => {
    // A new backend failing through B only.
    let mark = lastSeq();
    const rb = await chat(b.url, { model: "primary/fault-500", messages: MESSAGES }, { token: TOKEN });
    assert.equal(rb.status, 500, "pinned: primary's own error");
    assert.equal(attemptsOn("fault-500", mark).length, 2);
    await sleep(KV_SETTLE_MS);
    mark = lastSeq();
    const status = await request(`${a.url}/v1/status`, { token: TOKEN });
    const scopes = status.json.scopes.map((s) => s.scope);
    assert.ok(scopes.includes("model|primary|fault-500"), `A's /v1/status should list model|primary|fault-500: ${scopes.join(", ")}`);
    assert.equal(attemptsOn("fault-500", mark).length, 0);
  });

  test("no key in any response or log", () => {
    assert.deepEqual(findLeaks(KEYS, { "wrangler A logs": a.logs(), "wrangler B logs": b.logs() }), []);
  });
});
