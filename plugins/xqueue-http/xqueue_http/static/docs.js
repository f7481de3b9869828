// A small interactive reader of the OpenAPI document: every operation, its
// parameters and body, and a "send" button. Hand-written, no CDN.
"use strict";
(() => {
  const $ = (sel) => document.querySelector(sel);
  const token = () => sessionStorage.getItem("xqueue-token") || "";
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
  const EXAMPLES = {
    submitTask: { type: "email", payload: { to: "a@example.com" }, priority: 0, max_retry: 3 },
    submitTasks: { tasks: [{ type: "email", payload: { to: "a@example.com" } }, { type: "email", payload: { to: "b@example.com" } }] },
    setConcurrency: { task_type: "email", max_concurrency: 5 },
    setRate: { task_type: "email", rate: "50/s" },
  };
  function example(op, doc) {
    const base = EXAMPLES[op.operationId];
    const types = doc.components.schemas.Submit.properties.type.enum;
    if (!base || !types || !types.length) return JSON.stringify(base || {}, null, 2);
    const text = JSON.stringify(base, null, 2);
    return types.includes("email") ? text : text.replaceAll('"email"', JSON.stringify(types[0]));
  }
  function operation(path, method, op, doc) {
    const params = [...(doc.paths[path].parameters || []), ...(op.parameters || [])];
    const inputs = params.map((p) => {
      const input = el("input", { name: p.name, placeholder: p.schema.enum ? p.schema.enum.join(" | ") : p.schema.type });
      return { p, input, label: el("label", {}, `${p.name} (${p.in}${p.required ? ", required" : ""})`, input) };
    });
    const body = op.requestBody ? el("textarea", { rows: "6", spellcheck: "false" }, example(op, doc)) : null;
    const out = el("pre", { hidden: true });
    const stream = "text/event-stream" in (op.responses["200"]?.content || {});
    async function send() {
      let url = "api/v1" + path.replace(/^\/api\/v1/, "");
      const query = new URLSearchParams();
      const headers = {};
      for (const { p, input } of inputs) {
        if (!input.value) continue;
        if (p.in === "path") url = url.replace(`{${p.name}}`, encodeURIComponent(input.value));
        else if (p.in === "query") query.set(p.name, input.value);
        else if (p.in === "header") headers[p.name] = input.value;
      }
      if (token()) headers.Authorization = "Bearer " + token();
      if (body) headers["Content-Type"] = "application/json";
      if ([...query].length) url += "?" + query;
      out.hidden = false;
      out.textContent = `${method.toUpperCase()} ${url} …`;
      const controller = new AbortController();
      try {
        const res = await fetch(url, { method: method.toUpperCase(), headers, body: body ? body.value : undefined, signal: controller.signal });
        if (stream && res.ok) {
          out.textContent = `${res.status} (streaming 5 seconds)\n`;
          setTimeout(() => controller.abort(), 5000);
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            out.textContent += decoder.decode(value, { stream: true });
          }
          return;
        }
        const text = await res.text();
        let shown = text;
        try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
        out.textContent = `${res.status} ${res.statusText}\n${shown}`;
      } catch (err) {
        if (err.name !== "AbortError") out.textContent = `request failed: ${err.message}`;
      }
    }
    const codes = Object.entries(op.responses).map(([code, r]) => `${code} ${r.description}`).join(" · ");
    return el("details", { class: "op", id: op.operationId },
      el("summary", {}, el("span", { class: `method ${method}` }, method.toUpperCase()),
        el("span", { class: "path" }, path), el("span", { class: "summary" }, op.summary)),
      el("div", { class: "body" }, el("p", { class: "codes" }, codes),
        ...inputs.map((i) => i.label), body || "",
        el("p", {}, el("button", { type: "button", class: "primary", onclick: send }, "send")), out));
  }
  async function init() {
    $("#token-button").addEventListener("click", () => {
      const value = prompt("Bearer token for this tab (empty: none)", token());
      if (value === null) return;
      if (value) sessionStorage.setItem("xqueue-token", value); else sessionStorage.removeItem("xqueue-token");
    });
    const res = await fetch("api/v1/openapi.json", { headers: token() ? { Authorization: "Bearer " + token() } : {} });
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}; set a token (top right) and reload`);
    const doc = await res.json();
    $("#intro").textContent = `${doc.info.title} ${doc.info.version} — ${doc.info.description}`;
    const list = $("#operations");
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const method of ["get", "post", "patch", "delete"]) {
        if (item[method]) list.append(operation(path, method, item[method], doc));
      }
    }
  }
  init().catch((err) => { $("#intro").textContent = `could not load the API description: ${err.message}`; });
})();
