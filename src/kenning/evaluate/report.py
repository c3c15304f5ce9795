"""Evaluation reports: one self-contained HTML file (inline CSS, inline SVG plots, no scripts, nothing fetched) next
to the run's JSON, and before/after comparisons of two runs.

A report shows, for whatever the run holds:

* **sweeps** (``kenning eval sweep``): the results table with 95% bootstrap intervals, the metric against chunk size
  (one line per chunker × overlap), per-query distributions per configuration, per-query-set (corpus) means;
* **BEIR runs** (``kenning eval beir``): metrics per mode;
* **failure modes**: a ``failure_modes`` mapping of counts (``{"retrieval_miss": 3, "chunk_split": 1, …}``) at the
  top level of the run or on any configuration is drawn as bars;
* **comparisons** (two runs): per configuration and metric, mean B − mean A over the queries both share, a paired
  bootstrap interval and a paired sign-flip randomization p-value (:func:`kenning.evaluate.stats.paired_test`).

>>> write_report(json.load(open("out/results.json")), "out/")              # doctest: +SKIP
{'html': PosixPath('out/report.html')}
>>> write_report(run_b, "cmp/", baseline=run_a)                              # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError
from . import _plots
from .stats import paired_test

__all__ = ["render_report", "write_report", "compare_results", "paired_row", "load_run", "run_kind"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:1240px;margin:0 auto;padding:24px 32px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555;margin:0 0 12px}.note{color:#555;font-size:13px}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e5e5e5;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f2f2f2;position:sticky;top:0}td:first-child,th:first-child{text-align:left}
tr.best td{background:#eef7ee}.ci{color:#888;font-size:11px}.pos{color:#1a7f37}.neg{color:#c62828}
figure{margin:12px 0}figcaption{color:#555;font-size:12.5px}svg.plot{max-width:100%;height:auto}
.scroll{overflow-x:auto}
"""


# -------------------------------------------------------------------------------------------------- inputs


def load_run(path: str | Path) -> dict[str, Any]:
    """A run's JSON (``results.json`` of a sweep, the ``--out`` file of ``kenning eval beir``, …)."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "results.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{p}: cannot read the run ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{p}: a run is a JSON object, got {type(data).__name__}")
    return data


def run_kind(run: dict[str, Any]) -> str:
    """``sweep``, ``beir`` or ``other``."""
    if str(run.get("format", "")).startswith("kenning-sweep"):
        return "sweep"
    if isinstance(run.get("modes"), dict) and "dataset" in run:
        return "beir"
    if str(run.get("format", "")).startswith("kenning-tune"):
        return "tune"
    return "other"


# -------------------------------------------------------------------------------------------------- compare


def compare_results(a: dict[str, Any], b: dict[str, Any], *, seed: int = 0, resamples: int = 10_000) -> dict[str, Any]:
    """What changed from run ``a`` to run ``b``: per configuration (and per query set) and metric, with the paired
    tests of :func:`kenning.evaluate.stats.paired_test` over the questions both runs scored."""
    kind = run_kind(a)
    if kind != run_kind(b):
        raise InputError(f"cannot compare a {kind} run with a {run_kind(b)} run")
    out: dict[str, Any] = {"kind": kind, "seed": seed, "resamples": resamples, "rows": [], "groups": [], "notes": []}
    if kind == "sweep":
        _compare_sweeps(a, b, seed, resamples, out)
    elif kind == "beir":
        for mode in [m for m in a["modes"] if m in b["modes"]]:
            ma, mb = a["modes"][mode]["metrics"], b["modes"][mode]["metrics"]
            for metric in [m for m in ma if m in mb]:
                out["rows"].append(_mean_row(mode, metric, ma[metric], mb[metric]))
        out["notes"].append("BEIR runs hold means only, so no significance test was possible")
    else:
        ma, mb = a.get("metrics", {}), b.get("metrics", {})
        for metric in [m for m in ma if m in mb and isinstance(ma[m], int | float)]:
            out["rows"].append(_mean_row("run", metric, ma[metric], mb[metric]))
        out["notes"].append("these runs hold means only, so no significance test was possible")
    fa, fb = _failure_modes(a), _failure_modes(b)
    if fa or fb:
        out["failure_modes"] = {"A": fa.get("run", {}), "B": fb.get("run", {})}
    return out


def _mean_row(cid: str, metric: str, va: float, vb: float) -> dict[str, Any]:
    return {"id": cid, "metric": metric, "n": None, "a": va, "b": vb, "delta": vb - va, "ci": None, "p": None}


def _compare_sweeps(a: dict[str, Any], b: dict[str, Any], seed: int, resamples: int, out: dict[str, Any]) -> None:
    ca = {c["id"]: c for c in a["configs"]}
    cb = {c["id"]: c for c in b["configs"]}
    pairs = [(i, i) for i in cb if i in ca]
    if not pairs:  # e.g. a dense sweep against a hybrid one: pair the configurations that chunk alike
        cell_a = _by_cell(a["configs"])
        cell_b = _by_cell(b["configs"])
        pairs = [(cell_a[k], cell_b[k]) for k in cell_b if k in cell_a]
        if pairs:
            out["notes"].append("the runs share no configuration id; configurations with the same chunking were paired")
    if not pairs and len(ca) == 1 and len(cb) == 1:
        pairs = [(next(iter(ca)), next(iter(cb)))]
        out["notes"].append(f"the runs share no configuration; compared {pairs[0][0]} (A) with {pairs[0][1]} (B)")
    out["pairs"] = [list(p) for p in pairs]
    out["only_a"] = sorted(set(ca) - {p[0] for p in pairs})
    out["only_b"] = sorted(set(cb) - {p[1] for p in pairs})
    qa = {q: i for i, q in enumerate(a["query_ids"])}
    qb = {q: i for i, q in enumerate(b["query_ids"])}
    common = [q for q in b["query_ids"] if q in qa]
    if len(common) < len(qb) or len(common) < len(qa):
        out["notes"].append(f"{len(common)} questions are in both runs ({len(qa)} in A, {len(qb)} in B)")
    ia, ib = [qa[q] for q in common], [qb[q] for q in common]
    groups = [b["query_groups"][i] for i in ib]
    metrics = [m for m in b["metrics"] if m in a["metrics"]]
    out["metrics"] = metrics
    out["primary_metric"] = b.get("primary_metric", metrics[0] if metrics else "")
    if not common:
        out["notes"].append("the runs share no question, so nothing could be compared")
        return
    for ida, idb in pairs:
        for metric in metrics:
            va = {q: ca[ida]["per_query"][metric][i] for q, i in zip(common, ia, strict=True)}
            vb = {q: cb[idb]["per_query"][metric][i] for q, i in zip(common, ib, strict=True)}
            label = idb if ida == idb else f"{ida} → {idb}"
            out["rows"].append(paired_row(label, metric, va, vb, seed, resamples))
            if metric != out["primary_metric"]:
                continue
            for g in sorted(set(groups) - {""}):
                sel = [q for q, x in zip(common, groups, strict=True) if x == g]
                row = paired_row(label, metric, {q: va[q] for q in sel}, {q: vb[q] for q in sel}, seed, resamples)
                out["groups"].append({**row, "group": g})


def _by_cell(configs: list[dict[str, Any]]) -> dict[tuple[str, int, int], str]:
    """Chunking cell → configuration id, for runs with one configuration per cell (else empty)."""
    out: dict[tuple[str, int, int], str] = {}
    for c in configs:
        key = (c["chunker"], c["size"], c["overlap"])
        if key in out:
            return {}
        out[key] = c["id"]
    return out


def paired_row(
    cid: str, metric: str, a: dict[str, float], b: dict[str, float], seed: int, resamples: int
) -> dict[str, Any]:
    """One row of a comparison: mean of ``a`` and ``b`` per query, B − A with its paired interval and p-value."""
    r = paired_test(a, b, seed=seed, resamples=resamples)
    return {
        "id": cid,
        "metric": metric,
        "n": r.n,
        "a": r.mean_baseline,
        "b": r.mean_candidate,
        "delta": r.diff,
        "ci": [r.low, r.high],
        "p": r.p_value,
        "better": r.better,
        "worse": r.worse,
    }


# -------------------------------------------------------------------------------------------------- render


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(x: Any, places: int = 3) -> str:
    if isinstance(x, float):
        return f"{x:.{places}f}"
    return _esc("" if x is None else x)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{_esc(caption)}</figcaption></figure>"


def _failure_modes(run: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{series name: {mode: count}}`` from a run's top level and its configurations."""
    out: dict[str, dict[str, float]] = {}
    if isinstance(run.get("failure_modes"), dict):
        out["run"] = {str(k): float(v) for k, v in run["failure_modes"].items()}
    for c in run.get("configs", []) if isinstance(run.get("configs"), list) else []:
        if isinstance(c, dict) and isinstance(c.get("failure_modes"), dict):
            out[str(c.get("id", len(out)))] = {str(k): float(v) for k, v in c["failure_modes"].items()}
    return out


def _sweep_sections(run: dict[str, Any]) -> list[str]:
    configs = run["configs"]
    metrics = run["metrics"]
    primary = run.get("primary_metric", metrics[0])
    best = run.get("best", {}).get(primary)
    parts = []
    ranked = sorted(configs, key=lambda c: -c["metrics"][primary])
    rows, classes = [], []
    for c in ranked:
        cells = [_esc(c["id"]), _fmt(c["chunks"]), _fmt(c.get("chunk_tokens_mean"), 1)]
        for m in metrics:
            lo, hi = c["ci95"][m]
            if m == primary:
                cells.append(f'{_fmt(c["metrics"][m])} <span class="ci">[{lo:.3f}, {hi:.3f}]</span>')
            else:
                cells.append(f'<span title="95% interval [{lo:.3f}, {hi:.3f}]">{_fmt(c["metrics"][m])}</span>')
        rows.append(cells)
        classes.append("best" if c["id"] == best else "")
    parts.append(
        "<h2>Results</h2>"
        f'<p class="note">Sorted by {_esc(primary)}; [95% bootstrap interval of the mean over '
        f"{run['data']['queries']} questions, seed {run.get('seed', 0)}; hover a value for its interval]. Best by each "
        "metric: "
        + ", ".join(f"{_esc(m)} → <b>{_esc(i)}</b>" for m, i in run.get("best", {}).items())
        + "</p>"
        + _table(["configuration", "chunks", "mean tokens", *metrics], rows, classes)
    )
    if run.get("vs_baseline", {}).get("rows"):
        parts.extend(_baseline_sections(run["vs_baseline"]))
    plots = [m for m in (primary, "iou", "precision", "precision_omega") if m in metrics]
    figs = []
    for m in dict.fromkeys(plots):
        figs.append(
            _figure(
                _plots.metric_vs_size(configs, m, key=f"size-{m}"),
                f"Mean {m} against chunk size; shaded: 95% interval.",
            )
        )
    parts.append("<h2>Metric vs chunk size</h2>" + "".join(figs))
    labels = [c["id"] for c in ranked]
    figs = [
        _figure(
            _plots.distributions(labels, [c["per_query"][m] for c in ranked], m, key=f"dist-{m}"),
            f"Distribution of per-query {m}: box = quartiles, whiskers = 1.5 IQR, red dot = mean.",
        )
        for m in dict.fromkeys(
            [primary, "iou"] if "iou" in metrics and run["data"].get("gold") == "spans" else [primary]
        )
    ]
    parts.append("<h2>Per-query distributions</h2>" + "".join(figs))
    groups = run["data"].get("groups") or []
    if groups:
        rows = [[_esc(c["id"])] + [_fmt(c["by_group"].get(g, {}).get(primary)) for g in groups] for c in ranked]
        parts.append(
            f"<h2>{_esc(primary)} by query set</h2>"
            + _table(["configuration", *groups], rows, ["best" if c["id"] == best else "" for c in ranked])
        )
    skipped = run.get("skipped") or []
    if skipped:
        parts.append(
            "<h2>Skipped cells</h2><ul>"
            + "".join(f"<li>{_esc(s['cell'])}: {_esc(s['reason'])}</li>" for s in skipped)
            + "</ul>"
        )
    return parts


def _baseline_sections(cmp: dict[str, Any]) -> list[str]:
    """Each configuration against the sweep's baseline: what it changes, Δ with its paired interval, p."""
    metrics = cmp["metrics"]
    by_id: dict[str, dict[str, dict[str, Any]]] = {}
    for r in cmp["rows"]:
        by_id.setdefault(r["id"], {})[r["metric"]] = r
    rows = []
    for cid, per in by_id.items():
        first = next(iter(per.values()))
        cells = [_esc(cid), _esc(first.get("changes", ""))]
        for m in metrics:
            r = per[m]
            cells += [
                _fmt(r["a"]),
                _fmt(r["b"]),
                f'{_delta(r)} <span class="ci">[{r["ci"][0]:+.3f}, {r["ci"][1]:+.3f}]</span>',
            ]
            cells.append(_fmt(r["p"], 4))
        rows.append(cells)
    heads = [h for m in metrics for h in (f"{m} baseline", m, f"Δ {m} [95% CI]", f"p ({m})")]
    primary = metrics[0]
    prim = [r for r in cmp["rows"] if r["metric"] == primary]
    return [
        "<h2>Each option against the baseline</h2>"
        f'<p class="note">Baseline: <b>{_esc(cmp["baseline"])}</b>. Δ = mean(configuration) − mean(baseline) over the '
        f"questions both scored; interval: paired bootstrap (95%); p: two-sided paired sign-flip randomization test "
        f"({cmp['resamples']:,} resamples, seed {cmp['seed']}); <b>bold</b> when p &lt; 0.05.</p>"
        + _table(["configuration", "changes", *heads], rows),
        _figure(_plots.delta_bars(prim, primary, key=f"baseline-{primary}"), f"Δ {primary} against the baseline."),
    ]


def _beir_sections(run: dict[str, Any]) -> list[str]:
    modes = list(run["modes"])
    metrics = list(next(iter(run["modes"].values()))["metrics"]) if modes else []
    rows = [
        [_esc(m)]
        + [_fmt(run["modes"][m]["metrics"].get(x)) for x in metrics]
        + [_fmt(run["modes"][m].get("ms_per_query"), 1)]
        for m in modes
    ]
    svg = _plots.grouped_bars(
        metrics,
        {m: [run["modes"][m]["metrics"][x] for x in metrics] for m in modes},
        key="beir",
        ylabel="score",
        title=f"{run.get('dataset', '')} ({run.get('split', '')}): metrics by mode",
    )
    return [
        "<h2>Results</h2>" + _table(["mode", *metrics, "ms / query"], rows),
        "<h2>Metrics by mode</h2>" + _figure(svg, "Mean over the split's queries."),
    ]


def _tune_sections(run: dict[str, Any]) -> list[str]:
    """Before/after per mode with intervals and paired tests, the decisions, and the training curves."""
    rows = []
    for mode, cmp in run.get("comparisons", {}).items():
        for metric, c in cmp.items():
            after = run["after"][mode][metric]
            rows.append(
                [
                    _esc(mode),
                    _esc(metric),
                    _fmt(c["before"]),
                    f"{_fmt(after['mean'])} [{_fmt(after['low'])}, {_fmt(after['high'])}]",
                    _delta({"delta": c["diff"], "p": c["p_value"]}),
                    f"[{_fmt(c['low'])}, {_fmt(c['high'])}]",
                    _fmt(c["p_value"], 4),
                    f"{c['better']} / {c['worse']} / {c['tied']}",
                ]
            )
    parts = [
        "<h2>Held-out queries, before and after</h2>"
        + _table(
            ["mode", "metric", "before", "after [95% CI]", "Δ", "Δ 95% CI", "paired p", "better / worse / tied"], rows
        )
    ]
    modes = list(run.get("comparisons", {}))
    if modes:
        svg = _plots.grouped_bars(
            modes,
            {
                "before": [run["comparisons"][m]["ndcg@10"]["before"] for m in modes],
                "after": [run["after"][m]["ndcg@10"]["mean"] for m in modes],
            },
            key="tune-modes",
            ylabel="nDCG@10",
            title="nDCG@10 on held-out queries, before and after",
        )
        parts.append(_figure(svg, "Hybrid + rerank before is plain hybrid when the collection had no reranker."))
    for what in ("embedder", "reranker"):
        info = run.get(what, {})
        if not info.get("trained"):
            continue
        m = info["manifest"]
        verdict = "adopted" if info.get("adopted") else "not adopted"
        parts.append(
            f"<h2>{what.capitalize()}: {verdict}</h2><p>{_esc(info['decision']['reason'])}</p>"
            + _table(
                ["base", "steps", "stopped", "examples / s", "seconds", "recipe"],
                [
                    [
                        _esc(m["base"]),
                        f"{m['steps']} of {m['planned_steps']}",
                        _esc(m["stopped"]),
                        _fmt(m["examples_per_second"], 1),
                        _fmt(m["seconds"], 0),
                        _esc(m["recipe"]),
                    ]
                ],
            )
        )
        series = {"training loss": m.get("loss_curve", []), "validation loss": m.get("eval_curve", [])}
        if any(series.values()):
            svg = _plots.curves(series, key=f"tune-{what}", xlabel="step", ylabel="loss", title=f"{what} training")
            parts.append(_figure(svg, "Loss by optimizer step."))
    mining = run.get("mining", {})
    if mining:
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(mining.get("dropped", {}).items()))
        parts.append(
            f"<h2>Hard negatives</h2><p>{mining.get('kept', 0)} kept of {mining.get('candidates', 0)} candidates "
            f"(top {mining.get('depth')} of hybrid search); dropped as likely false negatives: {_esc(dropped)}.</p>"
        )
    return parts


def _delta(r: dict[str, Any]) -> str:
    sign = "pos" if r["delta"] > 0 else "neg" if r["delta"] < 0 else ""
    text = f"{r['delta']:+.3f}"
    if r.get("p") is not None and r["p"] < 0.05:
        text = f"<b>{text}</b>"
    return f'<span class="{sign}">{text}</span>'


def _comparison_sections(cmp: dict[str, Any]) -> list[str]:
    parts = []
    primary = cmp.get("primary_metric") or (cmp["rows"][0]["metric"] if cmp["rows"] else "")
    by_id: dict[str, dict[str, dict[str, Any]]] = {}
    for r in cmp["rows"]:
        by_id.setdefault(r["id"], {})[r["metric"]] = r
    others = [m for m in dict.fromkeys(r["metric"] for r in cmp["rows"]) if m != primary]
    rows = []
    for cid, per in by_id.items():
        r = per.get(primary)
        cells = [_esc(cid)]
        if r is not None:
            ci = f' <span class="ci">[{r["ci"][0]:+.3f}, {r["ci"][1]:+.3f}]</span>' if r.get("ci") else ""
            p = _fmt(r.get("p"), 4) if r.get("p") is not None else "–"
            cells += [_fmt(r["a"]), _fmt(r["b"]), f"{_delta(r)}{ci}", p]
        else:
            cells += ["", "", "", ""]
        for m in others:
            o = per.get(m)
            if o is None:
                cells.append("")
                continue
            tip = f"A {o['a']:.4f}, B {o['b']:.4f}" + (
                f", 95% CI [{o['ci'][0]:+.4f}, {o['ci'][1]:+.4f}], p {o['p']:.4f}" if o.get("ci") else ""
            )
            cells.append(f'<span title="{_esc(tip)}">{_delta(o)}</span>')
        rows.append(cells)
    notes = "".join(f'<p class="note">{_esc(n)}</p>' for n in cmp.get("notes", []))
    parts.append(
        "<h2>Before / after (A → B)</h2>"
        '<p class="note">Δ = mean(B) − mean(A) over the questions in both runs; interval: paired bootstrap (95%); '
        "p: two-sided paired sign-flip randomization test. Other metrics: Δ, <b>bold</b> when p &lt; 0.05 "
        "(hover for the values).</p>"
        + notes
        + _table(
            ["configuration", f"{primary} A", f"{primary} B", "Δ [95% CI]", "p", *(f"Δ {m}" for m in others)], rows
        )
    )
    prim = [r for r in cmp["rows"] if r["metric"] == primary and r.get("ci")]
    if prim:
        parts.append(
            _figure(_plots.delta_bars(prim, primary, key=f"delta-{primary}"), f"Δ {primary} per configuration.")
        )
    if cmp.get("groups"):
        names = list(dict.fromkeys(g["group"] for g in cmp["groups"]))
        table: dict[str, dict[str, dict[str, Any]]] = {}
        for g in cmp["groups"]:
            table.setdefault(g["id"], {})[g["group"]] = g
        rows = []
        for cid, per in table.items():
            cells = [_esc(cid)]
            for name in names:
                g = per.get(name)
                tip = f"A {g['a']:.4f}, B {g['b']:.4f}, p {g['p']:.4f}, n {g['n']}" if g else ""
                cells.append(f'<span title="{_esc(tip)}">{_delta(g)}</span>' if g else "")
            rows.append(cells)
        parts.append(
            f"<h3>Δ {_esc(primary)} by query set</h3>"
            '<p class="note"><b>Bold</b>: p &lt; 0.05 within that query set (hover for A, B, p and n).</p>'
            + _table(["configuration", *names], rows)
        )
    for name in ("only_a", "only_b"):
        if cmp.get(name):
            parts.append(f'<p class="note">Only in {name[-1].upper()}: {_esc(", ".join(cmp[name]))}</p>')
    return parts


def _timings_section(timings: dict[str, Any]) -> str:
    rows = []
    for cell, t in timings.get("cells", {}).items():
        if t.get("reused"):
            rows.append([_esc(cell), "reused", "", "", "", "", ""])
        else:
            rows.append(
                [
                    _esc(cell),
                    _fmt(t["seconds"], 1),
                    _fmt(t["index_seconds"], 1),
                    _fmt(t["chunks"]),
                    _fmt(t["texts_embedded"]),
                    _fmt(t["cache_hits"]),
                    _fmt(t.get("embedding_seconds"), 1),
                ]
            )
    cache = timings.get("cache", {})
    return (
        "<h2>Timings</h2>"
        f'<p class="note">Wall time {timings.get("wall_seconds", 0):.1f} s; embedding cache: {cache.get("hits", 0)} hits, '
        f"{cache.get('misses', 0)} texts embedded (chunks and questions). Timings are not part of the results JSON.</p>"
        + _table(["cell", "seconds", "indexing s", "chunks", "texts embedded", "cache hits", "embedding s"], rows)
    )


def render_report(
    run: dict[str, Any],
    *,
    baseline: dict[str, Any] | None = None,
    comparison: dict[str, Any] | None = None,
    timings: dict[str, Any] | None = None,
    title: str | None = None,
    seed: int = 0,
) -> str:
    """The HTML page for ``run`` (and its comparison with ``baseline``, run A, when given)."""
    kind = run_kind(run)
    if baseline is not None and comparison is None:
        comparison = compare_results(baseline, run, seed=seed)
    if kind == "sweep":
        data = run["data"]
        title = title or f"Chunking sweep: {data['name']}"
        meta = (
            f"{data['queries']} questions ({data['kind']} gold: {data.get('gold', '')}); embedder {run.get('embedder')}; "
            f"top k = {run['grid']['k']}; modes {', '.join(run['grid']['modes'])}; seed {run.get('seed', 0)}; "
            f"input fingerprint {data['fingerprint'][:12]}"
        )
        parts = _sweep_sections(run)
    elif kind == "beir":
        title = title or f"BEIR: {run.get('dataset', '')}"
        meta = (
            f"{run.get('queries')} queries; collection {run.get('collection')} ({run.get('documents')} documents, "
            f"{run.get('chunks')} chunks); embedder {run.get('embedder')}"
        )
        parts = _beir_sections(run)
    elif kind == "tune":
        title = title or f"kenning tune: {run.get('collection', '')}"
        pairs = run.get("pairs", {})
        meta = (
            f"{pairs.get('validation', 0)} held-out queries from documents not trained on; {pairs.get('train', 0)} "
            f"training pairs; {run.get('seconds', 0) / 60:.1f} min on {run.get('device', 'cpu')}; peak memory "
            f"{run.get('peak_rss_mb', 0):.0f} MB; load average {run.get('load_average')}"
        )
        parts = _tune_sections(run)
    else:
        title = title or "Evaluation report"
        meta = ""
        flat = {k: v for k, v in run.get("metrics", {}).items() if isinstance(v, int | float)}
        parts = ["<h2>Results</h2>" + _table(["metric", "value"], [[_esc(k), _fmt(v)] for k, v in flat.items()])]
    failures = _failure_modes(run)
    if failures:
        parts.append(
            "<h2>Failure modes</h2>"
            + _figure(_plots.failure_bars(failures, key="failures"), "Questions per failure mode.")
        )
    if comparison is not None:
        parts.extend(_comparison_sections(comparison))
        if comparison.get("failure_modes"):
            parts.append(
                _figure(
                    _plots.failure_bars(comparison["failure_modes"], key="failures-ab", title="Failure modes, A vs B"),
                    "Questions per failure mode in run A and run B.",
                )
            )
    if timings:
        parts.append(_timings_section(timings))
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head>\n<body><main>"
        f'<h1>{_esc(title)}</h1><p class="meta">{_esc(meta)}</p>\n{body}\n'
        '<p class="note">Made by kenning. Self-contained: no scripts, no network.</p></main></body></html>\n'
    )


def write_report(
    run: dict[str, Any],
    out: str | Path,
    *,
    baseline: dict[str, Any] | None = None,
    timings: dict[str, Any] | None = None,
    title: str | None = None,
    seed: int = 0,
    resamples: int = 10_000,
    name: str = "report",
) -> dict[str, Path]:
    """Write ``out/<name>.html`` (and ``out/comparison.json`` when comparing); returns the paths written."""
    from .sweep import write_json

    folder = Path(out).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    comparison = compare_results(baseline, run, seed=seed, resamples=resamples) if baseline is not None else None
    if comparison is not None:
        paths["comparison"] = write_json(folder / "comparison.json", comparison)
    page = render_report(run, comparison=comparison, timings=timings, title=title, seed=seed)
    path = folder / f"{name}.html"
    path.write_text(page, encoding="utf-8")
    paths["html"] = path
    return paths
