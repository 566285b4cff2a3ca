// chromium.mjs — Debian's Chromium driven by playwright-core, with the flags this
// offline machine needs (see ../shared/TOOLCHAIN.md). Shared by tests/browser/*.test.mjs.
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { REPO } from "./static-server.mjs";

export const CHROMIUM = process.env.CHROMIUM_BIN || "/usr/bin/chromium";
export const ARTIFACTS = path.join(REPO, "target", "browser-artifacts");

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** Fails loudly (never skips) when what the browser tests need is missing. */
export function requirePrerequisites() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (scripts/test-browser does)`);
  }
  const wasm = path.join(REPO, "build", "pkg", "llm_failover_bg.wasm");
  if (!fs.existsSync(wasm)) {
    throw new Error(`${wasm} not found: build the package first (scripts/build-browser)`);
  }
}

export async function launch() {
  requirePrerequisites();
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** A new page that records console errors and uncaught page errors in `page.problems`. */
export async function newPage(browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.problems = [];
  page.on("console", (m) => {
    if (m.type() === "error") page.problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => page.problems.push(`pageerror: ${e.message}`));
  return page;
}
