// The Fleetledger console: a page per view, each talking only to the public API with the key
// the user enters (kept in session storage, so it goes with the tab). The DOM is built with
// `h`, never from HTML strings, so nothing the API returns can become markup.

const KEY = "fleetledger.key";
const main = document.getElementById("main");
const statusLine = document.getElementById("status");

// ---- helpers ----

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/// A call to the API with the session's key. A 401 ends the session.
async function api(path, { method = "GET", body, position, raw } = {}) {
  const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY)}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (position) headers["X-Fleet-Position"] = String(position);
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) {
    sessionStorage.removeItem(KEY);
    location.hash = "#/login";
    throw new ApiError(401, { detail: "The key was refused: sign in again." });
  }
  if (raw) return response;
  const text = await response.text();
  const value = text ? JSON.parse(text) : {};
  if (!response.ok) throw new ApiError(response.status, value);
  return { value, position: response.headers.get("X-Fleet-Position") };
}

/// An error in words: a 409 says what state the resource is in.
function describe(error) {
  if (error instanceof ApiError && error.status === 409) {
    const state = error.problem.current_state ? ` (it is ${error.problem.current_state})` : "";
    return `Not allowed now: ${error.message}${state}.`;
  }
  if (error instanceof ApiError && error.problem.errors) {
    return `${error.message} ${error.problem.errors.map((e) => `${e.field}: ${e.reason}`).join("; ")}`;
  }
  return error.message || String(error);
}

function showError(container, error) {
  container.append(h("p", { class: "error", role: "alert" }, describe(error)));
}

function say(text) {
  statusLine.textContent = text;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) search.set(name, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}

function badge(value) {
  return h("span", { class: `badge ${String(value).toLowerCase()}` }, value);
}

function when(value) {
  return value ? new Date(value).toLocaleString() : "";
}

/// A table of rows; `columns` is [header, (row) => cell, numeric?].
function table(caption, rows, columns) {
  return h(
    "table",
    {},
    h("caption", { class: "muted" }, caption),
    h("thead", {}, h("tr", {}, columns.map(([name, , numeric]) => h("th", { scope: "col", class: numeric ? "num" : null }, name)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell, numeric]) => h("td", { class: numeric ? "num" : null }, cell(row)))))),
  );
}

/// A table of whatever plain fields the objects have (invoice lines, taxes, discounts).
function plainTable(caption, rows) {
  if (!rows || rows.length === 0) return h("p", { class: "muted" }, `${caption}: none`);
  const keys = Object.keys(rows[0]).filter((k) => rows.some((r) => r[k] === null || typeof r[k] !== "object"));
  return table(caption, rows, keys.map((k) => [k.replaceAll("_", " "), (r) => r[k] ?? "", /amount|total|price|quantity|cost/.test(k)]));
}

function field(label, name, attrs = {}) {
  return h("label", {}, label, h("input", { name, ...attrs }));
}

function select(label, name, options, value = "") {
  return h("label", {}, label, h("select", { name }, options.map((o) => h("option", { value: o, selected: o === value }, o || "any"))));
}

function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

function timeline(events) {
  return h(
    "ol",
    { class: "timeline", "aria-label": "History" },
    events.map((e) =>
      h("li", {}, h("strong", {}, e.event_type), " ", h("time", { datetime: e.recorded_at }, when(e.recorded_at)), h("div", { class: "muted" }, `by ${e.actor?.id ?? "?"} · position ${e.sequence}`)),
    ),
  );
}

/// The buttons of the commands a resource's state allows, and where a refusal is said: each
/// runs `command(action)` and, when it was taken, shows `hash` at the position it returned.
function actionGroup(label, actions, dangerous, command, hash) {
  const feedback = h("div", {});
  const group = h(
    "div",
    { class: "actions", role: "group", "aria-label": label },
    actions.map((action) =>
      h("button", {
        type: "button",
        class: dangerous.includes(action) ? "danger" : null,
        onclick: async () => {
          feedback.replaceChildren();
          try {
            const done = await command(action);
            if (done) render(hash, done.position);
          } catch (error) {
            showError(feedback, error);
          }
        },
      }, action),
    ),
  );
  return [group, feedback];
}

/// A definition list of [label, value] pairs, leaving out the empty ones.
function facts(pairs) {
  return h("dl", { class: "facts" },
    pairs.filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
}

const charts = [];
function chart(canvas, config) {
  charts.push(new window.Chart(canvas, config));
}

// ---- views ----

function login() {
  const form = h(
    "form",
    { class: "login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in"),
    h("p", { class: "muted" }, "Enter an API key (fleetd apikey create). It is kept in this tab only."),
    field("API key", "key", { type: "password", required: true, autocomplete: "off", id: "api-key" }),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    form.querySelector(".error")?.remove();
    const key = formValues(form).key.trim();
    // Tried before it is kept, so a wrong key never reaches session storage.
    const response = await fetch("/v1/instances?page_size=1", { headers: { Authorization: `Bearer ${key}` } });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      const reason = response.status === 401 ? "This key is not known, or it was revoked." : problem.detail ?? `HTTP ${response.status}`;
      return showError(form, new ApiError(response.status, { detail: reason }));
    }
    sessionStorage.setItem(KEY, key);
    // Setting the hash it already has fires no hashchange.
    if (location.hash === "#/inventory") render();
    else location.hash = "#/inventory";
  });
  main.append(form);
}

const STATUSES = ["", "deploying", "running", "stopped", "failed", "deleted"];

async function inventory(params) {
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter instances" },
    select("Status", "status", STATUSES, params.get("status") ?? ""),
    field("Provider", "cloud_provider", { value: params.get("cloud_provider") ?? "", size: 8 }),
    field("Region", "region", { value: params.get("region") ?? "", size: 12 }),
    field("Cell", "deployment_cell", { value: params.get("deployment_cell") ?? "", size: 10 }),
    field("Customer", "customer_id", { value: params.get("customer_id") ?? "", size: 38 }),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/inventory${query(formValues(form))}`;
  });
  main.append(h("h1", {}, "Inventory"), form);
  const filters = Object.fromEntries(["status", "cloud_provider", "region", "deployment_cell", "customer_id"].map((k) => [k, params.get(k)]));
  const { value } = await api(`/v1/instances${query({ ...filters, page_size: 100, page_token: params.get("page_token") })}`);
  main.append(
    table(`${value.items.length} instances`, value.items, [
      ["Instance", (i) => h("a", { href: `#/instances/${i.id}` }, i.name || i.id)],
      ["Status", (i) => badge(i.status)],
      ["Provider", (i) => i.cloud_provider],
      ["Region", (i) => i.region],
      ["Cell", (i) => i.deployment_cell],
      ["Type", (i) => i.instance_type],
      ["Capacity", (i) => i.capacity, true],
      ["Customer", (i) => i.customer_id ?? ""],
    ]),
  );
  if (value.next_page_token) {
    main.append(h("p", {}, h("a", { href: `#/inventory${query({ ...filters, page_token: value.next_page_token })}` }, "Next page")));
  }
  // When the rows are first on screen, for the end-to-end test's figure.
  requestAnimationFrame(() => performance.mark("inventory-painted"));
}

// What each status allows, as the instance aggregate decides it (services/domain/src/instance):
// a button is offered only where the command can succeed; the server decides either way.
const INSTANCE_ACTIONS = {
  deploying: ["ready", "fail", "delete"],
  running: ["stop", "restart", "scale up", "scale down", "fail", "delete"],
  stopped: ["start", "fail", "delete"],
  failed: ["delete"],
  deleted: [],
};

function instanceCommand(id, action) {
  switch (action) {
    case "delete": return api(`/v1/instances/${id}`, { method: "DELETE" });
    case "scale up": return api(`/v1/instances/${id}/capacity`, { method: "POST", body: { delta: 1 } });
    case "scale down": return api(`/v1/instances/${id}/capacity`, { method: "POST", body: { delta: -1 } });
    case "fail": {
      const reason = prompt("Why did it fail?");
      if (!reason) return Promise.resolve(null);
      return api(`/v1/instances/${id}/fail`, { method: "POST", body: { reason } });
    }
    default: return api(`/v1/instances/${id}/${action}`, { method: "POST" });
  }
}

async function instancePage(id, position) {
  const [{ value: instance }, { value: history }] = await Promise.all([
    api(`/v1/instances/${id}`, { position }),
    api(`/v1/instances/${id}/events`, { position }),
  ]);
  const [actions, feedback] = actionGroup("Lifecycle actions", INSTANCE_ACTIONS[instance.status] ?? [], ["delete", "fail"],
    (action) => instanceCommand(id, action), `#/instances/${id}`);
  main.append(
    h("p", {}, h("a", { href: "#/inventory" }, "← Inventory")),
    h("h1", {}, "Instance ", instance.name || instance.id, " ", badge(instance.status)),
    actions,
    feedback,
    facts([["Service", instance.service_id], ["Plan", instance.plan_id], ["Provider", instance.cloud_provider], ["Region", instance.region],
      ["Cell", instance.deployment_cell], ["Type", instance.instance_type], ["Capacity", instance.capacity], ["Customer", instance.customer_id],
      ["Subscription", instance.subscription_id], ["Created", when(instance.created_at)], ["Failure", instance.failure_reason]]),
    h("h2", {}, "History"),
    timeline(history.items),
  );
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function defaultWindow(params, days = 30) {
  const end = params.get("end") || isoDay(new Date());
  const start = params.get("start") || isoDay(new Date(Date.now() - days * 86400000));
  return { start, end };
}

/// Groups of series ({date, cost}) as stacked bars.
function stackedChart(label, groups) {
  const dates = [...new Set(groups.flatMap((g) => g.series.map((p) => p.date)))].sort();
  const canvas = h("canvas", { role: "img", "aria-label": label });
  const box = h("div", { class: "chart" }, canvas);
  chart(canvas, {
    type: "bar",
    data: {
      labels: dates,
      datasets: groups.map((g) => ({ label: g.key, data: dates.map((d) => Number(g.series.find((p) => p.date === d)?.cost ?? 0)) })),
    },
    options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { x: { stacked: true }, y: { stacked: true } } },
  });
  return box;
}

async function cost(params) {
  const { start, end } = defaultWindow(params);
  const view = params.get("view") || "cloud-provider";
  const frequency = params.get("frequency") || "daily";
  const form = h(
    "form",
    { class: "filters", "aria-label": "Cost window" },
    select("By", "view", ["cloud-provider", "region", "deployment-cell"], view),
    select("Frequency", "frequency", ["daily", "monthly"], frequency),
    field("From", "start", { type: "date", value: start, required: true }),
    field("To", "end", { type: "date", value: end, required: true }),
    h("button", { type: "submit" }, "Show"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/cost${query(formValues(form))}`;
  });
  main.append(h("h1", {}, "Cost"), form);
  const window = { start, end, frequency };
  const [byView, top, users] = await Promise.all([
    api(`/v1/cost/${view}${query(window)}`),
    api(`/v1/cost/${view}${query({ ...window, top_instances: 10 })}`),
    api(`/v1/cost/user${query({ ...window, top_users: 10 })}`),
  ]);
  const report = byView.value;
  main.append(
    h("p", {}, `Total ${report.total_cost} ${report.currency ?? ""} from ${report.start} to ${report.end}`),
    stackedChart(`Cost by ${view}, ${frequency}`, report.groups),
  );
  const instances = top.value.groups.flatMap((g) => (g.instances ?? []).map((i) => ({ ...i, key: g.key })));
  instances.sort((a, b) => Number(b.total_cost) - Number(a.total_cost));
  main.append(
    h("div", { class: "grid2" },
      h("section", {}, h("h2", {}, "Top instances"),
        table("By total cost", instances.slice(0, 10), [
          ["Instance", (i) => h("a", { href: `#/instances/${i.instance_id}` }, i.instance_id)],
          [view, (i) => i.key],
          ["Cost", (i) => i.total_cost, true],
        ])),
      h("section", {}, h("h2", {}, "Top users"),
        table("Customers by total cost", users.value.groups, [
          ["Customer", (g) => g.key],
          ["Cost", (g) => g.total_cost, true],
        ]))),
  );
}

async function usage(params) {
  const { start, end } = defaultWindow(params, 60);
  const form = h(
    "form",
    { class: "filters", "aria-label": "Usage of a subscription" },
    field("Subscription", "subscription", { value: params.get("subscription") ?? "", size: 38, required: true }),
    field("From", "start", { type: "date", value: start }),
    field("To", "end", { type: "date", value: end }),
    h("button", { type: "submit" }, "Show"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/usage${query(formValues(form))}`;
  });
  main.append(h("h1", {}, "Usage"), form);
  const subscription = params.get("subscription");
  if (!subscription) return;
  const [{ value: daily }, { value: sub }] = await Promise.all([
    api(`/v1/subscriptions/${subscription}/usage/daily${query({ start, end })}`),
    api(`/v1/subscriptions/${subscription}`),
  ]);
  const products = [...new Set(daily.items.map((d) => d.product))];
  const days = [...new Set(daily.items.map((d) => d.day))].sort();
  const canvas = h("canvas", { role: "img", "aria-label": "Usage per day" });
  main.append(h("div", { class: "chart" }, canvas));
  chart(canvas, {
    type: "bar",
    data: {
      labels: days,
      datasets: products.map((p) => ({ label: p, data: days.map((d) => Number(daily.items.find((i) => i.day === d && i.product === p)?.quantity ?? 0)) })),
    },
    options: { responsive: true, maintainAspectRatio: false, animation: false },
  });
  const { value: rated } = await api(`/v1/customers/${sub.customer_id}/usage${query({ start, end })}`);
  main.append(h("h2", {}, `Rated lines (${rated.currency})`), plainTable("Rated usage of the customer", rated.lines), h("p", {}, `Subtotal ${rated.subtotal}`));
}

const INVOICE_ACTIONS = {
  draft: ["approve", "void"],
  open: ["pay", "resend", "void", "mark-uncollectible"],
  paid: ["resend"],
  uncollectible: ["pay", "void"],
  void: [],
};

async function invoices(params) {
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter invoices" },
    select("Status", "status", ["", "draft", "open", "paid", "uncollectible", "void"], params.get("status") ?? ""),
    field("Customer", "customer_id", { value: params.get("customer_id") ?? "", size: 38 }),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/invoices${query(formValues(form))}`;
  });
  const period = h("input", { type: "month", name: "period", value: new Date().toISOString().slice(0, 7), "aria-label": "Report month" });
  const download = h("button", {
    type: "button", class: "secondary",
    onclick: async () => {
      const [year, month] = period.value.split("-").map(Number);
      const last = new Date(Date.UTC(year, month, 0)).toISOString().slice(0, 10);
      const response = await api(`/v1/reports/billing.csv${query({ start_date: `${period.value}-01`, end_date: last })}`, { raw: true });
      if (!response.ok) return say(`The report could not be made: HTTP ${response.status}`);
      const link = h("a", { href: URL.createObjectURL(await response.blob()), download: `billing-${period.value}.csv` });
      link.click();
    },
  }, "Download the billing report");
  main.append(h("h1", {}, "Invoices"), form, h("div", { class: "actions" }, period, download));
  const { value } = await api(`/v1/invoices${query({ status: params.get("status"), customer_id: params.get("customer_id"), page_size: 100 })}`);
  main.append(
    table(`${value.items.length} invoices`, value.items, [
      ["Invoice", (i) => h("a", { href: `#/invoices/${i.id}` }, i.number ?? i.id)],
      ["Status", (i) => badge(i.status)],
      ["Customer", (i) => i.customer_id],
      ["Period", (i) => `${i.period_start ?? ""} – ${i.period_end ?? ""}`],
      ["Total", (i) => `${i.total ?? ""} ${i.currency ?? ""}`, true],
    ]),
  );
}

async function invoicePage(id, position) {
  const [{ value: invoice }, { value: history }] = await Promise.all([
    api(`/v1/invoices/${id}`, { position }),
    api(`/v1/invoices/${id}/events`, { position }),
  ]);
  const [actions, feedback] = actionGroup("Invoice actions", INVOICE_ACTIONS[invoice.status] ?? [], ["void"],
    (action) => api(`/v1/invoices/${id}/${action}`, { method: "POST", body: action === "void" ? { reason: "voided in the console" } : {} }),
    `#/invoices/${id}`);
  main.append(
    h("p", {}, h("a", { href: "#/invoices" }, "← Invoices")),
    h("h1", {}, "Invoice ", invoice.number ?? invoice.id, " ", badge(invoice.status)),
    actions,
    feedback,
    facts(Object.entries(invoice).filter(([, v]) => typeof v !== "object").map(([k, v]) => [k.replaceAll("_", " "), v])),
    h("h2", {}, "Lines"), plainTable("Lines", invoice.lines),
    h("h2", {}, "Discounts"), plainTable("Discounts", invoice.discounts),
    h("h2", {}, "Taxes"), plainTable("Taxes", invoice.taxes),
    h("h2", {}, "Timeline"), timeline(history.items),
  );
}

let tail = null;

async function audit(params) {
  const filters = { actor: params.get("actor"), event_types: params.get("event_types"), correlation_id: params.get("correlation_id"), aggregate_id: params.get("aggregate_id") };
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter the audit log" },
    field("Actor", "actor", { value: filters.actor ?? "" }),
    field("Event type", "event_types", { value: filters.event_types ?? "" }),
    field("Correlation id", "correlation_id", { value: filters.correlation_id ?? "", size: 38 }),
    field("Resource id", "aggregate_id", { value: filters.aggregate_id ?? "", size: 38 }),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = `#/audit${query(formValues(form))}`;
  });
  const verification = h("span", { class: "badge", id: "verification" }, "checking the hash chain…");
  main.append(h("h1", {}, "Audit ", verification), form);
  const { value } = await api(`/v1/audit-events${query({ ...filters, page_size: 50 })}`);
  const columns = [
    ["Position", (e) => e.sequence, true],
    ["Event", (e) => e.event_type],
    ["Resource", (e) => `${e.aggregate_type} ${e.aggregate_id}`],
    ["Actor", (e) => e.actor_id ?? e.actor?.id ?? ""],
    ["Correlation", (e) => e.correlation_id],
    ["Recorded", (e) => when(e.recorded_at)],
  ];
  const rows = table("Newest first; new events appear live at the top", value.items, columns);
  const body = rows.querySelector("tbody");
  main.append(h("h2", {}, "Live"), rows);
  api("/v1/audit-events/verification")
    .then(({ value: v }) => {
      verification.className = `badge ${v.intact ? "intact" : "broken"}`;
      verification.textContent = v.intact ? `chain verified up to position ${v.position}` : `chain broken at position ${v.sequence}: ${v.reason}`;
    })
    .catch((error) => { verification.textContent = describe(error); });
  // Server-sent events over fetch: an EventSource cannot send the key.
  const matches = (e) =>
    (!filters.actor || (e.actor?.id ?? "").includes(filters.actor)) &&
    (!filters.event_types || filters.event_types.split(",").includes(e.event_type)) &&
    (!filters.correlation_id || e.correlation_id === filters.correlation_id) &&
    (!filters.aggregate_id || e.aggregate_id === filters.aggregate_id);
  const controller = new AbortController();
  tail = controller;
  const response = await api("/v1/events/stream", { raw: true });
  if (!response.ok || !response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  controller.signal.addEventListener("abort", () => reader.cancel());
  let buffer = "";
  for (;;) {
    const { value: chunk, done } = await reader.read().catch(() => ({ done: true }));
    if (done) break;
    buffer += chunk;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const message = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = message.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
      if (!data) continue;
      const event = JSON.parse(data);
      if (!matches(event)) continue;
      const row = h("tr", { class: "live" }, columns.map(([, cell, numeric]) => h("td", { class: numeric ? "num" : null }, cell(event))));
      body.prepend(row);
    }
  }
}

async function health() {
  const { value: ready } = await api("/readyz", { raw: false }).catch((error) => {
    if (error instanceof ApiError && error.status === 503) return { value: error.problem };
    throw error;
  });
  main.append(
    h("h1", {}, "Health ", badge(ready.ready ? "ready" : "not ready")),
    h("dl", { class: "facts" },
      h("dt", {}, "PostgreSQL"), h("dd", {}, ready.postgres?.ok ? "ok" : ready.postgres?.error ?? "?"),
      h("dt", {}, "NATS"), h("dd", {}, ready.nats?.ok ? "ok" : ready.nats?.error ?? "?"),
      h("dt", {}, "Stream position"), h("dd", {}, ready.stream_position ?? "?")),
    h("h2", {}, "Projections"),
    table("Position, lag and parked events of each projection", ready.projections ?? [], [
      ["Projection", (p) => p.name],
      ["Position", (p) => p.position, true],
      ["Lag", (p) => p.lag, true],
      ["Parked", (p) => p.parked ?? 0, true],
    ]),
  );
  const { value: channels } = await api("/v1/notification-channels?page_size=100");
  main.append(h("h2", {}, "Webhook deliveries"));
  for (const channel of channels.items) {
    const { value: deliveries } = await api(`/v1/notification-channels/${channel.id}/deliveries?page_size=20`);
    const feedback = h("div", {});
    main.append(
      h("h3", {}, channel.name ?? channel.url ?? channel.id, " ", badge(channel.status)),
      h("div", { class: "actions" },
        h("button", {
          type: "button", class: "secondary",
          onclick: async () => {
            feedback.replaceChildren();
            try {
              const { value: replayed } = await api(`/v1/notification-channels/${channel.id}/replay`, { method: "POST", body: { from_position: 1 } });
              feedback.append(h("p", {}, `${replayed.enqueued} deliveries enqueued again.`));
            } catch (error) {
              showError(feedback, error);
            }
          },
        }, "Replay from the start")),
      feedback,
      plainTable("Latest deliveries", deliveries.items),
    );
  }
}

// ---- routing ----

const ROUTES = [
  [/^#\/inventory/, (p) => inventory(p)],
  [/^#\/instances\/([\w-]+)/, (p, m, position) => instancePage(m[1], position)],
  [/^#\/cost/, (p) => cost(p)],
  [/^#\/usage/, (p) => usage(p)],
  [/^#\/invoices\/([\w-]+)/, (p, m, position) => invoicePage(m[1], position)],
  [/^#\/invoices/, (p) => invoices(p)],
  [/^#\/audit/, (p) => audit(p)],
  [/^#\/health/, () => health()],
];

/// Shows the view of `hash`. After a change of view the focus moves to it (screen readers say
/// where they are); on the first load it stays at the top, so Tab starts at the skip link.
async function render(hash = location.hash, position, focus = true) {
  if (tail) { tail.abort(); tail = null; }
  while (charts.length) charts.pop().destroy();
  main.replaceChildren();
  say("");
  const signedIn = Boolean(sessionStorage.getItem(KEY));
  document.getElementById("views").hidden = !signedIn;
  document.getElementById("sign-out").hidden = !signedIn;
  if (!signedIn || hash.startsWith("#/login")) return login();
  for (const link of document.querySelectorAll("#views a")) {
    if (hash.startsWith(link.getAttribute("href"))) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const [path, search = ""] = hash.split("?");
  const params = new URLSearchParams(search);
  const route = ROUTES.find(([pattern]) => pattern.test(path)) ?? ROUTES[0];
  try {
    await route[1](params, path.match(route[0]) ?? [], position);
  } catch (error) {
    showError(main, error);
  }
  if (focus) main.focus({ preventScroll: true });
}

document.getElementById("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  location.hash = "#/login";
});
window.addEventListener("hashchange", () => render());
render(location.hash || "#/inventory", undefined, false);
