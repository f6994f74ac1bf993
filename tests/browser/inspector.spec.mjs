// Drives the inspector page in headless Chromium: records arrive live, filters, the detail panel.
// Run by tests/test_inspector_browser.py, which starts the inspector and passes:
//   INSPECTOR_URL, CHROMIUM (executable), NODE_MODULES (holding playwright-core), SCREENSHOT (path).
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_MODULES, "noop.js"));
const { chromium } = require("playwright-core");

const url = process.env.INSPECTOR_URL;
const steps = [];
const consoleErrors = [];

function step(name) {
  steps.push(name);
  process.stdout.write("step: " + name + "\n");
}

async function post(pathname, body, contentType = "application/json") {
  const r = await fetch(url + pathname, {
    method: "POST",
    headers: { "Content-Type": contentType },
    body: JSON.stringify(body),
  });
  if (r.status !== 200) throw new Error(pathname + " answered " + r.status + ": " + (await r.text()));
}

function genericRecord(name, attributes, type = "event") {
  return {
    id: Math.random().toString(16).slice(2).padEnd(32, "0").slice(0, 32),
    type,
    name,
    timestamp: new Date().toISOString(),
    attributes,
  };
}

async function rows(page) {
  return page.locator("#records tbody tr").count();
}

async function waitRows(page, predicate, what) {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const n = await rows(page);
    if (predicate(n)) return n;
    await page.waitForTimeout(100);
  }
  throw new Error("timed out waiting for " + what + " (rows: " + (await rows(page)) + ")");
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  timeout: 30000,
});
let failed = null;
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
try {
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("request", (req) => {
    if (!req.url().startsWith(url)) consoleErrors.push("request to another origin: " + req.url());
  });

  await page.goto(url + "/", { waitUntil: "load" });
  step("page loaded empty");
  if ((await rows(page)) !== 0) throw new Error("expected an empty table first");
  await page.locator("#nothing").waitFor({ state: "visible" });

  // records arrive while the page is open: the generic format and OTLP/JSON
  await post("/collect", {
    sdk: { name: "astrid", version: "0", language: "python", stats: { sent: 3, dropped: 0 } },
    resource: { "service.name": "shop" },
    records: [
      genericRecord("user.login", { method: "sso", email: "[REDACTED:email]" }),
      genericRecord("page.view", { path: "/" }),
      genericRecord("page.view", { path: "/docs" }),
    ],
  });
  const now = String(Date.now() * 1e6);
  await post("/v1/traces", {
    resourceSpans: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: "worker" } }] },
      scopeSpans: [{ spans: [{
        traceId: "ab".repeat(16), spanId: "cd".repeat(8), name: "job.run",
        startTimeUnixNano: now, endTimeUnixNano: String(Date.now() * 1e6 + 5e6),
      }] }],
    }],
  });
  await post("/v1/logs", {
    resourceLogs: [{
      resource: { attributes: [{ key: "service.name", value: { stringValue: "worker" } }] },
      scopeLogs: [{ logRecords: [{ timeUnixNano: now, severityNumber: 13, severityText: "WARN",
                                   body: { stringValue: "disk almost full" } }] }],
    }],
  });
  await waitRows(page, (n) => n === 5, "5 live rows");
  step("records arrived live");

  await page.selectOption("#filter-type", "event");
  await waitRows(page, (n) => n === 3, "3 event rows");
  const types = await page.locator("#records tbody tr").evaluateAll((trs) => trs.map((t) => t.dataset.type));
  if (types.some((t) => t !== "event")) throw new Error("type filter let through " + types);
  await page.fill("#filter-name", "login");
  await waitRows(page, (n) => n === 1, "1 row named login");
  step("filtered by type and name");

  await page.locator("#records tbody tr").first().click();
  await page.locator("#detail.open").waitFor({ state: "visible" });
  const attrs = await page.locator("#d-attrs").innerText();
  if (!attrs.includes("[REDACTED:email]") || !attrs.includes("method")) {
    throw new Error("detail panel lacks the attributes: " + attrs);
  }
  step("opened a record");

  await page.locator("#redactions").getByText("email").waitFor({ timeout: 10000 });
  await page.locator("#sdk").getByText("shop").waitFor({ timeout: 10000 });
  await page.waitForFunction(() => document.querySelectorAll("#chart svg rect").length > 0, null,
                             { timeout: 10000 });
  step("redactions, self-stats and chart shown");

  await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
  step("screenshot saved");
  if (consoleErrors.length) throw new Error("console errors: " + consoleErrors.join("; "));
} catch (e) {
  failed = e;
  try { await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true }); } catch (_) { /* best effort */ }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ ok: !failed, steps, error: failed ? String(failed.stack || failed) : null }) + "\n");
process.exit(failed ? 1 : 0);
