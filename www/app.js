// The llm-failover playground: drives the browser npm package (served at ./pkg/)
// and shows what it decided. No framework, no build step.
//
// Query parameters: ?upstream=http://127.0.0.1:PORT points the demo config at
// another fault upstream (tests/e2e/mock-upstream.mjs) than 127.0.0.1:8790.
//
// Key values typed on this page stay in `keyValues` (memory only): they are handed
// to the gateway and never written to the DOM, the console or storage.

const DEFAULT_UPSTREAM = "http://127.0.0.1:8790";
const PERSIST_FLAG = "llm-failover-www/persist";
// Where the package keeps cooldowns with `persist: true` (index.d.ts).
const PERSIST_STORE = "llm-failover/cooldowns/v1";

// Placeholder keys for the demo config: the mock upstream accepts any key.
const DEMO_KEYS = { FLAKY_KEY: "sk-mock-flaky-demo", BACKUP_KEY: "sk-mock-backup-demo" };

const $ = (sel) => document.querySelector(sel);

// ── Small helpers ────────────────────────────────────────────────────────────

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "title" || k === "for" || k === "id" || k === "type" || k === "colspan" || k === "tabindex") {
      node.setAttribute(k, v === true ? "" : String(v));
    } else node[k] = v;
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** 385 → "385 ms", 10000 → "10.0 s", 605000 → "10 min 5 s". */
function fmtDuration(ms) {
  if (!Number.isFinite(ms)) return "—";
  ms = Math.max(0, Math.round(ms));
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) {
    const m = Math.floor(ms / 60_000);
    const s = Math.round((ms % 60_000) / 1000);
    return s ? `${m} min ${s} s` : `${m} min`;
  }
  const h = Math.floor(ms / 3_600_000);
  const m = Math.round((ms % 3_600_000) / 60_000);
  return m ? `${h} h ${m} min` : `${h} h`;
}

function fmtRel(ms) {
  return `+${(Math.max(0, ms) / 1000).toFixed(3)} s`;
}

/** JSON with short objects and arrays kept on one line. */
function prettyJson(value, indent = "") {
  const inline = (v) => {
    if (Array.isArray(v)) return `[${v.map(inline).join(", ")}]`;
    if (v && typeof v === "object") {
      const parts = Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => `${JSON.stringify(k)}: ${inline(x)}`);
      return parts.length ? `{ ${parts.join(", ")} }` : "{}";
    }
    return JSON.stringify(v);
  };
  const flat = inline(value);
  if (flat.length + indent.length <= 64 || !value || typeof value !== "object") return flat;
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    return `[\n${value.map((v) => inner + prettyJson(v, inner)).join(",\n")}\n${indent}]`;
  }
  const entries = Object.entries(value).filter(([, x]) => x !== undefined);
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${prettyJson(v, inner)}`).join(",\n")}\n${indent}}`;
}

function upstreamFromQuery() {
  const raw = new URLSearchParams(location.search).get("upstream");
  if (!raw) return { url: DEFAULT_UPSTREAM, warning: null };
  try {
    const u = new URL(raw);
    if (u.protocol === "http:" || u.protocol === "https:") {
      return { url: (u.origin + u.pathname).replace(/\/+$/, ""), warning: null };
    }
  } catch {
    // fall through
  }
  return { url: DEFAULT_UPSTREAM, warning: `ignored ?upstream=${raw}: not an http(s) URL` };
}

// ── Configs ──────────────────────────────────────────────────────────────────

function demoConfig(upstream) {
  const base_url = `${upstream}/v1`;
  const backup = { provider: "backup", model: "backup-model" };
  return {
    providers: [
      { name: "flaky", dialect: "openai-compatible", base_url, keys: ["FLAKY_KEY"] },
      { name: "backup", dialect: "openai-compatible", base_url, keys: ["BACKUP_KEY"] },
      // Its own provider: a reset cools down the whole endpoint (provider), which
      // would otherwise take `flaky` out of every other scenario for a while.
      { name: "fragile", dialect: "openai-compatible", base_url, keys: ["FLAKY_KEY"] },
    ],
    chains: [
      { name: "fallback", targets: [{ provider: "flaky", model: "fault-503" }, backup] },
      { name: "rate-limited", targets: [{ provider: "flaky", model: "fault-429-retry-after-1" }, backup] },
      { name: "reset", targets: [{ provider: "fragile", model: "fault-reset" }, backup] },
      {
        name: "slow-first-token",
        targets: [{ provider: "flaky", model: "fault-slow-first-token-3000" }, backup],
        budgets: { first_token_timeout_ms: 800, response_timeout_ms: 1500 },
      },
      { name: "stream-cut", targets: [{ provider: "flaky", model: "fault-stream-cut" }, backup] },
      { name: "invalid-request", targets: [{ provider: "flaky", model: "fault-invalid-request" }, backup] },
      { name: "all-down", targets: [{ provider: "flaky", model: "fault-500" }, { provider: "backup", model: "fault-529" }] },
      { name: "streaming", targets: [{ provider: "flaky", model: "fault-503" }, { provider: "backup", model: "slow-stream-300" }] },
    ],
    defaults: { budgets: { max_attempts: 4, deadline_ms: 30000 } },
  };
}

const PROVIDERS_TEMPLATE = {
  providers: [
    { name: "openai", dialect: "openai", base_url: "https://api.openai.com/v1", keys: ["OPENAI_KEY"] },
    { name: "anthropic", dialect: "anthropic", base_url: "https://api.anthropic.com/v1", keys: ["ANTHROPIC_KEY"] },
    { name: "groq", dialect: "groq", base_url: "https://api.groq.com/openai/v1", keys: ["GROQ_KEY"] },
  ],
  chains: [
    {
      name: "default",
      targets: [
        { provider: "openai", model: "gpt-4o-mini", context_window: 128000 },
        { provider: "anthropic", model: "claude-3-5-haiku-latest", context_window: 200000 },
        { provider: "groq", model: "llama-3.3-70b-versatile", context_window: 131072 },
      ],
      budgets: { max_attempts: 4, deadline_ms: 60000 },
    },
  ],
};

const PRESETS = [
  {
    id: "fallback", label: "503 → fallback", model: "fallback", stream: false,
    note: "flaky answers 503 “overloaded”: one jittered retry, then the backup answers. flaky's model cools down: send again and it is skipped without a request.",
  },
  {
    id: "rate-limited", label: "429 + Retry-After 1 s", model: "rate-limited", stream: false,
    note: "flaky is rate limited and says “Retry-After: 1”: the gateway waits the hinted second, retries once, then falls back. The key+model cools down for the hinted time only.",
  },
  {
    id: "reset", label: "Connection reset", model: "reset", stream: false,
    note: "fragile resets the socket before any answer: a connection failure, retried once after a backoff, then the backup answers. The whole endpoint (every model of fragile) cools down.",
  },
  {
    id: "slow-first-token", label: "First-token timeout", model: "slow-first-token", stream: true,
    note: "flaky sends its headers, then nothing for 3 s; the chain allows 0.8 s for the first token. A silent target is not retried: the backup answers.",
  },
  {
    id: "stream-cut", label: "Stream cut", model: "stream-cut", stream: true,
    note: "flaky starts answering, then its connection dies. After the first token there is no fallback (the text would repeat): a clean StreamError, never a fake success.",
  },
  {
    id: "invalid-request", label: "Invalid request", model: "invalid-request", stream: false,
    note: "flaky answers 400 invalid_request: the request itself is wrong, so the error comes back as is. No retry, and no fallback that would hide the bug.",
  },
  {
    id: "pinned", label: "Pinned provider", model: "flaky/fault-503", stream: false,
    note: "provider/model pins the request: retries on that provider only, never another one, and its real error back.",
  },
  {
    id: "all-down", label: "Everything down", model: "all-down", stream: false,
    note: "Both targets fail (500, then 529), each retried once: an UpstreamError that lists every attempt.",
  },
  {
    id: "streaming", label: "Slow stream", model: "streaming", stream: true,
    note: "After falling back, the backup streams slowly: watch the text arrive chunk by chunk.",
  },
];

/** The key names a config uses (providers' and targets' `keys`). */
function keyNames(config) {
  const names = new Set();
  for (const p of config?.providers ?? []) for (const k of p?.keys ?? []) if (typeof k === "string") names.add(k);
  for (const c of config?.chains ?? []) for (const t of c?.targets ?? []) for (const k of t?.keys ?? []) if (typeof k === "string") names.add(k);
  return [...names];
}

// ── State ────────────────────────────────────────────────────────────────────

const upstream = upstreamFromQuery();
const keyValues = new Map(Object.entries(DEMO_KEYS));
let pkg = null; // the npm package's module
let gw = null; // the current Gateway
let appliedText = null; // the config text `gw` was made from
let appliedConfig = null;
let running = null; // { controller, timeline }
let cooldownTimer = null;
let runCount = 0; // finished runs, in body[data-runs] (for tests and scripts)

const ui = {
  boot: $("#boot"),
  presets: $("#presets"),
  presetNote: $("#preset-note"),
  model: $("#model"),
  stream: $("#stream"),
  prompt: $("#prompt"),
  send: $("#send"),
  abort: $("#abort"),
  runState: $("#run-state"),
  summary: $("#summary"),
  timeline: $("#timeline"),
  answer: $("#answer"),
  answerTarget: $("#answer-target"),
  error: $("#error"),
  cooldowns: $("#cooldowns tbody"),
  persist: $("#persist"),
  reset: $("#reset-cooldowns"),
  template: $("#template"),
  config: $("#config"),
  apply: $("#apply-config"),
  configState: $("#config-state"),
  configError: $("#config-error"),
  keys: $("#keys"),
  workerUrl: $("#worker-url"),
  workerToken: $("#worker-token"),
  useWorker: $("#use-worker"),
  workerStatusBtn: $("#worker-status-btn"),
  workerNote: $("#worker-note"),
  workerError: $("#worker-error"),
  workerStatus: $("#worker-status"),
};

// ── Errors ───────────────────────────────────────────────────────────────────

const ERROR_HINTS = {
  ConfigError: "The config is invalid: nothing was sent.",
  RequestError: "The request itself is wrong: it is not retried, and no fallback hides it.",
  UpstreamError: "No target could answer: every attempt failed, was skipped, or the budget ran out.",
  StreamError: "The answer broke after it started. What arrived above is incomplete; llm-failover never falls back mid-answer (the text would repeat).",
  AbortError: "You aborted the request.",
  SyntaxError: "The config is not valid JSON.",
};

/** Renders an error box: class name, kind, status, message, and a hint. */
function renderError(box, err) {
  const name = err?.name || "Error";
  box.replaceChildren(
    el("div", { class: "err-head" },
      el("strong", { class: "err-name", text: name }),
      err?.kind ? el("code", { class: "err-kind", text: err.kind }) : null,
      err?.status ? el("span", { class: "err-status", text: `HTTP ${err.status}` }) : null),
    el("p", { class: "err-msg", text: err?.message ?? String(err) }),
    ERROR_HINTS[name] ? el("p", { class: "err-hint", text: ERROR_HINTS[name] }) : null,
  );
  box.dataset.name = name;
  box.dataset.kind = err?.kind ?? "";
  box.hidden = false;
}

function clearError(box) {
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.name;
  delete box.dataset.kind;
}

// ── The gateway ──────────────────────────────────────────────────────────────

function persistEnabled() {
  return localStorage.getItem(PERSIST_FLAG) === "1";
}

function keysFor(config) {
  const keys = {};
  for (const name of keyNames(config)) if (keyValues.has(name)) keys[name] = keyValues.get(name);
  return keys;
}

/**
 * Makes a new gateway from the editor's text. Cooldowns carry over from the old
 * gateway (snapshot → merge). Returns whether it worked; shows why not.
 */
async function applyConfig() {
  if (running) {
    // The gateway is busy with a request: replacing (and freeing) it now would break it.
    ui.configState.textContent = "a request is running: apply after it ends";
    ui.configState.dataset.state = "dirty";
    return false;
  }
  const text = ui.config.value;
  let config;
  try {
    config = JSON.parse(text);
  } catch (e) {
    const err = { name: "SyntaxError", kind: "invalid_json", message: `Invalid JSON: ${e.message}` };
    renderError(ui.configError, err);
    ui.configState.textContent = "not applied";
    ui.configState.dataset.state = "error";
    return false;
  }
  let next;
  try {
    next = await pkg.createGateway(config, { keys: keysFor(config), persist: ui.persist.checked });
  } catch (e) {
    renderError(ui.configError, e);
    ui.configState.textContent = "not applied";
    ui.configState.dataset.state = "error";
    return false;
  }
  if (gw) {
    try {
      next.merge(gw.snapshot());
    } catch {
      // A snapshot the new gateway refuses is not worth failing the apply over.
    }
    gw.free();
  }
  gw = next;
  appliedText = text;
  appliedConfig = config;
  clearError(ui.configError);
  ui.configState.textContent = "applied";
  ui.configState.dataset.state = "ok";
  ui.send.disabled = false;
  renderModels();
  renderKeys();
  refreshCooldowns();
  return true;
}

function configDirty() {
  return ui.config.value !== appliedText;
}

function onConfigEdited() {
  if (configDirty()) {
    ui.configState.textContent = "edited: Apply (or Send) to use it";
    ui.configState.dataset.state = "dirty";
  } else {
    ui.configState.textContent = "applied";
    ui.configState.dataset.state = "ok";
  }
}

function loadTemplate(config, templateName) {
  ui.config.value = prettyJson(config);
  if (templateName) {
    if (![...ui.template.options].some((o) => o.value === templateName)) {
      ui.template.append(el("option", { value: templateName, text: "Through the Worker" }));
    }
    ui.template.value = templateName;
  }
  onConfigEdited();
}

function renderModels() {
  const previous = ui.model.value;
  const data = gw.models().data;
  const chains = data.filter((m) => !m.id.includes("/"));
  const pinned = data.filter((m) => m.id.includes("/"));
  const group = (label, items) =>
    items.length ? el("optgroup", { label }, items.map((m) => el("option", { value: m.id, text: m.id }))) : null;
  ui.model.replaceChildren(...[group("Chains", chains), group("Pinned (provider/model)", pinned)].filter(Boolean));
  if (data.some((m) => m.id === previous)) ui.model.value = previous;
  markPreset();
}

// ── Keys ─────────────────────────────────────────────────────────────────────

function setKeyValue(name, value) {
  if (value) keyValues.set(name, value);
  else keyValues.delete(name);
  if (gw) {
    // A new value also closes that key's cooldowns (the package does it).
    gw.setKey(name, value);
    refreshCooldowns();
  }
  renderKeys();
}

function renderKeys() {
  const names = keyNames(appliedConfig);
  if (!names.length) {
    ui.keys.replaceChildren(el("p", { class: "empty-note", text: "This config names no keys." }));
    return;
  }
  ui.keys.replaceChildren(
    ...names.map((name, i) => {
      const id = `key-input-${i}`;
      const set = keyValues.has(name);
      const demo = set && DEMO_KEYS[name] === keyValues.get(name);
      const input = el("input", {
        type: "password", id, autocomplete: "off",
        "data-key": name,
        placeholder: set ? "set · type to replace" : "not set · paste a key",
      });
      input.addEventListener("change", () => {
        const v = input.value;
        input.value = ""; // the value is never kept in (or shown by) the page
        setKeyValue(name, v);
      });
      const clear = el("button", { type: "button", class: "small ghost", text: "Clear", "aria-label": `Clear ${name}` });
      clear.disabled = !set;
      clear.addEventListener("click", () => setKeyValue(name, ""));
      return el("div", { class: "key-row", "data-key": name },
        el("label", { for: id }, el("code", { text: name })),
        input,
        el("span", { class: "key-state", "data-state": set ? "set" : "missing", text: set ? (demo ? "demo" : "set") : "missing" }),
        clear);
    }),
  );
}

// ── Cooldowns ────────────────────────────────────────────────────────────────

function stateName(state) {
  return typeof state === "string" ? state : state?.state ?? "unknown";
}

function scopeCell(scope) {
  const [type, ...rest] = String(scope).split("|");
  return el("td", { class: "scope", title: scope },
    el("span", { class: "scope-type", text: type }),
    el("span", { class: "scope-name", text: rest.join(" · ") || scope }));
}

/** Fills a cooldown table body with `{now, scopes}` (the package's and the Worker's shape). */
function renderScopes(tbody, status, emptyText) {
  const scopes = status?.scopes ?? [];
  const now = Number.isFinite(status?.now) ? status.now : Date.now();
  if (!scopes.length) {
    tbody.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: 5, text: emptyText })));
    return;
  }
  const sorted = [...scopes].sort((a, b) => (b.until ?? 0) - (a.until ?? 0));
  tbody.replaceChildren(
    ...sorted.map((s) => {
      const st = stateName(s.state);
      const until = s.state?.until ?? s.until;
      const left = st === "open" ? fmtDuration(until - now) : st === "half_open" ? "probe" : "—";
      return el("tr", { "data-scope": s.scope, "data-state": st, title: s.reason || undefined },
        scopeCell(s.scope),
        el("td", { "data-label": "state" }, el("span", { class: "state", "data-state": st, text: st.replace("_", "-") })),
        el("td", { class: "num", "data-label": "left", text: left }),
        el("td", { class: "num", "data-label": "streak", text: s.streak ?? "" }),
        el("td", { "data-label": "kind" }, s.kind ? el("span", { class: "kind-chip", "data-kind": s.kind, text: s.kind }) : "—"));
    }),
  );
}

function refreshCooldowns() {
  if (!gw) return;
  let status;
  try {
    status = gw.status();
  } catch (e) {
    console.warn("status() failed:", e?.message ?? e);
    return;
  }
  renderScopes(ui.cooldowns, status, "Nothing is cooling down.");
  if (status.scopes.length && !cooldownTimer) {
    cooldownTimer = setInterval(refreshCooldowns, 1000);
  } else if (!status.scopes.length && cooldownTimer) {
    clearInterval(cooldownTimer);
    cooldownTimer = null;
  }
}

// ── The timeline ─────────────────────────────────────────────────────────────

/** A failure's reason: two lines, the rest on click (or Enter). */
function detailBox() {
  const box = el("div", { class: "tl-detail", tabindex: "0", role: "button", "aria-expanded": "false" });
  const toggle = () => box.setAttribute("aria-expanded", box.getAttribute("aria-expanded") === "true" ? "false" : "true");
  box.addEventListener("click", toggle);
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      toggle();
    }
  });
  return box;
}

const FATAL_KINDS = new Set(["invalid_request", "context_length", "content_filtered", "request_too_large"]);

class Timeline {
  constructor(list, t0) {
    this.list = list;
    this.t0 = t0;
    this.attempts = new Map(); // attempt number → row
    this.lastFailed = null;
    this.finished = false;
    list.replaceChildren();
  }

  row(type, data, ...body) {
    const at = data.at ?? Date.now();
    const li = el("li", { class: "tl-row", "data-type": type },
      el("span", { class: "tl-time", text: fmtRel(at - this.t0) }),
      el("span", { class: "tl-dot", "aria-hidden": "true" }),
      el("div", { class: "tl-body" }, ...body));
    for (const [k, v] of Object.entries(data)) if (k !== "at" && v !== undefined && v !== null) li.dataset[k] = v;
    this.list.append(li);
    return li;
  }

  setAttempt(li, { kind, outcome, status, detail, dur }) {
    if (kind) li.dataset.kind = kind;
    if (outcome) li.dataset.outcome = outcome;
    const line = li.querySelector(".tl-line");
    line.querySelector(".tl-kind").textContent = kind === "ok" ? "ok" : kind === "pending" ? "sending…" : kind;
    line.querySelector(".tl-status").textContent = status ?? "";
    if (dur !== undefined) line.querySelector(".tl-dur").textContent = fmtDuration(dur);
    if (detail !== undefined) {
      const box = li.querySelector(".tl-detail");
      box.textContent = detail;
      box.title = detail;
    }
  }

  handle(ev) {
    switch (ev.event) {
      case "send": {
        const target = `${ev.provider}/${ev.model}`;
        const li = this.row("attempt", { at: ev.at, attempt: ev.attempt, target, kind: "pending", outcome: "pending" },
          el("div", { class: "tl-line" },
            el("span", { class: "tl-n", text: `#${ev.attempt + 1}` }),
            el("span", { class: "tl-target", text: target }),
            ev.key ? el("span", { class: "tl-key", title: "the key's name (never its value)", text: `key ${ev.key}` }) : null,
            ev.probe ? el("span", { class: "tl-tag", title: "the first request to a scope whose cooldown just ended", text: "probe" }) : null,
            el("span", { class: "tl-kind", text: "sending…" }),
            el("span", { class: "tl-status" }),
            el("span", { class: "tl-dur" })),
          detailBox(),
          el("div", { class: "tl-note" }));
        li.sendAt = ev.at;
        this.attempts.set(ev.attempt, li);
        break;
      }
      case "committed": {
        const li = this.attempts.get(ev.attempt);
        if (li) {
          this.setAttempt(li, { kind: "streaming", outcome: "streaming", status: "first token in: committed, no fallback from here", dur: ev.at - li.sendAt });
          li.querySelector(".tl-kind").before(el("span", { class: "tl-tag committed", title: "the answer started: from here on a failure cannot fall back", text: "committed" }));
          li.dataset.committed = "1";
        }
        break;
      }
      case "failure": {
        const li = this.attempts.get(ev.attempt);
        if (!li) break;
        const status = ev.status ? `HTTP ${ev.status}` : "";
        const hint = ev.retry_after_ms != null ? ` · retry hint ${fmtDuration(ev.retry_after_ms)}` : "";
        this.setAttempt(li, {
          kind: ev.kind,
          outcome: FATAL_KINDS.has(ev.kind) ? "fatal" : "retryable",
          status: status + hint,
          detail: ev.reason,
          dur: ev.at - li.sendAt,
        });
        li.dataset.scope = ev.scope;
        this.lastFailed = li;
        break;
      }
      case "cooled_down": {
        const text = `cools down ${ev.scope} for ${fmtDuration(ev.until - ev.at)}`;
        if (this.lastFailed) {
          const note = this.lastFailed.querySelector(".tl-note");
          note.textContent = text;
          this.lastFailed.dataset.cooldown = ev.scope;
        } else {
          this.row("cooldown", { at: ev.at, kind: ev.kind, outcome: "skip" }, el("div", { class: "tl-line", text }));
        }
        break;
      }
      case "retry":
      case "wait": {
        const ms = Math.max(0, ev.until - ev.at);
        const again = this.attempts.get(ev.attempt)?.dataset.target;
        const what = ev.event === "retry" ? `wait ${fmtDuration(ms)}, then retry${again ? ` ${again}` : ""}` : `wait ${fmtDuration(ms)}`;
        this.row("wait", { at: ev.at, kind: ev.event, outcome: "wait", waitMs: ms },
          el("div", { class: "tl-line" },
            el("span", { class: "tl-wait", text: what }),
            el("span", { class: "tl-why", text: ev.why })),
          el("div", { class: "tl-progress", "aria-hidden": "true" },
            el("i", { style: `animation-duration: ${ms}ms` })));
        break;
      }
      case "skip": {
        const target = `${ev.provider}/${ev.model}`;
        const why = String(ev.why).replace(/until (\d{12,})/, (_, t) => `(${fmtDuration(Number(t) - ev.at)} left)`);
        this.row("skip", { at: ev.at, target, kind: "skip", outcome: "skip" },
          el("div", { class: "tl-line" },
            el("span", { class: "tl-n", text: "skip" }),
            el("span", { class: "tl-target", text: target }),
            ev.key ? el("span", { class: "tl-key", text: `key ${ev.key}` }) : null,
            el("span", { class: "tl-why", text: `no request: ${why}` })));
        break;
      }
      case "success": {
        const li = this.attempts.get(ev.attempt);
        if (li) this.setAttempt(li, { kind: "ok", outcome: "ok", status: "answered", dur: ev.at - li.sendAt });
        break;
      }
      case "finished":
        this.finish(ev.at, ev.result === "success", ev.kind, ev.message);
        break;
      default:
        this.row("other", { at: ev.at, kind: ev.event }, el("div", { class: "tl-line", text: JSON.stringify(ev) }));
    }
  }

  finish(at, ok, kind, message) {
    if (this.finished) return;
    this.finished = true;
    if (ok) {
      for (const li of this.attempts.values()) {
        if (li.dataset.kind === "streaming") this.setAttempt(li, { kind: "ok", outcome: "ok", status: "answered", dur: at - li.sendAt });
      }
    } else {
      // The run is over: the failure that ended it is final.
      if (this.lastFailed) this.lastFailed.dataset.outcome = "fatal";
      for (const li of this.attempts.values()) {
        if (li.dataset.kind === "pending" || li.dataset.kind === "streaming") {
          this.setAttempt(li, { kind: kind ?? "aborted", outcome: "fatal", status: "", dur: at - li.sendAt });
        }
      }
    }
    this.row("finished", { at, kind: ok ? "ok" : kind ?? "error", outcome: ok ? "ok" : "fatal" },
      el("div", { class: "tl-line" },
        el("span", { class: "tl-n", text: ok ? "done" : "failed" }),
        el("span", { class: "tl-final", text: message })));
  }
}

// ── Sending ──────────────────────────────────────────────────────────────────

function setRunning(on) {
  ui.send.disabled = on || !gw;
  ui.abort.disabled = !on;
  ui.apply.disabled = on;
  ui.useWorker.disabled = on;
  ui.template.disabled = on;
  ui.persist.disabled = on;
  for (const b of ui.presets.querySelectorAll("button")) b.disabled = on;
  document.body.dataset.running = on ? "1" : "0";
}

function answerReset() {
  ui.answer.replaceChildren();
  ui.answer.dataset.state = "empty";
  ui.answerTarget.textContent = "";
}

function attemptsSummary(attempts, trace) {
  const n = attempts?.length ?? 0;
  const failed = (attempts ?? []).filter((a) => a.kind).length;
  const skipped = (trace ?? []).filter((e) => e.event === "skip").length;
  const parts = [`${n} attempt${n === 1 ? "" : "s"}`];
  if (failed) parts.push(`${failed} failed`);
  if (skipped) parts.push(`${skipped} skipped`);
  return parts.join(", ");
}

async function send() {
  if (running || !pkg) return;
  clearError(ui.error);
  if (!gw || configDirty()) {
    if (!(await applyConfig())) {
      ui.summary.textContent = "The config has a problem (see Config): nothing was sent.";
      return;
    }
  }
  const model = ui.model.value;
  const stream = ui.stream.checked;
  const prompt = ui.prompt.value.trim() || "Hello";
  const controller = new AbortController();
  const t0 = Date.now();
  const timeline = new Timeline(ui.timeline, t0);
  running = { controller, timeline };
  setRunning(true);
  answerReset();
  ui.summary.textContent = `Sending to ${model}${stream ? " (streaming)" : ""}…`;
  ui.runState.textContent = "sending…";
  ui.runState.dataset.state = "running";

  const onEvent = (ev) => {
    timeline.handle(ev);
    refreshCooldowns();
  };
  const request = { model, messages: [{ role: "user", content: prompt }], stream };

  try {
    if (stream) {
      const s = await gw.chatStream(request, { signal: controller.signal, onEvent });
      ui.answerTarget.textContent = s.target;
      ui.answer.dataset.state = "streaming";
      ui.runState.textContent = "streaming…";
      const text = document.createTextNode("");
      ui.answer.append(text);
      let answered = null;
      for await (const chunk of s) {
        answered ??= chunk?.model;
        const delta = chunk?.choices?.[0]?.delta?.content;
        if (delta) text.appendData(delta);
      }
      showTarget(s.target, answered);
      ui.answer.dataset.state = "done";
      // The run's own `finished` event normally closed the timeline already
      // (finish() is then a no-op); this is a backstop.
      timeline.finish(Date.now(), true, null, `answered by ${s.target} (streamed)`);
      ui.summary.textContent = `Answered by ${s.target} in ${fmtDuration(Date.now() - t0)} (${attemptsSummary(s.attempts, s.trace)}).`;
    } else {
      const c = await gw.chat(request, { signal: controller.signal, onEvent });
      const info = c.llm_failover;
      showTarget(info.target, c.model);
      ui.answer.textContent = c.choices?.[0]?.message?.content ?? "";
      ui.answer.dataset.state = "done";
      ui.summary.textContent = `Answered by ${info.target} in ${fmtDuration(Date.now() - t0)} (${attemptsSummary(info.attempts, info.trace)}).`;
    }
    ui.runState.textContent = `done in ${fmtDuration(Date.now() - t0)}`;
    ui.runState.dataset.state = "ok";
  } catch (err) {
    timeline.finish(Date.now(), false, err?.kind, `${err?.name ?? "Error"}: ${err?.message ?? err}`);
    if (ui.answer.dataset.state === "streaming") ui.answer.dataset.state = "incomplete";
    renderError(ui.error, err);
    const tried = err?.attempts?.length ? ` (${attemptsSummary(err.attempts, err.trace)})` : "";
    ui.summary.textContent = `${err?.name ?? "Error"} after ${fmtDuration(Date.now() - t0)}${tried}.`;
    ui.runState.textContent = err?.name === "AbortError" ? "aborted" : "failed";
    ui.runState.dataset.state = "error";
  } finally {
    running = null;
    setRunning(false);
    refreshCooldowns();
    document.body.dataset.runs = String(++runCount);
    // Through a Worker, its own cooldowns may have changed too.
    if (ui.template.value === "worker" && !ui.workerStatus.hidden) workerStatus();
  }
}

/**
 * Who answered: the target, and the model the answer names when that differs
 * (through a Worker, the model its own failover picked).
 */
function showTarget(target, model) {
  const own = String(target).split("/").slice(1).join("/");
  ui.answerTarget.textContent = model && model !== own ? `${target} · model ${model}` : target;
}

// ── Presets ──────────────────────────────────────────────────────────────────

function renderPresets() {
  ui.presets.replaceChildren(
    ...PRESETS.map((p) => {
      const b = el("button", { type: "button", class: "preset", "data-preset": p.id, "aria-pressed": "false", text: p.label });
      b.addEventListener("click", () => choosePreset(p));
      return b;
    }),
  );
}

function markPreset() {
  const model = ui.model.value;
  let active = null;
  for (const b of ui.presets.querySelectorAll("button")) {
    const p = PRESETS.find((x) => x.id === b.dataset.preset);
    const on = p.model === model;
    b.setAttribute("aria-pressed", on ? "true" : "false");
    if (on) active = p;
  }
  ui.presetNote.textContent = active ? active.note : "";
}

async function choosePreset(p) {
  const has = () => gw && gw.models().data.some((m) => m.id === p.model);
  if (!has()) {
    // The preset needs the demo config: load it (cooldowns carry over).
    loadTemplate(demoConfig(upstream.url), "demo");
    if (!(await applyConfig())) return;
  }
  ui.model.value = p.model;
  ui.stream.checked = p.stream;
  markPreset();
  ui.prompt.focus();
}

// ── Worker ───────────────────────────────────────────────────────────────────

function workerBase() {
  let raw = ui.workerUrl.value.trim();
  if (!raw) throw new Error("enter the Worker's URL, e.g. http://127.0.0.1:8787");
  let u;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`not a URL: ${raw}`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error(`not an http(s) URL: ${raw}`);
  return (u.origin + u.pathname).replace(/\/+$/, "").replace(/\/v1$/, "");
}

function workerHeaders() {
  const token = ui.workerToken.value;
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function workerFetch(path) {
  const base = workerBase();
  let res;
  try {
    res = await fetch(`${base}${path}`, { headers: workerHeaders() });
  } catch (e) {
    throw new Error(`cannot reach ${base}${path} (${e.message}). Is the Worker running, and does its CORS_ORIGINS allow ${location.origin}?`);
  }
  const body = await res.text();
  let json = null;
  try {
    json = JSON.parse(body);
  } catch {
    // not JSON
  }
  if (!res.ok) {
    const msg = json?.error?.message ?? body.slice(0, 300);
    const e = new Error(`${path} answered HTTP ${res.status}: ${msg}`);
    e.status = res.status;
    throw e;
  }
  if (json === null) throw new Error(`${path} did not answer JSON`);
  return json;
}

async function useWorker() {
  clearError(ui.workerError);
  let base;
  try {
    base = workerBase();
  } catch (e) {
    renderError(ui.workerError, { name: "Error", message: e.message });
    return;
  }
  const token = ui.workerToken.value;
  let chains = [];
  let note;
  try {
    const models = await workerFetch("/v1/models");
    chains = (models.data ?? []).map((m) => m.id).filter((id) => typeof id === "string" && !id.includes("/"));
    note = `Using ${base}: ${chains.length} chain${chains.length === 1 ? "" : "s"} (${chains.join(", ")}).`;
  } catch (e) {
    note = `Could not list the Worker's chains (${e.message}); assuming a chain named "demo" (scripts/dev's).`;
  }
  if (!chains.length) chains = ["demo"];
  const provider = { name: "worker", dialect: "openai-compatible", base_url: `${base}/v1` };
  if (token) provider.keys = ["GATEWAY_TOKEN"];
  const config = {
    providers: [provider],
    chains: chains.map((id) => ({ name: id, targets: [{ provider: "worker", model: id }] })),
    // The Worker does the failover; the page passes its answer (or error) on.
    defaults: { budgets: { max_attempts: 1 } },
  };
  if (token) keyValues.set("GATEWAY_TOKEN", token);
  else keyValues.delete("GATEWAY_TOKEN");
  loadTemplate(config, "worker");
  if (await applyConfig()) {
    if (token) {
      // A token (re)entered here gets a fresh start: unset then set, so the
      // package closes cooldowns carried over from the previous gateway.
      gw.setKey("GATEWAY_TOKEN", "");
      gw.setKey("GATEWAY_TOKEN", token);
    }
    ui.model.value = chains[0];
    markPreset();
    ui.workerNote.textContent = note;
  }
}

async function workerStatus() {
  clearError(ui.workerError);
  ui.workerNote.textContent = "asking the Worker…";
  try {
    const status = await workerFetch("/v1/status");
    renderScopes(ui.workerStatus.querySelector("tbody"), status, "Nothing is cooling down on the Worker.");
    ui.workerStatus.hidden = false;
    const n = status.scopes?.length ?? 0;
    ui.workerNote.textContent = `${n} scope${n === 1 ? "" : "s"} cooling down on the Worker (at ${new Date(status.now ?? Date.now()).toLocaleTimeString()}).`;
  } catch (e) {
    ui.workerNote.textContent = "";
    renderError(ui.workerError, { name: "Error", status: e.status, message: e.message });
  }
}

// ── Boot ─────────────────────────────────────────────────────────────────────

function wire() {
  ui.send.addEventListener("click", send);
  ui.abort.addEventListener("click", () => running?.controller.abort());
  ui.prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      send();
    }
  });
  ui.model.addEventListener("change", markPreset);
  ui.apply.addEventListener("click", applyConfig);
  ui.config.addEventListener("input", onConfigEdited);
  ui.config.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      applyConfig();
    }
  });
  ui.template.addEventListener("change", async () => {
    const t = ui.template.value;
    if (t === "demo") loadTemplate(demoConfig(upstream.url));
    else if (t === "providers") loadTemplate(PROVIDERS_TEMPLATE);
    else return;
    await applyConfig();
  });
  ui.reset.addEventListener("click", () => {
    gw?.reset();
    refreshCooldowns();
  });
  ui.persist.addEventListener("change", async () => {
    if (ui.persist.checked) localStorage.setItem(PERSIST_FLAG, "1");
    else {
      localStorage.removeItem(PERSIST_FLAG);
      localStorage.removeItem(PERSIST_STORE);
    }
    // A new gateway with the new option; the in-memory table carries over.
    appliedText = null;
    await applyConfig();
  });
  ui.useWorker.addEventListener("click", useWorker);
  // Enter in a key or Worker field must not submit (reload) the page.
  for (const form of document.querySelectorAll("form")) form.addEventListener("submit", (e) => e.preventDefault());
  ui.workerStatusBtn.addEventListener("click", workerStatus);
}

async function boot() {
  ui.upstreamNote = $("#upstream-note");
  ui.upstreamNote.textContent = `fault upstream: ${upstream.url}`;
  if (upstream.warning) ui.upstreamNote.textContent += ` (${upstream.warning})`;
  ui.persist.checked = persistEnabled();
  renderPresets();
  loadTemplate(demoConfig(upstream.url), "demo");
  wire();
  try {
    pkg = await import("./pkg/index.js");
    await pkg.init();
  } catch (e) {
    ui.boot.dataset.state = "error";
    ui.boot.textContent = "the llm-failover package did not load";
    renderError(ui.error, {
      name: e?.name ?? "Error",
      kind: e?.kind,
      message: `${e?.message ?? e}. The page expects the npm package at ./pkg/ (build it with scripts/build-browser; scripts/www serves it).`,
    });
    return;
  }
  const ok = await applyConfig();
  if (ok) await choosePreset(PRESETS[0]);
  ui.boot.dataset.state = ok ? "ready" : "error";
  ui.boot.textContent = ok ? "wasm core ready" : "config error";
  setRunning(false);
  document.body.dataset.runs = String(runCount);
  document.body.dataset.ready = "1";
}

boot();
