// The cooldown table: the gateway's scopes (gw.status()), refreshed while any is
// cooling down. The Worker panel draws its own /v1/status with renderScopes too.

import { ui, el, fmtDuration } from "./ui.js";
import { state } from "./gateway.js";

let timer = null;

function stateName(s) {
  return typeof s === "string" ? s : s?.state ?? "unknown";
}

function scopeCell(scope) {
  const [type, ...rest] = String(scope).split("|");
  return el("td", { class: "scope", title: scope },
    el("span", { class: "scope-type", text: type }),
    el("span", { class: "scope-name", text: rest.join(" · ") || scope }));
}

/** Fills a cooldown table body with `{now, scopes}` (the package's and the Worker's shape). */
export function renderScopes(tbody, status, emptyText) {
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

/** Redraws the table from the current gateway; ticks every second while a scope is open. */
export function refreshCooldowns() {
  if (!state.gw) return;
  let status;
  try {
    status = state.gw.status();
  } catch (e) {
    console.warn("status() failed:", e?.message ?? e);
    return;
  }
  renderScopes(ui.cooldowns, status, "Nothing is cooling down.");
  if (status.scopes.length && !timer) {
    timer = setInterval(refreshCooldowns, 1000);
  } else if (!status.scopes.length && timer) {
    clearInterval(timer);
    timer = null;
  }
}

/** Forgets every cooldown (the persisted copy too). */
export function resetCooldowns() {
  state.gw?.reset();
  refreshCooldowns();
}
