// kenning's web UI, part 2: Ask streams the answer over server-sent events on a POST; each [n] opens the cited
// document in the source panel with the cited chunk marked and the verifier's evidence highlighted in the verdict's
// colour.
import { $, api, baseName, busy, el, headers, headingPath, notes, number, showError, state, stream } from "./api.js";

const LABELS = {
  SUPPORT: { css: "support", text: "supported" },
  PARTIAL: { css: "partial", text: "partly supported" },
  NOT_SUPPORTED: { css: "not-supported", text: "not supported" },
};
// what generate/citations.py accepts: [1], [1, 2], [1-3]
const CITATION = /\[(\d+(?:\s*[,;–-]\s*\d+)*)\]/g;

// -- ask ----------------------------------------------------------------------------------------------------------

export async function ask() {
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

export function showPanel(on) {
  $("source-panel").hidden = !on;
  $("source-empty").hidden = on;
}

export async function openDocument(docId) {
  await openSource({ doc_id: docId, start: null, end: null });
}

export async function openSource({ doc_id, start, end, citation = null, verdict = null, hit = null }) {
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
