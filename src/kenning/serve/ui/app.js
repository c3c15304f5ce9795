// kenning's web UI: plain JavaScript over the HTTP API of the same server (no build step, nothing fetched from
// elsewhere). Ask streams the answer over server-sent events on a POST; each [n] opens the cited document in the
// source panel with the cited chunk marked and the verifier's evidence highlighted in the verdict's colour.
"use strict";

const KEY_STORE = "kenning.apiKey";
const COLLECTION_STORE = "kenning.collection";
const DOC_PAGE = 50;
const LABELS = {
  SUPPORT: { css: "support", text: "supported" },
  PARTIAL: { css: "partial", text: "partly supported" },
  NOT_SUPPORTED: { css: "not-supported", text: "not supported" },
};
// what generate/citations.py accepts: [1], [1, 2], [1-3]
const CITATION = /\[(\d+(?:\s*[,;–-]\s*\d+)*)\]/g;

const $ = (id) => document.getElementById(id);
const state = { collection: "", answer: null, docOffset: 0 };

// -- HTTP ---------------------------------------------------------------------------------------------------------

function headers(extra = {}) {
  const key = localStorage.getItem(KEY_STORE);
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function failure(response) {
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

async function api(path, { method = "GET", json, body, headers: extra } = {}) {
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

async function stream(path, init) {
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return events(response);
}

// -- small DOM helpers --------------------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
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

function showError(error) {
  const box = $("error");
  if (!error) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.textContent = error.message || String(error);
  box.hidden = false;
}

const baseName = (path) => String(path || "").split(/[\\/]/).pop().split("!/").pop();
const number = (n) => Number(n).toLocaleString("en");
const plural = (n, word) => `${number(n)} ${word}${Number(n) === 1 ? "" : "s"}`;

// -- collections --------------------------------------------------------------------------------------------------

async function loadCollections(select) {
  const list = await api("/api/collections");
  const box = $("collection");
  const wanted = select || state.collection || localStorage.getItem(COLLECTION_STORE) || "";
  box.replaceChildren(
    ...list.map((c) =>
      el("option", { value: c.collection, dataset: { info: JSON.stringify(c) } }, c.collection),
    ),
  );
  $("collection-names").replaceChildren(...list.map((c) => el("option", { value: c.collection })));
  if (!list.length) {
    box.append(el("option", { value: "", disabled: true, selected: true }, "no collections yet: upload one"));
  }
  const names = list.map((c) => c.collection);
  await pickCollection(names.includes(wanted) ? wanted : names[0] || "");
}

async function pickCollection(name) {
  state.collection = name;
  $("collection").value = name;
  if (name) localStorage.setItem(COLLECTION_STORE, name);
  if (!$("upload-target").value || $("upload-target").dataset.auto === "1") {
    $("upload-target").value = name;
    $("upload-target").dataset.auto = "1";
  }
  const option = $("collection").selectedOptions[0];
  const info = option && option.dataset.info ? JSON.parse(option.dataset.info) : null;
  $("collection-info").textContent = info
    ? info.error
      ? info.error
      : `${plural(info.documents, "document")} · ${plural(info.chunks, "chunk")} · ${info.embedder?.name ?? ""}` +
        (info.stale ? " · stale: re-index" : "")
    : "";
  state.docOffset = 0;
  $("documents").replaceChildren();
  if (name) await loadDocuments();
}

// -- documents ----------------------------------------------------------------------------------------------------

async function loadDocuments(more = false) {
  if (!state.collection) return;
  const offset = more ? state.docOffset : 0;
  const name = state.collection;
  const page = await api(
    `/api/collections/${encodeURIComponent(name)}/documents?limit=${DOC_PAGE}&offset=${offset}`,
  );
  if (name !== state.collection) return;
  const rows = page.documents.map((d) =>
    el(
      "li",
      { dataset: { docId: d.doc_id } },
      el(
        "div",
        { class: "doc-row" },
        el(
          "a",
          { href: "#source-panel", class: "doc-title", onclick: (e) => (e.preventDefault(), openDocument(d.doc_id)) },
          d.title || baseName(d.sources[0]) || d.doc_id,
        ),
        el(
          "button",
          {
            type: "button",
            class: "link danger",
            "aria-label": `Remove ${d.title || d.doc_id}`,
            onclick: () => removeDocument(d),
          },
          "remove",
        ),
      ),
      el(
        "div",
        { class: "muted small", title: d.sources.map(baseName).join(", ") },
        `${d.kind} · ${plural(d.n_chunks, "chunk")} · ${number(d.characters)} chars`,
      ),
    ),
  );
  if (more) $("documents").append(...rows);
  else $("documents").replaceChildren(...rows);
  state.docOffset = offset + page.documents.length;
  $("doc-count").textContent = `(${number(page.total)})`;
  $("docs-more").hidden = state.docOffset >= page.total;
}

async function removeDocument(doc) {
  if (!confirm(`Remove "${doc.title || doc.doc_id}" from ${state.collection}?`)) return;
  try {
    await api(`/api/collections/${encodeURIComponent(state.collection)}/documents/${encodeURIComponent(doc.doc_id)}`, {
      method: "DELETE",
    });
    showError(null);
    await loadCollections(state.collection);
  } catch (error) {
    showError(error);
  }
}

// -- search -------------------------------------------------------------------------------------------------------

async function search() {
  const query = $("question").value.trim();
  if (!query || !state.collection) return;
  const body = { query };
  if ($("search-mode").value) body.mode = $("search-mode").value;
  busy(true, "searching…");
  try {
    const result = await api(`/api/collections/${encodeURIComponent(state.collection)}/search`, {
      method: "POST",
      json: body,
    });
    showError(null);
    $("answer").hidden = true;
    showPanel(false);
    $("results").hidden = false;
    $("hits").replaceChildren(
      ...result.hits.map((h) =>
        el(
          "li",
          { class: "hit", dataset: { chunkId: h.chunk_id } },
          el(
            "div",
            { class: "hit-head" },
            el(
              "a",
              {
                href: "#source-panel",
                class: "hit-title",
                onclick: (e) => (e.preventDefault(), openSource({ doc_id: h.doc_id, start: h.start, end: h.end, hit: h })),
              },
              h.title || baseName(h.source),
            ),
            el("span", { class: "muted" }, ` ${headingPath(h.heading_path)} · score ${h.score.toFixed(4)}`),
          ),
          el("p", { class: "snippet" }, snippet(h.text)),
          el("p", { class: "muted small" }, `${baseName(h.source)} · ${h.chunk_id}`),
        ),
      ),
    );
    if (!result.hits.length) $("hits").append(el("li", { class: "muted" }, "No hits."));
    notes($("search-notes"), result.notes);
    busy(false, `${result.hits.length} hits`);
  } catch (error) {
    busy(false, "");
    showError(error);
  }
}

const headingPath = (path) => (path && path.length ? path.join(" › ") : "");
const snippet = (text) => (text.length > 320 ? `${text.slice(0, 320)}…` : text);

function notes(list, items) {
  list.replaceChildren(...(items || []).map((n) => el("li", {}, n)));
}

function busy(on, message) {
  $("ask-button").disabled = on;
  $("search-button").disabled = on;
  $("query-status").textContent = message;
}

// -- ask ----------------------------------------------------------------------------------------------------------

async function ask() {
  const question = $("question").value.trim();
  if (!question || !state.collection) return;
  const text = $("answer-text");
  $("results").hidden = true;
  showPanel(false);
  $("answer").hidden = false;
  $("answer").classList.add("streaming");
  text.replaceChildren();
  for (const id of ["verdicts", "sources", "answer-notes"]) $(id).replaceChildren();
  $("answer-meta").textContent = "";
  state.answer = null;
  busy(true, "answering…");
  const started = performance.now();
  try {
    const messages = await stream(`/api/collections/${encodeURIComponent(state.collection)}/ask`, {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
      body: JSON.stringify({ question, stream: true }),
    });
    showError(null);
    let finished = false;
    for await (const { event, data } of messages) {
      if (event === "token") {
        text.append(data.text);
      } else if (event === "answer") {
        renderAnswer(data);
        finished = true;
      } else if (event === "error") {
        throw new Error(data.detail);
      }
    }
    if (!finished) throw new Error("the answer stream ended without an answer");
    busy(false, `answered in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } catch (error) {
    busy(false, "");
    showError(error);
  } finally {
    $("answer").classList.remove("streaming");
  }
}

// The answer text with each verdict's claim span coloured and each [n] a link to its source.
function renderAnswer(answer) {
  state.answer = answer;
  const box = $("answer-text");
  box.replaceChildren();
  box.classList.toggle("unanswerable", !answer.answerable);
  if (!answer.answerable) {
    box.append(el("p", { class: "not-found" }, "Not in the sources."), el("p", {}, ...linkCitations(answer.text)));
  } else {
    const claims = [...answer.verdicts].filter((v) => v.end > v.start).sort((a, b) => a.start - b.start);
    let at = 0;
    for (const v of claims) {
      if (v.start < at) continue; // overlapping spans: keep the first
      box.append(...linkCitations(answer.text.slice(at, v.start)));
      const label = LABELS[v.label] || { css: "unchecked", text: v.label };
      box.append(
        el(
          "span",
          {
            class: `claim ${label.css}`,
            title: `${label.text}${v.evidence ? ` — evidence: “${v.evidence}”` : ""}`,
            dataset: { label: v.label, verdict: answer.verdicts.indexOf(v) },
          },
          ...linkCitations(answer.text.slice(v.start, v.end), v),
        ),
      );
      at = v.end;
    }
    box.append(...linkCitations(answer.text.slice(at)));
  }

  const meta = [
    answer.answerable ? null : "not answerable from this collection",
    answer.confidence !== null && answer.confidence !== undefined
      ? `P(answerable) ${answer.confidence.toFixed(2)}`
      : null,
    answer.model && answer.model !== answer.mode ? `${answer.mode} · ${answer.model}` : answer.mode,
    answer.verifier ? `checked by ${answer.verifier}` : "not checked",
    answer.usage?.total_tokens ? `${number(answer.usage.total_tokens)} tokens` : null,
    `${answer.seconds} s`,
  ];
  $("answer-meta").textContent = meta.filter(Boolean).join(" · ");

  $("verdicts").replaceChildren(
    ...answer.verdicts.map((v) => {
      const label = LABELS[v.label] || { css: "unchecked", text: v.label };
      return el(
        "li",
        { class: `verdict ${label.css}` },
        el("span", { class: `badge ${label.css}` }, label.text),
        " ",
        el("span", { class: "claim-text" }, v.claim),
        v.citation ? [" ", citationLink(v.citation, v)] : null,
        v.evidence ? el("blockquote", { class: "evidence-quote" }, v.evidence) : null,
        v.reasoning ? el("p", { class: "muted small" }, v.reasoning) : null,
      );
    }),
  );
  if (!answer.verdicts.length) $("verdicts").append(el("li", { class: "muted" }, "No claims were checked."));
  $("verdicts-block").hidden = !answer.answerable && !answer.verdicts.length;

  $("sources-title").textContent = answer.answerable ? "Sources" : "Closest sources";
  $("sources").replaceChildren(
    ...answer.citations.map((c) =>
      el(
        "li",
        { class: c.cited ? "source cited" : "source", value: c.number, dataset: { n: c.number } },
        citationLink(c.number),
        " ",
        el("strong", {}, c.title || baseName(c.source)),
        el("span", { class: "muted" }, ` ${headingPath(c.heading_path)}`),
        c.cited || !answer.answerable ? null : el("span", { class: "muted small" }, " (not cited)"),
        el("p", { class: "muted small" }, `${baseName(c.source)} · ${c.chunk_id}`),
      ),
    ),
  );
  const invalid = answer.invalid_citations?.length
    ? [`citations to no source were dropped: ${answer.invalid_citations.join(", ")}`]
    : [];
  notes($("answer-notes"), [...invalid, ...(answer.notes || [])]);
}

function citationLink(n, verdict = null, text = `[${n}]`) {
  return el(
    "a",
    {
      href: "#source-panel",
      class: "citation",
      dataset: { n },
      "aria-label": `source ${n}`,
      onclick: (e) => {
        e.preventDefault();
        openCitation(Number(n), verdict);
      },
    },
    text,
  );
}

// Text with every [n] (or [1, 2], [1-3]) made into links; ``verdict`` is the claim the markers sit in.
function linkCitations(text, verdict = null) {
  const out = [];
  let at = 0;
  for (const match of text.matchAll(CITATION)) {
    out.push(text.slice(at, match.index));
    const numbers = match[1].match(/\d+|[^\d]+/g);
    if (numbers.length === 1) {
      out.push(citationLink(Number(match[1]), verdict));
    } else {
      out.push("[", ...numbers.map((p) => (/^\d+$/.test(p) ? citationLink(Number(p), verdict, p) : p)), "]");
    }
    at = match.index + match[0].length;
  }
  out.push(text.slice(at));
  return out.filter((part) => part !== "");
}

function openCitation(n, verdict) {
  const answer = state.answer;
  if (!answer) return;
  const citation = answer.citations.find((c) => c.number === n);
  if (!citation) {
    showError(new Error(`[${n}] cites no source of this answer`));
    return;
  }
  // the verdict of the claim the marker sits in when it checked this source, else any verdict on this source
  const mine = (v) => v && (v.citation === n || v.source_id === citation.chunk_id);
  const chosen = mine(verdict) ? verdict : answer.verdicts.find(mine) || null;
  openSource({ doc_id: citation.doc_id, start: citation.start, end: citation.end, citation, verdict: chosen });
}

// -- the source panel ---------------------------------------------------------------------------------------------

function showPanel(on) {
  $("source-panel").hidden = !on;
  $("source-empty").hidden = on;
}

async function openDocument(docId) {
  await openSource({ doc_id: docId, start: null, end: null });
}

async function openSource({ doc_id, start, end, citation = null, verdict = null, hit = null }) {
  const panel = $("source-panel");
  let doc;
  try {
    doc = await api(`/api/collections/${encodeURIComponent(state.collection)}/documents/${encodeURIComponent(doc_id)}`);
    showError(null);
  } catch (error) {
    showError(error);
    return;
  }
  showPanel(true);
  panel.dataset.docId = doc.doc_id;
  panel.dataset.n = citation ? citation.number : "";
  $("source-title").textContent = `${citation ? `[${citation.number}] ` : ""}${doc.title || baseName(doc.sources[0])}`;
  const where = citation || hit;
  $("source-meta").textContent = [
    doc.sources.map(baseName).join(", "),
    where ? headingPath(where.heading_path) : null,
    where ? `chunk ${where.chunk_id}, characters ${start}–${end}` : `${doc.chunks.length} chunks`,
  ]
    .filter(Boolean)
    .join(" · ");

  const box = $("source-verdict");
  const label = verdict ? LABELS[verdict.label] || { css: "unchecked", text: verdict.label } : null;
  if (verdict) {
    box.hidden = false;
    box.className = `source-verdict ${label.css}`;
    box.replaceChildren(
      el("span", { class: `badge ${label.css}`, dataset: { label: verdict.label } }, label.text),
      " ",
      el("span", { class: "claim-text" }, verdict.claim),
    );
    if (verdict.evidence_start === null) {
      box.append(el("p", { class: "muted small" }, "The verifier's evidence quote was not found in this chunk."));
    }
  } else {
    box.hidden = true;
    box.replaceChildren();
  }

  const evidence =
    verdict && verdict.evidence_start !== null && verdict.evidence_end !== null
      ? [verdict.evidence_start, verdict.evidence_end]
      : null;
  $("source-text").replaceChildren(...markText(doc.text, start === null ? null : [start, end], evidence, label));
  // scroll the document text (not the page) to the evidence, else the chunk; then bring the panel into view
  const pre = $("source-text");
  const target = pre.querySelector("mark.evidence") || pre.querySelector("mark.chunk");
  pre.scrollTop = target ? Math.max(0, target.offsetTop - pre.clientHeight / 3) : 0;
  panel.scrollIntoView({ block: "nearest" });
  panel.focus({ preventScroll: true });
}

// The document text with the chunk span in <mark class="chunk"> and the evidence span inside it (or beside it, if
// it ever falls outside) in <mark class="evidence {verdict}">.
function markText(text, chunk, evidence, label) {
  const parts = [];
  const evidenceIn = (from, to) => {
    const out = [];
    if (!evidence || evidence[1] <= from || evidence[0] >= to) return [text.slice(from, to)];
    const a = Math.max(from, evidence[0]);
    const b = Math.min(to, evidence[1]);
    out.push(text.slice(from, a));
    out.push(el("mark", { class: `evidence ${label ? label.css : ""}`.trim() }, text.slice(a, b)));
    out.push(text.slice(b, to));
    return out.filter((p) => p !== "");
  };
  if (!chunk) return evidenceIn(0, text.length);
  const [s, e] = [Math.max(0, chunk[0]), Math.min(text.length, chunk[1])];
  parts.push(...evidenceIn(0, s));
  parts.push(el("mark", { class: "chunk" }, ...evidenceIn(s, e)));
  parts.push(...evidenceIn(e, text.length));
  return parts;
}

// -- uploads ------------------------------------------------------------------------------------------------------

// The server takes plain names only (letters, digits, spaces and ._-+()); anything else becomes "_".
function uploadName(name) {
  let clean = name.replace(/[^A-Za-z0-9 ._+()-]/g, "_").replace(/\.\.+/g, ".").trim();
  if (!/^[A-Za-z0-9]/.test(clean)) clean = `file${clean}`;
  return clean.slice(0, 200);
}

async function upload(event) {
  event.preventDefault();
  const target = $("upload-target").value.trim();
  const files = [...$("upload-files").files];
  if (!target || !files.length) return;
  $("upload-form").reset();
  $("upload-target").value = target;
  await Promise.all(files.map((file) => uploadOne(target, file)));
}

async function uploadOne(collection, file) {
  const name = uploadName(file.name);
  const bar = el("progress", { max: 1, value: 0, "aria-label": `${name} progress` });
  const status = el("span", { class: "upload-status" }, "uploading…");
  const row = el(
    "li",
    { class: "upload", dataset: { state: "uploading", file: name } },
    el("strong", {}, name),
    el("span", { class: "muted" }, ` → ${collection}`),
    bar,
    status,
  );
  $("uploads").prepend(row);
  const show = (job) => {
    row.dataset.state = job.state;
    row.dataset.job = job.id;
    if (job.state === "done") {
      bar.max = 1;
      bar.value = 1;
      const r = job.report || {};
      const counts = [
        ["documents_added", "document", "added"],
        ["documents_updated", "document", "updated"],
        ["documents_unchanged", "document", "unchanged"],
        ["chunks_added", "chunk", "added"],
      ]
        .filter(([k]) => r[k])
        .map(([k, word, what]) => `${plural(r[k], word)} ${what}`);
      const skipped = (r.skipped || []).map((s) => `skipped ${baseName(s.source)}: ${s.reason}`);
      status.textContent = `indexed${counts.length ? `: ${counts.join(", ")}` : ""}`;
      if (skipped.length) status.append(el("span", { class: "failed" }, ` — ${skipped.join("; ")}`));
    } else if (job.state === "failed") {
      status.textContent = `failed: ${job.error}`;
      status.classList.add("failed");
    } else if (job.total) {
      bar.max = job.total;
      bar.value = job.done;
      status.textContent = `${job.stage} ${job.done}/${job.total}`;
    } else {
      bar.removeAttribute("value"); // indeterminate
      status.textContent = job.state === "queued" ? "queued" : `${job.stage || "starting"} ${job.done || ""}`;
    }
  };
  try {
    const accepted = await api(
      `/api/collections/${encodeURIComponent(collection)}/documents?filename=${encodeURIComponent(name)}`,
      { method: "POST", body: file, headers: { "Content-Type": "application/octet-stream" } },
    );
    status.textContent = `${number(accepted.bytes)} bytes received`;
    show(accepted.job);
    let last = accepted.job;
    const messages = await stream(`/api/jobs/${encodeURIComponent(accepted.job.id)}/events`, { headers: headers() });
    for await (const { event, data } of messages) {
      if (event !== "progress") continue;
      last = data;
      show(data);
    }
    if (last.state !== "done" && last.state !== "failed") last = await api(`/api/jobs/${encodeURIComponent(last.id)}`);
    show(last);
    if (last.state === "done") await loadCollections(collection === state.collection ? state.collection : collection);
  } catch (error) {
    row.dataset.state = "failed";
    status.textContent = `failed: ${error.message}`;
    status.classList.add("failed");
  }
}

// -- reports ------------------------------------------------------------------------------------------------------

async function loadReports() {
  const list = await api("/api/reports");
  $("reports").replaceChildren(
    ...list.map((r) =>
      el(
        "li",
        {},
        el(
          "a",
          { href: `/reports/${r.path.split("/").map(encodeURIComponent).join("/")}`, target: "_blank", rel: "noopener", onclick: openReport },
          r.path,
        ),
        el("span", { class: "muted small" }, ` ${new Date(r.modified * 1000).toLocaleString()} · ${number(r.bytes)} bytes`),
      ),
    ),
  );
  if (!list.length) $("reports").append(el("li", { class: "muted" }, "None yet: kenning eval … --out writes them."));
}

// A new tab cannot send the API key: with a key set, fetch the (self-contained) report and open it as a blob.
async function openReport(event) {
  if (!localStorage.getItem(KEY_STORE)) return;
  event.preventDefault();
  const tab = window.open("", "_blank");
  try {
    const response = await fetch(event.currentTarget.getAttribute("href"), { headers: headers() });
    if (!response.ok) throw await failure(response);
    const blob = new Blob([await response.text()], { type: "text/html" });
    tab.location = URL.createObjectURL(blob);
  } catch (error) {
    if (tab) tab.close();
    showError(error);
  }
}

// -- start --------------------------------------------------------------------------------------------------------

async function refresh() {
  try {
    await Promise.all([loadCollections(), loadReports()]);
    showError(null);
  } catch (error) {
    showError(error);
  }
}

function start() {
  $("api-key").value = localStorage.getItem(KEY_STORE) || "";
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $("api-key").value.trim();
    if (key) localStorage.setItem(KEY_STORE, key);
    else localStorage.removeItem(KEY_STORE);
    $("key-box").open = false;
    refresh();
  });
  $("key-clear").addEventListener("click", () => {
    $("api-key").value = "";
    localStorage.removeItem(KEY_STORE);
    refresh();
  });
  $("collection").addEventListener("change", (e) => {
    $("upload-target").dataset.auto = "1";
    $("upload-target").value = "";
    pickCollection(e.target.value).catch(showError);
  });
  $("upload-target").addEventListener("input", (e) => (e.target.dataset.auto = "0"));
  $("query-form").addEventListener("submit", (e) => (e.preventDefault(), ask()));
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      ask();
    }
  });
  $("search-button").addEventListener("click", search);
  $("docs-more").addEventListener("click", () => loadDocuments(true).catch(showError));
  $("upload-form").addEventListener("submit", upload);
  $("source-close").addEventListener("click", () => showPanel(false));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("source-panel").hidden) showPanel(false);
  });
  refresh();
}

start();
