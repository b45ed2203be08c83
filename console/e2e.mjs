// The console, driven in headless Chromium (Debian's, by playwright-core, from this folder's
// node_modules) against a fleetd of the test harness: tests/tests/console.rs starts it, seeds it through the API and runs this
// with the ids in the environment. Each step throws on what it does not see; a screenshot of
// every view goes to SHOTS.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const { BASE, KEY, INSTANCE_ID, CUSTOMER_ID, SUBSCRIPTION_ID, INVOICE_ID, COST_START, COST_END, SHOTS, INSTANCES } = process.env;
for (const [name, value] of Object.entries({ BASE, KEY, INSTANCE_ID, CUSTOMER_ID, SUBSCRIPTION_ID, INVOICE_ID, COST_START, COST_END, SHOTS, INSTANCES })) {
  if (!value) throw new Error(`${name} is not set`);
}
mkdirSync(SHOTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage({ viewport: { width: 1366, height: 820 } });
const problems = [];
page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
// Chromium logs every 4xx answer as an error; those the steps provoke are not problems.
page.on("console", (message) => {
  if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(`console: ${message.text()}`);
});
// The console may call nothing but fleetd.
page.on("request", (request) => { if (!request.url().startsWith(BASE)) problems.push(`request outside: ${request.url()}`); });

const step = async (name, run) => {
  try {
    await run();
    console.log(`ok: ${name}`);
  } catch (error) {
    await page.screenshot({ path: `${SHOTS}/failed-${name.replaceAll(" ", "-")}.png`, fullPage: true }).catch(() => {});
    throw new Error(`${name}: ${error.message}`);
  }
};
const shot = (name) => page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
const api = (path, method = "GET", body) =>
  fetch(`${BASE}${path}`, { method, headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" }, body: body && JSON.stringify(body) });
const heading = (text) => page.getByRole("heading", { level: 1, name: new RegExp(text) });

await step("log in", async () => {
  await page.goto(`${BASE}/console`);
  await page.getByLabel("API key").fill("fl_not_a_key");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  await page.getByLabel("API key").fill(KEY);
  await page.getByLabel("API key").press("Enter");
  await heading("Inventory").waitFor();
});

await step("the inventory's first paint", async () => {
  // A fresh load of the page, signed in: the figure is printed, not asserted.
  await page.reload();
  await page.locator("tbody tr").first().waitFor();
  const figures = await page.evaluate(() => {
    const painted = performance.getEntriesByName("inventory-painted")[0]?.startTime;
    const contentful = performance.getEntriesByName("first-contentful-paint")[0]?.startTime;
    return { painted, contentful, rows: document.querySelectorAll("tbody tr").length };
  });
  if (!figures.painted) throw new Error("the inventory never marked its paint");
  console.log(`figure: inventory of ${INSTANCES} instances, first ${figures.rows} rows painted ${figures.painted.toFixed(0)} ms after navigation (first contentful paint ${figures.contentful?.toFixed(0)} ms)`);
});

await step("see the customer's instance", async () => {
  await page.getByLabel("Customer").fill(CUSTOMER_ID);
  await page.getByRole("button", { name: "Filter" }).click();
  await page.getByRole("link", { name: INSTANCE_ID }).waitFor();
  const rows = await page.locator("tbody tr").count();
  if (rows !== 1) throw new Error(`${rows} rows for the customer, not 1`);
  await shot("inventory");
});

const badge = (text) => page.locator("h1 .badge", { hasText: text });
const click = (name) => page.getByRole("button", { name, exact: true }).click();

await step("drive the instance through its lifecycle", async () => {
  await page.getByRole("link", { name: INSTANCE_ID }).click();
  await badge("deploying").waitFor();
  if (await page.getByRole("button", { name: "start", exact: true }).count()) throw new Error("start offered while deploying");
  await click("ready");
  await badge("running").waitFor();
  await click("scale up");
  await page.locator("dd", { hasText: /^2$/ }).waitFor();
  await click("stop");
  await badge("stopped").waitFor();
  await click("start");
  await badge("running").waitFor();
  await page.locator(".timeline li", { hasText: "InstanceStarted" }).waitFor();
  await shot("instance");
});

await step("a 409 is shown in words", async () => {
  // Stopped behind the page's back: its stop button is now stale.
  const stopped = await api(`/v1/instances/${INSTANCE_ID}/stop`, "POST");
  if (!stopped.ok) throw new Error(`stop through the API: ${stopped.status}`);
  await click("stop");
  const alert = page.getByRole("alert");
  await alert.waitFor();
  const text = await alert.textContent();
  if (!/Not allowed now/.test(text) || !/stopped/.test(text)) throw new Error(`the alert says: ${text}`);
});

await step("see a cost chart with data", async () => {
  await page.goto(`${BASE}/console#/cost?view=cloud-provider&frequency=daily&start=${COST_START}&end=${COST_END}`);
  await page.locator(".chart canvas").waitFor();
  const total = await page.evaluate(() => {
    const chart = window.Chart.getChart(document.querySelector(".chart canvas"));
    return chart.data.datasets.flatMap((d) => d.data).reduce((a, b) => a + b, 0);
  });
  if (!(total > 0)) throw new Error(`the chart holds ${total}`);
  await page.getByRole("link", { name: INSTANCE_ID }).waitFor();
  await shot("cost");
});

await step("see the subscription's usage", async () => {
  await page.goto(`${BASE}/console#/usage?subscription=${SUBSCRIPTION_ID}&start=${COST_START}&end=${COST_END}`);
  await page.locator(".chart canvas").waitFor();
  await page.getByRole("heading", { name: /Rated lines/ }).waitFor();
  await shot("usage");
});

await step("approve an invoice", async () => {
  await page.goto(`${BASE}/console#/invoices`);
  await heading("Invoices").waitFor();
  await shot("invoices");
  await page.locator(`a[href="#/invoices/${INVOICE_ID}"]`).click();
  await badge("draft").waitFor();
  await click("approve");
  await badge("open").waitFor();
  await page.getByRole("button", { name: "pay", exact: true }).waitFor();
  await shot("invoice");
});

await step("download the billing report", async () => {
  await page.goto(`${BASE}/console#/invoices`);
  await page.getByLabel("Report month").fill(COST_START.slice(0, 7));
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Download the billing report" }).click(),
  ]);
  const text = await new Response((await download.createReadStream())).text();
  if (!text.includes(INVOICE_ID)) throw new Error(`the report does not name the invoice: ${text.slice(0, 300)}`);
});

await step("watch an audit event arrive live", async () => {
  await page.goto(`${BASE}/console#/audit`);
  await page.locator("#verification.intact").waitFor({ timeout: 20000 });
  await page.waitForTimeout(500);
  const created = await api("/v1/customers", "POST", { name: "Live Co", country: "PT", email: "live@example.com" });
  if (!created.ok) throw new Error(`create a customer: ${created.status}`);
  await page.locator("tr.live", { hasText: "CustomerCreated" }).waitFor({ timeout: 15000 });
  await shot("audit");
});

await step("see the projections' health and replay a webhook channel", async () => {
  await page.goto(`${BASE}/console#/health`);
  await page.getByRole("cell", { name: "inventory", exact: true }).waitFor();
  await page.getByRole("heading", { name: /ops-hooks/ }).waitFor();
  await page.getByRole("button", { name: "Replay from the start" }).click();
  await page.getByText(/deliveries enqueued again/).waitFor();
  await shot("health");
});

await step("keyboard only: from the top of the page to another view", async () => {
  await page.goto(`${BASE}/console#/inventory`);
  await page.reload();
  await heading("Inventory").waitFor();
  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => document.activeElement?.textContent);
  if (first !== "Skip to content") throw new Error(`the first Tab reaches ${first}`);
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  const third = await page.evaluate(() => document.activeElement?.textContent);
  if (third !== "Cost") throw new Error(`the third Tab reaches ${third}`);
  await page.keyboard.press("Enter");
  await heading("Cost").waitFor();
});

await browser.close();
if (problems.length) throw new Error(problems.join("\n"));
console.log("console: every step passed");
