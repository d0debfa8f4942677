"""Many submissions scored and shown: the leaderboard, its tables, the HTML report, the official run.

* `entries` — a submission's row (`Entry`, read from its ``scores.json``) and the ranked `Leaderboard`;
* `tables` — ``leaderboard.csv`` and ``leaderboard.md``; `html` — ``report.html``;
* `leaderboard` — run and score every submission, reuse what provenance allows, write the three files;
* `official` — the same in containers, as the 2020 competition ran; `score` — one submission run and
  scored (``pgdl score``).

Dependencies run one way: entries <- tables <- html <- leaderboard <- official, all on `harness.scoring`.
"""

from harness.report.entries import Entry, Leaderboard, Provenance, load_entry, rank_entries
from harness.report.html import REPORT_HTML, write_report
from harness.report.leaderboard import build_leaderboard, run_leaderboard
from harness.report.official import run_official
from harness.report.score import ScoreResult, score_submission
from harness.report.tables import LEADERBOARD_CSV, LEADERBOARD_MD, leaderboard_csv, leaderboard_markdown

__all__ = ["LEADERBOARD_CSV", "LEADERBOARD_MD", "REPORT_HTML", "Entry", "Leaderboard", "Provenance", "ScoreResult",
           "build_leaderboard", "leaderboard_csv", "leaderboard_markdown", "load_entry", "rank_entries",
           "run_leaderboard", "run_official", "score_submission", "write_report"]
