"""The analysis plan: built from the project's own instruments and waves, checked against it."""

from __future__ import annotations

import pytest
import yaml

from evalkit._assets import asset_path
from evalkit.config import load_config
from evalkit.demo import demo_config
from evalkit.errors import ConfigError
from evalkit.instruments import load_instruments
from evalkit.pipeline import project_instruments
from evalkit.plan import AnalysisPlan, build_plan, check_plan, load_plan, plan_yaml
from evalkit.project import create_project

SURVEYS = load_instruments(asset_path("surveys"))


def _config(tmp_path, demo_data, edit):
    cfg = demo_config(demo_data)
    edit(cfg)
    return create_project(tmp_path, config=cfg)


def test_template_and_demo_keep_the_shipped_plan(tmp_path, demo_data):
    shipped = (asset_path("analyses") / "plan.yml").read_text()
    create_project(tmp_path / "template")
    assert (tmp_path / "template" / "analyses" / "plan.yml").read_text() == shipped
    create_project(tmp_path / "demo", config=demo_config(demo_data))
    assert (tmp_path / "demo" / "analyses" / "plan.yml").read_text() == shipped


def test_two_waves_one_modality_no_network(tmp_path, demo_data):
    def edit(cfg):
        cfg["waves"] = [w for w in cfg["waves"] if w["id"] != "midpoint"]
        cfg["modalities"] = cfg["modalities"][:1]
        cfg["sites"] = [{**s, "modalities": ["coaching"]} for s in cfg["sites"]]
        cfg["instruments"] = {
            "partnership": {"file": "surveys/partnership_self_assessment.yaml",
                            "waves": ["baseline", "endline"]},
            "community": {"file": "surveys/community_feedback.yaml",
                          "waves": ["baseline", "endline"]}}
    cfg = _config(tmp_path, demo_data, edit)
    text = (tmp_path / "analyses" / "plan.yml").read_text()
    assert text.startswith("# Analysis plan:") and "\n# The two waves" in text
    plan = load_plan(tmp_path / "analyses" / "plan.yml")
    assert plan.compare.pre == "baseline" and plan.compare.post == "endline"
    assert plan.model is None and plan.network is None  # one modality, no network survey
    by_id = {o.id: o for o in plan.outcomes}
    assert by_id["partnership_total"].design == "matched"
    assert by_id["community_experience"].design == "cross_sectional"
    assert by_id["community_experience"].label == "Community experience (all items)"
    assert plan.feedback.comment_item == "COMMENT" and plan.linkage.instrument == "community"
    check_plan(plan, cfg, project_instruments(cfg))


def test_build_plan_rules_on_the_template():
    cfg = load_config(asset_path("templates") / "evalkit.yml")
    plan = build_plan(cfg, SURVEYS)
    assert plan["model"]["time_order"] == ["baseline", "midpoint", "endline"]
    assert [o["id"] for o in plan["outcomes"] if o["model"]] == ["partnership_total"]
    assert len(plan["outcomes"]) == 9 + 4  # every scale of partnership and community
    assert plan["network"] == {"instrument": "network", "item": "collaboration",
                               "min_level": 3}
    again = AnalysisPlan.model_validate(yaml.safe_load(plan_yaml(plan)))
    assert again == AnalysisPlan.model_validate(plan)


def test_check_plan_names_file_key_and_expectation(tmp_path, demo_data):
    cfg = create_project(tmp_path, config=demo_config(demo_data))
    plan = load_plan(tmp_path / "analyses" / "plan.yml").model_copy(update={
        "network": None})
    bad = AnalysisPlan.model_validate({
        **plan.model_dump(), "compare": {"pre": "baseline", "post": "followup"},
        "network": {"instrument": "network", "item": "ties"}})
    with pytest.raises(ConfigError) as err:
        check_plan(bad, cfg, project_instruments(cfg), source="analyses/plan.yml")
    assert str(err.value).splitlines() == [
        "analyses/plan.yml: compare.post: wave 'followup' is not one of the project's waves "
        "['baseline', 'midpoint', 'endline']",
        "analyses/plan.yml: network.item: 'ties' is not an item of instrument 'network'; "
        "items are ['contact', 'collaboration', 'trust', 'value', 'respondent_role']"]


def test_the_decision_rule_is_part_of_the_plan(tmp_path):

    good = tmp_path / "plan.yml"
    good.write_text("name: t\ncompare: {pre: a, post: b}\noutcomes:\n"
                    "  - {id: x, label: X, instrument: i, scale: s}\n"
                    "decision: {max_permutation_p: 0.2}\n")
    assert load_plan(good).decision.max_permutation_p == 0.2
    assert load_plan(good).decision.min_sites_firm == 5
    bad = tmp_path / "bad.yml"
    bad.write_text(good.read_text().replace("0.2}", "2}"))
    with pytest.raises(ConfigError, match="decision.max_permutation_p"):
        load_plan(bad)
