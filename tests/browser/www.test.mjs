// www.test.mjs — the playground page (www/) in headless Chromium, driven by
// playwright-core, against the fault-injecting mock upstream.
//
//   node --test --test-concurrency=1 tests/browser/www.test.mjs
//
// Needs /usr/bin/chromium (or $CHROMIUM_BIN) and the built package in build/pkg
// (scripts/build-browser; scripts/test-browser builds it first): without them every
// test FAILS with the reason, nothing is skipped. Each test gets a fresh browser
// context (its own localStorage). Screenshots: target/browser-artifacts/www-*.png.
//
// Waits are for DOM states (page.waitForFunction / locators), never fixed sleeps;
// a timeout reports what the page showed at that moment.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { startMockUpstream } from "../e2e/mock-upstream.mjs";
import { startStatic } from "./static-server.mjs";
import { launch, ARTIFACTS } from "./chromium.mjs";

const WAIT_MS = 15_000;

let mock;
let site;
let browser;
let worker; // the stub of the Worker's HTTP API (see startWorkerStub)
const open = []; // browser contexts of the current test

before(async () => {
  mock = await startMockUpstream({ port: 0, host: "127.0.0.1" });
  site = await startStatic({ port: 0, routes: { "/": "www", "/pkg/": "build/pkg" } });
  worker = await startWorkerStub();
  // Fails (never skips) without Chromium or build/pkg; makes ARTIFACTS.
  browser = await launch();
});

afterEach(async () => {
  while (open.length) await open.pop().close().catch(() => {});
});

after(async () => {
  await browser?.close().catch(() => {});
  await site?.close();
  await mock?.close();
  await worker?.close();
});

// ── Helpers ──────────────────────────────────────────────────────────────────

/**
 * A page in a new context, with every console error and page error recorded.
 * The browser itself logs "Failed to load resource" for each failed HTTP request;
 * those are expected when the request went to the fault upstream (or the stub
 * Worker) and are kept apart. Anything else is a problem.
 */
async function newPage({ viewport = { width: 1360, height: 900 } } = {}) {
  const context = await browser.newContext({ viewport });
  open.push(context);
  const page = await context.newPage();
  const problems = [];
  const expectedNetwork = [];
  const consoleText = [];
  page.on("console", (msg) => {
    consoleText.push(msg.text());
    if (msg.type() !== "error") return;
    const url = msg.location()?.url ?? "";
    const fromFaultUpstream = url.startsWith(mock.url) || url.startsWith(worker.url);
    if (msg.text().startsWith("Failed to load resource") && fromFaultUpstream) expectedNetwork.push(msg.text());
    else problems.push(`console.error: ${msg.text()} (${url})`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.stack || e.message}`));
  return { page, context, problems, expectedNetwork, consoleText };
}

function pageUrl(upstream = mock.url) {
  return `${site.url}/?upstream=${encodeURIComponent(upstream)}`;
}

/** What the page shows, for failure messages. */
async function pageState(page) {
  try {
    return JSON.stringify(
      await page.evaluate(() => ({
        boot: document.querySelector("#boot")?.textContent,
        summary: document.querySelector("#summary")?.textContent,
        timeline: [...document.querySelectorAll("#timeline > li")].map((li) => ({ ...li.dataset, text: li.innerText.replace(/\s+/g, " ").slice(0, 160) })),
        answer: document.querySelector("#answer")?.textContent,
        error: document.querySelector("#error")?.hidden ? null : document.querySelector("#error")?.innerText,
        configError: document.querySelector("#config-error")?.hidden ? null : document.querySelector("#config-error")?.innerText,
        cooldowns: [...document.querySelectorAll("#cooldowns tbody tr")].map((tr) => tr.dataset.scope ?? tr.innerText),
      })),
      null,
      1,
    );
  } catch (e) {
    return `(page state unavailable: ${e.message})`;
  }
}

/** Waits until `fn(arg)` is truthy in the page; on timeout says what was awaited and what the page showed. */
async function until(page, what, fn, arg, timeout = WAIT_MS) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch (e) {
    throw new Error(`timed out after ${timeout} ms waiting for ${what}\npage state: ${await pageState(page)}\n(${e.message.split("\n")[0]})`);
  }
}

async function load(page, url = pageUrl()) {
  await page.goto(url);
  await until(page, "the page to be ready (wasm loaded, config applied)", () => document.body.dataset.ready === "1");
}

async function choose(page, preset) {
  await page.click(`#presets button[data-preset="${preset}"]`);
  await until(page, `preset ${preset} to be selected`, (p) => document.querySelector(`#presets button[data-preset="${p}"]`)?.getAttribute("aria-pressed") === "true", preset);
}

/** Clicks Send and waits for that run to end (the page counts finished runs in body[data-runs]). */
async function sendAndWait(page) {
  const before = Number(await page.getAttribute("body", "data-runs"));
  await page.click("#send");
  await until(page, "the run to finish", (n) => Number(document.body.dataset.runs) > n && document.body.dataset.running === "0", before);
}

async function timeline(page) {
  return page.$$eval("#timeline > li", (lis) => lis.map((li) => ({ ...li.dataset, text: li.innerText })));
}

async function cooldownScopes(page) {
  return page.$$eval("#cooldowns tbody tr[data-scope]", (trs) => trs.map((tr) => ({ scope: tr.dataset.scope, state: tr.dataset.state, text: tr.innerText })));
}

async function screenshot(page, name) {
  const file = path.join(ARTIFACTS, name);
  fs.rmSync(file, { force: true });
  await page.screenshot({ path: file, fullPage: true, animations: "disabled" });
  const bytes = fs.readFileSync(file);
  assert.ok(bytes.length > 1000, `${file} is empty or tiny (${bytes.length} bytes)`);
  assert.equal(bytes.subarray(1, 4).toString("latin1"), "PNG", `${file} is not a PNG`);
  return file;
}

function mockSince(n) {
  return mock.attempts().slice(n).map((a) => a.model);
}

function assertClean(p) {
  assert.deepEqual(p.problems, [], "console errors or page errors");
}

// ── A stub of the Worker's HTTP API ───────────────────────────────────────────
// What the page's Worker panel relies on, as src/hosts/worker.rs serves it:
// bearer-token auth, CORS, GET /v1/models, GET /v1/status ({now, scopes: [{scope,
// state, until, streak, kind, reason}]}, gateway::status_body), and an
// OpenAI-compatible POST /v1/chat/completions. (The real Worker needs wrangler and
// scripts/build-worker; tests/e2e covers it.)

const WORKER_TOKEN = "tok-www-secret-4f1c";

function startWorkerStub() {
  const seen = [];
  const server = http.createServer((req, res) => {
    const cors = {
      "access-control-allow-origin": "*",
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "authorization, content-type",
    };
    if (req.method === "OPTIONS") return res.writeHead(204, cors).end();
    const json = (status, body, extra = {}) =>
      res.writeHead(status, { ...cors, "content-type": "application/json", ...extra }).end(JSON.stringify(body));
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const url = new URL(req.url, "http://x");
      seen.push({ method: req.method, path: url.pathname, authorization: req.headers.authorization ?? null, body });
      if (req.headers.authorization !== `Bearer ${WORKER_TOKEN}`) {
        return json(401, { error: { message: "missing or invalid gateway token", type: "invalid_request_error", param: null, code: "invalid_api_key" } });
      }
      const now = Date.now();
      if (req.method === "GET" && url.pathname === "/v1/models") {
        return json(200, {
          object: "list",
          data: [
            { id: "demo", object: "model", created: 0, owned_by: "llm-failover chain" },
            { id: "flaky/fault-503", object: "model", created: 0, owned_by: "llm-failover pinned" },
          ],
        });
      }
      if (req.method === "GET" && url.pathname === "/v1/status") {
        return json(200, {
          now,
          scopes: [
            { scope: "model|flaky|fault-503", state: { state: "open", until: now + 9000 }, until: now + 9000, streak: 2, kind: "overloaded", reason: "openai-compatible 503 overloaded" },
          ],
        });
      }
      if (req.method === "POST" && url.pathname === "/v1/chat/completions") {
        const model = JSON.parse(body).model;
        return json(
          200,
          {
            id: "chatcmpl-stub",
            object: "chat.completion",
            created: Math.floor(now / 1000),
            model: "backup-model",
            choices: [{ index: 0, message: { role: "assistant", content: `Hello via the Worker (${model})` }, finish_reason: "stop" }],
            usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
          },
          { "x-llm-failover-target": "backup/backup-model" },
        );
      }
      json(404, { error: { message: `no route for ${url.pathname}`, type: "invalid_request_error" } });
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({ url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}

// ── Tests ────────────────────────────────────────────────────────────────────

test("the page loads with no console errors, the demo config applied and every control labelled", async () => {
  const p = await newPage();
  await load(p.page);
  const { page } = p;
  assert.equal(await page.textContent("#boot"), "wasm core ready");
  const config = await page.inputValue("#config");
  assert.ok(config.includes(`${mock.url}/v1`), "the demo config points at ?upstream=");
  const models = await page.$$eval("#model option", (os) => os.map((o) => o.value));
  for (const m of ["fallback", "rate-limited", "reset", "slow-first-token", "stream-cut", "stream-cut-no-continuation", "invalid-request", "flaky/fault-503"]) {
    assert.ok(models.includes(m), `the model selector lists ${m} (from gw.models()): ${models}`);
  }
  const presets = await page.$$eval("#presets button", (bs) => bs.map((b) => b.dataset.preset));
  assert.ok(presets.length >= 8, `presets: ${presets}`);
  assert.ok(presets.includes("stream-cut") && presets.includes("stream-cut-off"), `presets: ${presets}`);
  assert.equal(await page.inputValue("#model"), "fallback", "the first preset is selected");
  assert.equal(await page.locator("#cooldowns tbody tr[data-scope]").count(), 0);
  assert.match(await page.textContent("#cooldowns tbody"), /Nothing is cooling down/);
  assert.ok(await page.isEnabled("#send"));
  assert.ok(await page.isDisabled("#abort"));
  // The key section lists the config's key names, never their values.
  assert.deepEqual(await page.$$eval("#keys [data-key].key-row", (rows) => rows.map((r) => r.dataset.key)), ["FLAKY_KEY", "BACKUP_KEY"]);
  const html = await page.content();
  assert.ok(!html.includes("sk-mock-flaky-demo") && !html.includes("sk-mock-backup-demo"), "key values are not in the DOM");
  // Accessible names for every form control.
  const unlabelled = await page.$$eval("input, select, textarea", (els) =>
    els.filter((e) => !(e.labels?.length || e.getAttribute("aria-label") || e.getAttribute("aria-labelledby"))).map((e) => e.outerHTML.slice(0, 80)),
  );
  assert.deepEqual(unlabelled, [], "every control has a label");
  assert.deepEqual(p.problems, [], "console errors or page errors while loading");
  assert.deepEqual(p.expectedNetwork, [], "no failed requests while loading");
});

test("503 → fallback: overloaded attempts on flaky, backup answers, the scope cools down and the next send skips it", async () => {
  const p = await newPage();
  const { page } = p;
  await load(page);
  await choose(page, "fallback");
  assert.equal(await page.isChecked("#stream"), false);
  const n0 = mock.attempts().length;
  await sendAndWait(page);

  await until(page, "the answer", () => document.querySelector("#answer").textContent === "Hello from backup-model");
  assert.equal(await page.textContent("#answer-target"), "backup/backup-model");
  const rows = await timeline(page);
  const attempts = rows.filter((r) => r.type === "attempt");
  const flaky = attempts.filter((r) => r.target === "flaky/fault-503");
  assert.ok(flaky.length >= 1, `attempts on flaky: ${JSON.stringify(rows, null, 1)}`);
  for (const r of flaky) {
    assert.equal(r.kind, "overloaded", `flaky's attempt: ${JSON.stringify(r)}`);
    assert.equal(r.outcome, "retryable");
    assert.match(r.text, /HTTP 503/);
  }
  const last = attempts.at(-1);
  assert.equal(last.target, "backup/backup-model");
  assert.equal(last.kind, "ok");
  assert.equal(last.outcome, "ok");
  // The retry of the overloaded target waited (a backoff), shown with its duration.
  const waits = rows.filter((r) => r.type === "wait");
  assert.ok(waits.length >= 1 && Number(waits[0].waitMs) > 0, `a wait row with a duration: ${JSON.stringify(waits)}`);
  assert.match(waits[0].text, /\d+ ms|\d+\.\d s/);
  // Timestamps are relative to the request's start and never go back.
  const times = rows.map((r) => Number(/^\+(\d+\.\d{3}) s/.exec(r.text)?.[1]));
  assert.ok(times.every((t, i) => Number.isFinite(t) && (i === 0 || t >= times[i - 1])), `times: ${times}`);
  const finished = rows.at(-1);
  assert.equal(finished.type, "finished");
  assert.equal(finished.kind, "ok");
  assert.match(finished.text, /backup\/backup-model/);
  assert.match(await page.textContent("#summary"), /^Answered by backup\/backup-model/);
  assert.equal(await page.isHidden("#error"), true);
  // What the upstream really saw.
  const seen = mockSince(n0);
  assert.equal(seen.at(-1), "backup-model");
  assert.equal(seen.filter((m) => m === "fault-503").length, flaky.length);

  // The cooldown table shows the failed scope.
  await until(page, "the cooldown row of flaky's model", () => document.querySelector('#cooldowns tr[data-scope="model|flaky|fault-503"]'));
  const scopes = await cooldownScopes(page);
  const s = scopes.find((x) => x.scope === "model|flaky|fault-503");
  assert.equal(s.state, "open");
  assert.match(s.text, /overloaded/);
  assert.match(s.text, /\d(\.\d)? s/, "time left");
  await screenshot(page, "www-fallback.png");

  // A second send skips flaky without a request.
  const n1 = mock.attempts().length;
  await sendAndWait(page);
  await until(page, "the answer", () => document.querySelector("#answer").textContent === "Hello from backup-model");
  const rows2 = await timeline(page);
  const skip = rows2.find((r) => r.type === "skip");
  assert.ok(skip, `a skip row: ${JSON.stringify(rows2, null, 1)}`);
  assert.equal(skip.target, "flaky/fault-503");
  // Drawn from the structured reason ({reason: "cooling_down", scope, until}), in words.
  assert.equal(skip.reason, "cooling_down");
  assert.match(skip.text, /no request: model\|flaky\|fault-503 cooling down for \d+(\.\d)? s/);
  assert.doesNotMatch(skip.text, /\[object Object\]|\d{12,}/, "no raw object or timestamp");
  assert.deepEqual(rows2.filter((r) => r.type === "attempt").map((r) => `${r.target}=${r.kind}`), ["backup/backup-model=ok"]);
  assert.deepEqual(mockSince(n1), ["backup-model"], "the upstream saw no request for the cooling model");
  assertClean(p);
});

test("429 with Retry-After 1 s: the timeline shows the 1 s wait and the key+model cools down", async () => {
  const p = await newPage();
  const { page } = p;
  await load(page);
  await choose(page, "rate-limited");
  await sendAndWait(page);
  await until(page, "the answer", () => document.querySelector("#answer").textContent === "Hello from backup-model");
  const rows = await timeline(page);
  const limited = rows.filter((r) => r.type === "attempt" && r.kind === "rate_limited");
  assert.ok(limited.length >= 1, JSON.stringify(rows, null, 1));
  assert.match(limited[0].text, /retry hint 1\.0 s/);
  const wait = rows.find((r) => r.type === "wait");
  assert.ok(wait && Math.abs(Number(wait.waitMs) - 1000) <= 50, `a ~1000 ms wait: ${JSON.stringify(wait)}`);
  assert.match(wait.text, /retry/);
  await until(page, "the key_model cooldown", () =>
    [...document.querySelectorAll("#cooldowns tr[data-scope]")].some((tr) => tr.dataset.scope.startsWith("key_model|flaky|FLAKY_KEY|")));
  assertClean(p);
});

test("first-token timeout: the silent target times out (no retry) and the backup streams the answer", async () => {
  const p = await newPage();
  const { page } = p;
  await load(page);
  await choose(page, "slow-first-token");
  assert.equal(await page.isChecked("#stream"), true, "the preset turns streaming on");
  const n0 = mock.attempts().length;
  await sendAndWait(page);
  await until(page, "the streamed answer", () => document.querySelector("#answer").textContent === "Hello from backup-model");
  const rows = await timeline(page);
  const attempts = rows.filter((r) => r.type === "attempt");
  assert.deepEqual(attempts.map((r) => `${r.target}=${r.kind}`), ["flaky/fault-slow-first-token-3000=timeout", "backup/backup-model=ok"], JSON.stringify(rows, null, 1));
  // It gave up at the chain's 800 ms first-token budget, not the upstream's 3 s.
  const ms = Number(/(\d+) ms/.exec(attempts[0].text)?.[1] ?? /(\d+\.\d) s/.exec(attempts[0].text)?.[1] * 1000);
  assert.ok(ms >= 700 && ms < 2500, `the timed-out attempt took ${ms} ms: ${attempts[0].text}`);
  assert.equal(rows.at(-1).type, "finished");
  assert.equal(rows.at(-1).kind, "ok");
  assert.equal(await page.getAttribute("#answer", "data-state"), "done");
  assert.deepEqual(mockSince(n0), ["fault-slow-first-token-3000", "backup-model"], "a silent target is not retried");
  assertClean(p);
});

test("stream cut after commit: the backup finishes the answer in the same stream, each part marked", async () => {
  const p = await newPage();
  const { page } = p;
  await load(page);
  await choose(page, "stream-cut");
  assert.equal(await page.isChecked("#stream"), true, "the preset turns streaming on");
  const n0 = mock.attempts().length;
  await sendAndWait(page);
  await until(page, "the continued answer", () => document.querySelector("#answer").dataset.state === "done");

  // One complete answer, no error: flaky's start, then the backup's text spliced after it.
  assert.equal(await page.textContent("#answer"), "Hello from backup-model");
  assert.equal(await page.isHidden("#error"), true);
  assert.match(await page.textContent("#summary"), /^Answered by flaky\/fault-stream-cut, continued by backup\/backup-model in .*continued the answer/);
  assert.equal(await page.textContent("#answer-target"), "flaky/fault-stream-cut + backup/backup-model");

  const rows = await timeline(page);
  const dump = JSON.stringify(rows, null, 1);
  assert.ok(!rows.some((r) => r.type === "other"), `every event is drawn: ${dump}`);
  const attempts = rows.filter((r) => r.type === "attempt");
  // The mock writes its chunks and resets the socket at once: sometimes the
  // browser reports the reset before any content (a pre-commit failure, retried
  // once on flaky). The attempt that committed broke, and the backup continued it.
  const cut = attempts.filter((r) => r.committed === "1" && r.target === "flaky/fault-stream-cut");
  assert.equal(cut.length, 1, `one committed attempt on flaky: ${dump}`);
  assert.equal(cut[0].kind, "connection");
  assert.equal(cut[0].outcome, "retryable", "its break did not end the run");
  assert.match(cut[0].text, /committed/);
  assert.match(cut[0].text, /broke after the answer started/);
  const cont = attempts.at(-1);
  assert.equal(cont.target, "backup/backup-model");
  assert.ok(["prefill", "fresh"].includes(cont.continuation), `the continuation's send names its mode: ${dump}`);
  assert.match(cont.text, new RegExp(`continues · ${cont.continuation}`));
  assert.equal(cont.kind, "ok");
  assert.equal(cont.outcome, "ok");
  assert.ok(attempts.slice(0, -1).every((r) => !r.continuation), `only the backup continues: ${dump}`);
  // The order: the cut attempt, the continuation's send, its splice, the end.
  const at = (r) => rows.indexOf(r);
  const spliced = rows.find((r) => r.type === "spliced");
  assert.ok(spliced, `a spliced row: ${dump}`);
  assert.equal(spliced.attempt, cont.attempt);
  assert.ok(at(cut[0]) < at(cont) && at(cont) < at(spliced), `order: ${dump}`);
  assert.match(spliced.text, /spliced/);
  const finished = rows.at(-1);
  assert.equal(finished.type, "finished");
  assert.equal(finished.kind, "ok");
  assert.match(finished.text, /backup\/backup-model/);

  // The answer marks which part came from which target (the final chunk's parts).
  const parts = await page.$$eval("#answer .part", (spans) => spans.map((s) => ({ ...s.dataset, text: s.textContent })));
  assert.deepEqual(parts.map((x) => x.target), ["flaky/fault-stream-cut", "backup/backup-model"], JSON.stringify(parts));
  assert.match(parts[0].text, /^Hello/);
  assert.equal(parts.map((x) => x.text).join(""), "Hello from backup-model");
  assert.equal(parts[1].continuation, cont.continuation);
  assert.equal(parts[0].attempt, cut[0].attempt);
  assert.equal(parts[1].attempt, cont.attempt);
  assert.equal(await page.isVisible("#answer-parts"), true);
  const legend = await page.innerText("#answer-parts");
  assert.match(legend, /flaky\/fault-stream-cut/);
  assert.match(legend, new RegExp(`backup/backup-model[^]*${cont.continuation}`));
  // The timeline's attempts carry the same part numbers.
  assert.equal(cut[0].part, "0");
  assert.equal(cont.part, "1");
  assert.match(cont.text, new RegExp(`part 2: ${parts[1].text.length} chars`));

  // What the upstream saw: flaky's cut stream, then the backup asked to continue
  // (with the text so far as a prefill, or afresh).
  const seen = mock.attempts().slice(n0);
  assert.equal(seen.at(-1).model, "backup-model");
  if (cont.continuation === "prefill") assert.equal(seen.at(-1).prefill, parts[0].text);
  else assert.equal(seen.at(-1).prefill, null);
  assert.ok(seen.slice(0, -1).every((a) => a.model === "fault-stream-cut"), JSON.stringify(seen.map((a) => a.model)));
  await until(page, "the cooldown row of the cut model", () => document.querySelector('#cooldowns tr[data-scope="model|flaky|fault-stream-cut"]'));
  await screenshot(page, "www-stream-continued.png");
  assertClean(p);
});

test("stream cut, continuation off: a visible StreamError with the partial text, not a success", async () => {
  const p = await newPage();
  const { page } = p;
  await load(page);
  await choose(page, "stream-cut-off");
  assert.equal(await page.isChecked("#stream"), true, "the preset turns streaming on");
  const chain = JSON.parse(await page.inputValue("#config")).chains.find((c) => c.name === "stream-cut-no-continuation");
  assert.equal(chain.continuation, false, "the preset's chain turns continuation off");
  const n0 = mock.attempts().length;
  await sendAndWait(page);
  await until(page, "the StreamError", () => !document.querySelector("#error").hidden && document.querySelector("#error").dataset.name === "StreamError");
  const err = await page.innerText("#error");
  assert.match(err, /StreamError/);
  assert.match(err, /after the answer started/);
  assert.equal(await page.getAttribute("#error", "data-kind"), "connection");
  // The partial text is there, marked incomplete; nothing claims success.
  assert.equal(await page.getAttribute("#answer", "data-state"), "incomplete");
  assert.match(await page.textContent("#answer"), /^Hello/);
  assert.notEqual(await page.textContent("#answer"), "Hello from backup-model");
  assert.equal(await page.isHidden("#answer-parts"), true);
  assert.doesNotMatch(await page.textContent("#summary"), /Answered/);
  assert.match(await page.textContent("#summary"), /^StreamError/);
  const rows = await timeline(page);
  assert.ok(!rows.some((r) => r.kind === "ok"), `no ok row: ${JSON.stringify(rows, null, 1)}`);
  assert.ok(!rows.some((r) => r.type === "spliced" || r.continuation), `no continuation: ${JSON.stringify(rows, null, 1)}`);
  const attempts = rows.filter((r) => r.type === "attempt");
  // As above, the reset is sometimes seen before any content (one same-target
  // retry). Either way the stream that committed ends the run: no other target
  // may finish it, and none starts it again.
  assert.ok(attempts.length >= 1 && attempts.length <= 2, JSON.stringify(attempts));
  assert.ok(attempts.every((r) => r.target === "brittle/fault-stream-cut"), `no fallback after the commit: ${JSON.stringify(attempts)}`);
  assert.equal(attempts.at(-1).committed, "1");
  assert.equal(attempts.at(-1).outcome, "fatal");
  assert.ok(mockSince(n0).every((m) => m === "fault-stream-cut"), "the backup was never asked");
  const finished = rows.at(-1);
  assert.equal(finished.type, "finished");
  assert.equal(finished.outcome, "fatal");
  assert.equal(finished.kind, "connection");
  await screenshot(page, "www-stream-cut.png");
  assertClean(p);
});

test("invalid request: a RequestError, one attempt, no retry and no fallback", async () => {
  const p = await newPage();
  const { page } = p;
  await load(page);
  await choose(page, "invalid-request");
  const n0 = mock.attempts().length;
  await sendAndWait(page);
  await until(page, "the RequestError", () => document.querySelector("#error").dataset.name === "RequestError");
  assert.equal(await page.getAttribute("#error", "data-kind"), "invalid_request");
  assert.match(await page.innerText("#error"), /HTTP 400/);
  assert.deepEqual(mockSince(n0), ["fault-invalid-request"]);
  const attempts = (await timeline(page)).filter((r) => r.type === "attempt");
  assert.equal(attempts.length, 1);
  assert.equal(attempts[0].kind, "invalid_request");
  assert.equal(attempts[0].outcome, "fatal");
  assert.equal(await page.locator("#cooldowns tbody tr[data-scope]").count(), 0, "an invalid request cools nothing down");
  assertClean(p);
});

test("abort: the Abort button stops a stream mid-answer with an AbortError", async () => {
  const p = await newPage();
  const { page } = p;
  await load(page);
  await choose(page, "streaming");
  await page.click("#send");
  await until(page, "the first streamed text", () => document.querySelector("#answer").textContent.startsWith("Hello"));
  assert.equal(await page.getAttribute("#answer", "data-state"), "streaming");
  await page.click("#abort");
  await until(page, "the AbortError", () => document.querySelector("#error").dataset.name === "AbortError");
  await until(page, "the run to end", () => document.body.dataset.running === "0");
  assert.equal(await page.getAttribute("#answer", "data-state"), "incomplete");
  assert.notEqual(await page.textContent("#answer"), "Hello from slow-stream-300");
  assert.match(await page.textContent("#run-state"), /aborted/);
  assertClean(p);
});

test("an invalid config shows a ConfigError (or the JSON error) next to the editor and sends nothing", async () => {
  const p = await newPage();
  const { page } = p;
  await load(page);
  const bad = {
    providers: [{ name: "p", dialect: "openai-compatible", base_url: `${mock.url}/v1` }],
    chains: [{ name: "c", targets: [{ provider: "p", model: "default" }] }],
  };
  await page.fill("#config", JSON.stringify(bad, null, 2));
  await page.click("#apply-config");
  await until(page, "the ConfigError", () => !document.querySelector("#config-error").hidden);
  assert.equal(await page.getAttribute("#config-error", "data-name"), "ConfigError");
  const text = await page.innerText("#config-error");
  assert.match(text, /ConfigError/);
  assert.match(text, /invalid_config/);
  assert.match(text, /chains\[0\]\.targets\[0\]\.model/);

  await page.fill("#config", '{"providers": [');
  await page.click("#apply-config");
  await until(page, "the JSON error", () => document.querySelector("#config-error").dataset.name === "SyntaxError");
  assert.match(await page.innerText("#config-error"), /Invalid JSON/);

  // Send does not go out with a broken config.
  const n0 = mock.attempts().length;
  await page.click("#send");
  await until(page, "the summary to say why", () => /config has a problem/.test(document.querySelector("#summary").textContent));
  assert.deepEqual(mockSince(n0), []);

  // The demo template brings a working config back.
  await page.selectOption("#template", "providers");
  await page.selectOption("#template", "demo");
  await until(page, "the config error to clear", () => document.querySelector("#config-error").hidden);
  assert.match(await page.textContent("#config-state"), /applied/);
  assertClean(p);
});

test("persisted cooldowns survive a real page reload (and only when Persist is on)", async () => {
  const p = await newPage();
  const { page } = p;
  const scopeRow = '#cooldowns tr[data-scope="model|flaky|fault-503"]';
  await load(page);
  assert.equal(await page.isChecked("#persist"), false);

  // Without persist: a reload forgets the table.
  await choose(page, "fallback");
  await sendAndWait(page);
  await until(page, "the cooldown row", (sel) => document.querySelector(sel), scopeRow);
  await page.reload();
  await until(page, "the reloaded page", () => document.body.dataset.ready === "1");
  assert.equal(await page.locator("#cooldowns tbody tr[data-scope]").count(), 0, "no persistence when unchecked");

  // With persist: the table is back after a reload.
  await page.check("#persist");
  await until(page, "the gateway with persistence", () => document.querySelector("#config-state").textContent === "applied");
  await choose(page, "fallback");
  await sendAndWait(page);
  await until(page, "the cooldown row", (sel) => document.querySelector(sel), scopeRow);
  await page.reload();
  await until(page, "the reloaded page", () => document.body.dataset.ready === "1");
  assert.equal(await page.isChecked("#persist"), true, "the Persist choice is remembered");
  await until(page, "the persisted cooldown row", (sel) => document.querySelector(sel), scopeRow);
  assert.equal(await page.getAttribute(scopeRow, "data-state"), "open");

  // Reset forgets it, persisted copy included.
  await page.click("#reset-cooldowns");
  await until(page, "an empty table", () => !document.querySelector("#cooldowns tr[data-scope]"));
  await page.reload();
  await until(page, "the reloaded page", () => document.body.dataset.ready === "1");
  assert.equal(await page.locator("#cooldowns tbody tr[data-scope]").count(), 0, "reset also forgot the persisted copy");
  assertClean(p);
});

test("Worker panel: status shows the Worker's scopes; 'use this Worker' sends through it with the gateway token", async () => {
  const p = await newPage();
  const { page } = p;
  await load(page);
  await page.fill("#worker-url", worker.url);

  // A wrong token: the Worker's 401 is shown.
  await page.fill("#worker-token", "wrong-token");
  await page.click("#worker-status-btn");
  await until(page, "the 401", () => !document.querySelector("#worker-error").hidden);
  assert.match(await page.innerText("#worker-error"), /HTTP 401/);

  await page.fill("#worker-token", WORKER_TOKEN);
  await page.click("#worker-status-btn");
  await until(page, "the Worker's scopes", () => document.querySelector('#worker-status tr[data-scope="model|flaky|fault-503"]'));
  assert.equal(await page.isHidden("#worker-error"), true);
  const row = await page.innerText('#worker-status tr[data-scope="model|flaky|fault-503"]');
  assert.match(row, /open/);
  assert.match(row, /overloaded/);
  const statusCall = worker.seen.findLast((r) => r.path === "/v1/status");
  assert.equal(statusCall.authorization, `Bearer ${WORKER_TOKEN}`);

  await page.click("#use-worker");
  await until(page, "the Worker config", (u) => document.querySelector("#config").value.includes(`${u}/v1`) && document.querySelector("#config-state").textContent === "applied", worker.url);
  const config = JSON.parse(await page.inputValue("#config"));
  assert.deepEqual(config.providers, [{ name: "worker", dialect: "openai-compatible", base_url: `${worker.url}/v1`, keys: ["GATEWAY_TOKEN"] }]);
  assert.equal(await page.inputValue("#model"), "demo");
  await sendAndWait(page);
  await until(page, "the Worker's answer", () => document.querySelector("#answer").textContent === "Hello via the Worker (demo)");
  // The page's target is the Worker; the model is the one the Worker's failover picked.
  assert.equal(await page.textContent("#answer-target"), "worker/demo · model backup-model");
  const chat = worker.seen.findLast((r) => r.path === "/v1/chat/completions");
  assert.equal(chat.authorization, `Bearer ${WORKER_TOKEN}`);
  assert.equal(JSON.parse(chat.body).model, "demo");
  // The token is sent, never shown or logged.
  assert.ok(!(await page.content()).includes(WORKER_TOKEN), "the token is not in the DOM");
  assert.ok(!(await page.evaluate(() => document.body.innerText)).includes(WORKER_TOKEN));
  assert.ok(!p.consoleText.some((t) => t.includes(WORKER_TOKEN)), "the token is not in the console");
  await screenshot(page, "www-worker.png");
  assertClean(p);
});

test("on a phone-sized screen the page fits the width", async () => {
  const p = await newPage({ viewport: { width: 390, height: 844 } });
  const { page } = p;
  await load(page);
  await choose(page, "fallback");
  await sendAndWait(page);
  await until(page, "the answer", () => document.querySelector("#answer").textContent === "Hello from backup-model");
  const { scroll, width } = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
  assert.ok(scroll <= width, `no horizontal scrolling: scrollWidth ${scroll} > ${width}`);
  await screenshot(page, "www-mobile.png");
  assertClean(p);
});
