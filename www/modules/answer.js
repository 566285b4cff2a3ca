// The answer area: the text as it arrives, who wrote it, and for a continued
// stream which part came from which target (the final chunk's `llm_failover.parts`).

import { ui, el, plural } from "./ui.js";

const MODE = { prefill: "asked with the text so far as a prefill", fresh: "asked afresh, spliced after the text so far" };

export function answerReset() {
  ui.answer.replaceChildren();
  ui.answer.dataset.state = "empty";
  delete ui.answer.dataset.continued;
  ui.answerTarget.textContent = "";
  ui.answerParts.replaceChildren();
  ui.answerParts.hidden = true;
}

/** A text node in the answer that streamed deltas are appended to. */
export function answerStream(target) {
  ui.answerTarget.textContent = target;
  ui.answer.dataset.state = "streaming";
  const text = document.createTextNode("");
  ui.answer.append(text);
  return text;
}

export function answerText(text) {
  ui.answer.textContent = text;
}

/** "done", or "incomplete" when a stream broke off. */
export function answerEnded(ok) {
  if (ok) ui.answer.dataset.state = "done";
  else if (ui.answer.dataset.state === "streaming") ui.answer.dataset.state = "incomplete";
}

/**
 * Who answered: the target, and the model the answer names when that differs
 * (through a Worker, the model its own failover picked).
 */
export function showTarget(target, model) {
  const own = String(target).split("/").slice(1).join("/");
  ui.answerTarget.textContent = model && model !== own ? `${target} · model ${model}` : target;
}

/**
 * Redraws a continued answer as one span per part, with a legend under it. The
 * parts count characters (code points) from the start of the answer; when they do
 * not add up to the text shown, the text stays unmarked.
 */
export function showParts(parts) {
  const chars = Array.from(ui.answer.textContent);
  const total = parts.reduce((n, p) => n + p.chars, 0);
  if (total !== chars.length || parts.some((p, i) => p.from !== (i ? parts[i - 1].from + parts[i - 1].chars : 0))) return false;
  const title = (p) => `${p.target}${p.continuation ? ` (continued: ${MODE[p.continuation] ?? p.continuation})` : ""}`;
  ui.answer.replaceChildren(
    ...parts.map((p, i) => el("span", {
      class: "part", "data-part": i, "data-attempt": p.attempt, "data-target": p.target,
      "data-continuation": p.continuation ?? undefined, title: title(p),
      text: chars.slice(p.from, p.from + p.chars).join(""),
    })),
  );
  ui.answer.dataset.continued = "1";
  ui.answerTarget.textContent = parts.map((p) => p.target).join(" + ");
  ui.answerParts.replaceChildren(
    el("span", { class: "parts-head", text: "Continued answer:" }),
    ...parts.map((p, i) => el("span", { class: "part-key", "data-part": i },
      el("i", { class: "swatch", "aria-hidden": "true" }),
      el("code", { text: p.target }),
      ` ${plural(p.chars, "char")}`,
      p.continuation ? el("span", { class: "part-mode", title: MODE[p.continuation], text: ` · ${p.continuation}` }) : null)),
  );
  ui.answerParts.hidden = false;
  return true;
}

/** "2 attempts, 1 failed, 1 skipped, 1 continued" */
export function attemptsSummary(attempts, trace) {
  const n = attempts?.length ?? 0;
  const failed = (attempts ?? []).filter((a) => a.kind).length;
  const continued = (attempts ?? []).filter((a) => a.continuation && a.committed).length;
  const skipped = (trace ?? []).filter((e) => e.event === "skip").length;
  const parts = [plural(n, "attempt")];
  if (failed) parts.push(`${failed} failed`);
  if (skipped) parts.push(`${skipped} skipped`);
  if (continued) parts.push(`${continued} continued the answer`);
  return parts.join(", ");
}
