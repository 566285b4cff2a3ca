// The llm-failover playground: drives the browser npm package (served at ./pkg/)
// and shows what it decided. No framework, no build step: plain ES modules.
//
// Query parameters: ?upstream=http://127.0.0.1:PORT points the demo config at
// another fault upstream (tests/e2e/mock-upstream.mjs) than 127.0.0.1:8790.
//
//   modules/ui.js         DOM helpers, formatting, the error box
//   modules/config.js     the demo config, the templates, the presets (data)
//   modules/gateway.js    loading the package, applying the config, keys, Persist
//   modules/presets.js    the model selector and the preset buttons
//   modules/run.js        sending a request: timeline, answer, summary
//   modules/timeline.js   the trace events, drawn from their structured fields
//   modules/answer.js     the answer area, part by part for a continued stream
//   modules/cooldowns.js  the cooldown table
//   modules/worker.js     the Worker panel
//
// This file only wires them together and boots.

import { ui, onCtrlEnter, renderError } from "./modules/ui.js";
import { upstream, demoConfig, PROVIDERS_TEMPLATE } from "./modules/config.js";
import { applyConfig, loadTemplate, loadPackage, onConfigEdited, onGatewayChange, persistEnabled, setPersist } from "./modules/gateway.js";
import { refreshCooldowns, resetCooldowns } from "./modules/cooldowns.js";
import { renderPresets, renderModels, markPreset, choosePreset } from "./modules/presets.js";
import { send, abort, setRunning } from "./modules/run.js";
import { useWorker, workerStatus, refreshWorkerStatus } from "./modules/worker.js";

const TEMPLATES = { demo: demoConfig, providers: () => PROVIDERS_TEMPLATE };

async function sendThenRefresh() {
  await send();
  refreshWorkerStatus();
}

function wire() {
  onGatewayChange(renderModels);
  onGatewayChange(refreshCooldowns);
  ui.send.addEventListener("click", sendThenRefresh);
  ui.abort.addEventListener("click", abort);
  onCtrlEnter(ui.prompt, sendThenRefresh);
  ui.model.addEventListener("change", markPreset);
  ui.apply.addEventListener("click", applyConfig);
  ui.config.addEventListener("input", onConfigEdited);
  onCtrlEnter(ui.config, applyConfig);
  ui.template.addEventListener("change", async () => {
    const template = TEMPLATES[ui.template.value];
    if (!template) return;
    loadTemplate(template());
    await applyConfig();
  });
  ui.reset.addEventListener("click", resetCooldowns);
  ui.persist.addEventListener("change", () => setPersist(ui.persist.checked));
  ui.useWorker.addEventListener("click", useWorker);
  ui.workerStatusBtn.addEventListener("click", workerStatus);
  // Enter in a key or Worker field must not submit (reload) the page.
  for (const form of document.querySelectorAll("form")) form.addEventListener("submit", (e) => e.preventDefault());
}

async function boot() {
  ui.upstreamNote.textContent = `fault upstream: ${upstream.url}`;
  if (upstream.warning) ui.upstreamNote.textContent += ` (${upstream.warning})`;
  ui.persist.checked = persistEnabled();
  renderPresets();
  loadTemplate(demoConfig(), "demo");
  wire();
  try {
    await loadPackage();
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
  if (ok) await choosePreset();
  ui.boot.dataset.state = ok ? "ready" : "error";
  ui.boot.textContent = ok ? "wasm core ready" : "config error";
  setRunning(false);
  document.body.dataset.ready = "1";
}

boot();
