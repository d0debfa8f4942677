"""The command line as a whole: names, defaults, help, errors and exit statuses (issue 14, items 7 and 8)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from harness.cli import COMMAND_ORDER, EXIT_ERROR, EXIT_FLAGGED, cli, main
from tests.helpers.cli import pgdl
from harness.task import MODEL_CONFIGS

REPO = Path(__file__).resolve().parents[1]
#: Commands that make scores (and so take --bootstrap and --seed).
SCORING = ("score", "evaluate", "leaderboard", "official")


def commands(group: click.Group = cli, prefix: str = "") -> dict[str, click.Command]:
    """Every command, subcommands of groups included, by its full name."""
    found = {}
    for name, command in group.commands.items():
        found[prefix + name] = command
        if isinstance(command, click.Group):
            found.update(commands(command, prefix + name + " "))
    return found


def options(command: click.Command) -> dict[str, click.Option]:
    return {opt: p for p in command.params if isinstance(p, click.Option) for opt in p.opts}


def help_text(*names: str) -> str:
    done = subprocess.run([sys.executable, "-m", "harness.cli", *names, "--help"], capture_output=True,
                          text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_commands_are_listed_in_the_order_a_user_meets_them():
    listed = [line.split()[0] for line in help_text().split("Commands:")[1].splitlines()
              if line.startswith("  ") and line.split()[0] in cli.commands]
    assert listed == list(COMMAND_ORDER)


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_command_help_has_an_example(name):
    text = help_text(*name.split())
    assert "Example" in text and "pgdl " in text.split("Example")[1]


def test_one_time_limit_option_with_one_default_everywhere():
    limits = {name: options(c).get("--time-per-model") for name, c in commands().items()
              if "--time-per-model" in options(c)}
    assert {"check", "pack", "predict", "score", "leaderboard", "official"} <= set(limits)
    assert {opt.default for opt in limits.values()} == {300.0}
    assert not any("--time-limit" in options(c) and not options(c)["--time-limit"].hidden
                   for c in commands().values())


def test_bootstrap_and_seed_wherever_scores_are_made():
    for name in SCORING:
        opts = options(cli.commands[name])
        assert opts["--bootstrap"].default == 200 and opts["--seed"].default == 0, name


def test_data_defaults_to_the_shipped_zoo_wherever_it_is_taken():
    for name in ("check", "score", "predict", "evaluate", "leaderboard", "official", "pack"):
        data = options(cli.commands[name])["--data"]
        assert not data.required and "the zoo shipped in model_zoo/default" in data.help, name


def test_the_old_time_limit_name_still_sets_the_time_per_model(tmp_path, capsys):
    for flag in ("--time-limit", "--time-per-model"):
        assert pgdl("check", tmp_path / "nowhere", flag, "-1", "--data", tmp_path) == EXIT_ERROR
        assert capsys.readouterr().err == "error: --time-per-model must be positive. Received: --time-per-model -1.0\n"


def test_exit_statuses_are_documented_in_help():
    for name in ("score", "evaluate"):
        text = " ".join(help_text(name).split())
        assert "1 when the scores were written but a task was flagged" in text
        assert "2 when nothing was written" in text
    assert "2 when nothing was written" in " ".join(help_text().split())
    assert (EXIT_FLAGGED, EXIT_ERROR) == (1, 2)


# --- bad input gets one line ---------------------------------------------------


def test_an_os_error_reaching_the_cli_is_one_line(toy_data, tmp_path, capsys):
    (tmp_path / "pred" / "run.jsonl").mkdir(parents=True)   # reading it raises IsADirectoryError
    assert pgdl("evaluate", tmp_path / "pred", "--data", toy_data, "--out", tmp_path / "out") == EXIT_ERROR
    assert capsys.readouterr().err == f"error: {tmp_path / 'pred' / 'run.jsonl'}: Is a directory\n"


@pytest.mark.parametrize("exc, line", [(ValueError("bad\nsecond line"), "error: ValueError: bad\n"),
                                       (RecursionError("maximum recursion depth exceeded"),
                                        "error: input nested too deeply to process (RecursionError)\n")])
def test_value_and_recursion_errors_reaching_the_cli_are_one_line(monkeypatch, tmp_path, capsys, exc, line):
    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr("harness.scoring.evaluate.evaluate_dir", fail)
    assert pgdl("evaluate", tmp_path, "--data", tmp_path, "--out", tmp_path / "out") == EXIT_ERROR
    assert capsys.readouterr().err == line


def test_debug_before_the_command_shows_the_traceback(monkeypatch, tmp_path):
    monkeypatch.setattr("harness.scoring.evaluate.evaluate_dir", lambda *a, **k: (_ for _ in ()).throw(ValueError("bad")))
    with pytest.raises(ValueError, match="bad"):
        main(["--debug", "evaluate", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "out")])


def test_debug_as_an_argument_of_a_command_is_not_the_debug_flag(tmp_path, capsys):
    """A folder named --debug (after ``--``) is an argument; the old argv scan took it for the flag."""
    code = pgdl("evaluate", "--data", tmp_path, "--out", tmp_path / "out", "--", "--debug")
    assert code == EXIT_ERROR
    assert capsys.readouterr().err.startswith("error: ")


# --- score: --task, --limit, stale scores (no worker runs in these) ----------------


def test_score_with_bad_reference_data_runs_nothing_and_removes_earlier_scores(tmp_path, tiny_split_task, capsys):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(tiny_split_task.root, root)
    configs = root / "reference_data" / "tiny_task" / MODEL_CONFIGS
    entries = json.loads(configs.read_text())
    entries["0"]["metrics"]["train_acc"] = "0.9"
    configs.write_text(json.dumps(entries))
    out = tmp_path / "out"
    out.mkdir()
    (out / "scores.json").write_text('{"overall_official": 12.5}')
    code = pgdl("score", REPO / "sample_submissions" / "sum_of_squared_weights", "--data", root, "--out", out)
    assert code == EXIT_ERROR
    assert capsys.readouterr().err.startswith(f"error: {configs}: model 0: train_acc must be a JSON number")
    assert sorted(p.name for p in out.iterdir()) == []   # no run started, the old claim gone


def test_score_refuses_a_limit_below_the_cover_naming_the_option(tiny_split_task, tmp_path, capsys):
    code = pgdl("score", REPO / "sample_submissions" / "sum_of_squared_weights", "--data", tiny_split_task.root,
                "--limit", "1", "--out", tmp_path / "out")
    assert code == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error: --limit must be at least 2 for ") and err.endswith("Received: --limit 1\n")
    assert not (tmp_path / "out").exists()


# --- end to end (sandboxed workers) ---------------------------------------------


@pytest.mark.slow
def test_score_runs_only_the_limited_subset_and_exits_zero(tmp_path, tiny_split_task):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "harness.cli", "score",
                           str(REPO / "sample_submissions" / "sum_of_squared_weights"), "--data",
                           str(tiny_split_task.root), "--task", "tiny_task", "--limit", "2", "--out", str(out),
                           "--bootstrap", "0"], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr
    lines = (out / "run.jsonl").read_text().splitlines()
    assert len(lines) == 2   # the runner ran the subset alone
    scores = json.loads((out / "scores.json").read_text())
    task = scores["tasks"]["tiny_task"]
    assert (task["n_models"], task["n_scored"], task["official"]) == (2, 2, None)
    assert "the official score needs the complete grid" in done.stderr
    assert len((out / "models.csv").read_text().splitlines()) == 3


@pytest.mark.slow
def test_init_writes_a_template_that_passes_check(tmp_path, tiny_split_task):
    assert pgdl("init", tmp_path / "my_measure") == 0
    assert (tmp_path / "my_measure" / "complexity.py").read_text().count("#") >= 2   # commented
    done = subprocess.run([sys.executable, "-m", "harness.cli", "check", str(tmp_path / "my_measure"),
                           "--data", str(tiny_split_task.root)], capture_output=True, text=True, timeout=600,
                          cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: ready for `pgdl score`" in done.stdout


def test_init_refuses_to_overwrite_a_submission(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "complexity.py").write_text("def complexity(model, dataset):\n    return 1.0\n")
    assert pgdl("init", tmp_path / "mine") == EXIT_ERROR
    assert capsys.readouterr().err == (f"error: {tmp_path / 'mine' / 'complexity.py'}: already exists "
                                       f"(pass --force to overwrite it)\n")
    assert "return 1.0" in (tmp_path / "mine" / "complexity.py").read_text()


def test_an_import_timeout_says_which_option_to_raise(capsys):
    from harness.cli.errors import exit_status
    from harness.run import SubmissionImportError

    failure = SubmissionImportError("exceeded the 8 s time limit while importing complexity.py", Path("out"),
                                    "time_per_model")
    assert str(failure).endswith("; raise time_per_model")
    assert exit_status(failure) == EXIT_ERROR
    assert capsys.readouterr().err == ("error: exceeded the 8 s time limit while importing complexity.py; "
                                       "raise --time-per-model\n")


def test_an_error_no_handler_takes_is_raised_again():
    from harness.cli.errors import exit_status

    with pytest.raises(TypeError, match="a bug"):
        exit_status(TypeError("a bug"))


def test_debug_raises_a_parameter_error_instead_of_one_line():
    from harness.cli.errors import exit_status
    from harness.errors import ParameterError

    with pytest.raises(ParameterError):
        exit_status(ParameterError("workers", "must be at least 1", 0), debug=True)
