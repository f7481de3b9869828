// xqueue dashboard: plain JS and SVG, no dependencies, no CDN.
// Live updates come from the server-sent event stream (read with fetch, so the
// bearer token travels in a header, never in a URL).
"use strict";
(() => {
  const API = "api/v1";
  const STATUSES = ["waiting", "pending", "processing", "success", "failed", "timeout", "canceled"];
  const TERMINAL = new Set(["success", "failed", "timeout", "canceled"]);
  const DEAD = new Set(["failed", "timeout"]); // ended after the last attempt: can be replayed
  const COLORS = { success: "#1f9d55", failed: "#d64545", timeout: "#d9822b", canceled: "#7d5bbe" };
  const WINDOW = 300; // seconds shown in the throughput chart
  const MAX_ROWS = 200;
  const $ = (sel) => document.querySelector(sel);
  const state = {
    status: "", type: "", cursor: null, selected: null, offset: 0,
    rows: new Map(), finished: new Map(), limits: {}, expanded: new Set(), dirty: { stats: true, limits: true, dead: true },
    deadType: "", deadOpen: new Set(), deadGroups: new Map(), workersOpen: new Set(),
    editing: null, wf: null, wfWanted: null, wfReads: 0, wfHeld: [],
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

  // -- the task page (#task=ID) ------------------------------------------------------
  // Its fields, payload, result, error and history; kept live by the event stream (an
  // event of the task re-reads it), and linkable: the URL names it, on load and on change.
  const FIELDS = ["priority", "retry", "max_retry", "progress", "worker_id", "key",
    "created_at", "started_at", "completed_at", "updated_at", "eta", "queue_timeout", "process_timeout",
    "redeliveries", "idempotency_key", "schedule", "scheduled_for", "on_parent_failure", "replay_of", "replayed_by"];
  const LINKED = new Set(["replay_of", "replayed_by"]);
  // A link to a task's page (#task=ID).
  const taskLink = (id, text) => el("a", { href: `#task=${encodeURIComponent(id)}`, class: "task-link", "data-id": id,
    onclick: (e) => { e.preventDefault(); select(id); } }, text ?? id);
  const json = (value) => JSON.stringify(value, null, 2);
  function showTask(task) {
    $("#detail-id").textContent = task.id;
    $("#detail-status").replaceChildren(badge(task.status));
    $("#detail-type").textContent = task.type;
    $("#detail-link").setAttribute("href", `#task=${encodeURIComponent(task.id)}`);
    $("#detail-note").textContent = "";
    $("#detail").dataset.status = task.status;
    const dl = $("#detail-fields");
    dl.replaceChildren();
    for (const f of FIELDS) {
      if (task[f] === null || task[f] === undefined) continue;
      const value = f.endsWith("_at") || f === "eta" || f === "scheduled_for" ? stamp(task[f])
        : f === "progress" ? `${Math.round(task[f] * 100)}%` : task[f];
      dl.append(el("dt", {}, f), el("dd", { "data-field": f }, LINKED.has(f) ? taskLink(task[f]) : value));
    }
    if (task.depends_on) dl.append(el("dt", {}, "parents"), el("dd", { "data-field": "parents" }, task.depends_on.length));
    if (task.workflow) {
      dl.append(el("dt", {}, "workflow"), el("dd", {}, el("a", { href: `#workflow=${encodeURIComponent(task.workflow)}`,
        class: "workflow-link", "data-workflow": task.workflow,
        onclick: (e) => { e.preventDefault(); openWorkflow(task.workflow); } }, task.workflow)));
    }
    $("#detail-payload").textContent = json(task.payload ?? {});
    const hasResult = task.result !== null && task.result !== undefined;
    $("#detail-result").textContent = hasResult ? json(task.result) : TERMINAL.has(task.status) ? "none" : "not yet";
    $("#detail-result").classList.toggle("empty", !hasResult);
    $("#detail-error").textContent = task.error || "";
    $("#detail-error-box").hidden = !task.error;
    $("#detail-cancel").hidden = TERMINAL.has(task.status);
    showReplay(task);
    document.title = `${task.type} ${task.id} · xqueue`;
    $("#detail").hidden = false;
  }
  // A dead task: a replay button, or — replayed already — a link to its replay.
  function showReplay(task) {
    const box = $("#detail-replay");
    if (!DEAD.has(task.status)) { box.replaceChildren(); return; }
    if (task.replayed_by) { box.replaceChildren("replayed as ", taskLink(task.replayed_by)); return; }
    box.replaceChildren(el("button", { type: "button", id: "detail-replay-button", class: "primary",
      title: "run it again as a new task: same type, payload and options",
      onclick: (ev) => replayTask(task.id, ev.currentTarget) }, "replay"));
  }
  async function replayTask(id, button) {
    button.disabled = true;
    try {
      const answer = await call("POST", `tasks/${encodeURIComponent(id)}/replay`);
      state.dirty.dead = true;
      await loadDetail(id);
      if (state.selected !== id) return;
      $("#detail-note").replaceChildren(answer.created ? "replayed as " : "replayed before as ",
        taskLink(answer.task.id));
    } catch (err) { button.disabled = false; report(err); }
  }
  function historyItem(e) {
    const what = e.kind === "progress" ? `progress ${Math.round((e.progress || 0) * 100)}%` : e.status;
    const extra = [e.retry ? `retry ${e.retry}` : "", e.worker_id ? `on ${e.worker_id}` : "", e.error || ""]
      .filter(Boolean).join(" · ");
    return el("li", { class: e.derived ? "derived" : "", title: e.derived ? "from the task record" : "",
      "data-kind": e.kind, "data-status": e.kind === "progress" ? null : e.status },
      el("i", { class: `dot ${e.kind === "progress" ? "processing" : e.status}` }),
      `${stamp(e.timestamp)} ${what}${extra ? " — " + extra : ""}`);
  }
  async function loadDetail(id) {
    let task, history;
    try {
      [task, history] = await Promise.all([
        call("GET", `tasks/${encodeURIComponent(id)}`),
        call("GET", `tasks/${encodeURIComponent(id)}/history`),
      ]);
    } catch (err) {
      if (state.selected !== id || err.status !== 404) throw err;
      $("#detail-id").textContent = id;
      for (const part of ["#detail-status", "#detail-fields", "#detail-history"]) $(part).replaceChildren();
      for (const part of ["#detail-type", "#detail-payload", "#detail-result"]) $(part).textContent = "";
      $("#detail-error-box").hidden = $("#detail-cancel").hidden = true;
      $("#detail-replay").replaceChildren();
      $("#detail-note").textContent = `no task ${id}: ${err.message}`;
      $("#detail").hidden = false;
      return;
    }
    if (state.selected !== id) return;
    showTask(task);
    $("#detail-history").replaceChildren(...history.events.map(historyItem));
  }
  // how: "click" (a row, a node, a link: a new history entry, scrolled to) or "route" (the URL).
  function select(id, how = "click") {
    const fresh = state.selected !== id;
    state.selected = id;
    setRoute(how === "click" && fresh);
    for (const { row } of state.rows.values()) row.classList.toggle("selected", row.dataset.id === id);
    for (const node of document.querySelectorAll("#workflow-graph .wf-node")) node.classList.toggle("selected", node.dataset.id === id);
    loadDetail(id).then(() => {
      const top = $("#detail").getBoundingClientRect().top;
      if (fresh && how !== "quiet" && (top < 0 || top > window.innerHeight - 40)) $("#detail").scrollIntoView({ block: "start" });
    }).catch(report);
  }
  function closeTask() {
    state.selected = null;
    $("#detail").hidden = true;
    document.title = "xqueue dashboard";
    for (const { row } of state.rows.values()) row.classList.remove("selected");
  }
  let refreshTimer = null;
  function onSelectedEvent(e) {
    // The server's history is the reference: reload it (once per burst of events).
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => loadDetail(e.task_id).catch(() => {}), 150);
  }

  // -- workflow view ---------------------------------------------------------------------
  // Layers left to right (a task's layer is 1 + the highest of its parents'), each
  // node coloured by its status; events update nodes in place. Past GRAPH_BOUND
  // members a layer is drawn as one box per task type, with counts by status.
  const GRAPH_BOUND = 200;
  const SVG_NS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
    return node;
  }
  const shortId = (id) => id.slice(-8);
  const clip = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);
  // Kahn's order over the members: layers without recursion (a 20,000-long chain is fine).
  function layersOf(tasks, byId) {
    const kids = new Map(), open = new Map(), layer = new Map(), queue = [];
    for (const t of tasks) {
      const parents = (t.depends_on || []).filter((p) => byId.has(p));
      open.set(t.id, parents.length);
      for (const p of parents) { if (!kids.has(p)) kids.set(p, []); kids.get(p).push(t.id); }
      if (!parents.length) { layer.set(t.id, 0); queue.push(t.id); }
    }
    for (let i = 0; i < queue.length; i++) {
      const here = layer.get(queue[i]);
      for (const k of kids.get(queue[i]) || []) {
        layer.set(k, Math.max(layer.get(k) ?? 0, here + 1));
        open.set(k, open.get(k) - 1);
        if (open.get(k) === 0) queue.push(k);
      }
    }
    for (const t of tasks) if (!layer.has(t.id)) layer.set(t.id, 0); // never for a valid graph
    return layer;
  }
  function aggregate(counts, total) {
    if (STATUSES.some((s) => !TERMINAL.has(s) && counts[s])) return "running";
    if ((counts.success || 0) === total) return "success";
    return counts.failed || counts.timeout ? "failed" : "canceled";
  }
  const countsText = (counts) => STATUSES.filter((s) => counts[s]).map((s) => `${s} ${counts[s]}`).join(" · ");

  // The boxes to draw: one per member, or one per (layer, type) — or per type when even
  // that is past the bound — and the edges between them, parent → child.
  function boxesOf(tasks, byId, layer) {
    const collapsed = tasks.length > GRAPH_BOUND;
    let keyOf = (t) => t.id;
    if (collapsed) {
      keyOf = (t) => `${layer.get(t.id)}:${t.type}`;
      if (new Set(tasks.map(keyOf)).size > GRAPH_BOUND) keyOf = (t) => t.type;
    }
    const boxes = new Map();
    for (const t of tasks) {
      const key = keyOf(t);
      let box = boxes.get(key);
      if (!box) {
        box = { key, type: t.type, id: collapsed ? null : t.id, layer: layer.get(t.id), size: 0, counts: {}, parents: new Set() };
        boxes.set(key, box);
      }
      box.layer = Math.min(box.layer, layer.get(t.id));
      box.size += 1;
      box.counts[t.status] = (box.counts[t.status] || 0) + 1;
      for (const p of t.depends_on || []) if (byId.has(p) && keyOf(byId.get(p)) !== key) box.parents.add(keyOf(byId.get(p)));
    }
    return { boxes, keyOf, collapsed, byType: collapsed && keyOf(tasks[0]) === tasks[0].type };
  }
  function drawWorkflow(data) {
    const tasks = data.tasks;
    const byId = new Map(tasks.map((t) => [t.id, t]));
    const layer = layersOf(tasks, byId);
    const { boxes, keyOf, collapsed, byType } = boxesOf(tasks, byId, layer);
    // Columns by layer; within one, order by the mean row of the parents (fewer crossings).
    const columns = [];
    for (const box of boxes.values()) (columns[box.layer] = columns[box.layer] || []).push(box);
    for (const column of columns) {
      if (!column) continue;
      for (const box of column) {
        const rows = [...box.parents].map((p) => boxes.get(p).row).filter((r) => r !== undefined);
        box.weight = rows.length ? rows.reduce((a, r) => a + r, 0) / rows.length : -1;
      }
      column.sort((a, b) => a.weight - b.weight || a.type.localeCompare(b.type));
      column.forEach((box, i) => { box.row = i; });
    }
    const w = collapsed ? 230 : 150, h = collapsed ? 62 : 38, gapX = 60, gapY = 14, pad = 10;
    const tallest = Math.max(...columns.map((c) => (c ? c.length : 0)));
    for (const column of columns) {
      if (!column) continue;
      const shift = ((tallest - column.length) * (h + gapY)) / 2;
      for (const box of column) {
        box.x = pad + box.layer * (w + gapX);
        box.y = pad + shift + box.row * (h + gapY);
      }
    }
    const width = pad * 2 + columns.length * (w + gapX) - gapX, height = pad * 2 + tallest * (h + gapY) - gapY;
    const graph = $("#workflow-graph");
    for (const [k, v] of Object.entries({ width, height, viewBox: `0 0 ${width} ${height}` })) graph.setAttribute(k, v);
    const edges = [];
    for (const box of boxes.values()) {
      for (const p of box.parents) {
        const from = boxes.get(p);
        const x1 = from.x + w, y1 = from.y + h / 2, x2 = box.x - 2, y2 = box.y + h / 2, mid = (x1 + x2) / 2;
        edges.push(svg("path", { class: "wf-edge", "data-from": from.id ?? from.key, "data-to": box.id ?? box.key,
          d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, "marker-end": "url(#wf-arrow)" }));
      }
    }
    const arrow = svg("defs", {}, svg("marker", { id: "wf-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto" }, svg("path", { d: "M0,0 L10,5 L0,10 z" })));
    const shapes = [...boxes.values()].map((box) => (collapsed ? groupShape(box, w, h) : nodeShape(box, w, h)));
    graph.replaceChildren(arrow, ...edges, ...shapes);
    const members = new Map();
    for (const t of tasks) {
      const box = boxes.get(keyOf(t));
      members.set(t.id, { status: t.status, at: Date.parse(t.updated_at) || 0, box });
    }
    const counts = {};
    for (const t of tasks) counts[t.status] = (counts[t.status] || 0) + 1;
    state.wf = { id: data.id, members, counts, total: tasks.length, collapsed, dirty: new Set() };
    $("#workflow-note").textContent = !collapsed ? `${tasks.length} tasks, in ${columns.length} layer(s)`
      : `${tasks.length} tasks: more than ${GRAPH_BOUND}, so the graph is collapsed — one box per ` +
        `${byType ? "task type (even one per layer and type is too many)" : "layer and task type"}, with its counts by status`;
    paintSummary();
  }
  function nodeShape(box, w, h) {
    const status = Object.keys(box.counts)[0];
    box.shape = svg("g", { class: `wf-node ${status}${state.selected === box.id ? " selected" : ""}`, "data-id": box.id,
      "data-type": box.type, "data-status": status, "data-layer": box.layer, transform: `translate(${box.x},${box.y})`,
      onclick: () => select(box.id) },
      svg("title", {}, `${box.type} ${box.id}: ${status}`),
      svg("rect", { width: w, height: h, rx: 6 }),
      svg("text", { x: 10, y: 16 }, clip(box.type, 20)),
      svg("text", { x: 10, y: 31, class: "wf-id" }, shortId(box.id)));
    return box.shape;
  }
  function groupShape(box, w, h) {
    box.bar = svg("g", { transform: `translate(8,${h - 12})` });
    box.label = svg("text", { x: 8, y: 32, class: "wf-counts" });
    box.title = svg("title");
    box.shape = svg("g", { class: "wf-group", "data-type": box.type, "data-layer": box.layer, "data-size": box.size,
      transform: `translate(${box.x},${box.y})` },
      box.title, svg("rect", { class: "wf-box", width: w, height: h, rx: 6 }),
      svg("text", { x: 8, y: 16 }, `${clip(box.type, 20)} × ${box.size}`), box.label, box.bar);
    paintGroup(box, w - 16);
    return box.shape;
  }
  function paintGroup(box, width) {
    const span = width ?? Number(box.bar.dataset.width);
    box.bar.dataset.width = span;
    let x = 0;
    const segments = [];
    for (const s of STATUSES) {
      if (!box.counts[s]) continue;
      const part = (box.counts[s] / box.size) * span;
      segments.push(svg("rect", { class: `wf-seg ${s}`, x: x.toFixed(2), width: part.toFixed(2), height: 6 }));
      x += part;
    }
    box.bar.replaceChildren(...segments);
    // two lines when one is too long for the box: "waiting 289 · pending 1 ·" / "processing 1 · success 10"
    const parts = STATUSES.filter((s) => box.counts[s]).map((s) => `${s} ${box.counts[s]}`);
    const lines = parts.join(" · ").length > 34 ? [parts.slice(0, Math.ceil(parts.length / 2)), parts.slice(Math.ceil(parts.length / 2))] : [parts];
    box.label.replaceChildren(...lines.map((line, i) => svg("tspan", { x: 8, dy: i ? 13 : 0 },
      line.join(" · ") + (i < lines.length - 1 ? " ·" : ""))));
    box.title.textContent = `${box.type}, layer ${box.layer}: ${countsText(box.counts)}`;
    box.shape.setAttribute("data-status", aggregate(box.counts, box.size));
  }
  function paintSummary() {
    const wf = state.wf;
    const status = aggregate(wf.counts, wf.total);
    $("#workflow-id").textContent = wf.id;
    const badgeEl = $("#workflow-status");
    badgeEl.className = `badge ${status}`;
    badgeEl.textContent = status;
    $("#workflow-counts").textContent = countsText(wf.counts);
    $("#workflow-cancel").hidden = status !== "running";
    $("#workflow").hidden = false;
  }
  // One member's new status (from an event, or a fresh read): older news is dropped.
  function setMember(id, status, at) {
    const wf = state.wf;
    const m = wf && wf.members.get(id);
    if (!m || at < m.at) return;
    m.at = at || m.at;
    if (m.status === status || (TERMINAL.has(m.status) && !TERMINAL.has(status))) return;
    wf.counts[m.status] -= 1;
    wf.counts[status] = (wf.counts[status] || 0) + 1;
    const box = m.box;
    box.counts[m.status] -= 1;
    box.counts[status] = (box.counts[status] || 0) + 1;
    m.status = status;
    if (wf.collapsed) wf.dirty.add(box);
    else {
      box.shape.classList.remove(...STATUSES);
      box.shape.classList.add(status);
      box.shape.setAttribute("data-status", status);
      box.shape.querySelector("title").textContent = `${box.type} ${box.id}: ${status}`;
    }
    wf.changed = true;
  }
  function paintWorkflow() {
    const wf = state.wf;
    if (!wf || !wf.changed) return;
    for (const box of wf.dirty) paintGroup(box);
    wf.dirty.clear();
    wf.changed = false;
    paintSummary();
  }
  // Events that arrive while a read is on its way are kept, and replayed once it is
  // drawn: the store may have read a member before its latest change.
  async function loadWorkflow(id) {
    state.wfWanted = id;
    state.wfReads += 1;
    try {
      const data = await call("GET", `workflows/${encodeURIComponent(id)}`);
      if (state.wfWanted === id) showWorkflowData(data);
    } finally {
      state.wfReads -= 1;
      if (!state.wfReads) state.wfHeld = [];
    }
  }
  function showWorkflowData(data) {
    if (state.wf && state.wf.id === data.id) {
      for (const t of data.tasks) setMember(t.id, t.status, Date.parse(t.updated_at) || 0);
    } else drawWorkflow(data);
    for (const e of state.wfHeld) setMember(e.task_id, e.status, Date.parse(e.timestamp) || 0);
    paintWorkflow();
  }
  function openWorkflow(id) {
    if (state.wfWanted !== id) {
      state.wfWanted = id;
      setRoute(true);
    }
    loadWorkflow(id).then(() => $("#workflow").scrollIntoView()).catch(report);
  }
  function closeWorkflow() {
    state.wf = state.wfWanted = null;
    $("#workflow").hidden = true;
    $("#workflow-graph").replaceChildren();
    setRoute(false);
  }
  async function cancelWorkflow() {
    const wf = state.wf;
    if (!wf || !confirm(`Cancel every task of workflow ${wf.id} that has not ended?`)) return;
    try {
      showWorkflowData(await call("DELETE", `workflows/${encodeURIComponent(wf.id)}`));
    } catch (err) { report(err); }
  }

  // -- the URL: #workflow=ID&task=ID, so a view can be linked to ------------------------------
  function setRoute(push) {
    const q = new URLSearchParams();
    if (state.wfWanted) q.set("workflow", state.wfWanted);
    if (state.selected) q.set("task", state.selected);
    if (q.toString() === location.hash.slice(1)) return;
    const url = q.toString() ? `#${q}` : location.pathname + location.search;
    if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
  }
  function route() {
    const q = new URLSearchParams(location.hash.slice(1));
    const workflow = q.get("workflow"), task = q.get("task");
    if (workflow && workflow !== state.wfWanted) loadWorkflow(workflow).catch(report);
    else if (!workflow && state.wfWanted) closeWorkflow();
    if (task && task !== state.selected) select(task, "route");
    else if (!task && state.selected) closeTask();
  }

  // -- task types: pending, running / limit, paused, rates ------------------------------
  // One row per type. The API has no count of a type's tasks by status, so "pending" is
  // the length of a listing (GET /tasks?status=pending&type=T), shown as "100+" past 100.
  const PENDING_CAP = 100;
  async function pendingOf(type) {
    const q = new URLSearchParams({ status: "pending", type, limit: String(PENDING_CAP + 1) });
    const page = await call("GET", `tasks?${q}`);
    return page.tasks.length > PENDING_CAP ? `${PENDING_CAP}+` : String(page.tasks.length);
  }
  async function loadLimits() {
    const [data, rates] = await Promise.all([call("GET", "concurrency"), call("GET", "rates")]);
    const body = $("#concurrency tbody");
    const types = Object.keys(data).sort();
    const pending = Promise.all(types.map((t) => pendingOf(t).catch(() => "?")));
    if (types.join() !== Object.keys(state.limits).sort().join()) {
      body.replaceChildren(...types.flatMap((t) => {
        const input = el("input", { type: "number", min: "0", step: "1", placeholder: "no limit", "data-type": t,
          "aria-label": `limit of ${t}` });
        const set = el("button", { type: "button", class: "set-limit", "data-type": t,
          onclick: () => setLimit(t, input.value === "" ? null : Number(input.value)) }, "set");
        const clear = el("button", { type: "button", "data-type": t, onclick: () => setLimit(t, null) }, "no limit");
        const keys = el("button", { type: "button", class: "show-keys", "data-type": t,
          "aria-expanded": "false", onclick: () => toggleKeys(t) }, "keys");
        const pause = el("button", { type: "button", class: "pause-type", "data-type": t,
          onclick: () => togglePause(t) }, "pause");
        const rateInput = el("input", { type: "text", class: "rate", size: "7", placeholder: "50/s",
          "aria-label": `rate of ${t}`, "data-type": t });
        const setRateButton = el("button", { type: "button", class: "set-rate", "data-type": t,
          onclick: () => setRate(t, rateInput.value.trim() === "" ? null : rateInput.value.trim()) }, "set");
        const clearRate = el("button", { type: "button", class: "clear-rate", "data-type": t,
          onclick: () => setRate(t, null) }, "no rate");
        return [
          el("tr", { "data-type": t }, el("td", { class: "type", "data-label": "type" }, el("strong", {}, t), " ", keys),
            el("td", { class: "pending", "data-label": "pending" }),
            el("td", { class: "usage", "data-label": "running / limit" }), el("td", { class: "meter", "data-label": "" }),
            el("td", { class: "state", "data-label": "state" }, el("span", { class: "flag" }), " ", pause),
            el("td", { "data-label": "set limit" }, input, " ", set, " ", clear),
            el("td", { "data-label": "rate" }, el("span", { class: "rate-now" }), " ", rateInput, " ", setRateButton, " ", clearRate)),
          el("tr", { class: "keys-row", "data-keys-of": t, hidden: "" }, el("td", { colspan: "7", class: "keys" })),
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
      showPaused(row, data[t].paused);
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
    const counts = await pending;
    types.forEach((t, i) => {
      const cell = body.querySelector(`tr[data-type="${CSS.escape(t)}"] td.pending`);
      if (cell) cell.textContent = counts[i];
    });
  }
  function showPaused(row, paused) {
    row.dataset.paused = String(Boolean(paused));
    row.classList.toggle("paused", Boolean(paused));
    const flag = row.querySelector(".state .flag");
    flag.textContent = paused ? "paused" : "active";
    flag.className = `flag ${paused ? "paused" : "active"}`;
    const button = row.querySelector("button.pause-type");
    button.textContent = paused ? "resume" : "pause";
    button.title = paused ? `let tasks of ${row.dataset.type} start again` : `start no new task of ${row.dataset.type} (running ones finish; the limit is kept)`;
  }
  async function togglePause(type) {
    const row = $(`#concurrency tr[data-type="${CSS.escape(type)}"]`);
    const button = row.querySelector("button.pause-type");
    const paused = row.dataset.paused === "true";
    button.disabled = true;
    try {
      const answer = await call("POST", `concurrency/${encodeURIComponent(type)}/${paused ? "resume" : "pause"}`);
      showPaused(row, answer.paused);
      if (state.limits[type]) state.limits[type].paused = answer.paused;
      await loadLimits();
    } catch (err) { report(err); } finally { button.disabled = false; }
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

  // -- dead tasks: failed and timed out, grouped by error --------------------------------
  // The newest DEAD_CAP of each dead status (of the chosen type), grouped by the first
  // line of their error; each group replays from its row, the whole view from the title.
  // Reloaded (once a second at most) when a task dies, and after a replay.
  const DEAD_CAP = 500;
  const firstLine = (text) => (text || "").split("\n")[0].trim();
  const ended = (t) => t.completed_at || t.updated_at;
  async function loadDead() {
    const type = state.deadType;
    const pages = await Promise.all(["failed", "timeout"].map((status) => {
      const q = new URLSearchParams({ status, limit: String(DEAD_CAP) });
      if (type) q.set("type", type);
      return call("GET", `tasks?${q}`);
    }));
    if (type !== state.deadType) return; // the filter changed meanwhile
    const groups = new Map();
    for (const t of pages.flatMap((p) => p.tasks)) {
      const key = firstLine(t.error) || "(no error text)";
      let g = groups.get(key);
      if (!g) { g = { key, tasks: [], types: new Set(), statuses: new Set(), newest: "", open: 0 }; groups.set(key, g); }
      g.tasks.push(t);
      g.types.add(t.type);
      g.statuses.add(t.status);
      if ((ended(t) || "") > g.newest) g.newest = ended(t);
      if (!t.replayed_by) g.open += 1;
    }
    const sorted = [...groups.values()].sort((a, b) => (b.newest || "").localeCompare(a.newest || ""));
    for (const g of sorted) g.tasks.sort((a, b) => (ended(b) || "").localeCompare(ended(a) || ""));
    state.deadGroups = groups;
    const total = sorted.reduce((n, g) => n + g.tasks.length, 0);
    const capped = pages.some((p) => p.next_cursor);
    $("#dead-summary").textContent = total
      ? `${total} dead task(s) in ${sorted.length} group(s)${capped ? `, the newest ${DEAD_CAP} of each status` : ""}`
      : "no dead task";
    $("#dead-replay-all").disabled = !total;
    $("#dead tbody").replaceChildren(...sorted.flatMap((g) => {
      const open = state.deadOpen.has(g.key);
      const toggle = el("button", { type: "button", class: "show-tasks", "aria-expanded": String(open),
        title: "its tasks", onclick: () => toggleDead(g.key) }, open ? "▾" : "▸");
      const replay = el("button", { type: "button", class: "replay-group", disabled: !g.open,
        title: g.open ? `replay the dead tasks whose error contains this line` : "all replayed",
        onclick: () => replayShown(g) }, "replay these");
      const row = el("tr", { class: "dead-group", "data-key": g.key, "data-count": g.tasks.length },
        el("td", { class: "error", "data-label": "error" }, toggle, " ", el("span", { class: "message" }, g.key)),
        el("td", { class: "count", "data-label": "tasks" }, String(g.tasks.length),
          g.open < g.tasks.length ? el("small", { class: "muted" }, ` (${g.tasks.length - g.open} replayed)`) : ""),
        el("td", { class: "types", "data-label": "types" }, [...g.types].sort().join(", ")),
        el("td", { class: "newest", "data-label": "newest", title: g.newest || "" }, shownTime(g.newest)),
        el("td", { "data-label": "" }, replay));
      const list = el("ul", { class: "dead-list" }, ...g.tasks.map((t) => el("li", { "data-id": t.id },
        taskLink(t.id), " ", el("span", { class: "muted" }, t.type), " ", badge(t.status), " ",
        el("span", { class: "muted" }, shownTime(ended(t))),
        t.replayed_by ? el("span", { class: "replayed" }, " · replayed as ", taskLink(t.replayed_by)) : "")));
      const tasksRow = el("tr", { class: "dead-tasks", "data-tasks-of": g.key, hidden: !open },
        el("td", { colspan: "5" }, list));
      return [row, tasksRow];
    }));
  }
  function toggleDead(key) {
    if (state.deadOpen.has(key)) state.deadOpen.delete(key); else state.deadOpen.add(key);
    for (const row of document.querySelectorAll("#dead tr.dead-tasks")) {
      if (row.dataset.tasksOf !== key) continue;
      row.hidden = !state.deadOpen.has(key);
      const button = row.previousElementSibling.querySelector("button.show-tasks");
      button.setAttribute("aria-expanded", String(!row.hidden));
      button.textContent = row.hidden ? "▸" : "▾";
    }
  }
  // One group or the whole view: exactly the tasks listed (task_ids). A dry run counts
  // those still dead and not replayed, the confirmation names that count, then they are
  // replayed (any replayed meanwhile by someone else are skipped by the store).
  async function replayShown(group) {
    const note = $("#dead-note");
    // exactly the tasks shown (the group's, or every group's) that were not replayed
    const shown = group ? [group] : [...state.deadGroups.values()];
    const ids = shown.flatMap((g) => g.tasks.filter((t) => !t.replayed_by).map((t) => t.id));
    const filter = { task_ids: ids };
    if (!ids.length) {
      note.dataset.replayed = "0";
      note.textContent = "replayed 0: every task shown was replayed already";
      return;
    }
    try {
      const dry = await call("POST", "tasks/replay", { ...filter, dry_run: true });
      const what = `${state.deadType ? `of type ${state.deadType}` : "of any type"}` +
        `${group ? ` whose error is “${clip(group.key, 120)}”` : " shown"}`;
      if (!dry.matched) {
        note.dataset.replayed = "0";
        note.textContent = `replayed 0: no dead task ${what} is left to replay`;
        return;
      }
      if (!confirm(`Replay ${dry.matched} dead task(s) ${what}? Each runs again as a new task.`)) return;
      const done = await call("POST", "tasks/replay", filter);
      note.dataset.replayed = String(done.replayed);
      note.textContent = `replayed ${done.replayed}` +
        (done.replayed < done.matched ? ` (${done.matched - done.replayed} replayed meanwhile by someone else)` : "");
      state.dirty.dead = true;
      if (state.selected && done.tasks[state.selected]) loadDetail(state.selected).catch(() => {});
    } catch (err) { report(err); }
  }

  // -- workers: every live worker, as it last reported itself (every lease / 3 s) --------
  function ago(iso) {
    if (!iso) return "—";
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }
  async function loadWorkers() {
    const data = await call("GET", "workers");
    const workers = data.workers.slice().sort((a, b) => a.host.localeCompare(b.host) || a.pid - b.pid);
    $("#workers-summary").textContent = `${workers.length} live, ` +
      `${workers.reduce((n, w) => n + w.running.length, 0)} task(s) running`;
    $("#workers tbody").replaceChildren(...workers.flatMap((w) => {
      const open = state.workersOpen.has(w.id);
      const toggle = el("button", { type: "button", class: "show-running", "data-worker": w.id,
        "aria-expanded": String(open), disabled: !w.running.length, title: "the ids of its running tasks",
        onclick: () => { if (state.workersOpen.has(w.id)) state.workersOpen.delete(w.id); else state.workersOpen.add(w.id);
          loadWorkers().catch(report); } }, String(w.running.length));
      return [
        el("tr", { "data-id": w.id, "data-pid": w.pid, "data-host": w.host },
          el("td", { class: "host", "data-label": "host", title: w.id }, w.host),
          el("td", { class: "pid", "data-label": "pid" }, String(w.pid)),
          el("td", { class: "types", "data-label": "types" }, w.types.join(", ")),
          el("td", { class: "concurrency", "data-label": "concurrency" }, String(w.concurrency)),
          el("td", { class: "running", "data-label": "running" }, toggle),
          el("td", { class: "started", "data-label": "started", title: w.started_at }, ago(w.started_at)),
          el("td", { class: "last-seen", "data-label": "last seen", title: w.last_seen }, ago(w.last_seen)),
          el("td", { class: "version", "data-label": "version" }, w.version || "—")),
        el("tr", { class: "running-row", "data-running-of": w.id, hidden: !open || !w.running.length },
          el("td", { colspan: "8" }, ...w.running.flatMap((id, i) => [i ? ", " : "", taskLink(id)]))),
      ];
    }));
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
      if (e.kind === "status" && DEAD.has(e.status)) state.dirty.dead = true;
      if (e.kind === "status" && state.wfReads) state.wfHeld.push(e);
      if (state.wf && e.kind === "status") setMember(e.task_id, e.status, Date.parse(e.timestamp) || 0);
    }
    paintWorkflow();
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
        // what changed while the stream was down (or before it first came up)
        if (state.wfWanted) loadWorkflow(state.wfWanted).catch(() => {});
        if (state.selected) loadDetail(state.selected).catch(() => {});
        state.dirty.stats = state.dirty.limits = true;
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
    for (const filter of [$("#filter-type"), $("#dead-type")]) {
      for (const h of data.handlers) {
        if (![...filter.options].some((o) => o.value === h.type)) filter.append(el("option", { value: h.type }, h.type));
      }
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
      select(task.id, "quiet");
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
    $("#detail-close").addEventListener("click", () => { closeTask(); setRoute(false); });
    $("#detail-link").addEventListener("click", (e) => { e.preventDefault(); setRoute(true); });
    $("#workflow-close").addEventListener("click", closeWorkflow);
    $("#workflow-cancel").addEventListener("click", cancelWorkflow);
    window.addEventListener("hashchange", route);
    window.addEventListener("popstate", route);
    $("#detail-cancel").addEventListener("click", () => state.selected && cancelTask(state.selected));
    $("#token-button").addEventListener("click", () => {
      const value = prompt("Bearer token for this tab (empty: none)", token());
      if (value === null) return;
      if (value) sessionStorage.setItem("xqueue-token", value); else sessionStorage.removeItem("xqueue-token");
      location.reload();
    });
    $("#schedule-form").addEventListener("submit", saveSchedule);
    $("#schedule-cancel-edit").addEventListener("click", endEdit);
    $("#dead-type").addEventListener("change", (e) => { state.deadType = e.target.value; loadDead().catch(report); });
    $("#dead-replay-all").addEventListener("click", () => replayShown(null));
    Promise.all([loadStats(), loadTasks(false), loadLimits(), loadTypes(), loadThroughput(), loadSchedules(),
      loadDead(), loadWorkers()])
      .catch(report)
      .finally(() => follow());
    setInterval(() => {
      if (state.dirty.stats) { state.dirty.stats = false; loadStats().catch(() => {}); }
      if (state.dirty.limits) { state.dirty.limits = false; loadLimits().catch(() => {}); }
      if (state.dirty.dead) { state.dirty.dead = false; loadDead().catch(() => {}); }
      drawChart();
    }, 1000);
    setInterval(() => { state.dirty.limits = true; loadTypes().catch(() => {}); }, 5000);
    setInterval(() => { loadSchedules().catch(() => {}); }, 2000);
    setInterval(() => { loadWorkers().catch(() => {}); }, 3000);
    drawChart();
    route();
  }
  init();
})();
