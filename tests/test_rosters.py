"""Expected respondents (rosters) and the response rates they give to file-submitted surveys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from evalkit._assets import asset_path
from evalkit.cli import app
from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.rosters import ROSTER_FILE, expected_respondents, set_expected
from evalkit.sources import response_rates

runner = CliRunner()
TEMPLATE = yaml.safe_load((asset_path("templates") / "evalkit.yml").read_text())


def _project(folder: Path, rosters: object | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(asset_path("surveys"), folder / "surveys", dirs_exist_ok=True)
    config = dict(TEMPLATE)
    if rosters is not None:
        config["rosters"] = rosters
    (folder / "evalkit.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def test_rosters_give_a_number_per_site_wave_and_instrument(tmp_path):
    cfg = load_config(_project(tmp_path, {"S01": {"partnership": 12},
                                          "S02": {"network": {"endline": 7}}}))
    assert cfg.roster_counts() == {("S01", "baseline", "partnership"): 12,
                                   ("S01", "midpoint", "partnership"): 12,
                                   ("S01", "endline", "partnership"): 12,
                                   ("S02", "endline", "network"): 7}


@pytest.mark.parametrize(("rosters", "message"), [
    ({"S09": {"partnership": 3}},
     "rosters.S09: site 'S09' is not one of the sites ['S01', 'S02', 'S03']"),
    ({"S01": {"staff": 3}},
     "rosters.S01.staff: instrument 'staff' is not one of the instruments ['community', "
     "'network', 'partnership']"),
    ({"S01": {"network": {"midpoint": 3}}},
     "rosters.S01.network.midpoint: wave 'midpoint' is not one of the waves network is used "
     "at ['baseline', 'endline']"),
    ({"S01": {"partnership": 0}},
     "rosters.S01.partnership: expected a whole number of people (at least 1) for every "
     "wave, or wave: number, got 0"),
    ({"S01": {"partnership": True}},
     "rosters.S01.partnership: expected a whole number of people (at least 1) for every "
     "wave, or wave: number, got True"),
    ({"S01": {"partnership": {"baseline": "twelve"}}},
     "rosters.S01.partnership.baseline: expected a whole number of people, at least 1, got "
     "'twelve'"),
    ({"S01": 12}, "rosters.S01: Input should be a valid dictionary (got 12)"),
])
def test_a_bad_roster_is_one_line_naming_the_file_and_key(tmp_path, rosters, message):
    _project(tmp_path, rosters)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value) == f"{tmp_path / 'evalkit.yml'}: {message}"


def test_participants_expect_records_and_overrides(tmp_path):
    cfg = load_config(_project(tmp_path, {"S01": {"partnership": 12}}))
    first = set_expected(cfg, site="S01", wave="endline", instrument="partnership", n=10)
    assert (first.previous, first.in_config) == (None, 12)
    assert first.path == tmp_path / ROSTER_FILE
    again = set_expected(cfg, site="S01", wave="endline", instrument="partnership", n=9)
    assert again.previous == 10
    set_expected(cfg, site="S03", wave="baseline", instrument="network", n=5)
    assert expected_respondents(cfg) == {("S01", "baseline", "partnership"): 12,
                                         ("S01", "midpoint", "partnership"): 12,
                                         ("S01", "endline", "partnership"): 9,
                                         ("S03", "baseline", "network"): 5}
    with pytest.raises(ConfigError, match=r"^--wave: network is not used at wave 'midpoint'; "
                                          r"it is used at \['baseline', 'endline'\]$"):
        set_expected(cfg, site="S01", wave="midpoint", instrument="network", n=3)
    with pytest.raises(ConfigError, match=r"^N: expected a whole number of people, at least 1, "
                                          r"got -2$"):
        set_expected(cfg, site="S01", wave="baseline", instrument="network", n=-2)
    (tmp_path / ROSTER_FILE).write_text("rosters:\n  S01: {partnership: {baseline: many}}\n")
    with pytest.raises(ConfigError) as caught:
        expected_respondents(cfg)
    assert str(caught.value) == (f"{tmp_path / ROSTER_FILE}: rosters.S01.partnership.baseline: "
                                 "expected a whole number of people, at least 1, got 'many'")


def _submit(project: Path, site: str, wave: str, n: int) -> None:
    rows = [{"participant_code": f"{site}-{wave}-{k}",
             **{f"PSA{i:02d}": str(1 + (k + i // 6) % 5) for i in range(1, 25)}}
            for k in range(n)]
    path = project / f"psa_{site}_{wave}.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = runner.invoke(app, ["submit", str(path), "--site", site, "--wave", wave, "-i",
                                 "partnership", "-p", str(project)])
    assert result.exit_code == 0, result.output


def test_status_shows_rates_of_file_submitted_surveys(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_ID_KEY", "rosters-test-key-0123456789")
    project = tmp_path / "eval"
    assert runner.invoke(app, ["init", str(project)]).exit_code == 0
    text = (project / "evalkit.yml").read_text()
    (project / "evalkit.yml").write_text(text + "\nrosters:\n  S01: {partnership: 8}\n")
    _submit(project, "S01", "baseline", 6)
    _submit(project, "S02", "baseline", 4)
    said = runner.invoke(app, ["participants", "expect", "5", "--site", "S02", "--wave",
                               "baseline", "-i", "partnership", "-p", str(project)])
    assert said.exit_code == 0, said.output
    assert said.output == (f"Expected 5 respondents to partnership at S02, baseline: recorded "
                           f"in {project / ROSTER_FILE}. evalkit status shows the response "
                           "rate.\n")
    over = runner.invoke(app, ["participants", "expect", "7", "--site", "S01", "--wave",
                               "baseline", "-i", "partnership", "-p", str(project)])
    assert over.exit_code == 0 and "; overrides 8 in evalkit.yml." in over.output
    rates = response_rates(load_config(project)).set_index(["site", "wave", "instrument"])
    # Hand calculation: responded / expected.
    assert rates.loc[("S01", "baseline", "partnership"), ["responded", "expected", "rate"]
                     ].tolist() == [6, 7, round(6 / 7, 3)]
    assert rates.loc[("S01", "endline", "partnership"), "expected"] == 8
    assert rates.loc[("S02", "baseline", "partnership"), "rate"] == 0.8
    assert pd.isna(rates.loc[("S03", "baseline", "partnership"), "expected"])
    # The answers run against the reverse-keyed items (PSA03, PSA06...): status must still work
    # (item-total correlations of opposed items are NaN, as in psych, not an error).
    status = runner.invoke(app, ["status", "-p", str(project)], terminal_width=200)
    assert status.exit_code == 0, status.output
    shown = [[cell.strip() for cell in line.split("│")[1:-1]] for line in
             status.output.splitlines() if "│ partnership" in line]
    assert ["S01", "baseline", "partnership", "6", "7", "86%"] in shown
    assert ["S02", "baseline", "partnership", "4", "5", "80%"] in shown
    # a staff survey nobody gave a number for says so, and how to give one; a community
    # survey stays open
    assert ["S03", "baseline", "partnership", "0", "no roster", "—"] in shown
    community = [[cell.strip() for cell in line.split("│")[1:-1]] for line in
                 status.output.splitlines() if "│ community" in line]
    assert community and all(row[4] == "open survey" for row in community)
    assert "no roster: say how many people are expected to answer with `evalkit participants " \
           "expect N" in " ".join(status.output.split())
    bad = runner.invoke(app, ["participants", "expect", "5", "--site", "S02", "--wave",
                              "baseline", "-i", "staff", "-p", str(project)])
    assert bad.exit_code == 1
    assert bad.output.startswith("error: --instrument: 'staff' is not one of the instruments")
