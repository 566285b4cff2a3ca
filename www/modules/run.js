// Sending a request: the run's controls, the live timeline, the answer and the
// summary line. body[data-running] and body[data-runs] (finished runs) are for
// tests and scripts.

import { ui, fmtDuration, renderError, clearError, setState } from "./ui.js";
import { state, applyConfig, configDirty } from "./gateway.js";
import { refreshCooldowns } from "./cooldowns.js";
import { Timeline } from "./timeline.js";
import { answerReset, answerStream, answerText, answerEnded, showTarget, showParts, attemptsSummary } from "./answer.js";

let runCount = 0;

export function setRunning(on) {
  ui.send.disabled = on || !state.gw;
  ui.abort.disabled = !on;
  ui.apply.disabled = on;
  ui.useWorker.disabled = on;
  ui.template.disabled = on;
  ui.persist.disabled = on;
  for (const b of ui.presets.querySelectorAll("button")) b.disabled = on;
  document.body.dataset.running = on ? "1" : "0";
  document.body.dataset.runs = String(runCount);
}

export function abort() {
  state.running?.controller.abort();
}

/** A streamed answer; a continued one is shown part by part. */
async function streamed(request, options, timeline) {
  const s = await state.gw.chatStream(request, options);
  const text = answerStream(s.target);
  ui.runState.textContent = "streaming…";
  let answered = null;
  let info = null;
  for await (const chunk of s) {
    answered ??= chunk?.model;
    info = chunk?.llm_failover ?? info;
    const delta = chunk?.choices?.[0]?.delta?.content;
    if (delta) text.appendData(delta);
  }
  showTarget(s.target, answered);
  answerEnded(true);
  // The run's own `finished` event normally closed the timeline already
  // (finish() is then a no-op); this is a backstop.
  timeline.finish(Date.now(), "success", null, `answered by ${s.target} (streamed)`);
  let who = s.target;
  const parts = info?.continued ? info.parts ?? [] : [];
  if (parts.length > 1) {
    showParts(parts);
    timeline.markParts(parts);
    who = `${parts[0].target}, continued by ${parts.slice(1).map((p) => p.target).join(", then ")}`;
  }
  return { who, attempts: s.attempts, trace: s.trace };
}

async function whole(request, options) {
  const c = await state.gw.chat(request, options);
  const info = c.llm_failover;
  showTarget(info.target, c.model);
  answerText(c.choices?.[0]?.message?.content ?? "");
  answerEnded(true);
  return { who: info.target, attempts: info.attempts, trace: info.trace };
}

export async function send() {
  if (state.running || !state.pkg) return;
  clearError(ui.error);
  if (!state.gw || configDirty()) {
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
  const timeline = new Timeline(ui.timeline, t0, state.requestErrors);
  state.running = { controller, timeline };
  setRunning(true);
  answerReset();
  ui.summary.textContent = `Sending to ${model}${stream ? " (streaming)" : ""}…`;
  setState(ui.runState, "sending…", "running");

  const options = {
    signal: controller.signal,
    onEvent: (ev) => {
      timeline.handle(ev);
      refreshCooldowns();
    },
  };
  const request = { model, messages: [{ role: "user", content: prompt }], stream };
  try {
    const r = stream ? await streamed(request, options, timeline) : await whole(request, options);
    const took = fmtDuration(Date.now() - t0);
    ui.summary.textContent = `Answered by ${r.who} in ${took} (${attemptsSummary(r.attempts, r.trace)}).`;
    setState(ui.runState, `done in ${took}`, "ok");
  } catch (err) {
    const name = err?.name ?? "Error";
    timeline.finish(Date.now(), name === "AbortError" ? "cancelled" : "failed", err?.kind, `${name}: ${err?.message ?? err}`);
    answerEnded(false);
    renderError(ui.error, err);
    const tried = err?.attempts?.length ? ` (${attemptsSummary(err.attempts, err.trace)})` : "";
    ui.summary.textContent = `${name} after ${fmtDuration(Date.now() - t0)}${tried}.`;
    setState(ui.runState, name === "AbortError" ? "aborted" : "failed", "error");
  } finally {
    state.running = null;
    runCount += 1;
    setRunning(false);
    refreshCooldowns();
  }
}
