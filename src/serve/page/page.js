// The status page of `weir serve`: pipelines, the dead-letter queue (replay, drop), recent runs, a
// record's trace and a pipeline's graph, read from the admin API. Everything shown is set as text
// (never parsed as HTML): records are untrusted. The admin token lives in this tab's session storage
// and travels only in the Authorization header.
"use strict";

const TOKEN_KEY = "weir-admin-token";
const REFRESH_MS = 3000;
const REPLAY_POLL_MS = 300;
const REPLAY_WAIT_MS = 60000;

/** Thrown when the API asks for the token: the login form is shown, the refresh stops. */
class Unauthorized extends Error {}

const $ = (id) => document.getElementById(id);
let refreshTimer = null;
let graphUrl = null;
/** The last JSON each table was drawn from: a table is redrawn only when its data changed. */
const drawn = {};

/** An element with text children only: strings become text nodes, never markup. */
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child == null ? "" : String(child)));
  }
  return node;
}

function say(text, isError) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

async function api(method, path) {
  const headers = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const response = await fetch(path, { method, headers, cache: "no-store" });
  if (response.status === 401) {
    askForToken(token ? "The token was not accepted." : "");
    throw new Unauthorized();
  }
  return response;
}

/** The JSON body of a successful call; an Error with the API's message otherwise. */
async function call(method, path) {
  const response = await api(method, path);
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error((body && body.error) || `${method} ${path}: HTTP ${response.status}`);
  return body;
}

function askForToken(why) {
  clearTimeout(refreshTimer);
  $("main").hidden = true;
  $("forget").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = why;
  $("token").value = "";
  $("token").focus();
}

/** Replaces a table's rows when its data changed (rows keep their buttons between refreshes). */
function fill(table, data, row) {
  const text = JSON.stringify(data);
  if (drawn[table] === text) return;
  drawn[table] = text;
  $(table).tBodies[0].replaceChildren(...data.map(row));
}

function counters(c) {
  return c ? `${c.received} received, ${c.delivered} delivered, ${c.filtered} filtered, ${c.dead_lettered} dead-lettered` : "";
}

function pipelineRow(p) {
  const last = p.status.last_run;
  const health = last ? last.status : "none";
  const row = el("tr", {},
    el("td", {}, p.name),
    el("td", {}, p.trigger),
    el("td", {}, p.status.running ? "yes" : "no"),
    el("td", {}, last ? `${last.started_at} (${last.trigger}): ${counters(last)}` : "never (since start)",
      last && last.error ? el("div", { className: "error" }, last.error) : ""),
    el("td", {}, p.status.next_run || "—"),
    el("td", { className: "health-" + health }, last ? health : "—"),
    el("td", {},
      el("button", { type: "button", className: "graph", onclick: () => showGraph(p.name) }, "Graph"),
      " ",
      el("button", { type: "button", className: "run", onclick: () => runNow(p.name) }, "Run")));
  row.dataset.name = p.name;
  return row;
}

function entryRow(e) {
  const row = el("tr", {},
    el("td", {}, e.id),
    el("td", {}, e.pipeline),
    el("td", {}, e.step),
    el("td", {}, e.key == null ? "—" : e.key),
    el("td", { className: "attempts" }, e.attempts),
    el("td", { className: "reason" }, e.error),
    el("td", {}, el("pre", { className: "record" }, JSON.stringify(e.record, null, 2))),
    el("td", {},
      el("button", { type: "button", className: "replay", onclick: () => replay(e.id, e.attempts) }, "Replay"),
      " ",
      el("button", { type: "button", className: "drop", onclick: () => dropEntry(e.id) }, "Drop")));
  row.dataset.id = e.id;
  return row;
}

function runRow(r) {
  const records = (r.summary && r.summary.records) || {};
  return el("tr", {},
    el("td", {}, r.id),
    el("td", {}, r.pipeline),
    el("td", {}, r.trigger),
    el("td", {}, r.started_at),
    el("td", { className: "health-" + r.status }, r.status),
    el("td", {}, records.received ?? ""),
    el("td", {}, records.delivered ?? ""),
    el("td", {}, records.filtered ?? ""),
    el("td", {}, records.dead_lettered ?? ""),
    el("td", { className: "error" }, r.error || ""));
}

function traceRow(t) {
  return el("tr", {},
    el("td", {}, t.time),
    el("td", {}, t.run_id ?? ""),
    el("td", {}, t.pipeline),
    el("td", {}, t.component),
    el("td", {}, t.action),
    el("td", {}, t.target),
    el("td", {}, t.detail == null ? "" : el("pre", {}, JSON.stringify(t.detail, null, 2))));
}

async function refresh() {
  clearTimeout(refreshTimer);
  try {
    const [pipelines, entries, runs] = await Promise.all([
      call("GET", "/api/pipelines"),
      call("GET", "/api/dlq"),
      call("GET", "/api/runs?limit=20"),
    ]);
    $("login").hidden = true;
    $("main").hidden = false;
    $("forget").hidden = !sessionStorage.getItem(TOKEN_KEY);
    fill("pipelines", pipelines, pipelineRow);
    fill("dlq", entries, entryRow);
    $("dlq-empty").hidden = entries.length > 0;
    $("dlq").hidden = entries.length === 0;
    fill("runs", runs, runRow);
  } catch (e) {
    if (e instanceof Unauthorized) return;
    say("Cannot read the admin API: " + e.message, true);
  }
  refreshTimer = setTimeout(refresh, REFRESH_MS);
}

async function runNow(name) {
  try {
    await call("POST", `/api/pipelines/${encodeURIComponent(name)}/run`);
    say(`Run of ${name} queued.`);
    refresh();
  } catch (e) {
    if (!(e instanceof Unauthorized)) say(e.message, true);
  }
}

/** Replays one entry, then watches it until it is gone (delivered) or its attempts grew (rejected again). */
async function replay(id, attempts) {
  try {
    await call("POST", `/api/dlq/${id}/replay`);
    say(`Replaying entry ${id}…`);
    const deadline = Date.now() + REPLAY_WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((done) => setTimeout(done, REPLAY_POLL_MS));
      const response = await api("GET", `/api/dlq/${id}`);
      if (response.status === 404) {
        say(`Entry ${id} replayed: delivered.`);
        break;
      }
      const entry = await response.json();
      if (entry.attempts > attempts) {
        say(`Entry ${id} was rejected again: ${entry.error}`, true);
        break;
      }
    }
    refresh();
  } catch (e) {
    if (!(e instanceof Unauthorized)) say(e.message, true);
  }
}

async function dropEntry(id) {
  try {
    await call("DELETE", `/api/dlq/${id}`);
    say(`Entry ${id} dropped.`);
    refresh();
  } catch (e) {
    if (!(e instanceof Unauthorized)) say(e.message, true);
  }
}

async function showGraph(name) {
  try {
    const response = await api("GET", `/api/pipelines/${encodeURIComponent(name)}/graph`);
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new Error((body && body.error) || `the graph of ${name}: HTTP ${response.status}`);
    }
    // Shown as an image: an SVG in <img> runs no script and loads nothing.
    if (graphUrl) URL.revokeObjectURL(graphUrl);
    graphUrl = URL.createObjectURL(await response.blob());
    $("graph").replaceChildren(el("img", { src: graphUrl, alt: `The graph of ${name}` }));
    $("graph-name").textContent = name;
    $("graph-section").hidden = false;
  } catch (e) {
    if (!(e instanceof Unauthorized)) say(e.message, true);
  }
}

async function trace(event) {
  event.preventDefault();
  const key = $("trace-key").value;
  try {
    const entries = await call("GET", `/api/trace/${encodeURIComponent(key)}`);
    drawn.trace = null;
    fill("trace", entries, traceRow);
    $("trace").hidden = entries.length === 0;
    $("trace-empty").hidden = entries.length > 0;
  } catch (e) {
    if (!(e instanceof Unauthorized)) say(e.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    refresh();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    askForToken("");
  });
  $("trace-form").addEventListener("submit", trace);
  refresh();
});
