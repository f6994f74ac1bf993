// The inspector's playground in headless Chromium, as a new user tries it: the page loads the SDK
// bundle shipped inside the Python package, and clicking around makes browser events arrive.
// Run by tests/test_inspector_browser.py with INSPECTOR_URL, CHROMIUM and NODE_MODULES.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_MODULES, "noop.js"));
const { chromium } = require("playwright-core");

const url = process.env.INSPECTOR_URL;
const errors = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  timeout: 30000,
});
let failed = null;
try {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error" && !/favicon/.test(m.text())) errors.push(m.text()); });
  // the outbound link must not leave the machine
  await page.route("https://opentelemetry.io/**", (r) => r.fulfill({ body: "ok", contentType: "text/html" }));
  await page.goto(url + "/playground");
  await page.click("text=SPA: pricing (pushState)");
  await page.click("[data-astrid-event]");
  await page.click("#pii");
  await page.fill("input[name=email]", "alice@example.com");
  await page.click("text=Submit the form");
  await page.mouse.wheel(0, 5000);
  const want = ["page.view", "element.click", "form.submit", "scroll.depth"];
  const deadline = Date.now() + 20000;
  let names = [];
  while (Date.now() < deadline) {
    const r = await (await fetch(url + "/api/records?type=event&limit=200")).json();
    names = r.records.map((x) => x.name);
    const redacted = r.records.some((x) => x.name === "element.click" && String(x.attributes["element.text"]).includes("[REDACTED:email]"));
    if (want.every((w) => names.includes(w)) && redacted) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  const missing = want.filter((w) => !names.includes(w));
  if (missing.length) throw new Error("events that never arrived: " + missing.join(", ") + " (got " + names.join(", ") + ")");
  // the page's own feed shows them too
  await page.waitForFunction(() => document.querySelectorAll("#feed li b").length >= 4, null, { timeout: 10000 });
  const r = await (await fetch(url + "/api/records?type=event&limit=200")).json();
  if (JSON.stringify(r).includes("alice@example.com")) throw new Error("a form value was sent");
  if (JSON.stringify(r).includes("jane.doe@example.com")) throw new Error("an e-mail address in a button's text was sent");
  if (!r.records.some((x) => x.name === "element.click" && String(x.attributes["element.text"]).includes("[REDACTED:email]"))) throw new Error("the redacted button text did not arrive");
  const pv = r.records.find((x) => x.name === "page.view" && x.attributes["url.path"] === "/playground" && String(x.attributes["url.full"]).includes("tab=pricing"));
  if (!pv) throw new Error("no page view for the SPA navigation");
  if (String(pv.attributes["url.full"]).includes("s3cr3t")) throw new Error("a secret query parameter was sent");
  if (errors.length) throw new Error("errors on the page: " + errors.join(" | "));
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
if (failed) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(failed && failed.stack || failed) }) + "\n");
  process.exit(1);
}
process.stdout.write(JSON.stringify({ ok: true }) + "\n");
