"""The HTML report: self-contained, every table row and plot there, checked in a real headless Chromium.

The results are real files (``.predict``, ``run.jsonl``) scored by the real
scorer against a hand-written ``model_configs.json``; no submission runs.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from harness.task.records import RunRecord, write_predict, write_run_log
from harness.report.entries import Entry, Leaderboard, Provenance, load_entry, rank_entries
from harness.report.html import REPORT_HTML, bars_figure, heatmap_figure, model_points, scatter_figure
from harness.report.leaderboard import reference_data, write_leaderboard
from harness.scoring.evaluate import evaluate_dir
from harness.task import find_tasks

GRID = {"depth": [1, 2], "width": [4, 8], "lr": [0.1, 0.01]}
#: Model i is point i of the grid in itertools.product order: i = 4 depth + 2 width + lr (as indices).
GAPS = [0.05, 0.10, 0.20, 0.08, 0.15, 0.30, 0.12, 0.25]


def write_reference(root: Path, task: str = "alpha") -> Path:
    """A reference-only split root with one task: the 2 x 2 x 2 grid above, gap_i = GAPS[i]."""
    entries = {}
    for i, (gap, point) in enumerate(zip(GAPS, itertools.product(*GRID.values()))):
        values = dict(zip(GRID, point))
        entries[str(i)] = {"hparams": {k: {"possible_values": GRID[k], "current_value": v} for k, v in values.items()},
                           "metrics": {"train_acc": 0.9, "test_acc": 0.9 - gap}}
    folder = root / "reference_data" / task
    folder.mkdir(parents=True)
    (folder / "model_configs.json").write_text(json.dumps(entries))
    return root


def write_result(out: Path, name: str, values: list[float | None], task: str = "alpha") -> Path:
    """A result folder as the runner writes it: run.jsonl and <task>.predict; None marks a failed model."""
    records = [RunRecord(task, str(i), "ok", float(v), 0.5) if v is not None else
               RunRecord(task, str(i), "error", None, 0.5, "ValueError: boom on purpose")
               for i, v in enumerate(values)]
    folder = out / name
    folder.mkdir(parents=True)
    write_run_log(folder / "run.jsonl", records)
    write_predict(folder, task, records)
    return folder


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Leaderboard:
    """Three scored submissions (perfect, shuffled, one failed model) and one that could not run."""
    tmp = tmp_path_factory.mktemp("report")
    data = write_reference(tmp / "data")
    references = reference_data(find_tasks(data))
    out = tmp / "board"
    results = {"perfect": GAPS, "shuffled": GAPS[::-1], "one failed": [1.0, 2.0, 3.0, None, 5.0, 6.0, 7.0, 8.0]}
    entries = []
    for name, values in results.items():
        folder = write_result(out, name, values)
        evaluate_dir(folder, data, folder, bootstrap=0)
        provenance = Provenance("0.1.0", "d" * 64, "r" * 64, name[0] * 64, 0, 300.0, 8192, 1024, "bubblewrap",
                                "auto", "model", ("alpha",))
        entries.append(load_entry(name, f"subs/{name}", folder, provenance))
    entries.append(Entry("broken", "subs/broken", out / "broken", error="subs/broken: no complexity.py at its top level"))
    board = Leaderboard(rank_entries(entries), ("alpha",), "d" * 64, out)
    write_leaderboard(board, references)
    return board


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def parsed(path: Path) -> list[tuple[str, dict[str, str]]]:
    collector = _Collector()
    collector.feed(path.read_text())
    return collector.tags


# 3 scored entries x (scatter, bars) + a heatmap for the two with a complete grid of predictions.
EXPECTED_IMAGES = 3 * 2 + 2


def test_report_loads_nothing_from_outside(board: Leaderboard) -> None:
    tags = parsed(board.out_dir / REPORT_HTML)
    assert not [t for t, _ in tags if t in ("script", "link", "iframe", "object", "embed")]
    images = [a["src"] for t, a in tags if t == "img"]
    assert len(images) == EXPECTED_IMAGES
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    csp = [a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == ["default-src 'none'; img-src data:; style-src 'unsafe-inline'"]


def test_report_lists_the_failed_models_with_their_reasons(board: Leaderboard) -> None:
    text = (board.out_dir / REPORT_HTML).read_text()
    section = text.split('id="s-one-failed"', 1)[1].split("</section>", 1)[0]
    assert re.search(r"<td class=text>model_3</td><td class=text>error</td>"
                     r"<td class=text>ValueError: boom on purpose</td>", section)
    assert "no official pair scores: 1 model(s) without a finite prediction" in section


def test_ranking_puts_the_perfect_measure_first_and_the_broken_one_last(board: Leaderboard) -> None:
    assert [(e.rank, e.name) for e in board.entries] == [(1, "perfect"), (2, "shuffled"), (3, "one failed"),
                                                         (None, "broken")]
    assert board.entries[0].overall_official == pytest.approx(100.0, abs=1e-6)  # measure = gap
    assert 0.0 < board.entries[1].overall_official < 100.0
    assert board.entries[2].overall_official == 0.0  # a failed model gives its task 0, as in 2020


def test_heatmap_outlines_the_pair_with_the_lowest_score() -> None:
    names = ["a", "b", "c"]
    pairs = {("a", "b"): 0.4, ("b", "a"): 0.5, ("a", "c"): 0.3, ("c", "a"): 0.6, ("b", "c"): 0.1, ("c", "b"): 0.2}
    ax = heatmap_figure(pairs, names).axes[0]
    (outline,) = ax.patches
    assert outline.get_xy() == (2 - 0.5, 1 - 0.5)  # row b, column c
    cell_texts = sorted(t.get_text() for t in ax.texts)
    assert cell_texts == ["0.100", "0.200", "0.300", "0.400", "0.500", "0.600"]


def test_heatmap_writes_each_pairs_null_95th_percentile_and_marks_the_tasks_on_the_colour_bar() -> None:
    names = ["a", "b"]
    ax, bar = heatmap_figure({("a", "b"): 0.4, ("b", "a"): 0.5}, names,
                             {("a", "b"): 0.05, ("b", "a"): 0.07}, 0.06).axes
    assert sorted(t.get_text() for t in ax.texts) == ["0.400\nnull 0.050", "0.500\nnull 0.070"]
    assert [line.get_ydata()[0] for line in bar.lines] == [0.06]


def test_psi_bars_draw_the_null_95th_percentile_of_each_hyperparameter() -> None:
    left, _ = bars_figure({"a": 0.5, "b": 0.1}, {"a": (0.2, 0.4), "b": (0.3, 0.5)}, ["a", "b"],
                          {"a": 0.2, "b": 0.25}).axes
    (ticks,) = left.collections
    assert [tuple(seg[:, 1]) for seg in ticks.get_segments()] == [(0.2, 0.2), (0.25, 0.25)]


def test_each_task_shows_its_p_values_and_the_leaderboard_the_overall_one(board: Leaderboard) -> None:
    text = (board.out_dir / REPORT_HTML).read_text()
    section = text.split('id="s-perfect--alpha"', 1)[1].split("</section>", 1)[0]
    p_row = re.search(r"<tr><td class=text>p-value</td>(.*?)</tr>", section).group(1)
    cells = re.findall(r"<td>([^<]*)</td>", p_row)
    assert cells[:4] == ["", "0.001", "0.001", "0.001"]   # official, robust CMI, tau: no permutation ties
    assert float(cells[4]) <= 0.01   # Psi: groups of two models, so a permutation may reach Psi = 1
    header = re.search(r'<table id="leaderboard"><thead><tr>(.*?)</tr>', text).group(1)
    assert "<th>p official</th>" in header
    assert board.entries[0].overall_p_value == 0.001 and board.entries[1].overall_p_value > 0.001


def test_scatter_has_one_panel_per_hyperparameter_coloured_by_its_values(tmp_path: Path) -> None:
    reference = find_tasks(write_reference(tmp_path))[0].read_reference()
    records = [RunRecord("alpha", str(i), "ok", float(i), 0.1) for i in range(8)]
    fig = scatter_figure(model_points(reference, records, "alpha"), reference.grid)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_legend().get_title().get_text() for ax in visible] == ["depth", "width", "lr"]
    assert [t.get_text() for t in visible[2].get_legend().get_texts()] == ["0.1", "0.01"]  # grid order
    # width 8 is models 2, 3, 6, 7: measure i against gap GAPS[i]
    offsets = visible[1].collections[1].get_offsets()
    assert np.allclose(offsets, [[i, GAPS[i]] for i in (2, 3, 6, 7)])


def test_model_points_mark_models_without_a_record_as_missing(tmp_path: Path) -> None:
    reference = find_tasks(write_reference(tmp_path))[0].read_reference()
    points = model_points(reference, [RunRecord("alpha", "0", "ok", 1.0, 0.1)], "alpha")
    assert [(p.id, p.status, p.value) for p in points[:2]] == [("0", "ok", 1.0), ("1", "missing", None)]
    assert points[5].gap == pytest.approx(0.30)
    assert len(points) == 8


_CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const images = [...document.images].map(i => ({alt: i.alt, complete: i.complete,
                                                 width: i.naturalWidth, height: i.naturalHeight}));
  const rows = [...document.querySelectorAll('#leaderboard tbody tr')].map(
      tr => [...tr.cells].map(td => td.textContent));
  const pre = document.createElement('pre');
  pre.id = 'pgdl-check';
  pre.textContent = JSON.stringify({images, rows});
  document.body.appendChild(pre);
});
</script>"""


def chromium_dump(page: Path, tmp_path: Path) -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it)")
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
            page.as_uri()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_chromium_renders_every_table_row_and_every_plot(board: Leaderboard, tmp_path: Path) -> None:
    # The check script is added to a copy; the CSP keeps forbidding anything but data: images.
    text = (board.out_dir / REPORT_HTML).read_text()
    text = text.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';", 1)
    page = tmp_path / "report-under-test.html"
    page.write_text(text.replace("</body>", _CHECK_SCRIPT + "</body>", 1))

    dom = chromium_dump(page, tmp_path)
    found = re.search(r'<pre id="pgdl-check">(.*?)</pre>', dom, re.S)
    assert found, "the page's load handler did not run"
    seen = json.loads(html.unescape(found.group(1)))

    assert [row[:2] for row in seen["rows"]] == [["1", "perfect"], ["2", "shuffled"], ["3", "one failed"],
                                                 ["-", "broken"]]
    assert seen["rows"][3][10].startswith("not scored: subs/broken: no complexity.py")
    assert len(seen["images"]) == EXPECTED_IMAGES
    for image in seen["images"]:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100, image
    kinds = sorted(image["alt"].rsplit(": ", 1)[1].split(",")[0] for image in seen["images"])
    assert kinds == sorted(["granulated Kendall ψ and sign-error per hyperparameter"] * 3
                           + ["measure against gap"] * 3
                           + ["official score of every ordered hyperparameter pair"] * 2)
