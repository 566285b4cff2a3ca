// The runtime's floor for bench/run: the smallest Worker that does what
// llm-failover does on the success path — read the client's JSON request, send
// it to the primary upstream (fetch), and pass the answer back (streaming or
// not) — with no fallback, no classification, no cooldowns, no logging. Run
// the same way as llm-failover (`wrangler dev`, local mode, same flags), it
// measures what workerd + wrangler's local plumbing cost by themselves, so the
// difference to llm-failover is the gateway's own work.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    const body = await request.json();
    // The story model (60 chunks) measures the per-chunk cost; anything else is ok-model.
    body.model = body.model === "story" ? "story" : "ok-model";
    const upstream = await fetch(`${env.UPSTREAM}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer sk-bench-primary" },
      body: JSON.stringify(body),
    });
    return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
  },
};
