"""The demo generator: seedable, sized as the issue describes, truth written beside it."""

from __future__ import annotations

import pandas as pd

from evalkit.config import DEFAULT_SECTORS, ProjectConfig
from evalkit.demo import TRUE_EFFECTS, demo_config, generate


def test_same_seed_same_data(demo_data):
    again = generate(seed=11)
    for table in ("sites", "organizations", "participants", "responses", "answers"):
        pd.testing.assert_frame_equal(getattr(demo_data.batch, table),
                                      getattr(again.batch, table))
    assert again.truth == demo_data.truth


def test_other_seed_other_data(demo_data):
    other = generate(seed=12)
    assert not other.batch.answers["value"].equals(demo_data.batch.answers["value"])


def test_design_matches_the_collaborative(demo_data):
    b = demo_data.batch
    assert len(b.sites) == 6
    assert b.sites["modality"].value_counts().to_dict() == {"coaching": 2, "peer": 2,
                                                           "convening": 2}
    orgs = b.organizations.groupby("site_id").size()
    assert orgs.between(15, 30).all()
    assert b.organizations.groupby("site_id")["sector"].nunique().eq(len(DEFAULT_SECTORS)).all()
    people = b.participants.groupby("site_id").size()
    assert people.between(20, 40).all()
    psa = b.responses[b.responses["instrument"] == "partnership"]
    per_wave = psa.groupby("wave").size()
    attrition = 1 - per_wave["endline"] / per_wave["baseline"]
    assert 0.1 < attrition < 0.3
    cf = b.responses[b.responses["instrument"] == "community"].groupby(["site_id", "wave"])
    assert cf.size().between(60, 150).all()
    net = b.responses[b.responses["instrument"] == "network"]
    assert set(net["wave"]) == {"baseline", "endline"}
    comments = b.answers[b.answers["item"] == "COMMENT"]
    assert len(comments) > 100


def test_participant_ids_are_pseudonymous(demo_data):
    ids = demo_data.batch.participants["participant_id"]
    assert ids.str.fullmatch(r"P-[0-9A-F]{8}").all()


def test_truth_and_config(demo_data):
    assert demo_data.truth["partnership_total_change"] == TRUE_EFFECTS[
        "partnership_total_change"]
    cfg = ProjectConfig.model_validate(demo_config(demo_data))
    assert set(cfg.site_modality().values()) == {"coaching", "peer", "convening"}


def test_returning_community_codes_include_typos(demo_data):
    from evalkit.linkage import link_codes

    a = demo_data.batch.answers
    r = demo_data.batch.responses.set_index("response_id")
    codes = a[a["item"] == "SGIC"].assign(wave=lambda d: d["response_id"].map(r["wave"]),
                                          site=lambda d: d["response_id"].map(r["site_id"]))
    s1 = codes[codes["site"] == "S01"]
    pre = s1[s1["wave"] == "baseline"]["text"].reset_index(drop=True)
    post = s1[s1["wave"] == "endline"]["text"].reset_index(drop=True)
    exact = link_codes(pre, post).pairs
    tolerant = link_codes(pre, post, max_mismatches=1, prefer_exact=True).pairs
    assert len(exact) > 5 and len(tolerant) > len(exact)
