// The customer 360 page: search, show one profile, poll it with If-None-Match (304 = unchanged).
"use strict";
const POLL_MS = 2000;
let current = null, etag = null, timer = null, cursor = null;
const $ = (id) => document.getElementById(id);
const keyInput = $("api-key");
keyInput.value = sessionStorage.getItem("c360-key") || "";
keyInput.addEventListener("change", () => sessionStorage.setItem("c360-key", keyInput.value));

async function api(path, extra = {}) {
  const headers = { ...(extra.headers || {}) };
  if (keyInput.value) headers["X-API-Key"] = keyInput.value;
  const response = await fetch(path, { ...extra, headers });
  if (response.status >= 400) {
    const body = await response.json().catch(() => ({}));
    throw new Error(typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`);
  }
  return response;
}

function status(text) { $("status").textContent = text; }
function item(list, text, cls) {
  const li = document.createElement("li");
  li.textContent = text;
  if (cls) li.className = cls;
  list.appendChild(li);
  return li;
}
const when = (v) => (v ? new Date(v).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "—");
function show(value, format) {
  if (value === null || value === undefined || value === "") return "—";
  if (format === "time") return when(value);
  if (format === "percent") return (Number(value) * 100).toFixed(1) + "%";
  return Array.isArray(value) ? value.join(", ") || "—" : String(value);
}
const pick = (obj, path) => path.split(".").reduce((o, k) => (o == null ? o : o[k]), obj);

$("search-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const list = $("results");
  list.replaceChildren();
  try {
    const hits = await (await api(`/profiles/search?q=${encodeURIComponent($("q").value)}`)).json();
    status(hits.length ? `${hits.length} found` : "No profile matches");
    for (const hit of hits) {
      const ids = hit.identifiers.filter((i) => ["customer_id", "email"].includes(i.type)).map((i) => i.value);
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = `${hit.name || hit.id} · ${ids.join(" · ")}`;
      button.addEventListener("click", () => open(hit.id));
      list.appendChild(document.createElement("li")).appendChild(button);
    }
    if (hits.length === 1) open(hits[0].id);
  } catch (error) { status(error.message); }
});

async function open(id) {
  current = id; etag = null; cursor = null;
  clearTimeout(timer);
  await refresh();
}

async function refresh() {
  try {
    const response = await api(`/profiles/${current}`, { headers: etag ? { "If-None-Match": etag } : {} });
    if (response.status !== 304) {
      etag = response.headers.get("ETag");
      render(await response.json());
    }
  } catch (error) { status(error.message); }
  timer = setTimeout(refresh, POLL_MS);
}

function render(p) {
  const traits = p.traits || {};
  p.name = [traits.first_name, traits.last_name].filter(Boolean).map((t) => t.value).join(" ") || p.id;
  for (const el of document.querySelectorAll("[data-field]")) el.textContent = show(pick(p, el.dataset.field), el.dataset.format);
  $("updated").textContent = `updated ${when(p.updated_at)}, as of ${when(p.as_of)}`;
  const ids = $("identifiers"); ids.replaceChildren();
  for (const i of p.identifiers) item(ids, `${i.type}: ${i.value}`);
  const traitList = $("traits"); traitList.replaceChildren();
  for (const [name, t] of Object.entries(traits)) item(traitList, `${name.replaceAll("_", " ")}: ${show(t.value)} (${t.source}, as of ${when(t.updated_at)})`);
  if (!Object.keys(traits).length) item(traitList, "None");
  const consent = $("consent"); consent.replaceChildren();
  for (const [flag, c] of Object.entries(p.consent)) item(consent, `${flag}: ${c.value ? "yes" : "no"} (${c.source}, ${when(c.updated_at)})`, c.value ? "flag-on" : "flag-off");
  const churn = $("churn"); churn.replaceChildren();
  for (const [signal, on] of Object.entries(p.churn_risk)) if (on === true) item(churn, signal.replaceAll("_", " "));
  const rows = $("holdings").tBodies[0]; rows.replaceChildren();
  for (const h of p.holdings) {
    const tr = rows.insertRow();
    for (const v of [h.product_id, h.product_type, h.status, h.opened_on, h.credit_limit, h.outstanding_balance]) tr.insertCell().textContent = show(v);
  }
  const top = $("top-items"); top.replaceChildren();
  for (const t of p.retail.top_items) item(top, `${t.sku} × ${t.count}`);
  const tickets = $("open-tickets"); tickets.replaceChildren();
  for (const t of p.service.open_tickets) item(tickets, `#${t.ticket_id} ${t.subject || ""} (opened ${when(t.opened)})${t.complaint ? " · complaint" : ""}`);
  if (!p.service.open_tickets.length) item(tickets, "None");
  const errors = $("web-errors"); errors.replaceChildren();
  for (const e of p.retail.web_errors) item(errors, `${when(e.at)} ${e.code} ${e.message} on ${e.url}`);
  if (!p.retail.web_errors.length) item(errors, "None");
  const segments = $("segments"); segments.replaceChildren();
  for (const s of p.segments) item(segments, s);
  if (!p.segments.length) item(segments, "None yet");
  const timeline = $("timeline"); timeline.replaceChildren();
  for (const t of p.timeline) item(timeline, `${when(t.at)} · ${t.type} · ${t.summary}`);
  cursor = null;
  $("older").hidden = p.timeline.length === 0;
  $("profile").hidden = false;
  status(`Showing ${p.name}`);
}

$("older").addEventListener("click", async () => {
  const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
  try {
    const page = await (await api(`/profiles/${current}/timeline?limit=50${query}`)).json();
    const timeline = $("timeline");
    if (!cursor) timeline.replaceChildren();
    for (const e of page.items) item(timeline, `${when(e.occurred_at)} · ${e.type} · ${e.source}`);
    cursor = page.next_cursor;
    $("older").hidden = !cursor;
  } catch (error) { status(error.message); }
});
