// Types of the llm-failover browser package (index.js).

/** Why an upstream attempt failed, as the classifier decided. */
export type FailureKind =
  | "auth"
  | "quota_exhausted"
  | "rate_limited"
  | "overloaded"
  | "server_error"
  | "timeout"
  | "connection"
  | "context_length"
  | "content_filtered"
  | "model_not_found"
  | "invalid_request"
  | "request_too_large"
  | "invalid_response"
  | "unknown"
  | (string & {});

export interface Backoff {
  base_ms: number;
  max_ms: number;
  multiplier?: number;
}

/** What a failure is charged to. */
export type Scope = "key" | "key_model" | "model" | "endpoint" | "request" | (string & {});

export type Dialect =
  | "openai"
  | "azure"
  | "anthropic"
  | "gemini"
  | "openrouter"
  | "groq"
  | "deepseek"
  | "together"
  | "mistral"
  | "vllm"
  | "ollama"
  | "openai-compatible"
  | (string & {});

export interface Budgets {
  max_attempts?: number;
  deadline_ms?: number;
  header_timeout_ms?: number;
  response_timeout_ms?: number;
  /** The hard bound for a stream's first content after the headers (default 15 s). */
  first_token_timeout_ms?: number;
  /** Learn a lower per-target bound from its observed times to first token (default true). */
  adaptive_first_token?: boolean;
  /** The adaptive bound's floor (default 3 s). */
  first_token_floor_ms?: number;
  idle_timeout_ms?: number;
  max_retry_wait_ms?: number;
}

/** How a target can finish an answer whose stream broke on another target. */
export type ContinuationSupport = "prefill" | "fresh" | "off";

/** Overrides of the default policy for one failure kind. */
export interface RuleOverride {
  retries?: number;
  retry_backoff?: Backoff;
  rotate_key?: boolean;
  fallback?: boolean;
  /** `false` turns the cooldown off; an object replaces it. */
  cooldown?: boolean | Backoff;
  honor_retry_after?: boolean;
}

export interface ProviderConfig {
  /** The name chains and pinned requests (`name/model`) use. */
  name: string;
  dialect: Dialect;
  /** e.g. `https://api.openai.com/v1`, `http://127.0.0.1:8000/v1`. */
  base_url: string;
  /** Names of this provider's keys, in rotation order; the values come from `options.keys`. */
  keys?: string[];
  /** Azure `api-version`. */
  api_version?: string;
}

export interface TargetConfig {
  provider: string;
  model: string;
  context_window?: number;
  keys?: string[];
  /** Default: `prefill` for dialects that document assistant prefill, else `fresh`. */
  continuation?: ContinuationSupport;
}

export interface ChainConfig {
  name: string;
  targets: TargetConfig[];
  /** Finish a stream that broke after it started on another target (default true). */
  continuation?: boolean;
  budgets?: Budgets;
  policy?: Partial<Record<FailureKind, RuleOverride>>;
}

/** The gateway config: the same format as the Worker's `LLM_FAILOVER_CONFIG`. */
export interface GatewayConfig {
  providers: ProviderConfig[];
  chains: ChainConfig[];
  defaults?: { budgets?: Budgets; continuation?: boolean; policy?: Partial<Record<FailureKind, RuleOverride>> };
  cooldown?: { streak_reset_ms?: number; retention_ms?: number };
}

export interface GatewayOptions {
  /** Key values by the names the config uses. */
  keys?: Record<string, string>;
  /** Keep cooldowns in `localStorage` (true: under `llm-failover/cooldowns/v1`; a string: under that key). */
  persist?: boolean | string;
  /** Where the .wasm comes from (URL, Response, bytes, Module); default: next to index.js. */
  wasm?: unknown;
}

export interface ChatMessage {
  role: "system" | "developer" | "user" | "assistant" | "tool" | (string & {});
  content: string | unknown[] | null;
  [field: string]: unknown;
}

/** An OpenAI chat-completions request; `model` is a chain name or `provider/model`. */
export interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  [field: string]: unknown;
}

export interface AttemptRecord {
  attempt: number;
  provider: string;
  model: string;
  /** The key's *name*, never its value. */
  key: string | null;
  started_at: number;
  ended_at: number | null;
  kind: FailureKind | null;
  status: number | null;
  /** It finished an answer another attempt started. */
  continuation?: "prefill" | "fresh";
  /** Its content reached the client. */
  committed?: boolean;
}

/** Why a candidate was passed over. */
export type SkipReason =
  | { reason: "already_failed" }
  | { reason: "no_fallback" }
  | { reason: "context_window" }
  | { reason: "cannot_continue" }
  | { reason: "cooling_down"; scope: string; until: number }
  | { reason: "probe_in_flight"; scope: string; until: number }
  | { reason: "retry_cancelled"; scope: string; until: number };

/** One decision of the run (`event` tells which). */
export type TraceEvent =
  | { event: "skip"; at: number; provider: string; model: string; key: string | null; why: SkipReason }
  | {
      event: "send";
      at: number;
      attempt: number;
      provider: string;
      model: string;
      key: string | null;
      probe: boolean;
      continuation?: "prefill" | "fresh";
    }
  | { event: "committed"; at: number; attempt: number }
  | { event: "dropped"; at: number; attempt: number; count: number; why: string }
  | { event: "spliced"; at: number; attempt: number; overlap_chars: number }
  | { event: "diverged"; at: number; attempt: number }
  | { event: "host_error"; at: number; message: string }
  | {
      event: "failure";
      at: number;
      attempt: number;
      kind: FailureKind;
      scope: Scope;
      status: number | null;
      retry_after_ms: number | null;
      reason: string;
    }
  | { event: "retry"; at: number; attempt: number; until: number; why: { reason: "provider_hint" | "backoff" } }
  | { event: "cooled_down"; at: number; scope: string; until: number; kind: FailureKind }
  | { event: "wait"; at: number; until: number; why: { reason: "all_cooling_down" } }
  | { event: "success"; at: number; attempt: number; provider: string; model: string }
  | { event: "finished"; at: number; result: "success" | "failed" | "cancelled"; kind: FailureKind | null; message: string };

export interface FailoverInfo {
  /** `provider/model` that answered. */
  target: string;
  attempts: AttemptRecord[];
  trace: TraceEvent[];
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: string; content: string | null; [field: string]: unknown };
    finish_reason: string | null;
    [field: string]: unknown;
  }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number; [field: string]: unknown };
  /** Added by llm-failover. */
  llm_failover: FailoverInfo;
  [field: string]: unknown;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: {
    index: number;
    delta: { role?: string; content?: string | null; [field: string]: unknown };
    finish_reason: string | null;
    [field: string]: unknown;
  }[];
  [field: string]: unknown;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Called with each decision as it is made (for live timelines). */
  onEvent?: (event: TraceEvent) => void;
}

export interface CooldownStatus {
  now: number;
  scopes: {
    scope: string;
    state:
      | { state: "open"; until: number }
      | { state: "half_open"; probe_until: number | null }
      | { state: "closed" };
    until: number;
    streak: number;
    kind: FailureKind | null;
    reason: string;
  }[];
}

export interface Snapshot {
  entries: Record<string, { until: number; since: number; streak: number; kind: FailureKind | null; reason: string }>;
  /** Observed times to first token per model scope: `[at, ms]` pairs. */
  first_token?: Record<string, [number, number][]>;
}

export interface Classification {
  kind: FailureKind;
  retry_after_ms: number | null;
  scope: Scope;
  reason: string;
  status: number | null;
  /** What the default policy does about it, in words. */
  action: string;
}

export type OutcomeInput =
  | { provider: Dialect; status: number; headers?: Record<string, string>; body?: unknown; now_ms?: number }
  | { provider: Dialect; stream_error: unknown }
  | { provider: Dialect; transport: string };

export type ScriptStep =
  | "ok"
  | { ok: true; latency_ms?: number }
  | { status: number; headers?: Record<string, string>; body?: string; latency_ms?: number }
  | { transport: string; latency_ms?: number }
  | { stream_error: string; latency_ms?: number }
  | { commit_then: ScriptStep; latency_ms?: number };

export interface Script {
  model: string;
  stream?: boolean;
  now?: number;
  seed?: number;
  steps: ScriptStep[];
}

export interface DryRunResult {
  result:
    | { result: "success"; attempt: number; provider: string; model: string }
    | {
        result: "failed";
        kind: FailureKind;
        cause: "upstream" | "cooling_down" | "deadline" | "attempt_budget" | "cancelled";
        message: string;
        http_status: number;
        propagate: number | null;
        after_commit: boolean;
        retry_after_ms: number | null;
      };
  trace: TraceEvent[];
  attempts: AttemptRecord[];
  snapshot: Snapshot;
  ended_at: number;
}

export interface ErrorInfo {
  kind?: string;
  message?: string;
  status?: number;
  type?: string;
  code?: string;
  param?: string;
  retryAfterMs?: number;
  target?: string;
  attempts?: AttemptRecord[];
  trace?: TraceEvent[];
}

/** Every error this package throws (its fields are `ErrorInfo`'s). */
export interface FailoverError extends Omit<ErrorInfo, "kind" | "message" | "attempts" | "trace"> {
  /** A failure kind (`rate_limited`, …) or `invalid_config`, `invalid_request`, `aborted`, … */
  kind: string;
  attempts: AttemptRecord[];
  trace: TraceEvent[];
}
export class FailoverError extends Error {
  constructor(info?: ErrorInfo, options?: ErrorOptions);
}
/** The config or options are invalid. */
export class ConfigError extends FailoverError {}
/** The request is invalid (refused before any call, or an upstream `invalid_request` passed on). */
export class RequestError extends FailoverError {}
/** No target could answer. */
export class UpstreamError extends FailoverError {}
/** The stream failed after its answer started and no target could finish it. */
export class StreamError extends FailoverError {}
/** The AbortSignal fired. */
export class AbortError extends FailoverError {}

/** Loads the wasm module (once). */
export function init(wasm?: unknown): Promise<void>;

export function createGateway(config: GatewayConfig | string, options?: GatewayOptions): Promise<Gateway>;

export class Gateway {
  private constructor();
  chat(request: ChatRequest, options?: RequestOptions): Promise<ChatCompletion>;
  chatStream(request: ChatRequest, options?: RequestOptions): Promise<ChatStream>;
  status(): CooldownStatus;
  snapshot(): Snapshot;
  merge(snapshot: Snapshot | string): void;
  reset(): void;
  setKey(name: string, value: string): void;
  models(): { object: "list"; data: { id: string; object: "model"; created: number; owned_by: string }[] };
  free(): void;
}

export class ChatStream implements AsyncIterable<ChatCompletionChunk> {
  private constructor();
  /** `provider/model` answering. */
  readonly target: string;
  readonly attempts: AttemptRecord[];
  readonly trace: TraceEvent[];
  abort(): void;
  text(): Promise<string>;
  [Symbol.asyncIterator](): AsyncIterator<ChatCompletionChunk>;
}

export function classify(outcome: OutcomeInput): Classification;
export function dryRun(config: GatewayConfig | string, script: Script, snapshot?: Snapshot | null): DryRunResult;
export function failurePolicy(): { kind: FailureKind; request_error: boolean; action: string }[];
