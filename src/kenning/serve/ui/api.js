// kenning's web UI, part 1: what every other part uses — the API key, requests, server-sent events, DOM helpers
// and the state shared between the parts. Native ES modules, no build step, nothing fetched from elsewhere.

export const KEY_STORE = "kenning.apiKey";

export const $ = (id) => document.getElementById(id);
export const state = { collection: "", answer: null, docOffset: 0 };

// -- HTTP ---------------------------------------------------------------------------------------------------------

export function headers(extra = {}) {
  const key = localStorage.getItem(KEY_STORE);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

export async function failure(response) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    detail = body.detail ?? detail;
  } catch {
    // not JSON: keep the status text
  }
  if (Array.isArray(detail)) {
    // FastAPI's validation errors: [{loc, msg}, …]
    detail = detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  const hint =
    response.status === 401
      ? " — set an API key (top right)"
      : response.status === 403
        ? " — this key's scope does not allow it"
        : "";
  return new Error(`${response.status} ${detail}${hint}`);
}

export async function api(path, { method = "GET", json, body, headers: extra } = {}) {
  const init = { method, headers: headers(extra) };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

// Server-sent events from any fetch response (EventSource can neither POST nor send an Authorization header).
async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r\n\r\n|\n\n|\r\r/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^(\r\n\r\n|\n\n|\r\r)/, "");
      let name = "message";
      const data = [];
      for (const line of block.split(/\r\n|\n|\r/)) {
        if (!line || line.startsWith(":")) continue; // comments are keep-alive pings
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") name = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) yield { event: name, data: JSON.parse(data.join("\n")) };
    }
    if (done) return;
  }
}

export async function stream(path, init) {
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return events(response);
}

// -- small DOM helpers --------------------------------------------------------------------------------------------

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function showError(error) {
  const box = $("error");
  if (!error) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.textContent = error.message || String(error);
  box.hidden = false;
}

export const baseName = (path) => String(path || "").split(/[\\/]/).pop().split("!/").pop();
export const number = (n) => Number(n).toLocaleString("en");
export const plural = (n, word) => `${number(n)} ${word}${Number(n) === 1 ? "" : "s"}`;

export const headingPath = (path) => (path && path.length ? path.join(" › ") : "");

export function notes(list, items) {
  list.replaceChildren(...(items || []).map((n) => el("li", {}, n)));
}

export function busy(on, message) {
  $("ask-button").disabled = on;
  $("search-button").disabled = on;
  $("query-status").textContent = message;
}
