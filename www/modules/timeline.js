// The timeline: one row per trace event of the run (index.d.ts `TraceEvent`), drawn
// from the events' structured fields only, never from their prose.

import { el, fmtDuration, fmtRel } from "./ui.js";

/** Why a candidate got no request (`skip.why`), as a sentence. */
function skipSentence(why, at) {
  const left = () => fmtDuration(why.until - at);
  switch (why?.reason) {
    case "already_failed": return "already failed in this request";
    case "no_fallback": return "the last failure's policy allows no fallback";
    case "context_window": return "its context window is not larger than the one that overflowed";
    case "cannot_continue": return "cannot finish an answer another target started";
    case "cooling_down": return `${why.scope} cooling down for ${left()}`;
    case "probe_in_flight": return `${why.scope} being probed by another request (for ${left()} at most)`;
    case "retry_cancelled": return `retry cancelled: ${why.scope} cooling down for ${left()}`;
    default: return JSON.stringify(why);
  }
}

const WAIT_WHY = {
  provider_hint: "as the provider's retry hint says",
  backoff: "backoff",
  all_cooling_down: "every remaining target is cooling down",
};

const CONTINUATION = {
  prefill: "finishes the answer another target started: asked with the text so far as an assistant prefill, it writes the rest",
  fresh: "finishes the answer another target started: asked afresh, its answer is spliced after the text the client already has",
};

const FINISHED = { success: "done", failed: "failed", cancelled: "cancelled" };

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

const tag = (text, title, cls = "") => el("span", { class: `tl-tag ${cls}`.trim(), title, text });

export class Timeline {
  /** `requestErrors`: the failure kinds that end the run (from failurePolicy()). */
  constructor(list, t0, requestErrors) {
    this.list = list;
    this.t0 = t0;
    this.requestErrors = requestErrors;
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

  /** A one-line row about attempt `n` (spliced, diverged, dropped). */
  attemptNote(type, ev, outcome, text, why) {
    this.row(type, { at: ev.at, attempt: ev.attempt, kind: ev.event, outcome },
      el("div", { class: "tl-line" },
        el("span", { class: "tl-n", text: `#${ev.attempt + 1}` }),
        el("span", { class: "tl-event", text }),
        why ? el("span", { class: "tl-why", text: why }) : null));
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
    const li = this.attempts.get(ev.attempt);
    switch (ev.event) {
      case "send": {
        const target = `${ev.provider}/${ev.model}`;
        const row = this.row("attempt", { at: ev.at, attempt: ev.attempt, target, kind: "pending", outcome: "pending", continuation: ev.continuation },
          el("div", { class: "tl-line" },
            el("span", { class: "tl-n", text: `#${ev.attempt + 1}` }),
            el("span", { class: "tl-target", text: target }),
            ev.key ? el("span", { class: "tl-key", title: "the key's name (never its value)", text: `key ${ev.key}` }) : null,
            ev.probe ? tag("probe", "the first request to a scope whose cooldown just ended") : null,
            ev.continuation ? tag(`continues · ${ev.continuation}`, CONTINUATION[ev.continuation], "continuation") : null,
            el("span", { class: "tl-kind", text: "sending…" }),
            el("span", { class: "tl-status" }),
            el("span", { class: "tl-dur" })),
          detailBox(),
          el("div", { class: "tl-note" }));
        row.sendAt = ev.at;
        this.attempts.set(ev.attempt, row);
        break;
      }
      case "committed":
        if (!li) break;
        this.setAttempt(li, { kind: "streaming", outcome: "streaming", status: "first token in: the answer reached the client", dur: ev.at - li.sendAt });
        li.querySelector(".tl-kind").before(tag("committed", "its text reached the client: a break from here is finished by another target (continuation) or ends in a StreamError, never restarted", "committed"));
        li.dataset.committed = "1";
        break;
      case "failure": {
        if (!li) break;
        const status = [
          ev.status ? `HTTP ${ev.status}` : "",
          ev.retry_after_ms != null ? `retry hint ${fmtDuration(ev.retry_after_ms)}` : "",
          li.dataset.committed ? "broke after the answer started" : "",
        ].filter(Boolean).join(" · ");
        this.setAttempt(li, {
          kind: ev.kind,
          outcome: this.requestErrors.has(ev.kind) ? "fatal" : "retryable",
          status,
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
          this.lastFailed.querySelector(".tl-note").textContent = text;
          this.lastFailed.dataset.cooldown = ev.scope;
        } else {
          this.row("cooldown", { at: ev.at, kind: ev.kind, outcome: "skip" }, el("div", { class: "tl-line", text }));
        }
        break;
      }
      case "retry":
      case "wait": {
        const ms = Math.max(0, ev.until - ev.at);
        const again = li?.dataset.target;
        const what = ev.event === "retry" ? `wait ${fmtDuration(ms)}, then retry${again ? ` ${again}` : ""}` : `wait ${fmtDuration(ms)}`;
        this.row("wait", { at: ev.at, kind: ev.event, outcome: "wait", waitMs: ms },
          el("div", { class: "tl-line" },
            el("span", { class: "tl-wait", text: what }),
            el("span", { class: "tl-why", text: WAIT_WHY[ev.why?.reason] ?? ev.why?.reason ?? "" })),
          el("div", { class: "tl-progress", "aria-hidden": "true" },
            el("i", { style: `animation-duration: ${ms}ms` })));
        break;
      }
      case "skip": {
        const target = `${ev.provider}/${ev.model}`;
        this.row("skip", { at: ev.at, target, kind: "skip", outcome: "skip", reason: ev.why?.reason },
          el("div", { class: "tl-line" },
            el("span", { class: "tl-n", text: "skip" }),
            el("span", { class: "tl-target", text: target }),
            ev.key ? el("span", { class: "tl-key", text: `key ${ev.key}` }) : null,
            el("span", { class: "tl-why", text: `no request: ${skipSentence(ev.why, ev.at)}` })));
        break;
      }
      case "spliced": {
        const overlap = ev.overlap_chars ? `${ev.overlap_chars} chars it repeated were left out` : "nothing repeated";
        this.attemptNote("spliced", ev, "streaming", "spliced: its text joins the stream after what the client has", overlap);
        if (li) li.dataset.spliced = "1";
        break;
      }
      case "diverged":
        // Not a failure (nothing cools down): its answer is just not this one.
        if (li) this.setAttempt(li, { kind: "diverged", outcome: "skip", status: "its fresh answer does not begin with what the client has: not spliced, not used", dur: ev.at - li.sendAt });
        break;
      case "dropped":
        this.attemptNote("dropped", ev, "skip", `dropped an upstream event that was not JSON (${ev.count} so far); the stream went on`, ev.why);
        break;
      case "host_error":
        this.row("host_error", { at: ev.at, kind: ev.event, outcome: "fatal" },
          el("div", { class: "tl-line" },
            el("span", { class: "tl-n", text: "host" }),
            el("span", { class: "tl-final", text: ev.message })));
        break;
      case "success":
        if (li) this.setAttempt(li, { kind: "ok", outcome: "ok", status: "answered", dur: ev.at - li.sendAt });
        break;
      case "finished":
        this.finish(ev.at, ev.result, ev.kind, ev.message);
        break;
      default:
        this.row("other", { at: ev.at, kind: ev.event }, el("div", { class: "tl-line", text: JSON.stringify(ev) }));
    }
  }

  /** The run ended: `result` is "success", "failed" or "cancelled". */
  finish(at, result, kind, message) {
    if (this.finished) return;
    this.finished = true;
    const ok = result === "success";
    for (const li of this.attempts.values()) {
      const open = li.dataset.kind === "streaming" || (!ok && li.dataset.kind === "pending");
      if (!open) continue;
      if (ok) this.setAttempt(li, { kind: "ok", outcome: "ok", status: "answered", dur: at - li.sendAt });
      else this.setAttempt(li, { kind: kind ?? "aborted", outcome: "fatal", status: "", dur: at - li.sendAt });
    }
    // The run is over: the failure that ended it is final.
    if (!ok && this.lastFailed) this.lastFailed.dataset.outcome = "fatal";
    this.row("finished", { at, kind: ok ? "ok" : kind ?? "error", outcome: ok ? "ok" : "fatal" },
      el("div", { class: "tl-line" },
        el("span", { class: "tl-n", text: FINISHED[result] ?? result }),
        el("span", { class: "tl-final", text: message })));
  }

  /** Marks the attempts whose text makes up a continued answer (the final chunk's `parts`). */
  markParts(parts) {
    parts.forEach((p, i) => {
      const li = this.attempts.get(p.attempt);
      if (!li) return;
      li.dataset.part = String(i);
      li.querySelector(".tl-kind").before(tag(`part ${i + 1}: ${p.chars} chars`, "what of the answer this attempt wrote (see the answer below)", "part"));
    });
  }
}
