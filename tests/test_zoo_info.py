"""`model_zoo.info` on reference data written by hand: effects, replicates, seed agreement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.task import MODEL_CONFIGS
from model_zoo.info import format_info, zoo_info

GRID = {"a": [0, 1], "b": [0, 1, 2]}


def _write_task(root: Path, name: str, gaps: list[float], *, replicate_of: str | None = None) -> None:
    ref = root / "reference_data" / name
    ref.mkdir(parents=True)
    entries, i = {}, 0
    for a in GRID["a"]:
        for b in GRID["b"]:
            entries[str(i)] = {"hparams": {k: {"possible_values": v, "current_value": {"a": a, "b": b}[k]}
                                           for k, v in GRID.items()},
                               "metrics": {"train_acc": 1.0, "test_acc": 1.0 - gaps[i]},
                               "training": {"stop_reason": "loss_threshold"}}
            i += 1
    (ref / MODEL_CONFIGS).write_text(json.dumps(entries))
    if replicate_of is not None:
        (ref / "zoo_task.json").write_text(json.dumps({"spec": {"replicate_of": replicate_of}}))


def test_effect_is_the_mean_gap_change_when_only_that_hparam_changes(tmp_path: Path) -> None:
    gaps = [0.1, 0.2, 0.4, 0.3, 0.3, 0.3]  # a=0: b -> .1 .2 .4 ; a=1: .3 .3 .3
    _write_task(tmp_path, "t", gaps)
    (info,) = zoo_info(tmp_path)
    assert info.effects["a"] == pytest.approx(np.mean([0.2, 0.1, 0.1]))
    assert info.effects["b"] == pytest.approx(np.mean([0.1, 0.3, 0.2, 0, 0, 0]))
    assert info.replicate is None


def test_replicate_named_in_its_fingerprint_gives_seed_spread_and_agreement(tmp_path: Path) -> None:
    gaps = [0.1, 0.2, 0.4, 0.3, 0.5, 0.6]
    twin = [0.12, 0.18, 0.41, 0.33, 0.52, 0.6]
    _write_task(tmp_path, "t", gaps)
    _write_task(tmp_path, "t_rerun", twin, replicate_of="t")
    infos = {info.name: info for info in zoo_info(tmp_path)}
    agreement = infos["t"].replicate
    assert agreement.other == "t_rerun" and infos["t_rerun"].replicate.other == "t"
    assert agreement.n_pairs == 6
    assert agreement.spread == pytest.approx(np.mean(np.abs(np.subtract(gaps, twin))))
    assert agreement.pearson == pytest.approx(np.corrcoef(gaps, twin)[0, 1])
    assert agreement.kendall == pytest.approx(1.0)  # the twins order the six models the same way
    assert "seed-to-seed spread" in format_info([infos["t"]]) and "x seed spread" in format_info([infos["t"]])


def test_replicate_found_by_name_without_a_fingerprint(tmp_path: Path) -> None:
    _write_task(tmp_path, "t", [0.1, 0.2, 0.4, 0.3, 0.5, 0.6])
    _write_task(tmp_path, "t_seed1", [0.2, 0.1, 0.4, 0.3, 0.6, 0.5])
    infos = {info.name: info for info in zoo_info(tmp_path)}
    assert infos["t"].replicate.other == "t_seed1"
    assert infos["t"].replicate.kendall == pytest.approx((13 - 2) / 15)  # two of 15 pairs swapped
