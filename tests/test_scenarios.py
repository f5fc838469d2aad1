"""Generated scenario projects: every design is deterministic, valid and has its stated shape."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from evalkit.cli import app
from evalkit.config import load_config
from evalkit.instruments import load_instrument
from evalkit.pipeline import project_instruments
from evalkit.scenarios import (
    DESIGNS,
    Design,
    generate_scenario,
    scenario_submission_files,
    write_scenario,
)
from evalkit.scoring import score
from evalkit.store import ingest, read_table
from evalkit.tables import wide_answers

REQUIRED = {"rising", "falling", "null", "two_waves", "four_waves", "one_modality",
            "four_modalities", "five_outcomes", "baseline_only", "small_site", "no_network",
            "no_community", "anonymous_only", "unequal_sites"}


def _check_batch(scenario) -> None:
    """Every response is at a site, wave and instrument of the configuration, and every
    answer of a closed item is one of the item's codes."""
    cfg = scenario.config
    b = scenario.batch.normalized()
    assert set(b.responses["site_id"]) <= {s["id"] for s in cfg["sites"]}
    assert set(b.sites["site_id"]) == {s["id"] for s in cfg["sites"]}
    for (inst, wave), _ in b.responses.groupby(["instrument", "wave"]):
        assert wave in cfg["instruments"][inst]["waves"]
        assert wave in scenario.truth["waves_with_data"]
    assert not b.responses["response_id"].duplicated().any()
    assert not b.answers.duplicated(["response_id", "item"]).any()
    assert b.answers["response_id"].isin(b.responses["response_id"]).all()
    with tempfile.TemporaryDirectory() as tmp:
        instruments = _instruments(scenario, Path(tmp))
    inst_of = b.answers["response_id"].map(b.responses.set_index("response_id")["instrument"])
    for inst_id, inst in instruments.items():
        mine = b.answers[inst_of == inst_id]
        base = mine["item"].str.replace(r"\[.*\]$", "", regex=True)
        for code, values in mine["value"].groupby(base):
            allowed = inst.answer_codes(code)
            if allowed is not None:
                assert set(values.dropna()) <= set(allowed), (inst_id, code)


def _instruments(scenario, folder: Path):
    out = {}
    for key, use in scenario.config["instruments"].items():
        relative = use["file"]
        if relative in scenario.instrument_files:
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(scenario.instrument_files[relative])
            out[key] = load_instrument(path)
        else:
            out[key] = load_instrument(Path(__file__).resolve().parents[1] / relative)
    return out


def test_every_required_design_is_there():
    assert REQUIRED <= set(DESIGNS)
    assert all(isinstance(d, Design) and d.name == k for k, d in DESIGNS.items())


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_a_design_generates_deterministically_and_validly(name):
    a, b = generate_scenario(name, seed=5), generate_scenario(name, seed=5)
    assert a.batch.answers.equals(b.batch.answers)
    assert a.batch.responses.equals(b.batch.responses)
    assert a.config == b.config and a.truth == b.truth
    assert not generate_scenario(name, seed=6).batch.answers.equals(a.batch.answers)
    _check_batch(a)


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_the_written_project_validates_and_holds_the_batch(name, tmp_path):
    scenario = generate_scenario(name, seed=2)
    folder = write_scenario(scenario, tmp_path / name)
    cfg = load_config(folder)
    design = scenario.design
    assert [m.id for m in cfg.modalities] == [m for m, _ in design.modalities]
    assert len(cfg.sites) == sum(design.n_sites)
    assert cfg.wave_ids == design.wave_ids
    assert cfg.reports.suppression_threshold == design.threshold
    instruments = project_instruments(cfg)  # files exist and their ids match the keys
    kinds = set(design.instruments)
    assert ("network" in instruments) == ("network" in kinds)
    assert ("community" in instruments) == ("community" in kinds)
    assert ("partnership" in instruments) == ("partnership" in kinds)
    counts = read_table(cfg.store_path, "SELECT instrument, count(*) AS n FROM responses "
                        "GROUP BY ALL")
    expected = scenario.batch.responses.groupby("instrument").size()
    assert counts.set_index("instrument")["n"].sort_index().to_dict() == \
        expected.sort_index().to_dict()


def test_own_instruments_validate(tmp_path):
    owners = [d for d in DESIGNS.values() if d.own_instrument is not None]
    assert {d.name for d in owners} >= {"falling", "five_outcomes"}
    for design in owners:
        own = design.own_instrument
        path = tmp_path / f"{own.id}.yaml"
        path.write_text(own.to_yaml())
        inst = load_instrument(path)
        assert inst.id == own.id != "partnership"
        assert any(i.reverse for i in inst.items)
    falling = load_instrument(tmp_path / "care_coordination.yaml")
    assert (len(falling.items), len(falling.scales)) == (6, 2)
    assert falling.item_range("CC01") == (1, 4)
    assert falling.title == "Care coordination self-assessment"
    five = load_instrument(tmp_path / "ecosystem_outcomes.yaml")
    assert len(five.scales) == 5


def test_falling_has_only_its_own_instrument_and_scores_fall(tmp_path):
    scenario = generate_scenario("falling", seed=1)
    design = scenario.design
    assert (sum(design.n_sites), len(design.modalities), len(design.waves)) == (5, 2, 2)
    assert set(scenario.config["instruments"]) == {"care_coordination"}
    assert all(c < 0 for c in scenario.truth["change"]["care_coordination"].values())
    folder = write_scenario(scenario, tmp_path / "falling")
    cfg = load_config(folder)
    inst = project_instruments(cfg)["care_coordination"]
    scores = score(wide_answers(cfg.store_path, "care_coordination"), instrument=inst)
    means = scores.groupby(["scale", "wave"])["score"].mean().unstack()
    # Truth is -0.40 / -0.25 on the latent scale; each scale's mean must fall.
    assert (means["endline"] < means["baseline"] - 0.1).all(), means


def test_baseline_only_has_data_at_the_first_wave_only():
    scenario = generate_scenario("baseline_only")
    assert scenario.truth["waves_with_data"] == ["baseline"]
    assert set(scenario.batch.responses["wave"]) == {"baseline"}
    assert len(scenario.config["waves"]) == 3
    assert set(scenario.batch.responses["instrument"]) == {"partnership", "network",
                                                           "community"}


def test_small_site_has_fewer_participants_than_the_threshold():
    scenario = generate_scenario("small_site")
    per_site = scenario.batch.participants.groupby("site_id").size()
    assert per_site.min() == 6 < scenario.design.threshold == 11
    assert (per_site.drop(per_site.idxmin()) >= 11).all()


def test_unequal_sites_range_from_about_8_to_80():
    per_site = generate_scenario("unequal_sites").batch.participants.groupby("site_id").size()
    assert (per_site.min(), per_site.max()) == (8, 80)


def test_anonymous_only_and_the_no_survey_designs():
    anon = generate_scenario("anonymous_only")
    assert set(anon.config["instruments"]) == {"community"}
    assert anon.batch.participants.empty
    assert anon.batch.responses["respondent_id"].isna().all()
    assert "network" not in generate_scenario("no_network").config["instruments"]
    assert "community" not in generate_scenario("no_community").config["instruments"]
    null = generate_scenario("null")
    assert {c for per in null.truth["change"].values() for c in per.values()} == {0.0}


def test_the_falling_files_go_through_evalkit_submit(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_ID_KEY", "scenario-test-key-0123456789")
    scenario = generate_scenario("falling", seed=4)
    folder = write_scenario(scenario, tmp_path / "proj", responses=False)
    files = scenario_submission_files(scenario, tmp_path / "files")
    assert len(files) == 5 * 2  # 5 sites x 2 waves, one instrument
    runner = CliRunner()
    for path, site, wave, instrument in files:
        result = runner.invoke(app, ["submit", str(path), "--site", site, "--wave", wave,
                                     "-i", instrument, "-p", str(folder)])
        n = int(pd.read_csv(path).shape[0])
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"Accepted {path}: {n} responses ({instrument}, "
                                        f"{wave}, {site}).")
    stored = read_table(folder / "evalkit.duckdb", "SELECT wave, site_id, respondent_id "
                        "FROM responses")
    batch = scenario.batch.responses
    assert len(stored) == len(batch)
    assert stored.groupby(["site_id", "wave"]).size().to_dict() == \
        batch.groupby(["site_id", "wave"]).size().to_dict()
    # The same participant at both waves keeps one pseudonymous id.
    assert stored["respondent_id"].nunique() == batch["respondent_id"].nunique()
    answers = read_table(folder / "evalkit.duckdb", "SELECT count(*) AS n FROM answers")
    assert int(answers["n"][0]) == len(scenario.batch.answers)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(name=st.sampled_from(["falling", "small_site"]),
       effect_scale=st.floats(-2, 2, allow_nan=False),
       n_scale=st.floats(0.5, 2, allow_nan=False))
def test_any_effect_and_size_generates_a_valid_batch(name, effect_scale, n_scale):
    scenario = generate_scenario(name, seed=3, effect_scale=effect_scale, n_scale=n_scale)
    _check_batch(scenario)
    for inst, per in scenario.truth["change"].items():
        for (modality, _), c in zip(scenario.design.modalities, scenario.design.change,
                                    strict=True):
            assert per[modality] == pytest.approx(c * effect_scale), inst
    with tempfile.TemporaryDirectory() as tmp:
        summary = ingest(Path(tmp) / "s.duckdb", scenario.batch, source="hypothesis")
    assert summary.inserted == len(scenario.batch.responses)
