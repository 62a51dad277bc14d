"""Loss curves of a run as an SVG file: plain text, no plotting library.

``train`` calls ``write_loss_plot(metrics.jsonl, loss.svg)`` after each evaluation, so the plot
next to ``metrics.jsonl`` is always up to date (open it in a browser). It shows, against the
iteration:

* ``train-steps``: the training loss of the logged steps (one batch each, so noisy), faint;
* ``train-estimate`` and ``val-estimate``: the periodic estimates (``eval_iters`` random batches);
* ``val-full``: the exact loss over the whole val split at the end (``val_loss_full``), a marker
  with its value.

Each series is a ``<g id="...">`` holding a ``<polyline>`` (or the marker), with a legend entry.
When a resumed run repeats an iteration, its last record counts.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable
from xml.sax.saxutils import escape

PLOT_NAME = "loss.svg"  # written next to metrics.jsonl
WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 28, 40  # margins around the plot area

# series id -> (legend label, colour, line width, opacity)
SERIES = {
    "train-steps": ("train loss (logged steps)", "#9e9e9e", 1.0, 0.6),
    "train-estimate": ("train loss (estimate)", "#1f77b4", 2.0, 1.0),
    "val-estimate": ("val loss (estimate)", "#ff7f0e", 2.0, 1.0),
    "val-full": ("val_loss_full (whole val split)", "#d62728", 0.0, 1.0),
}


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file (lines that are not JSON objects are skipped)."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def loss_series(records: Iterable[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """``{series id: [(iter, loss), ...]}`` sorted by iteration, the last record of an iteration winning."""
    fields = {"train-steps": ("train", "loss"), "train-estimate": ("eval", "train_loss"),
              "val-estimate": ("eval", "val_loss"), "val-full": ("eval_full", "val_loss_full")}
    points: dict[str, dict[float, float]] = {name: {} for name in fields}
    for record in records:
        for name, (event, key) in fields.items():
            value = record.get(key)
            if record.get("event") == event and isinstance(value, (int, float)) and math.isfinite(value):
                points[name][float(record["iter"])] = float(value)
    return {name: sorted(p.items()) for name, p in points.items()}


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round values (1, 2 or 5 times a power of ten apart) covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def loss_curves_svg(series: dict[str, list[tuple[float, float]]], title: str = "loss") -> str:
    """The SVG document (a string) plotting ``series`` (as ``loss_series`` returns it)."""
    values = [v for pts in series.values() for _, v in pts]
    iters = [i for pts in series.values() for i, _ in pts]
    if not values:
        values, iters = [0.0, 1.0], [0.0, 1.0]
    x_hi = max(iters) or 1.0
    y_lo, y_hi = min(values), max(values)
    pad = 0.05 * (y_hi - y_lo) or 0.5
    y_lo, y_hi = y_lo - pad, y_hi + pad
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def X(i: float) -> float:
        return LEFT + pw * i / x_hi

    def Y(v: float) -> float:
        return TOP + ph * (y_hi - v) / (y_hi - y_lo)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
           f'<title>{escape(title)}</title>',
           f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{LEFT}" y="{TOP - 10}" font-size="13">{escape(title)}</text>',
           '<g id="axes" stroke="#cccccc" stroke-width="1">']
    for t in _ticks(0, x_hi, 8):
        out.append(f'<line x1="{_fmt(X(t))}" y1="{TOP}" x2="{_fmt(X(t))}" y2="{TOP + ph}"/>')
    for t in _ticks(y_lo, y_hi, 6):
        out.append(f'<line x1="{LEFT}" y1="{_fmt(Y(t))}" x2="{LEFT + pw}" y2="{_fmt(Y(t))}"/>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#444444"/>')
    out.append('</g>')
    out.append('<g id="labels" fill="#333333">')
    for t in _ticks(0, x_hi, 8):
        out.append(f'<text x="{_fmt(X(t))}" y="{TOP + ph + 15}" text-anchor="middle">{t:g}</text>')
    for t in _ticks(y_lo, y_hi, 6):
        out.append(f'<text x="{LEFT - 6}" y="{_fmt(Y(t) + 4)}" text-anchor="end">{t:.4g}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{HEIGHT - 6}" text-anchor="middle">iteration</text>')
    out.append(f'<text x="14" y="{TOP + ph / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {TOP + ph / 2})">loss (nats per token)</text>')
    out.append('</g>')
    for name, (label, colour, width, opacity) in SERIES.items():
        pts = series.get(name, [])
        if not pts:
            continue
        out.append(f'<g id="{name}"><title>{escape(label)}</title>')
        if name == "val-full":
            for i, v in pts:
                x, y = X(i), Y(v)
                out.append(f'<path d="M{_fmt(x)},{_fmt(y - 6)} l6,6 l-6,6 l-6,-6 z" fill="{colour}"/>')
                out.append(f'<text x="{_fmt(x - 9)}" y="{_fmt(y - 8)}" text-anchor="end" fill="{colour}">'
                           f'{v:.4f}</text>')
        else:
            coords = " ".join(f"{_fmt(X(i))},{_fmt(Y(v))}" for i, v in pts)
            out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="{width}" '
                       f'stroke-opacity="{opacity}"/>')
        out.append('</g>')
    out.append('<g id="legend">')
    shown = [name for name in SERIES if series.get(name)]
    for k, name in enumerate(shown):
        label, colour, _, _ = SERIES[name]
        y = TOP + 14 + 16 * k
        x = LEFT + pw - 210
        out.append(f'<rect x="{x}" y="{y - 8}" width="14" height="4" fill="{colour}"/>')
        out.append(f'<text x="{x + 20}" y="{y - 2}">{escape(label)}</text>')
    out.append('</g>')
    out.append('</svg>')
    return "\n".join(out) + "\n"


def write_loss_plot(metrics_path: str | Path, svg_path: str | Path | None = None, title: str = "loss") -> Path:
    """Plot the run logged in ``metrics_path`` into ``svg_path`` (default: loss.svg beside it),
    written via a temporary file and a rename, so a reader never sees half a file."""
    metrics_path = Path(metrics_path)
    svg_path = Path(svg_path) if svg_path is not None else metrics_path.with_name(PLOT_NAME)
    svg = loss_curves_svg(loss_series(read_metrics(metrics_path)), title)
    tmp = svg_path.with_name(f".{svg_path.name}.tmp{os.getpid()}")
    tmp.write_text(svg, encoding="utf-8")
    os.replace(tmp, svg_path)
    return svg_path
