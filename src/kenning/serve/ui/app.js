// kenning's web UI: plain JavaScript over the HTTP API of the same server (no build step, nothing fetched from
// elsewhere), as native ES modules — api.js (requests, events, key, DOM helpers), answer.js (ask, the answer, the
// source panel) and this one: collections, documents, search, uploads, reports and start-up.
import { ask, openDocument, openSource, showPanel } from "./answer.js";
import {
  $,
  KEY_STORE,
  api,
  baseName,
  busy,
  el,
  failure,
  headers,
  headingPath,
  notes,
  number,
  plural,
  showError,
  state,
  stream,
} from "./api.js";

const COLLECTION_STORE = "kenning.collection";
const DOC_PAGE = 50;

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

const snippet = (text) => (text.length > 320 ? `${text.slice(0, 320)}…` : text);

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
