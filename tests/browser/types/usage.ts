// Compile-time check of the package's shipped types (build/pkg/index.d.ts):
// scripts/test-browser runs `tsc -p tests/browser/types` (strict, no emit).
// Each line is how an app uses the API; a wrong type in index.d.ts fails here.
import {
  createGateway,
  classify,
  dryRun,
  failurePolicy,
  init,
  AbortError,
  ConfigError,
  FailoverError,
  RequestError,
  StreamError,
  UpstreamError,
  type ChatCompletion,
  type ChatCompletionChunk,
  type GatewayConfig,
  type TraceEvent,
} from "llm-failover";

const config: GatewayConfig = {
  providers: [
    { name: "openai", dialect: "openai", base_url: "https://api.openai.com/v1", keys: ["OPENAI_KEY"] },
    { name: "groq", dialect: "groq", base_url: "https://api.groq.com/openai/v1", keys: ["GROQ_KEY"] },
  ],
  chains: [
    {
      name: "default",
      targets: [
        { provider: "openai", model: "gpt-4o-mini" },
        { provider: "groq", model: "llama-3.3-70b-versatile" },
      ],
      budgets: { max_attempts: 4, first_token_timeout_ms: 5000 },
      policy: { rate_limited: { retries: 0 }, content_filtered: { fallback: true } },
    },
  ],
};

export async function example(signal: AbortSignal): Promise<string> {
  await init();
  const gw = await createGateway(config, { keys: { OPENAI_KEY: "sk-…" }, persist: true });
  const seen: string[] = [];
  const onEvent = (e: TraceEvent): void => {
    if (e.event === "failure") seen.push(`${e.kind} ${e.status ?? ""}`);
  };
  const c: ChatCompletion = await gw.chat(
    { model: "default", messages: [{ role: "user", content: "hi" }], temperature: 0 },
    { signal, onEvent },
  );
  const target: string = c.llm_failover.target;
  const text: string = c.choices[0].message.content ?? "";

  const stream = await gw.chatStream({ model: "default", messages: [{ role: "user", content: "hi" }] });
  let streamed = "";
  try {
    for await (const chunk of stream) {
      const ch: ChatCompletionChunk = chunk;
      streamed += ch.choices[0]?.delta?.content ?? "";
    }
  } catch (e) {
    if (e instanceof StreamError) streamed += ` [cut: ${e.kind} at ${e.target}]`;
    else if (e instanceof AbortError) streamed += " [aborted]";
    else throw e;
  }
  const kinds = stream.attempts.map((a) => a.kind ?? "ok").join(",");

  for (const row of gw.status().scopes) {
    if (row.state.state === "open") seen.push(`${row.scope} until ${row.state.until}`);
  }
  gw.merge(gw.snapshot());
  gw.setKey("GROQ_KEY", "gsk_…");
  const models: string[] = gw.models().data.map((m) => m.id);

  const c2 = classify({ provider: "anthropic", status: 529, body: { type: "error" } });
  const wait: number | null = c2.retry_after_ms;
  const plan = dryRun(config, { model: "default", steps: [{ status: 503 }, "ok"] });
  const ok: boolean = plan.result.result === "success";
  const rows = failurePolicy().map((r) => `${r.kind}: ${r.action}`);

  try {
    await createGateway({ providers: [], chains: [] });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof RequestError || e instanceof UpstreamError) {
      const f: FailoverError = e;
      seen.push(`${f.name} ${f.kind} ${f.status ?? ""} ${f.attempts.length}`);
    }
  }
  return [target, text, streamed, kinds, models, wait, ok, rows, seen].join("\n");
}
