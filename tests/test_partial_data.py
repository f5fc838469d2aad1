"""`evalkit analyze` on a project's first, partial data: what it computes, what it records
as pending, and never a traceback.

Each test builds a small project from a slice of the generated demo collaborative
(``evalkit.demo.generate``), with ``create_project`` writing the plan built for its own
instruments and waves, ingests it and analyzes it.
"""

from __future__ import annotations

import pandas as pd
import pytest

from evalkit.demo import demo_config
from evalkit.pipeline import analyze_project, project_instruments, store_status
from evalkit.plan import load_plan
from evalkit.prepost import adjust_p
from evalkit.project import create_project
from evalkit.results import read_results
from evalkit.runner import INSTRUMENT_COLUMNS, PENDING_COLUMNS
from evalkit.store import Batch, ingest

ALL = ("partnership", "network", "community")


def _project(folder, demo, *, waves=("baseline", "midpoint", "endline"), instruments=ALL,
             data_waves=None, sites=None, extra=None, drop=None, edit=None):
    """Create, ingest and analyze a project; return (results, config)."""
    cfg = demo_config(demo)
    cfg["waves"] = [w for w in cfg["waves"] if w["id"] in waves]
    uses = {k: {**v, "waves": [w for w in v["waves"] if w in waves]}
            for k, v in cfg["instruments"].items() if k in instruments}
    cfg["instruments"] = {**uses, **(extra or {})}
    if sites is not None:
        cfg["sites"] = [s for s in cfg["sites"] if s["id"] in sites]
    if edit is not None:
        edit(cfg)
    project = create_project(folder, config=cfg)
    b = demo.batch
    keep_sites = {s["id"] for s in cfg["sites"]}
    r = b.responses[b.responses["wave"].isin(data_waves or waves)
                    & b.responses["instrument"].isin(instruments)
                    & b.responses["site_id"].isin(keep_sites)]
    a = b.answers[b.answers["response_id"].isin(r["response_id"])]
    if drop is not None:
        a = a[~drop(a, r)]
    batch = Batch(sites=b.sites[b.sites["site_id"].isin(keep_sites)],
                  organizations=b.organizations[b.organizations["site_id"].isin(keep_sites)],
                  participants=b.participants[b.participants["site_id"].isin(keep_sites)],
                  responses=r, answers=a)
    inst = project_instruments(project)
    ingest(project.store_path, batch, source="test",
           personal_items={k: v.personal_items for k, v in inst.items()})
    manifest = analyze_project(folder)
    return read_results(manifest.parent), project


def _pending(res):
    pending = res.table("pending")
    assert list(pending.columns) == PENDING_COLUMNS
    return pending


def test_baseline_only(tmp_path, demo_data):
    res, _ = _project(tmp_path, demo_data, data_waves=("baseline",))
    pending = _pending(res)
    rows = pending.set_index(["analysis", "outcome"])
    assert rows.loc[("prepost", "partnership_total"), "reason"] == (
        "only Baseline data so far: a pre/post comparison needs answers at Endline "
        "(month 15) too")
    assert rows.loc[("prepost", "partnership_total"), "needs"] == (
        "Partnership self-assessment responses at Endline (month 15)")
    assert ("attrition", "partnership_total") in rows.index
    assert ("model", "partnership_total") in rows.index
    assert {"network", "linkage"} <= set(pending["analysis"])
    assert pending["level"].isna().all() and pending["site_id"].isna().all()
    # What baseline data allow is computed: scores, reliability, networks, feedback.
    assert res.table("prepost").empty and "p" in res.table("prepost")
    assert len(res.table("reliability")) > 0
    assert {"network_sites", "feedback_scores", "wave_summary"} <= set(res.tables)
    inst = res.table("instruments").set_index("instrument")
    assert list(res.table("instruments").columns) == INSTRUMENT_COLUMNS
    assert inst.loc["partnership", "waves"] == "baseline,midpoint,endline"
    assert inst.loc["partnership", "waves_with_data"] == "baseline"


def test_two_waves(tmp_path, demo_data):
    res, project = _project(tmp_path, demo_data, waves=("baseline", "endline"))
    plan = load_plan(project.path(project.plan))
    assert plan.model is not None and plan.model.time_order == ("baseline", "endline")
    pending = _pending(res)
    assert pending.empty, pending
    pp = res.table("prepost")
    assert pp[pp["level"] == "collaborative"]["p"].notna().all()
    assert set(res.table("model_emmeans")["wave"]) == {"baseline", "endline"}


def test_three_waves_in_the_model(tmp_path, demo_data):
    # No community survey: the built plan (not the shipped one) is written.
    res, project = _project(tmp_path, demo_data, instruments=("partnership", "network"))
    plan = load_plan(project.path(project.plan))
    assert plan.model.time_order == ("baseline", "midpoint", "endline")
    assert set(res.table("model_emmeans")["wave"]) == {"baseline", "midpoint", "endline"}
    assert _pending(res).empty


def test_instrument_with_no_data_and_multiplicity_over_computed(tmp_path, demo_data):
    extra = {"session_feedback": {"file": "surveys/learning_session_feedback.yaml",
                                  "waves": ["baseline", "endline"]}}
    res, _ = _project(tmp_path, demo_data, extra=extra)
    pending = _pending(res)
    row = pending[pending["outcome"] == "session_feedback_usefulness"]
    assert row["analysis"].tolist() == ["prepost", "attrition", "reliability", "model"]
    assert row["reason"].iloc[0] == (
        "no Learning-session and technical-assistance feedback answers yet: a pre/post "
        "comparison needs answers at Baseline and Endline (month 15)")
    inst = res.table("instruments").set_index("instrument")
    assert inst.loc["session_feedback", "n_responses"] == 0
    assert inst.loc["session_feedback", "waves_with_data"] == ""
    # The family is the outcomes computed: Holm over those, by hand via adjust_p.
    pp = res.table("prepost")
    coll = pp[pp["level"] == "collaborative"]
    assert "session_feedback_usefulness" not in set(coll["outcome"])
    expected = adjust_p(coll["p"].to_numpy(dtype=float), method="holm")
    assert coll["p_adjusted"].to_numpy() == pytest.approx(expected, rel=1e-12)


def test_empty_wave_is_left_out_of_the_model(tmp_path, demo_data):
    res, _ = _project(tmp_path, demo_data, data_waves=("baseline", "endline"))
    assert set(res.table("model_emmeans")["wave"]) == {"baseline", "endline"}
    notes = res.table("model_notes")["note"].tolist()
    assert ("Midpoint (month 8) has no Partnership self-assessment data yet, so it is left "
            "out of the model's waves (Baseline and Endline (month 15) only).") in notes
    assert "model" not in set(_pending(res)["analysis"])


def test_one_modality_with_data(tmp_path, demo_data):
    # The configuration has three modalities, but only the coaching sites have answered.
    res, _ = _project(tmp_path, demo_data, sites=("S01", "S04"))
    pending = _pending(res)
    model = pending[pending["analysis"] == "model"]
    assert model["reason"].tolist() == [
        "only one modality has data (Technical assistance and coaching): the modality "
        "model compares two or more modalities"]
    assert not any(t.startswith("model_") for t in res.tables)
    assert res.table("prepost")["p"].notna().any()


def test_one_modality_project_plans_no_model(tmp_path, demo_data):
    def one(cfg):
        cfg["modalities"] = cfg["modalities"][:1]
        cfg["sites"] = [{**s, "modalities": ["coaching"]} for s in cfg["sites"]]
    res, project = _project(tmp_path, demo_data, sites=("S01", "S04"), edit=one)
    assert load_plan(project.path(project.plan)).model is None
    assert _pending(res).empty


def test_site_below_the_suppression_threshold(tmp_path, demo_data):
    responses = demo_data.batch.responses
    few = responses[(responses["site_id"] == "S01") & (responses["instrument"] == "partnership")]
    keep = set(few["respondent_id"].drop_duplicates().iloc[:5])

    def drop(a, r):
        gone = r[(r["site_id"] == "S01") & (r["instrument"] == "partnership")
                 & ~r["respondent_id"].isin(keep)]["response_id"]
        return a["response_id"].isin(gone)
    res, _ = _project(tmp_path, demo_data, drop=drop)
    pp = res.table("prepost")
    s01 = pp[(pp["site_id"] == "S01") & (pp["outcome"] == "partnership_total")].iloc[0]
    # Computed on the few pairs there are (reports suppress cells below the threshold).
    assert s01["n_pairs"] <= 5 < 11
    assert pp[pp["level"] == "collaborative"]["p"].notna().all()


def test_no_network_survey(tmp_path, demo_data):
    res, project = _project(tmp_path, demo_data, instruments=("partnership", "community"))
    assert load_plan(project.path(project.plan)).network is None
    assert not any(t.startswith("network_") for t in res.tables)
    assert _pending(res).empty


def test_no_community_survey(tmp_path, demo_data):
    res, project = _project(tmp_path, demo_data, instruments=("partnership", "network"))
    plan = load_plan(project.path(project.plan))
    assert plan.feedback is None and plan.linkage is None
    assert {o.instrument for o in plan.outcomes} == {"partnership"}
    assert "linkage" not in res.tables and "feedback_scores" not in res.tables


def test_item_pairs_never_answered_together(tmp_path, demo_data):
    def drop(a, r):
        # At baseline, PSA13 only from some participants and PSA14 only from the others.
        base = sorted(r.loc[(r["wave"] == "baseline") & (r["instrument"] == "partnership"),
                            "response_id"])
        first = set(base[::2])
        return (a["response_id"].isin(base)
                & (((a["item"] == "PSA13") & ~a["response_id"].isin(first))
                   | ((a["item"] == "PSA14") & a["response_id"].isin(first))))
    res, _ = _project(tmp_path, demo_data, drop=drop)
    pending = _pending(res)
    rel = pending[pending["analysis"] == "reliability"].set_index("outcome")
    reason = rel.loc["partnership_data_sharing", "reason"]
    assert reason.startswith("Partnership self-assessment, Data sharing scale: its "
                             "reliability cannot be estimated from the Baseline answers")
    assert "never answered together" in reason
    assert "partnership_trust" in set(res.table("reliability")["outcome"])


def test_network_rating_item_not_in_the_data(tmp_path, demo_data):
    res, _ = _project(tmp_path, demo_data,
                      drop=lambda a, r: a["item"].str.startswith("collaboration["))
    pending = _pending(res)
    assert pending.loc[pending["analysis"] == "network", "reason"].tolist() == [
        "the Partner-network survey answers hold no 'collaboration' ratings (network.item in "
        "the plan), so ties between organizations cannot be counted"]
    assert not any(t.startswith("network_") for t in res.tables)


def test_status_lists_what_cannot_be_computed(tmp_path, demo_data):
    _project(tmp_path, demo_data, data_waves=("baseline",))
    st = store_status(tmp_path)
    assert list(st.pending.columns) == PENDING_COLUMNS
    pending = read_results(tmp_path / "results").table("pending")
    pd.testing.assert_frame_equal(st.pending.reset_index(drop=True),
                                  pending.astype(object).where(pending.notna(), None))
