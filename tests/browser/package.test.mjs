// The npm package's JavaScript API (build/pkg, built by scripts/build-browser), in
// headless Chromium against the local fault upstream: loaded straight from a
// <script type="module">, and bundled by Vite. Run by scripts/test-browser:
//
//   node --test tests/browser/package.test.mjs
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startMockUpstream, STORY } from "../e2e/mock-upstream.mjs";
import { startStatic, REPO } from "./static-server.mjs";
import { launch, newPage, ARTIFACTS } from "./chromium.mjs";

let mock, site, browser;

before(async () => {
  mock = await startMockUpstream({ port: 0, host: "127.0.0.1" });
  site = await startStatic({
    port: 0,
    routes: { "/": "tests/browser/pages", "/pkg/": "build/pkg", "/examples/": "examples" },
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await mock?.close();
});

/** A page with the package loaded as `window.lf`. */
async function packagePage() {
  const page = await newPage(browser);
  await page.goto(`${site.url}/package.html`);
  await page.waitForFunction(() => window.ready === true, null, { timeout: 10_000 });
  return page;
}

// The config the in-page functions build (a function so it runs in the page).
const CONFIG_SRC = `(mock, targets, budgets = {}, chain = {}) => ({
  providers: [
    { name: "flaky", dialect: "openai-compatible", base_url: mock + "/v1", keys: ["FLAKY_KEY"] },
    { name: "backup", dialect: "openai-compatible", base_url: mock + "/v1", keys: ["BACKUP_KEY"] },
  ],
  chains: [{ name: "c", targets: targets.map((t) => ({ provider: t.split("/")[0], model: t.split("/")[1] })),
             budgets: { deadline_ms: 20000, header_timeout_ms: 3000, response_timeout_ms: 3000,
                        first_token_timeout_ms: 800, idle_timeout_ms: 800, ...budgets }, ...chain }],
})`;
const KEYS = { FLAKY_KEY: "sk-pkg-test-flaky-0b5e2c9d7a", BACKUP_KEY: "sk-pkg-test-backup-6f1d3e8a2c" };

async function run(page, body, args = {}) {
  const src = `async (lf, args) => { const config = ${CONFIG_SRC}; const KEYS = args.KEYS; ${body} }`;
  return page.evaluate(
    async ({ src, args }) => new Function(`return (${src})`)()(window.lf, args),
    { src, args: { mock: mock.url, KEYS, ...args } },
  );
}

describe("the package from a module script", () => {
  let page;
  before(async () => {
    page = await packagePage();
  });
  after(async () => {
    assert.deepEqual(page.problems.filter((p) => p.startsWith("pageerror")), []);
    await page.context().close();
  });

  test("chat falls back and reports the answering target and the attempts", async () => {
    const out = await run(page, `
      const events = [];
      const gw = await lf.createGateway(config(args.mock, ["flaky/fault-503", "backup/backup-model"]), { keys: KEYS });
      const c = await gw.chat({ model: "c", messages: [{ role: "user", content: "hi" }] }, { onEvent: (e) => events.push(e.event) });
      return { object: c.object, content: c.choices[0].message.content, info: c.llm_failover, events, isGateway: gw instanceof lf.Gateway };
    `);
    assert.equal(out.object, "chat.completion");
    assert.equal(out.content, "Hello from backup-model");
    assert.equal(out.isGateway, true);
    assert.equal(out.info.target, "backup/backup-model");
    assert.deepEqual(
      out.info.attempts.map((a) => `${a.provider}/${a.model}=${a.kind ?? "ok"}`),
      ["flaky/fault-503=overloaded", "flaky/fault-503=overloaded", "backup/backup-model=ok"],
    );
    // onEvent saw the decisions live, in order, ending with the success.
    assert.equal(out.events[0], "send");
    assert.ok(out.events.includes("failure"));
    assert.ok(out.events.includes("cooled_down"));
    assert.deepEqual(out.events.slice(-2), ["success", "finished"]);
    assert.deepEqual(out.events, out.info.trace.map((e) => e.event));
  });

  test("chatStream yields OpenAI chunks from the fallback and ends cleanly", async () => {
    const out = await run(page, `
      const gw = await lf.createGateway(config(args.mock, ["flaky/fault-reset", "backup/backup-model"]), { keys: KEYS });
      const s = await gw.chatStream({ model: "c", messages: [{ role: "user", content: "hi" }] });
      const objects = []; let text = "";
      for await (const chunk of s) { objects.push(chunk.object); text += chunk.choices[0]?.delta?.content ?? ""; }
      return { target: s.target, text, objects: [...new Set(objects)], kinds: s.attempts.map((a) => a.kind ?? "ok"),
               isStream: s instanceof lf.ChatStream };
    `);
    assert.equal(out.target, "backup/backup-model");
    assert.equal(out.text, "Hello from backup-model");
    assert.deepEqual(out.objects, ["chat.completion.chunk"]);
    assert.equal(out.kinds[0], "connection");
    assert.equal(out.kinds.at(-1), "ok");
    assert.equal(out.isStream, true);
  });

  test("a stream cut after it started is finished by the next target in the same iteration", async () => {
    const out = await run(page, `
      const gw = await lf.createGateway(config(args.mock, ["flaky/fault-stream-cut", "backup/backup-model"]), { keys: KEYS });
      const s = await gw.chatStream({ model: "c", messages: [{ role: "user", content: "hi" }] });
      let text = "";
      for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? "";
      return { text, target: s.target, continued: s.attempts.map((a) => a.continuation ?? null),
               targets: s.attempts.map((a) => a.provider + "/" + a.model) };
    `);
    // "Hello from" before the cut; the backup (asked afresh) said "Hello from
    // backup-model": the rest was spliced after what the page had.
    assert.equal(out.text, "Hello from backup-model");
    assert.equal(out.target, "flaky/fault-stream-cut", "the stream started on the first target");
    assert.equal(out.targets.at(-1), "backup/backup-model");
    assert.equal(out.continued.at(-1), "fresh");
  });

  test("chat over native Anthropic and Gemini targets: fallback, streaming and a cut finished across dialects", async () => {
    const out = await run(page, `
      const native = (targets) => ({
        providers: [
          { name: "claude", dialect: "anthropic", base_url: args.mock + "/v1", keys: ["FLAKY_KEY"] },
          { name: "gem", dialect: "gemini", base_url: args.mock + "/v1beta", keys: ["BACKUP_KEY"] },
        ],
        chains: [{ name: "n", targets: targets.map((t) => ({ provider: t.split("/")[0], model: t.split("/")[1] })),
                   budgets: { deadline_ms: 20000, first_token_timeout_ms: 3000, idle_timeout_ms: 800 } }],
      });
      const gw = await lf.createGateway(native(["claude/fault-529", "gem/gem-ok"]), { keys: KEYS });
      const c = await gw.chat({ model: "n", messages: [{ role: "user", content: "hi" }] });
      const s = await gw.chatStream({ model: "n", messages: [{ role: "user", content: "hi" }] });
      let streamed = "";
      for await (const chunk of s) streamed += chunk.choices[0]?.delta?.content ?? "";
      const cut = await lf.createGateway(native(["claude/fault-story-cut-10", "gem/story-fresh"]), { keys: KEYS });
      const t = await cut.chatStream({ model: "n", messages: [{ role: "user", content: "Tell me a story." }] });
      let story = "";
      for await (const chunk of t) story += chunk.choices[0]?.delta?.content ?? "";
      return { content: c.choices[0].message.content, object: c.object, kinds: c.llm_failover.attempts.map((a) => a.kind ?? "ok"),
               streamed, story, storyTargets: t.attempts.map((a) => a.provider + "/" + a.model) };
    `);
    assert.equal(out.object, "chat.completion");
    assert.equal(out.content, "Hello from gem-ok");
    assert.equal(out.kinds[0], "overloaded");
    assert.equal(out.streamed, "Hello from gem-ok");
    assert.equal(out.story, STORY);
    assert.deepEqual(out.storyTargets, ["claude/fault-story-cut-10", "gem/story-fresh"]);
    const apis = mock.attempts().filter((a) => ["fault-529", "gem-ok", "story-fresh"].includes(a.model)).map((a) => a.api);
    assert.deepEqual([...new Set(apis)].sort(), ["anthropic", "gemini"], "called in their own APIs");
    assert.ok(mock.attempts().filter((a) => a.model === "fault-529").every((a) => a.api_key === KEYS.FLAKY_KEY));
  });

  test("a stream cut that nothing can finish throws a StreamError, never a silent success", async () => {
    const out = await run(page, `
      const gw = await lf.createGateway(config(args.mock, ["flaky/fault-stream-cut", "backup/backup-model"], {}, { continuation: false }), { keys: KEYS });
      const s = await gw.chatStream({ model: "c", messages: [{ role: "user", content: "hi" }] });
      let text = "";
      try {
        for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? "";
        return { completed: true, text };
      } catch (e) {
        return { completed: false, text, name: e.name, kind: e.kind, message: e.message, target: e.target,
                 isStreamError: e instanceof lf.StreamError, isFailoverError: e instanceof lf.FailoverError,
                 isError: e instanceof Error, attempts: e.attempts.length,
                 targets: [...new Set(e.attempts.map((a) => a.provider + "/" + a.model))] };
      }
    `);
    assert.equal(out.completed, false, "the cut stream must not end like a success");
    assert.ok(out.text.length > 0, "content arrived before the cut");
    assert.equal(out.name, "StreamError");
    assert.equal(out.isStreamError && out.isFailoverError && out.isError, true);
    assert.equal(out.kind, "connection");
    assert.equal(out.target, "flaky/fault-stream-cut");
    assert.match(out.message, /flaky\/fault-stream-cut/);
    // (A reset seen before any content is a pre-commit failure and may earn one
    // same-target retry.)
    assert.ok(out.attempts <= 2);
    assert.deepEqual(out.targets, ["flaky/fault-stream-cut"], "continuation is off: no other target");
  });

  test("errors are Error subclasses with a kind: config, request, upstream, abort", async () => {
    const out = await run(page, `
      const describe = (e) => ({ name: e.name, kind: e.kind, status: e.status, message: e.message, param: e.param,
        error: e instanceof Error, failover: e instanceof lf.FailoverError,
        classes: ["ConfigError", "RequestError", "UpstreamError", "StreamError", "AbortError"].filter((c) => e instanceof lf[c]) });
      const out = {};
      try { await lf.createGateway({ providers: [], chains: [{ name: "x" }] }); } catch (e) { out.config = describe(e); }
      const gw = await lf.createGateway(config(args.mock, ["flaky/fault-invalid-request", "backup/backup-model"]), { keys: KEYS });
      try { await gw.chat({ model: "c", messages: [{ role: "user", content: "hi" }] }); } catch (e) { out.invalid = describe(e); }
      try { await gw.chat({ model: "nope", messages: [{ role: "user", content: "hi" }] }); } catch (e) { out.unknown = describe(e); }
      try { await gw.chat({ model: "flaky/fault-503", messages: [{ role: "user", content: "hi" }] }); } catch (e) { out.pinned = describe(e); out.pinnedProviders = [...new Set(e.attempts.map((a) => a.provider))]; }
      const slow = await lf.createGateway(config(args.mock, ["flaky/fault-silent", "backup/backup-model"]), { keys: KEYS });
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 150);
      const t0 = performance.now();
      try { await slow.chat({ model: "c", messages: [{ role: "user", content: "hi" }] }, { signal: ac.signal }); } catch (e) { out.abort = describe(e); out.abortMs = performance.now() - t0; }
      return out;
    `);
    assert.deepEqual(out.config.classes, ["ConfigError"]);
    assert.equal(out.config.kind, "invalid_config");
    assert.match(out.config.message, /chains\[0\]/, "names the field");
    assert.deepEqual(out.invalid.classes, ["RequestError"]);
    assert.equal(out.invalid.kind, "invalid_request");
    assert.equal(out.invalid.status, 400);
    assert.equal(out.invalid.param, "max_tokens", "the provider's own error, passed on");
    assert.deepEqual(out.unknown.classes, ["RequestError"]);
    assert.match(out.unknown.message, /nope/);
    assert.deepEqual(out.pinned.classes, ["UpstreamError"]);
    assert.equal(out.pinned.kind, "overloaded");
    assert.equal(out.pinned.status, 503);
    assert.deepEqual(out.pinnedProviders, ["flaky"], "a pinned request never leaves its provider");
    assert.deepEqual(out.abort.classes, ["AbortError"]);
    assert.equal(out.abort.name, "AbortError");
    assert.ok(out.abortMs < 2500, `the abort ended the wait on a silent upstream (${out.abortMs} ms)`);
    for (const e of [out.config, out.invalid, out.unknown, out.pinned, out.abort]) assert.equal(e.error && e.failover, true);
  });

  test("keys never appear in errors, traces or answers", async () => {
    const out = await run(page, `
      const cfg = config(args.mock, ["flaky/fault-401"]);
      const gw = await lf.createGateway(cfg, { keys: KEYS });
      try { await gw.chat({ model: "c", messages: [{ role: "user", content: "hi" }] }); return "no error"; }
      catch (e) { return JSON.stringify({ message: e.message, attempts: e.attempts, trace: e.trace, status: gw.status(), snapshot: gw.snapshot() }); }
    `);
    assert.notEqual(out, "no error");
    for (const key of Object.values(KEYS)) assert.ok(!out.includes(key), `key leaked: ${out}`);
    assert.ok(out.includes("FLAKY_KEY"), "the key's name is reported");
  });

  test("a cooldown is respected by the next call, and status() shows it", async () => {
    const out = await run(page, `
      const gw = await lf.createGateway(config(args.mock, ["flaky/fault-500", "backup/backup-model"]), { keys: KEYS });
      await gw.chat({ model: "c", messages: [{ role: "user", content: "hi" }] });
      const status = gw.status();
      const second = await gw.chat({ model: "c", messages: [{ role: "user", content: "hi" }] });
      gw.reset();
      return { scopes: status.scopes, second: second.llm_failover.attempts.map((a) => a.provider + "/" + a.model),
               skipped: second.llm_failover.trace.some((e) => e.event === "skip"), afterReset: gw.status().scopes.length };
    `);
    const scope = out.scopes.find((s) => s.scope.includes("fault-500"));
    assert.ok(scope, JSON.stringify(out.scopes));
    assert.equal(scope.state.state, "open");
    assert.equal(scope.kind, "server_error");
    assert.deepEqual(out.second, ["backup/backup-model"]);
    assert.equal(out.skipped, true);
    assert.equal(out.afterReset, 0);
  });

  test("classify and dryRun give the decisions alone, as the native CLI does", async () => {
    const config = JSON.parse(fs.readFileSync(path.join(REPO, "examples/config.json"), "utf8"));
    const script = JSON.parse(fs.readFileSync(path.join(REPO, "examples/script.json"), "utf8"));
    const out = await run(page, `
      const c = lf.classify({ provider: "openai", status: 429, headers: { "retry-after": "2" },
        body: { error: { message: "Rate limit reached for requests", type: "requests", code: "rate_limit_exceeded" } } });
      let bad; try { lf.classify({ provider: "nope", status: 500 }); } catch (e) { bad = e.name + ": " + e.message; }
      return { c, bad, dry: lf.dryRun(args.config, args.script), policy: lf.failurePolicy() };
    `, { config, script });
    assert.equal(out.c.kind, "rate_limited");
    assert.equal(out.c.retry_after_ms, 2000);
    assert.match(out.c.action, /retry/);
    assert.match(out.bad, /^RequestError: .*nope/);
    assert.equal(out.policy.length, 14);
    // The same decisions as the native core: the CLI's output for the same files.
    const native = JSON.parse(
      execFileSync("cargo", ["run", "-q", "--bin", "llm-failover-dry-run", "examples/config.json", "examples/script.json"], {
        cwd: REPO,
        encoding: "utf8",
      }),
    );
    assert.deepEqual(out.dry, native);
  });
});

test("cooldowns persist in localStorage across a real page reload", async () => {
  const page = await packagePage();
  try {
    const first = await run(page, `
      localStorage.clear();
      const gw = await lf.createGateway(config(args.mock, ["flaky/fault-502-html", "backup/backup-model"]), { keys: KEYS, persist: true });
      const c = await gw.chat({ model: "c", messages: [{ role: "user", content: "hi" }] });
      return { target: c.llm_failover.target, stored: localStorage.getItem("llm-failover/cooldowns/v1") };
    `);
    assert.equal(first.target, "backup/backup-model");
    assert.match(first.stored, /fault-502-html/);
    await page.reload();
    await page.waitForFunction(() => window.ready === true);
    const second = await run(page, `
      const gw = await lf.createGateway(config(args.mock, ["flaky/fault-502-html", "backup/backup-model"]), { keys: KEYS, persist: true });
      const scopes = gw.status().scopes.map((s) => s.scope);
      const c = await gw.chat({ model: "c", messages: [{ role: "user", content: "hi" }] });
      const attempts = c.llm_failover.attempts.map((a) => a.provider + "/" + a.model);
      gw.reset();
      return { scopes, attempts, stored: localStorage.getItem("llm-failover/cooldowns/v1") };
    `);
    assert.ok(second.scopes.some((s) => s.includes("fault-502-html")), JSON.stringify(second.scopes));
    assert.deepEqual(second.attempts, ["backup/backup-model"], "the reloaded page skips the cooled-down target");
    assert.equal(second.stored, null, "reset() forgets the persisted copy");
  } finally {
    await page.context().close();
  }
});

test("the package works bundled by Vite", async () => {
  // A tiny app importing "llm-failover" by name, resolved to build/pkg.
  const app = path.join(REPO, "target", "vite-app");
  fs.rmSync(app, { recursive: true, force: true });
  fs.mkdirSync(path.join(app, "node_modules"), { recursive: true });
  fs.symlinkSync(path.join(REPO, "build", "pkg"), path.join(app, "node_modules", "llm-failover"), "dir");
  fs.writeFileSync(
    path.join(app, "index.html"),
    `<!doctype html><meta charset="utf-8"><pre id="out">loading</pre><script type="module" src="./main.js"></script>\n`,
  );
  fs.writeFileSync(
    path.join(app, "main.js"),
    `import { createGateway, UpstreamError } from "llm-failover";
const upstream = new URL(location.href).searchParams.get("upstream");
const gw = await createGateway({
  providers: [{ name: "p", dialect: "openai-compatible", base_url: upstream + "/v1" },
              { name: "q", dialect: "openai-compatible", base_url: upstream + "/v1" }],
  chains: [{ name: "c", targets: [{ provider: "p", model: "fault-429" }, { provider: "q", model: "vite-model" }] }],
});
const c = await gw.chat({ model: "c", messages: [{ role: "user", content: "hi" }] });
document.getElementById("out").textContent = JSON.stringify({ content: c.choices[0].message.content, target: c.llm_failover.target, errorClass: typeof UpstreamError });
`,
  );
  execFileSync(path.join(REPO, "node_modules", ".bin", "vite"), ["build", "--logLevel", "warn", "--outDir", "dist", "--emptyOutDir"], {
    cwd: app,
    stdio: "inherit",
  });
  const files = fs.readdirSync(path.join(app, "dist", "assets"));
  assert.ok(files.some((f) => f.endsWith(".wasm")), `Vite emitted the .wasm: ${files}`);
  const dist = await startStatic({ port: 0, routes: { "/": "target/vite-app/dist" } });
  const page = await newPage(browser);
  try {
    await page.goto(`${dist.url}/?upstream=${encodeURIComponent(mock.url)}`);
    await page.waitForFunction(() => document.getElementById("out").textContent.startsWith("{"), null, { timeout: 15_000 });
    const out = JSON.parse(await page.textContent("#out"));
    assert.deepEqual(out, { content: "Hello from vite-model", target: "q/vite-model", errorClass: "function" });
    await page.screenshot({ path: path.join(ARTIFACTS, "package-vite.png") });
  } finally {
    await page.context().close();
    await dist.close();
  }
});

test("the published tarball holds every module the package imports", () => {
  // `npm pack` honours package.json's `files`; the Vite test above reads build/pkg
  // directly, so a module left out of `files` would only break for npm users.
  const pkg = path.join(REPO, "build", "pkg");
  const [packed] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: pkg, encoding: "utf8" }));
  const inTarball = new Set(packed.files.map((f) => f.path));
  const relativeImports = (file) => {
    const src = fs.readFileSync(path.join(pkg, file), "utf8");
    const specs = [...src.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]);
    return specs.map((s) => path.posix.normalize(path.posix.join(path.posix.dirname(file), s)));
  };
  const seen = new Set();
  const todo = ["index.js"];
  while (todo.length) {
    const file = todo.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    assert.ok(inTarball.has(file), `${file} is imported but not in the tarball (files: ${[...inTarball].join(", ")})`);
    if (file.endsWith(".js")) todo.push(...relativeImports(file));
  }
  assert.ok(seen.has("llm_failover.js"), `index.js imports the wasm-bindgen glue: ${[...seen]}`);
  assert.ok(inTarball.has("llm_failover_bg.wasm"), "the .wasm is in the tarball");
});
