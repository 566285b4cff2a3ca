// DOM helpers, formatting and the error box: what every other module draws with.

export const $ = (sel) => document.querySelector(sel);

/** The page's elements (module scripts run after the document is parsed). */
export const ui = {
  boot: $("#boot"),
  upstreamNote: $("#upstream-note"),
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
  answerParts: $("#answer-parts"),
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

const ATTRIBUTES = new Set(["role", "title", "for", "id", "type", "colspan", "tabindex"]);

/** `el("li", {class, text, "data-x": 1, …}, ...children)`: false, null and undefined are left out. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || ATTRIBUTES.has(k)) {
      node.setAttribute(k, v === true ? "" : String(v));
    } else node[k] = v;
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Ctrl+Enter (or ⌘+Enter) in `node` runs `action`. */
export function onCtrlEnter(node, action) {
  node.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      action();
    }
  });
}

/** Shows a status text with a state (`ok`, `dirty`, `error`, `running`) for the CSS. */
export function setState(node, text, state) {
  node.textContent = text;
  node.dataset.state = state;
}

/** 385 → "385 ms", 10000 → "10.0 s", 605000 → "10 min 5 s". */
export function fmtDuration(ms) {
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

export function fmtRel(ms) {
  return `+${(Math.max(0, ms) / 1000).toFixed(3)} s`;
}

/** 1, "attempt" → "1 attempt"; 2 → "2 attempts". */
export function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** JSON with short objects and arrays kept on one line. */
export function prettyJson(value, indent = "") {
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

// ── Errors ───────────────────────────────────────────────────────────────────

const ERROR_HINTS = {
  ConfigError: "The config is invalid: nothing was sent.",
  RequestError: "The request itself is wrong: it is not retried, and no fallback hides it.",
  UpstreamError: "No target could answer: every attempt failed, was skipped, or the budget ran out.",
  StreamError: "The stream broke after the answer started and no target could finish it (the chain's continuation is off, or every continuation failed). What arrived above is incomplete: never a fake success.",
  AbortError: "You aborted the request.",
  SyntaxError: "The config is not valid JSON.",
};

/** Renders an error box: class name, kind, status, message, and a hint. */
export function renderError(box, err) {
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

export function clearError(box) {
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.name;
  delete box.dataset.kind;
}
