"""`evalkit prepost`, `reliability` and `model` on plain CSVs: JSON shape, values from the
library (themselves validated against R elsewhere) and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evalkit.cli import app

runner = CliRunner()
REF = Path(__file__).parent / "reference"
PAIRED = REF / "prepost" / "paired_basic.csv"
ALPHA = REF / "reliability" / "alpha_complete.csv"
MODEL = REF / "models" / "balanced.csv"
PREPOST = ["prepost", str(PAIRED), "--id", "subject", "--time", "wave", "--pre", "baseline",
           "--post", "endline", "--outcome", "score"]


def _json(args):
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_prepost_json_has_the_documented_keys_and_r_values():
    out = _json(PREPOST)
    assert set(out) >= {"n_pairs", "mean_pre", "mean_post", "mean_diff", "ttest", "wilcoxon",
                        "effect_sizes", "excluded"}
    assert set(out["ttest"]) >= {"t", "df", "p", "ci_low", "ci_high"}
    assert set(out["effect_sizes"]) >= {"cohen_dz", "hedges_gz", "rank_biserial"}
    ref = json.loads((REF / "prepost" / "reference.json").read_text())["paired_basic"]
    # R 4.2: t.test(post, pre, paired = TRUE); wilcox.test(post, pre, paired = TRUE)
    assert out["ttest"]["t"] == pytest.approx(ref["ttest"]["t"], abs=1e-6)
    assert out["ttest"]["p"] == pytest.approx(ref["ttest"]["p"], abs=1e-6)
    assert out["wilcoxon"]["V"] == pytest.approx(ref["wilcoxon"]["V"], abs=1e-9)


def test_prepost_readable_table():
    result = runner.invoke(app, PREPOST)
    assert result.exit_code == 0
    assert "score: endline - baseline, matched pairs" in result.output
    assert "Cohen's d_z [95% CI]" in result.output


@pytest.mark.parametrize(("change", "message"), [
    (["--outcome", "scor"],
     "error: outcome column 'scor' not found in data; columns are ['subject', 'wave', 'score']"),
    (["--pre", "before"],
     "error: pre time level 'before' not found in column 'wave'; levels are ['baseline', "
     "'endline']"),
])
def test_prepost_errors_are_one_line(change, message):
    args = list(PREPOST)
    key = change[0]
    args[args.index(key) + 1] = change[1]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.strip() == message


def test_prepost_non_numeric_outcome(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("subject,wave,score\nA,baseline,3\nA,endline,high\n")
    args = list(PREPOST)
    args[1] = str(bad)
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "'score'" in result.output
    assert "high" in result.output and len(result.output.strip().splitlines()) == 1


def test_missing_file_is_named(tmp_path):
    args = list(PREPOST)
    args[1] = str(tmp_path / "nope.csv")
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {tmp_path / 'nope.csv'}: file not found"


def test_reliability_json_keys_and_r_value():
    out = _json(["reliability", str(ALPHA), "--items", "q1,q2,q3,q4,q5", "--reverse", "q4",
                 "--scale-min", "1", "--scale-max", "5"])
    assert set(out) >= {"n", "raw_alpha", "std_alpha", "average_r", "alpha_if_dropped"}
    assert set(out["alpha_if_dropped"]) == {"q1", "q2", "q3", "q4", "q5"}
    ref = json.loads((REF / "reliability" / "reference.json").read_text())
    # R: psych::alpha(x, keys = "q4")$total
    ref = ref["complete_reversed"]
    assert out["n"] == ref["n"]
    assert out["raw_alpha"] == pytest.approx(ref["raw_alpha"], abs=1e-6)
    assert out["std_alpha"] == pytest.approx(ref["std_alpha"], abs=1e-6)


def test_model_json_keys():
    out = _json(["model", str(MODEL), "--outcome", "score", "--time", "wave", "--time-order",
                 "baseline,midline,endline", "--group", "modality", "--cluster", "site",
                 "--subject", "participant"])
    assert set(out) >= {"fixed_effects", "variance_components", "reml_criterion", "loglik",
                        "n_obs", "n_groups", "emmeans", "change_contrasts", "permutation"}
    terms = [f["term"] for f in out["fixed_effects"]]
    assert "wave[T.endline]:modality[T.peer]" in terms
    assert out["permutation"]["exact"] is True


def test_model_bad_time_order_is_one_line():
    result = runner.invoke(app, ["model", str(MODEL), "--outcome", "score", "--time", "wave",
                                 "--time-order", "baseline,midpoint,endline", "--group",
                                 "modality", "--cluster", "site", "--subject", "participant"])
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: time level(s) ['midline'] of column 'wave' are not in time_order "
        "['baseline', 'midpoint', 'endline']")


def test_rows_are_numbered_as_in_the_file(tmp_path):
    # A semicolon file from Excel on Windows (cp1252), with a blank line: 'high' is on
    # line 5 of the file, and the error says so.
    path = tmp_path / "excel.csv"
    path.write_bytes("subject;wave;score\r\nZoë;baseline;3\r\n\r\nZoë;endline;4\r\n"
                     "Ana;baseline;high\r\n".encode("cp1252"))
    args = list(PREPOST)
    args[1] = str(path)
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert result.output.strip() == (f"error: {path}: row 5, column 'score': 'high' is not a "
                                     "number (a label: map labels to codes with --labels "
                                     "'LABEL=1,...')")
