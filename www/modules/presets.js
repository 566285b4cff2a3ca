// The model selector (the gateway's models()) and the scenario presets above it.

import { ui, el } from "./ui.js";
import { PRESETS, demoConfig } from "./config.js";
import { state, applyConfig, loadTemplate } from "./gateway.js";

export function renderPresets() {
  ui.presets.replaceChildren(
    ...PRESETS.map((p) => {
      const b = el("button", { type: "button", class: "preset", "data-preset": p.id, "aria-pressed": "false", text: p.label });
      b.addEventListener("click", () => choosePreset(p));
      return b;
    }),
  );
}

/** Presses the preset of the selected model (if any) and shows its note. */
export function markPreset() {
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

/** Selects `model` when the gateway has it; returns whether it did. */
export function selectModel(model) {
  if (![...ui.model.options].some((o) => o.value === model)) return false;
  ui.model.value = model;
  markPreset();
  return true;
}

/** Fills the selector from the current gateway's models(), keeping the choice. */
export function renderModels() {
  if (!state.gw) return;
  const previous = ui.model.value;
  const data = state.gw.models().data;
  const chains = data.filter((m) => !m.id.includes("/"));
  const pinned = data.filter((m) => m.id.includes("/"));
  const group = (label, items) =>
    items.length ? el("optgroup", { label }, items.map((m) => el("option", { value: m.id, text: m.id }))) : null;
  ui.model.replaceChildren(...[group("Chains", chains), group("Pinned (provider/model)", pinned)].filter(Boolean));
  if (!selectModel(previous)) markPreset();
}

export async function choosePreset(p = PRESETS[0]) {
  const has = () => state.gw && state.gw.models().data.some((m) => m.id === p.model);
  if (!has()) {
    // The preset needs the demo config: load it (cooldowns carry over).
    loadTemplate(demoConfig(), "demo");
    if (!(await applyConfig())) return;
  }
  ui.stream.checked = p.stream;
  selectModel(p.model);
  ui.prompt.focus();
}
