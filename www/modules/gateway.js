// The gateway: loading the package, making a Gateway from the config editor's text,
// the key values, and the Persist option.
//
// Key values typed on this page stay in `keyValues` (memory only): they are handed
// to the gateway and never written to the DOM, the console or storage.

import { ui, el, prettyJson, renderError, clearError, setState } from "./ui.js";
import { DEMO_KEYS, keyNames } from "./config.js";

const PERSIST_FLAG = "llm-failover-www/persist";
// Where the package keeps cooldowns with `persist: true` (index.d.ts).
const PERSIST_STORE = "llm-failover/cooldowns/v1";

const keyValues = new Map(Object.entries(DEMO_KEYS));

/** What the other modules read: the package, the current Gateway, the run. */
export const state = {
  pkg: null, // the npm package's module
  gw: null, // the current Gateway
  running: null, // { controller, timeline } while a request runs
  requestErrors: new Set(), // failure kinds that are request errors (failurePolicy())
};
let appliedText = null; // the config text `gw` was made from
let appliedConfig = null;

const listeners = [];
/** `fn()` runs after a new gateway was applied or a key changed. */
export function onGatewayChange(fn) {
  listeners.push(fn);
}
const changed = () => listeners.forEach((fn) => fn());

/** Imports and initialises the package; the request-error kinds come from its policy. */
export async function loadPackage() {
  const pkg = await import("../pkg/index.js");
  await pkg.init();
  state.requestErrors = new Set(pkg.failurePolicy().filter((r) => r.request_error).map((r) => r.kind));
  state.pkg = pkg;
}

export function persistEnabled() {
  return localStorage.getItem(PERSIST_FLAG) === "1";
}

/** The Persist checkbox changed: remember the choice and make a gateway with it. */
export async function setPersist(on) {
  if (on) localStorage.setItem(PERSIST_FLAG, "1");
  else {
    localStorage.removeItem(PERSIST_FLAG);
    localStorage.removeItem(PERSIST_STORE);
  }
  // A new gateway with the new option; the in-memory table carries over.
  appliedText = null;
  await applyConfig();
}

function keysFor(config) {
  const keys = {};
  for (const name of keyNames(config)) if (keyValues.has(name)) keys[name] = keyValues.get(name);
  return keys;
}

function configFailed(err) {
  renderError(ui.configError, err);
  setState(ui.configState, "not applied", "error");
  return false;
}

/**
 * Makes a new gateway from the editor's text. Cooldowns carry over from the old
 * gateway (snapshot → merge). Returns whether it worked; shows why not.
 */
export async function applyConfig() {
  if (state.running) {
    // The gateway is busy with a request: replacing (and freeing) it now would break it.
    setState(ui.configState, "a request is running: apply after it ends", "dirty");
    return false;
  }
  const text = ui.config.value;
  let config;
  try {
    config = JSON.parse(text);
  } catch (e) {
    return configFailed({ name: "SyntaxError", kind: "invalid_json", message: `Invalid JSON: ${e.message}` });
  }
  let next;
  try {
    next = await state.pkg.createGateway(config, { keys: keysFor(config), persist: ui.persist.checked });
  } catch (e) {
    return configFailed(e);
  }
  if (state.gw) {
    try {
      next.merge(state.gw.snapshot());
    } catch {
      // A snapshot the new gateway refuses is not worth failing the apply over.
    }
    state.gw.free();
  }
  state.gw = next;
  appliedText = text;
  appliedConfig = config;
  clearError(ui.configError);
  setState(ui.configState, "applied", "ok");
  ui.send.disabled = false;
  renderKeys();
  changed();
  return true;
}

export function configDirty() {
  return ui.config.value !== appliedText;
}

export function onConfigEdited() {
  if (configDirty()) setState(ui.configState, "edited: Apply (or Send) to use it", "dirty");
  else setState(ui.configState, "applied", "ok");
}

/** Puts `config` in the editor; `templateName` selects (or adds) its template option. */
export function loadTemplate(config, templateName) {
  ui.config.value = prettyJson(config);
  if (templateName) {
    if (![...ui.template.options].some((o) => o.value === templateName)) {
      ui.template.append(el("option", { value: templateName, text: "Through the Worker" }));
    }
    ui.template.value = templateName;
  }
  onConfigEdited();
}

// ── Keys ─────────────────────────────────────────────────────────────────────

/** Keeps (or, with "", forgets) a key value for the next gateway: memory only. */
export function rememberKey(name, value) {
  if (value) keyValues.set(name, value);
  else keyValues.delete(name);
}

/** Sets (or, with "", unsets) a key value: in memory and in the gateway. */
function setKeyValue(name, value) {
  rememberKey(name, value);
  if (state.gw) {
    // A new value also closes that key's cooldowns (the package does it).
    state.gw.setKey(name, value);
    changed();
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
