// The Worker panel: send through a running llm-failover Worker (its /v1 API), and
// show its own cooldowns (/v1/status).

import { ui, plural, renderError, clearError } from "./ui.js";
import { workerConfig } from "./config.js";
import { state, applyConfig, loadTemplate, rememberKey } from "./gateway.js";
import { renderScopes } from "./cooldowns.js";
import { selectModel } from "./presets.js";

const TOKEN_KEY = "GATEWAY_TOKEN";

function workerBase() {
  const raw = ui.workerUrl.value.trim();
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

/** Loads and applies a config whose one provider is the Worker, with its chains. */
export async function useWorker() {
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
    note = `Using ${base}: ${plural(chains.length, "chain")} (${chains.join(", ")}).`;
  } catch (e) {
    note = `Could not list the Worker's chains (${e.message}); assuming a chain named "demo" (scripts/dev's).`;
  }
  if (!chains.length) chains = ["demo"];
  rememberKey(TOKEN_KEY, token);
  loadTemplate(workerConfig(base, chains, Boolean(token)), "worker");
  if (await applyConfig()) {
    if (token) {
      // A token (re)entered here gets a fresh start: unset then set, so the
      // package closes cooldowns carried over from the previous gateway.
      state.gw.setKey(TOKEN_KEY, "");
      state.gw.setKey(TOKEN_KEY, token);
    }
    selectModel(chains[0]);
    ui.workerNote.textContent = note;
  }
}

/** Shows the Worker's cooldown table (GET /v1/status). */
export async function workerStatus() {
  clearError(ui.workerError);
  ui.workerNote.textContent = "asking the Worker…";
  try {
    const status = await workerFetch("/v1/status");
    renderScopes(ui.workerStatus.querySelector("tbody"), status, "Nothing is cooling down on the Worker.");
    ui.workerStatus.hidden = false;
    const n = status.scopes?.length ?? 0;
    ui.workerNote.textContent = `${plural(n, "scope")} cooling down on the Worker (at ${new Date(status.now ?? Date.now()).toLocaleTimeString()}).`;
  } catch (e) {
    ui.workerNote.textContent = "";
    renderError(ui.workerError, { name: "Error", status: e.status, message: e.message });
  }
}

/** After a run through the Worker, its own cooldowns may have changed too. */
export function refreshWorkerStatus() {
  if (ui.template.value === "worker" && !ui.workerStatus.hidden) workerStatus();
}
