// PostHog dev server web page. Every value from the server is shown with textContent,
// never parsed as HTML, so event properties cannot inject markup or script.
"use strict";

const state = { lastEventId: 0, project: "", tab: "events", personId: null, flags: [] };
const MAX_EVENT_ROWS = 500;
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function pretty(value) {
  return el("pre", { text: JSON.stringify(value, null, 2) });
}

function shortTime(iso) {
  const date = new Date(iso);
  return isNaN(date) ? String(iso) : date.toLocaleTimeString() + "." + String(date.getMilliseconds()).padStart(3, "0");
}

async function getJSON(path, params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== "" && v != null) query.set(k, v);
  const response = await fetch(path + (query.toString() ? "?" + query : ""), { cache: "no-store" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

// -- events -------------------------------------------------------------------------------

function eventRow(ev) {
  const row = el("tr", { class: "row new", "data-uuid": ev.uuid, "data-testid": "event-row" },
    el("td", { text: shortTime(ev.timestamp), title: ev.timestamp }),
    el("td", { class: "event-name", text: ev.event }),
    el("td", { class: "distinct-id", text: ev.distinct_id }),
    el("td", { text: ev.project }));
  row.addEventListener("click", () => {
    const next = row.nextElementSibling;
    if (next && next.classList.contains("expanded")) { next.remove(); return; }
    const cell = el("td", { colspan: "4" }, pretty(ev.message));
    row.after(el("tr", { class: "expanded", "data-testid": "event-properties" }, cell));
  });
  return row;
}

async function pollEvents() {
  if (!$("live").checked) return;
  const data = await getJSON("/api/events", {
    after: state.lastEventId, limit: 200, project: state.project, event: $("event-filter").value.trim(),
  });
  const tbody = $("events");
  for (const ev of data.results.slice().reverse()) {
    tbody.prepend(eventRow(ev));
    state.lastEventId = Math.max(state.lastEventId, ev.id);
  }
  const rows = tbody.querySelectorAll("tr.row");
  for (let i = MAX_EVENT_ROWS; i < rows.length; i++) {
    const extra = rows[i].nextElementSibling;
    if (extra && extra.classList.contains("expanded")) extra.remove();
    rows[i].remove();
  }
  $("events-status").textContent = "updated " + new Date().toLocaleTimeString();
}

function resetEvents() {
  state.lastEventId = 0;
  $("events").replaceChildren();
  pollEvents().catch(showError);
}

// -- persons ------------------------------------------------------------------------------

async function loadPersons() {
  const data = await getJSON("/api/persons", { project: state.project, search: $("person-search").value.trim(), limit: 200 });
  $("persons").replaceChildren(...data.results.map((p) => {
    const label = p.properties.email || p.properties.name || p.distinct_ids[0] || p.uuid;
    const row = el("tr", { class: "row", "data-testid": "person-row", "data-person-id": String(p.id) },
      el("td", { text: String(label) }),
      el("td", { text: p.distinct_ids.join(", ") }),
      el("td", { text: shortTime(p.updated_at) }));
    row.addEventListener("click", () => showPerson(p.id).catch(showError));
    return row;
  }));
}

async function showPerson(id) {
  state.personId = id;
  const [people, events] = await Promise.all([
    getJSON("/api/persons", { id }), getJSON("/api/events", { person_id: id, limit: 20 })]);
  const person = people.results[0];
  const panel = $("person-detail");
  panel.hidden = false;
  panel.replaceChildren(
    el("h2", { text: "Person " + person.uuid }),
    el("div", { class: "muted", text: (person.is_identified ? "identified" : "anonymous") + " · project " + person.project }),
    el("h3", { text: "Distinct ids" }),
    el("ul", {}, ...person.distinct_ids.map((d) => el("li", { class: "person-distinct-id", text: d }))),
    el("h3", { text: "Properties" }),
    el("div", { "data-testid": "person-properties" }, pretty(person.properties)),
    el("h3", { text: "Recent events" }),
    el("ul", {}, ...events.results.map((e) => el("li", { text: shortTime(e.timestamp) + "  " + e.event }))));
}

// -- groups -------------------------------------------------------------------------------

async function loadGroups() {
  const data = await getJSON("/api/groups", { project: state.project, limit: 200 });
  $("groups").replaceChildren(...data.results.map((g) => el("tr", { "data-testid": "group-row" },
    el("td", { text: g.group_type + " (" + g.group_type_index + ")" }),
    el("td", { text: g.group_key }),
    el("td", {}, pretty(g.properties)),
    el("td", { text: shortTime(g.updated_at) }))));
}

// -- flags --------------------------------------------------------------------------------

async function loadFlags() {
  const data = await getJSON("/api/flags", { project: state.project, limit: 1000 });
  state.flags = data.results;
  const mapping = Object.entries(data.group_type_mapping || {}).map(([index, type]) => index + ": " + type);
  $("flags-source").textContent = (data.path ? "from " + data.path : "no flags file (start with --flags FILE)") +
    (mapping.length ? " · group types " + mapping.join(", ") : "") +
    (data.error ? " — error: " + data.error : "");
  $("flags").replaceChildren(...data.results.map((f) => el("div", { class: "flag", "data-testid": "flag" },
    el("span", { class: "key", text: f.key }),
    el("span", { class: "badge " + (f.active === false ? "off" : "on"), text: f.active === false ? "disabled" : "active" }),
    el("div", { class: "muted", text: f.name || "" }),
    pretty(f.filters || {}))));
  const select = $("eval-flag");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: "All flags" }),
    ...data.results.map((f) => el("option", { value: f.key, text: f.key })));
  select.value = chosen;
}

function parseBox(id) {
  const text = $(id).value.trim() || "{}";
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("must be an object");
    return value;
  } catch (error) {
    throw new Error(id.replace("eval-", "") + ": " + error.message);
  }
}

async function evaluate(event) {
  event.preventDefault();
  $("eval-error").textContent = "";
  $("eval-project").textContent = "";
  try {
    const body = {
      distinct_id: $("eval-distinct-id").value.trim(),
      person_properties: parseBox("eval-person"),
      groups: parseBox("eval-groups"),
      group_properties: parseBox("eval-group-props"),
    };
    if (state.project) body.project = state.project;
    if ($("eval-flag").value) body.flag_keys_to_evaluate = [$("eval-flag").value];
    const response = await fetch("/api/flags/evaluate", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
    const data = await response.json();
    if (!response.ok) throw new Error(data.detail || response.statusText);
    $("eval-project").textContent = "project " + (data.project || "(none)") + ": " + data.project_note;
    $("eval-results").replaceChildren(...Object.values(data.flags).map((r) => el("tr", { "data-testid": "eval-row", "data-flag": r.key },
      el("td", { class: "key", text: r.key }),
      el("td", { class: "eval-value value-" + Boolean(r.value), text: JSON.stringify(r.value) }),
      el("td", { class: "muted", text: r.reason.code + (r.reason.condition_index != null ? " #" + r.reason.condition_index : "") }),
      el("td", { text: r.metadata.payload == null ? "" : r.metadata.payload }))));
  } catch (error) {
    $("eval-error").textContent = error.message;
  }
}

// -- shell --------------------------------------------------------------------------------

async function loadStats() {
  const data = await getJSON("/api/stats");
  const select = $("project");
  const known = new Set([...select.options].map((o) => o.value));
  for (const p of data.projects) if (!known.has(p.project)) select.append(el("option", { value: p.project, text: p.project }));
  const scope = state.project ? data.projects.find((p) => p.project === state.project) || {} : data;
  $("counts").textContent = (scope.events || 0) + " events · " + (scope.persons || 0) + " persons · " + (scope.groups || 0) + " groups";
}

function refreshTab() {
  const loaders = { persons: loadPersons, groups: loadGroups, flags: loadFlags };
  if (loaders[state.tab]) loaders[state.tab]().catch(showError);
}

function showError(error) {
  $("events-status").textContent = "error: " + error.message;
}

function init() {
  $("host-value").textContent = window.location.origin;
  for (const button of document.querySelectorAll(".tab")) {
    button.addEventListener("click", () => {
      state.tab = button.dataset.tab;
      for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b === button);
      for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== "tab-" + state.tab;
      refreshTab();
    });
  }
  $("project").addEventListener("change", () => { state.project = $("project").value; resetEvents(); refreshTab(); loadStats().catch(showError); });
  $("event-filter").addEventListener("change", resetEvents);
  $("person-search").addEventListener("input", () => loadPersons().catch(showError));
  $("persons-refresh").addEventListener("click", () => loadPersons().catch(showError));
  $("groups-refresh").addEventListener("click", () => loadGroups().catch(showError));
  $("evaluate").addEventListener("submit", evaluate);
  pollEvents().catch(showError);
  loadStats().catch(showError);
  setInterval(() => pollEvents().catch(showError), 1000);
  setInterval(() => loadStats().catch(showError), 3000);
  setInterval(() => { if (state.tab === "persons" || state.tab === "groups") refreshTab(); }, 5000);
}

document.addEventListener("DOMContentLoaded", init);
