"""The leaderboard report: one self-contained HTML file with the table and the plots.

Per task and submission the report shows

* the measure against the generalization gap for every scored model, one panel
  per hyperparameter, the points coloured by that hyperparameter's value;
* the official score(a, b) of every ordered pair of hyperparameters as a heatmap,
  the pair that sets the task's score (the minimum) outlined, each cell with its
  permutation null's 95th percentile and the colour bar marking the task score's;
* Ψ per hyperparameter (granulated Kendall, Jiang et al., ICLR 2020), with each
  ψ_k's null 95th percentile drawn as a tick, and the sign-error per
  hyperparameter (Dziugaite et al., NeurIPS 2020) as bars;
* every headline metric with its permutation p-value;
* the models that failed, with their reasons.

The file needs no network to open: the CSS is inline, every plot a base64 PNG
``data:`` URI, and a Content-Security-Policy forbids loading anything else.
Plots are drawn with matplotlib's Agg canvas on `matplotlib.figure.Figure`
objects (no pyplot, so no global figure state and no display needed).
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterable, Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from harness import __version__
from harness.task.records import RunRecord, atomic_write_text
from harness.report.entries import Entry, Leaderboard
from harness.report.tables import summary_table
from harness.scoring.formatting import format_p, format_score
from harness.scoring.inputs import finite_number
from harness.scoring.null import NULL_METRICS
from harness.scoring.scores_file import TaskEntry
from harness.task import Reference, natural_key

REPORT_HTML = "report.html"
_DPI = 80
#: Categorical colours for up to ten values; more values use a sequential map.
_QUALITATIVE = "tab10"
_SEQUENTIAL = "viridis"
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

Progress = Callable[[Sequence[Any]], ContextManager[Iterable[Any]]]


@dataclass(frozen=True)
class ModelPoint:
    """One model of a task as the report sees it: hyperparameters and gap (reference),
    the submission's value (None when it failed) and the run's status and message."""

    id: str
    hparams: dict[str, Any]
    gap: float
    value: float | None
    status: str
    message: str = ""


def model_points(reference: Reference, records: Iterable[RunRecord], task: str) -> list[ModelPoint]:
    """Join a task's reference with its run records; a model without a record has status ``missing``."""
    by_id = {r.model: r for r in records if r.task == task}
    points = []
    for model_id in sorted(reference.records, key=natural_key):
        ref = reference.records[model_id]
        rec = by_id.get(model_id)
        if rec is None:
            points.append(ModelPoint(model_id, ref.hparams, ref.gap, None, "missing", "no record in run.jsonl"))
        else:
            points.append(ModelPoint(model_id, ref.hparams, ref.gap, rec.value, rec.status, rec.message))
    return points


# --------------------------------------------------------------------- plots


def png_data_uri(fig: Figure) -> str:
    """Render ``fig`` with the Agg canvas to a ``data:image/png;base64,...`` URI."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def scatter_figure(points: Sequence[ModelPoint], grid: Mapping[str, Sequence[Any]]) -> Figure:
    """Measure (x) against gap (y) for the scored models, one panel per hyperparameter of ``grid``.

    In the panel of hyperparameter ``h`` each point is coloured by the model's
    value of ``h``; the legend lists the values in ``grid[h]``'s order (its
    ``possible_values``), values outside it last.
    """
    names = list(grid)
    scored = [p for p in points if p.value is not None]
    panels = max(len(names), 1)
    cols = min(panels, 3)
    rows = math.ceil(panels / cols)
    width, height = 4.2 * cols, 3.4 * rows
    fig = Figure(figsize=(width, height))
    # Fixed margins (the labels are known): a layout engine would double the drawing time.
    fig.subplots_adjust(left=0.75 / width, right=1 - 0.15 / width, bottom=0.55 / height,
                        top=1 - 0.35 / height, wspace=0.35, hspace=0.45)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    x = np.array([p.value for p in scored], dtype=float)
    y = np.array([p.gap for p in scored], dtype=float)
    for ax, name in zip(axes, names or [None]):
        if name is None:
            ax.scatter(x, y, s=18)
        else:
            _coloured_scatter(ax, x, y, [p.hparams.get(name) for p in scored], name, grid[name])
        ax.set_xlabel("measure")
        ax.set_ylabel("generalization gap")
        ax.grid(alpha=0.3)
    for ax in axes[panels:]:
        ax.set_visible(False)
    return fig


def _coloured_scatter(ax: Any, x: np.ndarray, y: np.ndarray, values: Sequence[Any], name: str,
                      possible: Sequence[Any]) -> None:
    order = [_label(v) for v in possible]
    labels = [_label(v) for v in values]
    distinct = [v for v in dict.fromkeys(order) if v in labels] + \
        sorted(set(labels) - set(order), key=natural_key)
    cmap = colormaps[_QUALITATIVE if len(distinct) <= 10 else _SEQUENTIAL]
    for k, label in enumerate(distinct):
        mask = np.array([lab == label for lab in labels], dtype=bool)
        colour = cmap(k if len(distinct) <= 10 else k / max(len(distinct) - 1, 1))
        ax.scatter(x[mask], y[mask], s=18, color=colour, label=label)
    ax.set_title(f"coloured by {name}", fontsize=10)
    if len(distinct) <= 12:
        ax.legend(title=name, fontsize=7, title_fontsize=8, loc="best")


def _label(value: Any) -> str:
    return "<absent>" if value is None else str(value)


def heatmap_figure(pairs: Mapping[tuple[str, str], float | None], names: Sequence[str],
                   null_q95: Mapping[tuple[str, str], float | None] | None = None,
                   task_null_q95: float | None = None) -> Figure:
    """The official score(a, b) of every ordered pair: row a, column b, the minimum outlined in red.

    Undefined scores (nan in the 2020 code, None in ``scores.json``) are shown grey.
    ``null_q95`` (per pair) is written under each score as "null ..."; ``task_null_q95``,
    the null's 95th percentile of the task's score, is a line across the colour bar.
    """
    k = len(names)
    matrix = np.full((k, k), np.nan)
    index = {n: i for i, n in enumerate(names)}
    for (a, b), value in pairs.items():
        if a in index and b in index and value is not None:
            matrix[index[a], index[b]] = value
    size = 0.8 * k + 2.0
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.subplots()
    finite = matrix[np.isfinite(matrix)]
    vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap=colormaps[_SEQUENTIAL].with_extremes(bad="#dddddd"),
                      vmin=0.0, vmax=vmax)
    bar = fig.colorbar(image, ax=ax, shrink=0.8, label="score(a, b)")
    if finite_number(task_null_q95) is not None:
        bar.ax.axhline(min(task_null_q95, vmax), color="red", linewidth=2)
        bar.ax.text(1.05, min(task_null_q95, vmax), " null 95%", color="red", fontsize=7, va="center",
                    transform=bar.ax.get_yaxis_transform())
    ax.set_xticks(range(k), names, rotation=30, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("b")
    ax.set_ylabel("a")
    for i in range(k):
        for j in range(k):
            if i == j:
                continue
            text = "nan" if np.isnan(matrix[i, j]) else f"{matrix[i, j]:.3f}"
            q95 = (null_q95 or {}).get((names[i], names[j]))
            if finite_number(q95) is not None:
                text += f"\nnull {q95:.3f}"
            dark = np.isnan(matrix[i, j]) or matrix[i, j] > 0.6 * vmax
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black" if dark else "white")
    if finite.size:
        i, j = np.unravel_index(np.nanargmin(matrix), matrix.shape)
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.5))
    ax.set_title("official score(a, b) and its null 95th percentile; red: the minimum", fontsize=10)
    return fig


def bars_figure(psi: Mapping[str, float | None], sign: Mapping[str, tuple[float | None, float | None]],
                names: Sequence[str], psi_null_q95: Mapping[str, float | None] | None = None) -> Figure:
    """Ψ_k per hyperparameter (left, in [-1, 1], with each ψ_k's null 95th percentile as a red
    tick) and sign-error per hyperparameter (right, in [0, 1]: bars the mean over pairs,
    diamonds the worst group)."""
    fig = Figure(figsize=(max(6.0, 1.3 * len(names) + 4.0), 3.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    pos = np.arange(len(names))
    psi_values = [_nan(psi.get(n)) for n in names]
    left.bar(pos, psi_values, color="#4c72b0")
    q95 = [_nan((psi_null_q95 or {}).get(n)) for n in names]
    if any(math.isfinite(v) for v in q95):
        left.hlines(q95, pos - 0.4, pos + 0.4, colors="red", linewidth=2, label="null 95th percentile")
        left.legend(fontsize=7, loc="lower right")
    _mark_undefined(left, pos, psi_values)
    left.axhline(0.0, color="black", linewidth=0.8)
    left.set_ylim(-1.05, 1.05)
    left.set_title("granulated Kendall ψ per hyperparameter", fontsize=10)
    mean = [_nan(sign.get(n, (None, None))[0]) for n in names]
    worst = [_nan(sign.get(n, (None, None))[1]) for n in names]
    right.bar(pos, mean, color="#dd8452", label="mean")
    right.scatter(pos, worst, marker="D", color="#c44e52", zorder=3, label="worst group")
    _mark_undefined(right, pos, mean)
    right.set_ylim(0.0, 1.05)
    right.set_title("sign-error per hyperparameter (0 is best)", fontsize=10)
    right.legend(fontsize=7, loc="upper right")
    for ax in (left, right):
        ax.set_xticks(pos, names, rotation=30, ha="right")
        ax.grid(axis="y", alpha=0.3)
    return fig


def _mark_undefined(ax: Any, pos: np.ndarray, values: Sequence[float]) -> None:
    for x, v in zip(pos, values):
        if math.isnan(v):
            ax.text(x, 0.02, "undefined", rotation=90, ha="center", va="bottom", fontsize=7, color="#777")


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


# ---------------------------------------------------------------------- HTML

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin-top: 1.5em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td.name, th.name, td.text { text-align: left; }
tr.failed td { color: #a00; }
.meta { color: #555; font-size: 0.9em; } code { font-size: 0.95em; }
div.wide { overflow-x: auto; } #leaderboard td { white-space: nowrap; } nav ul { columns: 3; font-size: 0.9em; }
figure { margin: 0.8em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.85em; }
p.error { color: #a00; font-weight: bold; }
"""


def render_report(board: Leaderboard, references: Mapping[str, Reference], *,
                  progress: Progress | None = None) -> str:
    """The report's HTML: header, leaderboard table, then one section per submission and task.

    ``references`` maps task names to their reference data (gaps and
    hyperparameters for the plots). ``progress`` wraps the list of
    submissions while their plots are drawn (``click.progressbar`` fits).
    """
    header, rows = summary_table(board, full=False)
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        "<title>PGDL leaderboard</title>", f"<style>{_STYLE}</style>", "</head>", "<body>",
        "<h1>PGDL leaderboard</h1>",
        f'<p class="meta">pgdl-harness {_e(__version__)} &middot; {len(board.entries)} submission(s) '
        f"&middot; tasks: {_e(', '.join(board.tasks))} &middot; input data sha256 "
        f"<code>{_e(board.data_sha256)}</code></p>",
        '<p class="meta">Ranked by the official score (100 &times; the mean over tasks of the 2020 '
        "conditional mutual information). <i>p official</i> is its one-sided permutation p-value: the "
        "chance that a measure carrying no information about the gap (its values permuted across each "
        "task's models) scores at least as well. Full provenance of every row is in "
        "<code>leaderboard.csv</code>.</p>",
        '<div class="wide">' + _table(header, rows, table_id="leaderboard", text_columns=(1, header.index("status")),
                                      row_classes=["entry failed" if e.error else "entry" for e in board.entries])
        + "</div>",
        "<nav><ul>" + "".join(f'<li><a href="#{_anchor(e.name)}">{_e(e.name)}</a></li>' for e in board.entries)
        + "</ul></nav>",
    ]
    with (progress or nullcontext)(list(board.entries)) as entries:
        for entry in entries:
            parts.append(_entry_section(entry, references))
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def write_report(board: Leaderboard, references: Mapping[str, Reference], path: str | Path, *,
                 progress: Progress | None = None) -> Path:
    """Write `render_report`'s HTML to ``path`` atomically; returns the path."""
    path = Path(path)
    atomic_write_text(path, render_report(board, references, progress=progress))
    return path


def _entry_section(entry: Entry, references: Mapping[str, Reference]) -> str:
    parts = [f'<section class="submission" id="{_anchor(entry.name)}">',
             f"<h2>{_e(entry.name)}</h2>",
             f'<p class="meta">source <code>{_e(entry.source)}</code>'
             + (f" &middot; submission sha256 <code>{_e(entry.provenance.submission_sha256)}</code>"
                if entry.provenance else "") + "</p>"]
    if entry.error:
        parts.append(f'<p class="error">not scored: {_e(entry.error)}</p>')
    for result in entry.tasks:
        reference = references.get(result.task)
        if reference is not None:
            parts.append(_task_section(entry, result, reference))
    parts.append("</section>")
    return "\n".join(parts)


def _task_section(entry: Entry, result: TaskEntry, reference: Reference) -> str:
    names = list(reference.grid)
    points = model_points(reference, entry.records, result.task)
    label = f"{entry.name} / {result.task}"
    parts = [f'<section class="task" id="{_anchor(entry.name + "--" + result.task)}">',
             f"<h3>{_e(label)}</h3>", _task_metrics(result)]
    if sum(p.value is not None for p in points):
        parts.append(_figure(scatter_figure(points, reference.grid), "scatter",
                             f"{label}: measure against gap, coloured by each hyperparameter"))
    else:
        parts.append('<p class="error">no model was scored: nothing to plot</p>')
    null = result.null
    if len(names) >= 2 and result.official_pairs:
        official_null = result.null_summary("official")
        parts.append(_figure(heatmap_figure(result.official_pairs, names,
                                            None if null is None else null.official_pairs_q95,
                                            None if official_null is None else official_null.q95), "heatmap",
                             f"{label}: official score of every ordered hyperparameter pair"))
    elif len(names) >= 2:
        parts.append(f'<p class="meta">no official pair scores: {_e(result.official_reason or "not computed")}</p>')
    if result.psi_per_hparam or result.sign_error_per_hparam:
        parts.append(_figure(bars_figure(result.psi_per_hparam, result.sign_error_per_hparam, names,
                                         None if null is None else null.psi_per_hparam_q95), "bars",
                             f"{label}: granulated Kendall ψ and sign-error per hyperparameter"))
    parts.append(_failures(points))
    parts.append("</section>")
    return "\n".join(parts)


def _task_metrics(result: TaskEntry) -> str:
    """The task's headline metrics, a row of their permutation p-values and of their null's
    95th percentiles under them."""
    header = ["", "models scored", "official", "robust CMI", "Kendall τ", "Ψ", "sign-error"]
    official = format_score(result.official) if result.official is not None else \
        f"0 ({result.official_reason or 'not scored'})"
    rows = [["score", f"{result.n_scored}/{result.n_models}", official,
             *[format_score(result.headline(m)) for m in ("robust_cmi", "kendall_tau", "psi", "sign_error")]]]
    nulls = [result.null_summary(m) for m in NULL_METRICS]
    if any(s is not None for s in nulls):
        rows.append(["p-value", "", *[format_p(None if s is None else s.p_value) for s in nulls], ""])
        rows.append(["null 95th percentile", "", *[format_score(None if s is None else s.q95) for s in nulls], ""])
    return _table(header, rows, table_class="metrics", text_columns=(0,))


def _failures(points: Sequence[ModelPoint]) -> str:
    failed = [p for p in points if p.value is None]
    if not failed:
        return '<p class="meta">no failed models</p>'
    rows = [[f"model_{p.id}", p.status, p.message] for p in failed]
    return (f"<p>{len(failed)} model(s) failed:</p>"
            + _table(["model", "status", "reason"], rows, table_class="failures", text_columns=(0, 1, 2)))


def _figure(fig: Figure, kind: str, caption: str) -> str:
    return (f'<figure class="plot {kind}"><img alt="{_e(caption)}" src="{png_data_uri(fig)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, table_id: str | None = None,
           table_class: str | None = None, row_classes: Sequence[str] | None = None,
           text_columns: Sequence[int] = (1,)) -> str:
    attrs = (f' id="{table_id}"' if table_id else "") + (f' class="{table_class}"' if table_class else "")
    head = "".join(f'<th{" class=name" if i in text_columns else ""}>{_e(h)}</th>' for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{row_classes[r]}"' if row_classes else ""
        cells = "".join(f'<td{" class=text" if i in text_columns else ""}>{_e(_cell(v))}</td>'
                        for i, v in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format_score(value)
    return str(value)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _anchor(text: str) -> str:
    return "s-" + re.sub(r"[^A-Za-z0-9_-]+", "-", text)
