// xqueue dashboard: plain JS and SVG, no dependencies, no CDN.
// Live updates come from the server-sent event stream (read with fetch, so the
// bearer token travels in a header, never in a URL).
"use strict";
(() => {
  const API = "api/v1";
  const STATUSES = ["waiting", "pending", "processing", "success", "failed", "timeout", "canceled"];
  const TERMINAL = new Set(["success", "failed", "timeout", "canceled"]);
  const COLORS = { success: "#1f9d55", failed: "#d64545", timeout: "#d9822b", canceled: "#7d5bbe" };
  const WINDOW = 300; // seconds shown in the throughput chart
  const MAX_ROWS = 200;
  const $ = (sel) => document.querySelector(sel);
  const state = {
    status: "", type: "", cursor: null, selected: null, offset: 0,
    rows: new Map(), finished: new Map(), limits: {}, expanded: new Set(), dirty: { stats: true, limits: true },
    editing: null,
  };

  // -- helpers ------------------------------------------------------------------
  const token = () => sessionStorage.getItem("xqueue-token") || "";
  function headers(extra) {
    const h = Object.assign({}, extra || {});
    if (token()) h.Authorization = "Bearer " + token();
    return h;
  }
  async function call(method, path, body) {
    const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(`${API}/${path}`, init);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!res.ok) {
      const err = new Error(data && data.error ? data.error.message : `${res.status} ${res.statusText}`);
      err.status = res.status;
      throw err;
    }
    return data;
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
    return node;
  }
  const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "");
  const stamp = (iso) => (iso ? clock(iso) + "." + String(new Date(iso).getMilliseconds()).padStart(3, "0") : "");
  const badge = (status) => el("span", { class: `badge ${status}` }, status);
  function bar(fraction, full) {
    const inner = el("span");
    inner.style.width = `${Math.max(0, Math.min(1, fraction || 0)) * 100}%`;
    return el("div", { class: full ? "bar full" : "bar" }, inner);
  }
  let toastTimer = null;
  function toast(message) {
    const box = $("#toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { box.hidden = true; }, 5000);
  }
  const report = (err) => toast(err.status === 401 ? `${err.message} — set a token (top right)` : err.message);

  // -- status cards ---------------------------------------------------------------
  async function loadStats() {
    const stats = await call("GET", "stats");
    const cards = $("#cards");
    cards.replaceChildren(...STATUSES.map((s) => el("button", {
      type: "button", class: `card ${s}${state.status === s ? " active" : ""}`, "data-status": s,
      onclick: () => setFilter(state.status === s ? "" : s, state.type),
    }, el("span", { class: "n" }, stats.by_status[s] ?? 0), el("span", { class: "label" }, s))));
    const types = $("#filter-type");
    for (const t of Object.keys(stats.by_type).sort()) {
      if (![...types.options].some((o) => o.value === t)) types.append(el("option", { value: t }, t));
    }
  }

  // -- task table -------------------------------------------------------------------
  function rowFor(task) {
    const terminal = TERMINAL.has(task.status);
    const cancel = terminal ? "" : el("button", {
      type: "button", class: "cancel", "data-id": task.id,
      onclick: (ev) => { ev.stopPropagation(); cancelTask(task.id); },
    }, "cancel");
    return el("tr", { "data-id": task.id, "data-status": task.status, class: state.selected === task.id ? "selected" : "",
      onclick: () => select(task.id) },
      el("td", { class: "id" }, task.id), el("td", {}, task.type),
      el("td", { class: "status" }, badge(task.status)),
      el("td", {}, bar(task.progress ?? (task.status === "success" ? 1 : 0))),
      el("td", {}, task.retry ?? 0), el("td", {}, clock(task.created_at || task.timestamp)),
      el("td", {}, cancel));
  }
  const matches = (t) => (!state.status || t.status === state.status) && (!state.type || t.type === state.type);
  function upsert(task, prepend) {
    const body = $("#tasks tbody");
    const old = state.rows.get(task.id);
    const merged = Object.assign({}, old ? old.task : {}, task);
    if (!matches(merged)) {
      if (old) { old.row.remove(); state.rows.delete(task.id); }
      return;
    }
    const row = rowFor(merged);
    if (old) old.row.replaceWith(row);
    else if (prepend) body.prepend(row);
    else body.append(row);
    state.rows.set(task.id, { row, task: merged });
    while (state.rows.size > MAX_ROWS) {
      const last = body.lastElementChild;
      state.rows.delete(last.dataset.id);
      last.remove();
    }
  }
  async function loadTasks(more) {
    const q = new URLSearchParams({ limit: "50" });
    if (state.status) q.set("status", state.status);
    if (state.type) q.set("type", state.type);
    if (more && state.cursor) q.set("cursor", state.cursor);
    const page = await call("GET", `tasks?${q}`);
    if (!more) { $("#tasks tbody").replaceChildren(); state.rows.clear(); }
    page.tasks.forEach((t) => upsert(t, false));
    state.cursor = page.next_cursor;
    $("#more").hidden = !page.next_cursor;
  }
  function setFilter(status, type) {
    state.status = status;
    state.type = type;
    $("#filter-status").value = status;
    $("#filter-type").value = type;
    loadTasks(false).catch(report);
    loadStats().catch(report);
  }
  async function cancelTask(id) {
    try {
      const task = await call("DELETE", `tasks/${encodeURIComponent(id)}`);
      upsert(task, false);
      if (state.selected === id) showTask(task);
    } catch (err) { report(err); }
  }

  // -- details ------------------------------------------------------------------------
  function showTask(task) {
    $("#detail-id").textContent = task.id;
    const fields = ["type", "status", "priority", "retry", "max_retry", "progress", "worker_id",
      "created_at", "started_at", "completed_at", "eta", "queue_timeout", "process_timeout",
      "idempotency_key", "error"];
    const dl = $("#detail-fields");
    dl.replaceChildren();
    for (const f of fields) {
      if (task[f] === null || task[f] === undefined) continue;
      dl.append(el("dt", {}, f), el("dd", {}, f === "status" ? badge(task.status) : f.endsWith("_at") ? stamp(task[f]) : task[f]));
    }
    dl.append(el("dt", {}, "payload"), el("dd", {}, el("pre", {}, JSON.stringify(task.payload, null, 1))));
    if (task.result !== null && task.result !== undefined) {
      dl.append(el("dt", {}, "result"), el("dd", {}, el("pre", {}, JSON.stringify(task.result, null, 1))));
    }
    $("#detail-cancel").hidden = TERMINAL.has(task.status);
    $("#detail").hidden = false;
  }
  function historyItem(e) {
    const what = e.kind === "progress" ? `progress ${Math.round((e.progress || 0) * 100)}%` : e.status;
    const extra = [e.retry ? `retry ${e.retry}` : "", e.worker_id ? `on ${e.worker_id}` : "", e.error || ""]
      .filter(Boolean).join(" · ");
    return el("li", { class: e.derived ? "derived" : "", title: e.derived ? "from the task record" : "" },
      `${stamp(e.timestamp)} ${what}${extra ? " — " + extra : ""}`);
  }
  async function loadDetail(id) {
    const [task, history] = await Promise.all([
      call("GET", `tasks/${encodeURIComponent(id)}`),
      call("GET", `tasks/${encodeURIComponent(id)}/history`),
    ]);
    if (state.selected !== id) return;
    showTask(task);
    $("#detail-history").replaceChildren(...history.events.map(historyItem));
  }
  function select(id) {
    state.selected = id;
    for (const { row } of state.rows.values()) row.classList.toggle("selected", row.dataset.id === id);
    loadDetail(id).catch(report);
  }
  let refreshTimer = null;
  function onSelectedEvent(e) {
    // The server's history is the reference: reload it (once per burst of events).
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => loadDetail(e.task_id).catch(() => {}), 150);
  }

  // -- concurrency -----------------------------------------------------------------------
  async function loadLimits() {
    const [data, rates] = await Promise.all([call("GET", "concurrency"), call("GET", "rates")]);
    const body = $("#concurrency tbody");
    const types = Object.keys(data).sort();
    if (types.join() !== Object.keys(state.limits).sort().join()) {
      body.replaceChildren(...types.flatMap((t) => {
        const input = el("input", { type: "number", min: "0", step: "1", placeholder: "no limit", "data-type": t });
        const set = el("button", { type: "button", class: "set-limit", "data-type": t,
          onclick: () => setLimit(t, input.value === "" ? null : Number(input.value)) }, "set");
        const clear = el("button", { type: "button", "data-type": t, onclick: () => setLimit(t, null) }, "no limit");
        const keys = el("button", { type: "button", class: "show-keys", "data-type": t,
          "aria-expanded": "false", onclick: () => toggleKeys(t) }, "keys");
        const rateInput = el("input", { type: "text", class: "rate", size: "7", placeholder: "50/s",
          "aria-label": `rate of ${t}`, "data-type": t });
        const setRateButton = el("button", { type: "button", class: "set-rate", "data-type": t,
          onclick: () => setRate(t, rateInput.value.trim() === "" ? null : rateInput.value.trim()) }, "set");
        const clearRate = el("button", { type: "button", class: "clear-rate", "data-type": t,
          onclick: () => setRate(t, null) }, "no rate");
        return [
          el("tr", { "data-type": t }, el("td", {}, t, " ", keys), el("td", { class: "usage" }),
            el("td", { class: "meter" }), el("td", {}, input, " ", set, " ", clear),
            el("td", {}, el("span", { class: "rate-now" }), " ", rateInput, " ", setRateButton, " ", clearRate)),
          el("tr", { class: "keys-row", "data-keys-of": t, hidden: "" }, el("td", { colspan: "5", class: "keys" })),
        ];
      }));
    }
    for (const t of types) {
      const { running, max_concurrency: limit, per_key: perKey, weights } = data[t];
      const row = body.querySelector(`tr[data-type="${CSS.escape(t)}"]`);
      const each = perKey === null || perKey === undefined ? "" : ` · ${perKey} per key`;
      const weighted = Object.entries(weights || {}).map(([k, w]) => `${k}×${w}`).join(", ");
      const turns = weighted ? ` · turns ${weighted}` : "";
      row.querySelector(".usage").textContent = `${running} / ${limit === null ? "∞" : limit}${each}${turns}`;
      row.querySelector(".meter").replaceChildren(bar(limit ? running / limit : running ? 1 : 0, limit !== null && running >= limit));
      const input = row.querySelector("input");
      if (document.activeElement !== input) input.value = limit === null ? "" : String(limit);
      const r = rates[t] || { rate: null, per_key: null, keys: {} };
      const perKeyRate = r.per_key ? ` · ${r.per_key} per key` : "";
      const ownRates = Object.keys(r.keys).length ? ` · ${Object.keys(r.keys).length} key(s) own` : "";
      row.querySelector(".rate-now").textContent = `${r.rate || "no rate"}${perKeyRate}${ownRates}`;
      const rateInput = row.querySelector("input.rate");
      if (document.activeElement !== rateInput) rateInput.value = r.rate || "";
      if (state.expanded.has(t)) loadKeys(t).catch(() => {});
    }
    state.limits = data;
  }
  // The busiest flow keys of a type: running / limit and waiting, under its row.
  function toggleKeys(type) {
    const open = !state.expanded.has(type);
    if (open) state.expanded.add(type); else state.expanded.delete(type);
    const row = $(`#concurrency tr.keys-row[data-keys-of="${CSS.escape(type)}"]`);
    row.hidden = !open;
    $(`#concurrency button.show-keys[data-type="${CSS.escape(type)}"]`).setAttribute("aria-expanded", String(open));
    if (open) loadKeys(type).catch(report);
  }
  async function loadKeys(type) {
    const data = await call("GET", `concurrency/${encodeURIComponent(type)}/keys?top=10`);
    const cell = $(`#concurrency tr.keys-row[data-keys-of="${CSS.escape(type)}"] td.keys`);
    if (!data.keys.length) { cell.replaceChildren("no key has running or waiting tasks"); return; }
    cell.replaceChildren(el("table", { class: "key-usage" },
      el("thead", {}, el("tr", {}, el("th", {}, "key"), el("th", {}, "running / limit"), el("th", {}, "waiting"))),
      el("tbody", {}, ...data.keys.map((k) => el("tr", { "data-key": k.key },
        el("td", {}, k.key), el("td", { class: "usage" }, `${k.running} / ${k.limit === null ? "∞" : k.limit}`),
        el("td", { class: "waiting" }, String(k.waiting)))))));
  }
  async function setRate(type, value) {
    try {
      await call("POST", "rates", { task_type: type, rate: value });
      await loadLimits();
    } catch (err) { report(err); }
  }
  async function setLimit(type, value) {
    try {
      await call("POST", "concurrency", { task_type: type, max_concurrency: value });
      await loadLimits();
    } catch (err) { report(err); }
  }

  // -- throughput chart -------------------------------------------------------------------
  function count(second, status, n) {
    const bucket = state.finished.get(second) || {};
    bucket[status] = (bucket[status] || 0) + n;
    state.finished.set(second, bucket);
  }
  function drawChart() {
    const svg = $("#chart");
    const now = Math.floor(Date.now() / 1000) + state.offset;
    const ns = "http://www.w3.org/2000/svg";
    const width = 600, height = 160, w = width / WINDOW;
    let max = 1;
    for (let s = now - WINDOW + 1; s <= now; s++) {
      const b = state.finished.get(s);
      if (b) max = Math.max(max, Object.values(b).reduce((a, c) => a + c, 0));
    }
    const shapes = [];
    for (let i = 0; i < WINDOW; i++) {
      const b = state.finished.get(now - WINDOW + 1 + i);
      if (!b) continue;
      let y = height;
      for (const status of Object.keys(COLORS)) {
        if (!b[status]) continue;
        const h = (b[status] / max) * (height - 14);
        y -= h;
        const r = document.createElementNS(ns, "rect");
        r.setAttribute("x", (i * w).toFixed(2)); r.setAttribute("y", y.toFixed(2));
        r.setAttribute("width", Math.max(w - 0.3, 0.8).toFixed(2)); r.setAttribute("height", h.toFixed(2));
        r.setAttribute("fill", COLORS[status]);
        shapes.push(r);
      }
    }
    const text = (x, y, anchor, value) => {
      const t = document.createElementNS(ns, "text");
      for (const [k, v] of Object.entries({ x, y, "font-size": 10, fill: "#6b7385", "text-anchor": anchor })) t.setAttribute(k, v);
      t.textContent = value;
      return t;
    };
    const labels = [text(4, 11, "start", `${max}/s`), text(4, height - 4, "start", `-${WINDOW / 60} min`),
      text(width - 4, 11, "end", "now")];
    const axis = document.createElementNS(ns, "line");
    for (const [k, v] of Object.entries({ x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5, stroke: "#e3e6ec" })) axis.setAttribute(k, v);
    svg.replaceChildren(axis, ...shapes, ...labels);
    for (const s of state.finished.keys()) if (s < now - WINDOW) state.finished.delete(s);
  }
  async function loadThroughput() {
    const data = await call("GET", `throughput?seconds=${WINDOW}`);
    const last = data.seconds[data.seconds.length - 1];
    if (last) state.offset = last.t - Math.floor(Date.now() / 1000);
    for (const b of data.seconds) for (const [k, v] of Object.entries(b)) if (k !== "t") count(b.t, k, v);
  }

  // -- the event stream ---------------------------------------------------------------------
  let pending = [];
  function onEvent(e) {
    pending.push(e);
    if (pending.length === 1) setTimeout(applyEvents, 50); // not rAF: it sleeps in hidden tabs
  }
  function applyEvents() {
    const batch = pending;
    pending = [];
    for (const e of batch) {
      const task = { id: e.task_id, type: e.type, status: e.status, retry: e.retry, progress: e.progress };
      if (state.rows.has(e.task_id)) upsert(task, false);
      else if (e.kind === "status" && e.status === "pending" && !e.retry) upsert(Object.assign(task, { created_at: e.timestamp }), true);
      if (e.kind === "status" && TERMINAL.has(e.status)) count(Math.floor(Date.parse(e.timestamp) / 1000), e.status, 1);
      if (state.selected === e.task_id) onSelectedEvent(e);
      if (e.kind === "status") state.dirty.stats = state.dirty.limits = true;
    }
  }
  function parseMessage(chunk) {
    const msg = { id: null, event: "message", data: "" };
    for (const line of chunk.split("\n")) {
      if (line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "id") msg.id = value;
      else if (field === "event") msg.event = value;
      else if (field === "data") msg.data += (msg.data ? "\n" : "") + value;
    }
    return msg;
  }
  function setLive(on) {
    const pill = $("#live");
    pill.textContent = on ? "live" : "reconnecting";
    pill.className = `pill ${on ? "on" : "off"}`;
  }
  async function follow() {
    let last = null;
    for (;;) {
      try {
        const h = headers({ Accept: "text/event-stream" });
        if (last) h["Last-Event-ID"] = last;
        const res = await fetch(`${API}/events`, { headers: h, cache: "no-store" });
        if (!res.ok) {
          const err = new Error(`event stream: ${res.status}`);
          err.status = res.status;
          throw err;
        }
        setLive(true);
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const msg = parseMessage(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
            if (msg.id) last = msg.id;
            if (msg.data && (msg.event === "status" || msg.event === "progress")) onEvent(JSON.parse(msg.data));
          }
        }
      } catch (err) {
        if (err.status === 401 || err.status === 403) report(err);
      }
      setLive(false);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  // -- submit ----------------------------------------------------------------------------------
  // -- schedules --------------------------------------------------------------------------
  const shownTime = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
  async function loadSchedules() {
    const data = await call("GET", "schedules");
    $("#schedules tbody").replaceChildren(...data.schedules.map((s) => {
      const when = s.cron ? `cron ${s.cron}${s.tz && s.tz !== "UTC" ? ` (${s.tz})` : ""}` : `every ${s.every}s`;
      const act = (label, cls, fn) => el("button", { type: "button", class: cls, "data-name": s.name,
        onclick: () => fn(s).catch(report) }, label);
      const last = s.last_task_id
        ? el("a", { href: "#", onclick: (e) => { e.preventDefault(); select(s.last_task_id); } }, s.last_task_id.slice(-8))
        : "—";
      return el("tr", { "data-name": s.name, "data-enabled": String(s.enabled) },
        el("td", {}, s.name), el("td", {}, s.type), el("td", { class: "when" }, when),
        el("td", { class: "next" }, s.enabled ? shownTime(s.next_run) : "paused"),
        el("td", { class: "last" }, shownTime(s.last_run)), el("td", { class: "last-task" }, last),
        el("td", {},
          s.enabled ? act("pause", "pause", (x) => changeSchedule(x.name, { enabled: false }))
                    : act("resume", "resume", (x) => changeSchedule(x.name, { enabled: true })), " ",
          act("run now", "run", runSchedule), " ", act("edit", "edit", editSchedule), " ",
          act("delete", "delete", deleteSchedule)));
    }));
  }
  function scheduleFields() {
    const when = $("#schedule-when").value.trim();
    const every = /^every\s+([0-9.]+)\s*s?$/i.exec(when);
    const payloadText = $("#schedule-payload").value.trim();
    const fields = every ? { every: Number(every[1]), cron: null } : { cron: when, every: null };
    fields.tz = $("#schedule-tz").value.trim() || "UTC";
    fields.payload = payloadText ? JSON.parse(payloadText) : {};
    return fields;
  }
  async function saveSchedule(ev) {
    ev.preventDefault();
    try {
      const fields = scheduleFields();
      if (state.editing) await call("PATCH", `schedules/${encodeURIComponent(state.editing)}`, fields);
      else await call("POST", "schedules", { name: $("#schedule-name").value.trim(), type: $("#schedule-type").value, ...fields });
      endEdit();
      await loadSchedules();
    } catch (err) { report(err); }
  }
  async function editSchedule(s) {
    state.editing = s.name;
    $("#schedule-name").value = s.name; $("#schedule-name").disabled = true;
    $("#schedule-type").value = s.type; $("#schedule-type").disabled = true;
    $("#schedule-when").value = s.cron || `every ${s.every}`;
    $("#schedule-tz").value = s.tz || "UTC";
    $("#schedule-payload").value = JSON.stringify(s.payload || {});
    $("#schedule-save").textContent = "save";
    $("#schedule-cancel-edit").hidden = false;
  }
  function endEdit() {
    state.editing = null;
    for (const id of ["#schedule-name", "#schedule-when", "#schedule-payload"]) $(id).value = "";
    $("#schedule-name").disabled = false; $("#schedule-type").disabled = false;
    $("#schedule-save").textContent = "add";
    $("#schedule-cancel-edit").hidden = true;
  }
  async function changeSchedule(name, fields) {
    await call("PATCH", `schedules/${encodeURIComponent(name)}`, fields);
    await loadSchedules();
  }
  async function runSchedule(s) {
    const task = await call("POST", `schedules/${encodeURIComponent(s.name)}/run`);
    toast(`schedule ${s.name}: task ${task.id} submitted`);
    await loadSchedules();
  }
  async function deleteSchedule(s) {
    if (!confirm(`Delete schedule ${s.name}? Its tasks stay.`)) return;
    await call("DELETE", `schedules/${encodeURIComponent(s.name)}`);
    await loadSchedules();
  }

  async function loadTypes() {
    const data = await call("GET", "handlers");
    const select = $("#submit-type");
    const current = select.value;
    select.replaceChildren(...data.handlers.map((h) => el("option", { value: h.type }, h.type)));
    if (current) select.value = current;
    const scheduleType = $("#schedule-type");
    if (!state.editing) {
      const chosen = scheduleType.value;
      scheduleType.replaceChildren(...data.handlers.map((h) => el("option", { value: h.type }, h.type)));
      if (chosen) scheduleType.value = chosen;
    }
    const filter = $("#filter-type");
    for (const h of data.handlers) {
      if (![...filter.options].some((o) => o.value === h.type)) filter.append(el("option", { value: h.type }, h.type));
    }
  }
  async function submit(ev) {
    ev.preventDefault();
    const out = $("#submit-result");
    out.className = "note";
    let payload;
    try { payload = JSON.parse($("#submit-payload").value || "{}"); } catch (e) {
      out.className = "note error";
      out.textContent = `payload is not valid JSON: ${e.message}`;
      return;
    }
    const body = { type: $("#submit-type").value, payload, priority: Number($("#submit-priority").value || 0) };
    const delay = Number($("#submit-delay").value || 0);
    if (delay > 0) body.delay = delay;
    try {
      const task = await call("POST", "tasks", body);
      out.replaceChildren("submitted ", el("a", { href: "#", "data-id": task.id,
        onclick: (e) => { e.preventDefault(); select(task.id); } }, task.id));
      upsert(task, true);
      select(task.id);
    } catch (err) {
      out.className = "note error";
      out.textContent = err.message;
    }
  }

  // -- start -------------------------------------------------------------------------------------
  function init() {
    const statusFilter = $("#filter-status");
    STATUSES.forEach((s) => statusFilter.append(el("option", { value: s }, s)));
    statusFilter.addEventListener("change", () => setFilter(statusFilter.value, state.type));
    $("#filter-type").addEventListener("change", (e) => setFilter(state.status, e.target.value));
    $("#more").addEventListener("click", () => loadTasks(true).catch(report));
    $("#submit-form").addEventListener("submit", submit);
    $("#detail-close").addEventListener("click", () => { state.selected = null; $("#detail").hidden = true; });
    $("#detail-cancel").addEventListener("click", () => state.selected && cancelTask(state.selected));
    $("#token-button").addEventListener("click", () => {
      const value = prompt("Bearer token for this tab (empty: none)", token());
      if (value === null) return;
      if (value) sessionStorage.setItem("xqueue-token", value); else sessionStorage.removeItem("xqueue-token");
      location.reload();
    });
    $("#schedule-form").addEventListener("submit", saveSchedule);
    $("#schedule-cancel-edit").addEventListener("click", endEdit);
    Promise.all([loadStats(), loadTasks(false), loadLimits(), loadTypes(), loadThroughput(), loadSchedules()])
      .catch(report)
      .finally(() => follow());
    setInterval(() => {
      if (state.dirty.stats) { state.dirty.stats = false; loadStats().catch(() => {}); }
      if (state.dirty.limits) { state.dirty.limits = false; loadLimits().catch(() => {}); }
      drawChart();
    }, 1000);
    setInterval(() => { state.dirty.limits = true; loadTypes().catch(() => {}); }, 5000);
    setInterval(() => { loadSchedules().catch(() => {}); }, 2000);
    drawChart();
  }
  init();
})();
