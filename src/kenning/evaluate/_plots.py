"""Plots for the HTML reports, drawn with matplotlib's object API (no pyplot, no GUI backend) into inline SVG.

Text stays text (``svg.fonttype = none``), so a browser renders it with its own fonts and a test can read the axis
labels from the DOM; element ids are prefixed per figure so several SVGs can share one page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from ..errors import MissingExtraError

__all__ = ["metric_vs_size", "distributions", "failure_bars", "delta_bars", "grouped_bars", "curves"]

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")
_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D")
_FAILURE_ORDER = ("retrieval_miss", "chunk_split", "generator_ignored_context", "ok")


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError("HTML reports", "report", "matplotlib") from None
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def _svg(fig: Any, key: str) -> str:
    import matplotlib

    buf = io.StringIO()
    rc = {"svg.fonttype": "none", "svg.hashsalt": f"kenning-{key}", "font.family": "sans-serif"}
    with matplotlib.rc_context(rc):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.DOTALL)  # RDF boilerplate
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", key)
    for name in sorted(ids, key=len, reverse=True):
        text = text.replace(f'id="{name}"', f'id="{prefix}-{name}"')
        text = text.replace(f"url(#{name})", f"url(#{prefix}-{name})")
        text = text.replace(f'href="#{name}"', f'href="#{prefix}-{name}"')
    return text.replace("<svg ", f'<svg class="plot" data-plot="{prefix}" ', 1)


def metric_vs_size(configs: Sequence[dict[str, Any]], metric: str, *, key: str) -> str:
    """One line per configuration family: colour = chunker × overlap, marker = chunker, line style = the retrieval
    variant (mode, RRF k, rerank depth) when those vary."""
    fig = _figure(9.0, 4.4)
    ax = fig.add_subplot()
    varying = [f for f in ("mode", "rrf_k", "rerank_depth") if len({c.get(f) for c in configs}) > 1]
    chunkers = list(dict.fromkeys(c["chunker"] for c in configs))
    overlaps = sorted({c["overlap"] for c in configs})
    variants = list(dict.fromkeys(tuple(c.get(f) for f in varying) for c in configs))
    families: dict[tuple[str, int, tuple[Any, ...]], list[tuple[int, float, float, float]]] = {}
    for c in configs:
        lo, hi = c.get("ci95", {}).get(metric, (c["metrics"][metric],) * 2)
        fam = (c["chunker"], c["overlap"], tuple(c.get(f) for f in varying))
        families.setdefault(fam, []).append((c["size"], c["metrics"][metric], lo, hi))
    for (chunker, overlap, variant), points in families.items():
        points.sort()
        xs = [p[0] for p in points]
        color = _PALETTE[(chunkers.index(chunker) * len(overlaps) + overlaps.index(overlap)) % len(_PALETTE)]
        label = f"{chunker}, overlap {overlap}" + "".join(
            f", {f.replace('_', ' ')} {v}" for f, v in zip(varying, variant, strict=True)
        )
        ax.plot(
            xs,
            [p[1] for p in points],
            _STYLES[variants.index(variant) % len(_STYLES)],
            color=color,
            marker=_MARKERS[chunkers.index(chunker) % len(_MARKERS)],
            markersize=5,
            markerfacecolor="none" if chunkers.index(chunker) % 2 else color,
            label=label,
        )
        ax.fill_between(xs, [p[2] for p in points], [p[3] for p in points], color=color, alpha=0.07, linewidth=0)
    sizes = sorted({c["size"] for c in configs})
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("chunk size (tokens)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs chunk size")
    ax.grid(True, alpha=0.3)
    fig.legend(fontsize=7, loc="outside right upper")
    return _svg(fig, key)


def distributions(labels: Sequence[str], values: Sequence[Sequence[float]], metric: str, *, key: str) -> str:
    """A horizontal box plot of per-query values, one row per configuration (mean marked with a dot)."""
    n = len(labels)
    fig = _figure(7.5, max(2.2, 0.28 * n + 1.2))
    ax = fig.add_subplot()
    positions = list(range(n, 0, -1))
    ax.boxplot(
        [list(v) for v in values],
        positions=positions,
        orientation="horizontal",
        widths=0.6,
        showfliers=True,
        flierprops={"markersize": 2, "alpha": 0.4},
        showmeans=True,
        meanprops={"marker": "o", "markerfacecolor": "#d62728", "markeredgecolor": "#d62728", "markersize": 4},
    )
    ax.set_yticks(positions, list(labels), fontsize=7)
    ax.set_xlabel(f"{metric} per query")
    ax.set_title(f"Per-query {metric} by configuration")
    ax.grid(True, axis="x", alpha=0.3)
    return _svg(fig, key)


def failure_bars(series: dict[str, dict[str, float]], *, key: str, title: str = "Failure modes") -> str:
    """Horizontal bars of failure-mode counts; several series (e.g. run A and run B) are drawn side by side."""
    seen = {m for counts in series.values() for m in counts}
    modes = [m for m in _FAILURE_ORDER if m in seen] + sorted(seen - set(_FAILURE_ORDER))
    fig = _figure(7.5, max(2.2, 0.45 * len(modes) * max(1, len(series)) ** 0.5 + 1.2))
    ax = fig.add_subplot()
    height = 0.8 / max(1, len(series))
    for i, (name, counts) in enumerate(series.items()):
        ys = [len(modes) - j - 1 - (i - (len(series) - 1) / 2) * height for j in range(len(modes))]
        xs = [counts.get(m, 0) for m in modes]
        bars = ax.barh(ys, xs, height=height * 0.95, color=_PALETTE[i % len(_PALETTE)], label=name)
        ax.bar_label(bars, fmt="%g", fontsize=7, padding=2)
    ax.set_yticks(range(len(modes) - 1, -1, -1), [m.replace("_", " ") for m in modes])
    ax.set_xlabel("questions")
    ax.set_title(title)
    if len(series) > 1:
        ax.legend(fontsize=8)
    ax.grid(True, axis="x", alpha=0.3)
    return _svg(fig, key)


def delta_bars(rows: Sequence[dict[str, Any]], metric: str, *, key: str) -> str:
    """Mean difference (B − A) per configuration with its 95% interval; significant ones (p < 0.05) filled."""
    n = len(rows)
    fig = _figure(7.5, max(2.2, 0.28 * n + 1.2))
    ax = fig.add_subplot()
    ys = list(range(n, 0, -1))
    deltas = [r["delta"] for r in rows]
    err = [[r["delta"] - r["ci"][0] for r in rows], [r["ci"][1] - r["delta"] for r in rows]]
    colors = [("#2ca02c" if r["delta"] > 0 else "#d62728") if r.get("p", 1) < 0.05 else "#bbbbbb" for r in rows]
    ax.barh(ys, deltas, xerr=err, color=colors, height=0.6, error_kw={"elinewidth": 0.8, "capsize": 2})
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(ys, [r["id"] for r in rows], fontsize=7)
    ax.set_xlabel(f"Δ {metric} (B − A)")
    ax.set_title(f"Change in {metric}, B vs A (grey: p ≥ 0.05)")
    ax.grid(True, axis="x", alpha=0.3)
    return _svg(fig, key)


def grouped_bars(
    groups: Sequence[str], series: dict[str, Sequence[float]], *, key: str, ylabel: str, title: str
) -> str:
    """Vertical grouped bars: one group per x label, one bar per series (e.g. BEIR metrics by mode)."""
    fig = _figure(7.5, 3.8)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(groups))]
        bars = ax.bar(xs, values, width=width * 0.95, color=_PALETTE[i % len(_PALETTE)], label=name)
        ax.bar_label(bars, fmt="%.3f", fontsize=6, padding=1)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return _svg(fig, key)


def curves(series: dict[str, Sequence[tuple[float, float]]], *, key: str, xlabel: str, ylabel: str, title: str) -> str:
    """Lines of (x, y) points, one per series (e.g. training and validation loss by step)."""
    fig = _figure(7.5, 3.4)
    ax = fig.add_subplot()
    for i, (name, points) in enumerate(series.items()):
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(
                xs,
                ys,
                _STYLES[i % len(_STYLES)],
                color=_PALETTE[i % len(_PALETTE)],
                marker=_MARKERS[i % 4],
                markersize=3,
                label=name,
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return _svg(fig, key)
