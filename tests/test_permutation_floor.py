"""The permutation test's exact-enumeration limit from the CLI, and the floor of its p-value
in every output (issue 16, 4).

Oracles: the R permutation oracle in tests/reference/models/make_reference.R (every
relabeling enumerated, ``min_p = mean(w >= max(w))``) and hand counts: 6 sites split 2/2/2
have 6! / (2! 2! 2!) = 90 relabelings, of which the 3! = 6 that only swap whole modalities
give the same statistic, so the floor is 6 / 90; 12 sites split 4/4/4 have 34,650; a Monte
Carlo test with B relabelings cannot go below 1 / (B + 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit.cli import app

REF = Path(__file__).parent / "reference" / "models"
ARGS = ["--outcome", "score", "--time", "wave", "--time-order", "baseline,midline,endline",
        "--group", "modality", "--cluster", "site", "--subject", "participant"]


def model(name: str, *extra: str) -> dict:
    result = CliRunner().invoke(app, ["model", str(REF / f"{name}.csv"), *ARGS, *extra,
                                      "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["permutation"]


def test_exact_floor_is_in_the_json():
    # R: permutation_oracle on balanced.csv (90 relabelings, min_p = 6 / 90)
    ref = json.loads((REF / "balanced.json").read_text())["permutation"]
    perm = model("balanced")
    assert perm["exact"] is True and perm["n_permutations"] == ref["n_permutations"] == 90
    assert perm["min_p"] == pytest.approx(ref["min_p"], abs=1e-12)
    assert perm["min_p"] == pytest.approx(6 / 90, abs=1e-12)
    assert perm["p"] == pytest.approx(ref["p"], abs=1e-12)


def test_exact_limit_below_the_count_falls_back_to_monte_carlo():
    # hand: B = 199 random relabelings, floor 1 / (B + 1) = 0.005
    perm = model("balanced", "--exact-limit", "89", "--permutations", "199", "--seed", "3")
    assert perm["exact"] is False and perm["n_permutations"] == 199
    assert perm["min_p"] == pytest.approx(1 / 200, abs=1e-15)
    assert perm["p"] >= perm["min_p"]


def test_exact_limit_above_the_default_enumerates_every_relabeling():
    # 12 sites 4/4/4: 12! / (4! 4! 4!) = 34,650 > the default limit of 10,000
    assert model("unbalanced", "--permutations", "99")["exact"] is False
    perm = model("unbalanced", "--exact-limit", "40000")
    assert perm["exact"] is True and perm["n_permutations"] == 34_650
    assert perm["min_p"] == pytest.approx(6 / 34_650, abs=1e-15)
    assert perm["p"] >= perm["min_p"]


def test_exact_limit_is_in_help_and_checked():
    runner = CliRunner()
    result = runner.invoke(app, ["model", "--help"], terminal_width=200)
    assert "--exact-limit" in result.output
    bad = runner.invoke(app, ["model", str(REF / "balanced.csv"), *ARGS, "--exact-limit",
                              "-1"])
    assert bad.exit_code == 2
