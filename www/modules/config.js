// The demo config (against the fault upstream, tests/e2e/mock-upstream.mjs), the
// real-providers template and the scenario presets. Data only, no DOM.

const DEFAULT_UPSTREAM = "http://127.0.0.1:8790";

/** Placeholder keys for the demo config: the mock upstream accepts any key. */
export const DEMO_KEYS = { FLAKY_KEY: "sk-mock-flaky-demo", BACKUP_KEY: "sk-mock-backup-demo" };

/** `?upstream=http://127.0.0.1:PORT` points the demo config at another fault upstream. */
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

/** `{url, warning}`: the fault upstream the demo config uses. */
export const upstream = upstreamFromQuery();

export function demoConfig() {
  const base_url = `${upstream.url}/v1`;
  const backup = { provider: "backup", model: "backup-model" };
  const provider = (name, key) => ({ name, dialect: "openai-compatible", base_url, keys: [key] });
  return {
    providers: [
      provider("flaky", "FLAKY_KEY"),
      provider("backup", "BACKUP_KEY"),
      // Their own providers: a reset cools down the whole endpoint (provider), which
      // would otherwise take `flaky` out of every other scenario for a while; and the
      // two stream-cut scenarios must not skip each other's cooling model.
      provider("fragile", "FLAKY_KEY"),
      provider("brittle", "FLAKY_KEY"),
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
      {
        name: "stream-cut-no-continuation",
        targets: [{ provider: "brittle", model: "fault-stream-cut" }, backup],
        continuation: false,
      },
      { name: "invalid-request", targets: [{ provider: "flaky", model: "fault-invalid-request" }, backup] },
      { name: "all-down", targets: [{ provider: "flaky", model: "fault-500" }, { provider: "backup", model: "fault-529" }] },
      { name: "streaming", targets: [{ provider: "flaky", model: "fault-503" }, { provider: "backup", model: "slow-stream-300" }] },
    ],
    defaults: { budgets: { max_attempts: 4, deadline_ms: 30000 } },
  };
}

export const PROVIDERS_TEMPLATE = {
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

/** The Worker as the one provider: it does the failover, the page passes its answer on. */
export function workerConfig(base, chains, withToken) {
  const provider = { name: "worker", dialect: "openai-compatible", base_url: `${base}/v1` };
  if (withToken) provider.keys = ["GATEWAY_TOKEN"];
  return {
    providers: [provider],
    chains: chains.map((id) => ({ name: id, targets: [{ provider: "worker", model: id }] })),
    defaults: { budgets: { max_attempts: 1 } },
  };
}

export const PRESETS = [
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
    note: "flaky starts answering (“Hello from”), then its connection dies. The answer has started, so the backup is asked to finish it and its text is spliced into the same stream: one complete answer, each part marked with the target that wrote it.",
  },
  {
    id: "stream-cut-off", label: "Stream cut, continuation off", model: "stream-cut-no-continuation", stream: true,
    note: "The same cut on a chain with \"continuation\": false. Nobody may finish the answer, and restarting it would repeat the text: a clean StreamError with the partial text, never a fake success.",
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
export function keyNames(config) {
  const names = new Set();
  const add = (keys) => {
    for (const k of keys ?? []) if (typeof k === "string") names.add(k);
  };
  for (const p of config?.providers ?? []) add(p?.keys);
  for (const c of config?.chains ?? []) for (const t of c?.targets ?? []) add(t?.keys);
  return [...names];
}
