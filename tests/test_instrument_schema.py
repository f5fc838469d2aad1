"""The instrument JSON Schema, the starter file of `surveys new`, and the guide's examples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from evalkit._assets import asset_path
from evalkit.cli import app
from evalkit.config import load_config
from evalkit.errors import ConfigError
from evalkit.instruments import (
    SCHEMA_FILE,
    Instrument,
    instrument_json_schema,
    instrument_schema_text,
    load_instrument,
)
from evalkit.starter import RESPONSE_SCALES, starter_instrument, write_starter

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "surveys" / SCHEMA_FILE
GUIDE = ROOT / "docs" / "instruments.md"
FIRST_LINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"
runner = CliRunner()


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SHIPPED.read_text(encoding="utf-8")))


def _as_json(data: object) -> object:
    return json.loads(json.dumps(data))  # YAML's integer code keys become strings, as in JSON


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", GUIDE.read_text(encoding="utf-8"),
                      flags=re.S | re.M)


def test_shipped_schema_is_generated_from_the_models():
    assert SHIPPED.read_text(encoding="utf-8") == instrument_schema_text(), (
        "surveys/instrument.schema.json is out of date; regenerate it with: python -c \"from "
        "evalkit.instruments import instrument_schema_text as t; "
        "open('surveys/instrument.schema.json', 'w').write(t())\"")
    jsonschema.Draft202012Validator.check_schema(instrument_json_schema())


@pytest.mark.parametrize("path", sorted((ROOT / "surveys").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_instruments_name_the_schema_and_validate_against_it(path):
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == FIRST_LINE
    assert list(_validator().iter_errors(_as_json(yaml.safe_load(text)))) == []
    load_instrument(path)


def test_the_schema_rejects_what_the_models_reject():
    data = yaml.safe_load((ROOT / "surveys" / "learning_session_feedback.yaml").read_text())
    bad = {**data, "items": [{**data["items"][1], "revers": True}, *data["items"][2:]]}
    errors = [e.message for e in _validator().iter_errors(_as_json(bad))]
    assert errors == ["Additional properties are not allowed ('revers' was unexpected)"]
    codes = {**data, "response_scales": {"agree5": {"codes": {"one": "x", 2: "y"}}}}
    assert [e.message for e in _validator().iter_errors(_as_json(codes))] == [
        "'one' does not match '^-?[0-9]+$'"]
    with pytest.raises(Exception, match="revers"):
        Instrument.model_validate(bad)


@pytest.mark.parametrize("scale", sorted(RESPONSE_SCALES))
@pytest.mark.parametrize("respondent", ["participant", "community"])
def test_every_starter_validates(scale, respondent):
    text = starter_instrument("staff_wellbeing", title='Staff "wellbeing": été',
                              scale=scale, respondent=respondent)
    data = yaml.safe_load(text)
    assert text.splitlines()[0] == FIRST_LINE
    assert list(_validator().iter_errors(_as_json(data))) == []
    inst = Instrument.model_validate(data)
    assert inst.title == 'Staff "wellbeing": été' and inst.respondent == respondent
    assert dict(inst.response_scales[scale].codes) == RESPONSE_SCALES[scale]
    assert [i.code for i in inst.items if i.reverse] == ["SW03"]
    assert inst.personal_items == {"contact_email"}
    assert inst.scale("total").items == ("SW01", "SW02", "SW03")


def test_starter_errors_name_the_parameter(tmp_path):
    with pytest.raises(ConfigError, match=r"^INSTRUMENT_ID: 'my-survey' is not an instrument "):
        starter_instrument("my-survey", title="x")
    with pytest.raises(ConfigError, match=r"^--scale: expected one of \['agree4', 'agree5', "):
        starter_instrument("ok", title="x", scale="agree7")
    with pytest.raises(ConfigError, match=r"^--title: expected the instrument's title"):
        starter_instrument("ok", title="  ")
    path = tmp_path / "ok.yaml"
    write_starter(path, "ok", title="Ok")
    with pytest.raises(ConfigError, match=r"ok.yaml: already exists; .* pass --force"):
        write_starter(path, "ok", title="Ok")


def test_the_guide_error_example_is_the_real_message(tmp_path):
    # docs/instruments.md quotes this message; keep the two in step.
    path = tmp_path / "surveys" / "staff_wellbeing.yaml"
    write_starter(path, "staff_wellbeing", title="Staff wellbeing")
    lines = path.read_text().splitlines()
    lines = [ln.replace("response_scale: agree5", "response_scale: agree7")
             if "SW03" in ln else ln for ln in lines]
    path.write_text("\n".join(lines))
    with pytest.raises(ConfigError) as caught:
        load_instrument(path)
    message = (f"{path}: items[2] (SW03).response_scale: expected one of ['agree5'], got "
               "'agree7'")
    assert str(caught.value) == message
    guide = " ".join(GUIDE.read_text(encoding="utf-8").split())
    assert ("`surveys/staff_wellbeing.yaml: items[2] (SW03).response_scale: expected one of "
            "['agree5'], got 'agree7'`") in guide


def test_surveys_new_writes_a_starter_the_project_accepts(tmp_path):
    project = tmp_path / "eval"
    assert runner.invoke(app, ["init", str(project)]).exit_code == 0
    (project / "surveys" / SCHEMA_FILE).unlink()  # a project made before the schema shipped
    result = runner.invoke(app, ["surveys", "new", "staff_wellbeing", "--title",
                                 "Staff wellbeing", "--scale", "frequency5", "-p", str(project)])
    assert result.exit_code == 0, result.output
    target = project / "surveys" / "staff_wellbeing.yaml"
    assert result.output.splitlines()[0] == (
        f"Wrote {target}: 7 example items and scale 'total' (and "
        f"{project / 'surveys' / SCHEMA_FILE}).")
    assert "staff_wellbeing: {file: surveys/staff_wellbeing.yaml, waves: [baseline, endline]}" \
        in result.output
    assert (project / "surveys" / SCHEMA_FILE).read_text() == instrument_schema_text()
    check = runner.invoke(app, ["surveys", "validate", str(target)])
    assert check.exit_code == 0 and "staff_wellbeing v1.0, 7 items, 1 scales" in check.output
    again = runner.invoke(app, ["surveys", "new", "staff_wellbeing", "--title", "x", "-p",
                                str(project)])
    assert again.exit_code == 1 and "already exists" in again.output
    elsewhere = tmp_path / "drafts" / "draft.yaml"
    nested = runner.invoke(app, ["surveys", "new", "draft", "--title", "Draft", "--out",
                                 str(elsewhere), "-p", str(project)])
    assert nested.exit_code == 0, nested.output
    assert elsewhere.read_text().splitlines()[0] == \
        "# yaml-language-server: $schema=../eval/surveys/instrument.schema.json"


# The guide -----------------------------------------------------------------------------
def test_the_guide_worked_example_validates():
    instruments = [b for b in _blocks("yaml") if b.startswith(FIRST_LINE)]
    assert len(instruments) == 1
    data = yaml.safe_load(instruments[0])
    assert list(_validator().iter_errors(_as_json(data))) == []
    inst = Instrument.model_validate(data)
    assert inst.id == "care_staff" and [s.id for s in inst.scales] == [
        "handoffs", "shared_work", "coordination"]
    # What the guide says about it, checked against the instrument.
    from evalkit.sources._mapping import plan_questions, relevance

    questions = plan_questions(inst)
    assert [q.code for q in questions] == ["handoffs", "sharedwork", "role", "caseload", "tools",
                                           "CSCOMMENT", "contactemail"]
    assert relevance(inst, "caseload", questions) == '(role == "A2")'


def test_the_guide_site_file_submits_against_the_worked_example(tmp_path):
    from evalkit.forms import form_columns
    from evalkit.sources import submit_file
    from evalkit.store import read_table

    inst = Instrument.model_validate(yaml.safe_load(
        next(b for b in _blocks("yaml") if b.startswith(FIRST_LINE))))
    (csv,) = _blocks("csv")
    assert csv.splitlines()[0].split(",") == form_columns(inst)  # "the same headers"
    path = tmp_path / "care_staff.csv"
    path.write_text(csv, encoding="utf-8")
    store = tmp_path / "s.duckdb"
    result = submit_file(path, inst, site="S01", wave="baseline", store=store,
                         key=b"guide-example-key-0123")
    assert result.rows == 3 and result.ingest.inserted == 3
    complete = read_table(store, "SELECT complete FROM responses ORDER BY response_id")
    assert complete["complete"].tolist() == [True, True, False]


def test_the_guide_roster_example_is_valid_and_means_what_it_says(tmp_path):
    (snippet,) = [b for b in _blocks("yaml") if b.startswith("# evalkit.yml\nrosters:")]
    config = yaml.safe_load((asset_path("templates") / "evalkit.yml").read_text())
    config["instruments"]["care_staff"] = {"file": "surveys/care_staff.yaml",
                                           "waves": ["baseline", "endline"]}
    config.update(yaml.safe_load(snippet))
    (tmp_path / "evalkit.yml").write_text(yaml.safe_dump(config))
    cfg = load_config(tmp_path)
    assert cfg.roster_counts() == {("S01", "baseline", "care_staff"): 14,
                                   ("S01", "endline", "care_staff"): 14,
                                   ("S02", "baseline", "care_staff"): 12,
                                   ("S02", "endline", "care_staff"): 11}
    config["rosters"]["S02"]["care_staff"]["midpoint"] = 3
    (tmp_path / "evalkit.yml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    message = ("rosters.S02.care_staff.midpoint: wave 'midpoint' is not one of the waves "
               "care_staff is used at ['baseline', 'endline']")
    assert str(caught.value) == f"{tmp_path / 'evalkit.yml'}: {message}"
    assert message in " ".join(GUIDE.read_text(encoding="utf-8").split())


def test_the_guide_plan_snippet_is_a_valid_outcome(tmp_path):
    from evalkit.pipeline import store_status

    (plan_snippet,) = [b for b in _blocks("yaml") if b.startswith("# analyses/plan.yml")]
    project = tmp_path / "eval"
    assert runner.invoke(app, ["init", str(project)]).exit_code == 0
    example = next(b for b in _blocks("yaml") if b.startswith(FIRST_LINE))
    (project / "surveys" / "care_staff.yaml").write_text(example, encoding="utf-8")
    cfg_text = (project / "evalkit.yml").read_text()
    (project / "evalkit.yml").write_text(cfg_text.replace(
        "instruments:\n", "instruments:\n  care_staff: {file: surveys/care_staff.yaml, "
        "waves: [baseline, endline]}\n", 1))
    plan = project / "analyses" / "plan.yml"
    body = "\n".join(plan_snippet.splitlines()[1:]) + "\n"
    plan.write_text(plan.read_text().replace("outcomes:\n", "outcomes:\n" + body, 1))
    status = store_status(project)
    assert status.n_outcomes == 6


def test_readme_links_the_guide():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/instruments.md)" in readme and "evalkit export --format" in readme
