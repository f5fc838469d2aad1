"""Deploy -> participants -> pull -> pull again, against the stateful fake LimeSurvey server.

The server (tests/limesurvey_server.py) behaves like the recorded LimeSurvey 6.14 one:
ids renumbered on import, statuses for errors, paging by tid, base64 exports, expiring
session keys. Respondents answer through ``server.respond`` (what the web survey does).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from limesurvey_server import FakeLimeSurvey, started

from evalkit.config import load_config
from evalkit.instruments import load_instruments
from evalkit.project import create_project
from evalkit.sources import (
    AuthenticationError,
    Deployment,
    Deployments,
    PullInterruptedError,
    add_participants,
    connect,
    deploy,
    load_deployments,
    participant_token,
    pseudonym,
    pull,
    remind_participants,
    response_rates,
    save_deployments,
)
from evalkit.store import read_table

KEY = b"cycle-test-key-0123456789"
PASSWORD = "Admin-Pass-2024"
SITES = ["S01", "S02", "S03"]
LONG_TEXT = ("Très utile — Río Clínica; quotes \"like this\", a tab\there,\nemoji 🌱👩🏽‍⚕️, "
             "日本語, a backslash \\ and ]]> too.\n" + "Sentence about huddles. " * 400)


@pytest.fixture
def server():
    s = started(password=PASSWORD)
    yield s
    s.stop()


@pytest.fixture
def project(tmp_path, server):
    folder = tmp_path / "proj"
    create_project(folder)
    data = yaml.safe_load((folder / "evalkit.yml").read_text())
    data["limesurvey"] = {"url": server.url, "user": "admin"}
    (folder / "evalkit.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    return load_config(folder)


@pytest.fixture
def instruments(project):
    return load_instruments(project.path("surveys"))


def _ls(server: FakeLimeSurvey, page_size: int = 4):
    ls = connect(server.url, "admin", PASSWORD)
    ls.page_size = page_size
    return ls


def _people(n: int) -> pd.DataFrame:
    return pd.DataFrame([{"code": f"P{i:02d}", "site": SITES[i % 3], "email": f"p{i}@site.org",
                          "firstname": "Zoë", "lastname": f"Núñez{i}", "role": "nurse"}
                         for i in range(n)])


def _answers(d: Deployment, value_for) -> dict[str, str]:
    """Code-heading answers for every array subquestion of a deployment."""
    return {f"{q.code}[{sq}]": value_for(item) for q in d.questions
            for sq, item in q.subquestions.items()}


def _counts(store: Path) -> tuple[int, int, int]:
    if not store.exists():
        return (0, 0, 0)
    return tuple(int(read_table(store, f"SELECT count(*) AS n FROM {t}")["n"][0])
                 for t in ("responses", "answers", "provenance"))


def test_deploy_participants_pull_and_pull_again(server, project, instruments):
    mapping = project.path("limesurvey.yml")
    staging = project.path(".evalkit/pull")
    ls = _ls(server)
    psa = deploy(ls, instruments["partnership"], wave="baseline", mapping_file=mapping)
    cf = deploy(ls, instruments["community"], wave="baseline", mapping_file=mapping,
                sites={s.id: s.name for s in project.sites})
    # The server renumbered what it imported (survey ids, question ids); the recorded
    # mapping is by question code, so it does not depend on them.
    assert psa.survey_id != cf.survey_id
    assert server.survey(cf.survey_id).questions[0].qid > len(psa.questions)
    assert [q.code for q in psa.questions][:2] == ["sharedaim", "trust"]
    assert cf.anonymized and not cf.tokens and psa.tokens

    added = add_participants(ls, psa, _people(10), key=KEY, sites=SITES, mapping_file=mapping,
                             invite=True)
    assert (added.added, added.already, added.registered) == (10, 0, {"S01": 4, "S02": 3,
                                                                      "S03": 3})
    assert added.invitations.sent == 10
    assert "Zoë" not in added.participants.to_csv()  # names never leave LimeSurvey
    again = add_participants(ls, load_deployments(mapping).find(instrument="partnership")[0],
                             _people(10), key=KEY, sites=SITES, mapping_file=mapping)
    assert (again.added, again.already) == (0, 10)

    tokens = [participant_token(SITES[i % 3], f"P{i:02d}", key=KEY) for i in range(10)]
    def answer(i: int, item: str) -> str:  # PSA07 of respondent i -> "A{1 + (i + 7) % 5}"
        return f"A{1 + (i + int(item[3:])) % 5}"

    for i, token in enumerate(tokens[:7]):  # 6 complete, 1 stopped half-way
        server.respond(psa.survey_id, _answers(psa, lambda item, i=i: answer(i, item)),
                       token=token, complete=i != 6, submitdate="2026-01-20 10:00:00")
    site_q = next(q for q in cf.questions if q.role == "site")
    comment_q = next(q.code for q in cf.questions if q.item == "COMMENT")
    sgic_q = next(q.code for q in cf.questions if q.role == "linkage")
    email_q = next(q.code for q in cf.questions if q.item == "contact_email")
    server.respond(cf.survey_id, {site_q.code: "A2", comment_q: LONG_TEXT, sgic_q: "ma05a",
                                  email_q: "resident@example.org",
                                  **_answers(cf, lambda item: "A4")})
    server.respond(cf.survey_id, {site_q.code: "A1", **_answers(cf, lambda item: "A2")})

    ls.page_size = 3  # list_participants pages: 3 + 3 + 3 + 1
    first = pull(ls, load_deployments(mapping).deployments, instruments,
                 store=project.store_path, key=KEY, staging=staging)
    assert first.ingest.inserted == 9 and first.responses == 9
    # Exactly the server's responses, once.
    stored = read_table(project.store_path, "SELECT * FROM responses ORDER BY response_id")
    server_ids = sorted([f"{psa.response_prefix}{i}" for i in range(1, 8)]
                        + [f"{cf.response_prefix}{i}" for i in (1, 2)])
    assert sorted(stored["response_id"]) == server_ids
    assert int((~stored["complete"]).sum()) == 1
    one = stored.set_index("response_id").loc[f"{psa.response_prefix}1"]
    assert one["respondent_id"] == pseudonym("token", tokens[0], key=KEY)
    assert one["site_id"] == "S01" and one["submitted_at"] == pd.Timestamp("2026-01-20 10:00")
    # Array subquestions mapped back to item codes with their values.
    answers = read_table(project.store_path, "SELECT * FROM answers")
    a = answers.set_index(["response_id", "item"])
    for i in range(6):
        rid = f"{psa.response_prefix}{i + 1}"
        for k in range(1, 25):
            assert a.loc[(rid, f"PSA{k:02d}"), "value"] == 1 + (i + k) % 5
    # The anonymized survey: site from its question, respondent from the hashed code,
    # dates replaced by the server dropped, personal answers and the code never stored.
    c1 = stored.set_index("response_id").loc[f"{cf.response_prefix}1"]
    assert c1["site_id"] == "S02" and pd.isna(c1["submitted_at"])
    assert c1["respondent_id"] == pseudonym("sgic", "MA05A", key=KEY, scope="S02")
    assert a.loc[(f"{cf.response_prefix}1", "COMMENT"), "text"] == LONG_TEXT
    assert not answers["item"].isin(["contact_email", "SGIC"]).any()
    assert not answers["text"].fillna("").str.contains("resident@|ma05a|MA05A").any()
    before = _counts(project.store_path)

    second = pull(ls, load_deployments(mapping).deployments, instruments,
                  store=project.store_path, key=KEY, staging=staging)
    assert second.ingest.skipped and _counts(project.store_path) == before

    server.edit_response(psa.survey_id, 2, {f"{psa.questions[0].code}[SQ001]": "A1"})
    third = pull(ls, load_deployments(mapping).deployments, instruments,
                 store=project.store_path, key=KEY, staging=staging)
    assert (third.ingest.inserted, third.ingest.updated, third.ingest.unchanged) == (0, 1, 8)
    prov = read_table(project.store_path, "SELECT * FROM provenance ORDER BY started_at")
    assert list(prov["responses_updated"]) == [0, 1]
    assert read_table(project.store_path, "SELECT value FROM answers WHERE response_id = ? "
                      "AND item = 'PSA01'", [f"{psa.response_prefix}2"])["value"][0] == 1
    assert _counts(project.store_path)[:2] == before[:2]

    rates = response_rates(project).set_index(["site", "wave", "instrument"])
    assert rates.loc[("S01", "baseline", "partnership"), "expected"] == 4
    assert rates.loc[("S01", "baseline", "partnership"), "responded"] == 2


def test_a_server_that_stops_half_way_ingests_nothing_and_the_retry_continues(
        server, project, instruments):
    mapping = project.path("limesurvey.yml")
    staging = project.path(".evalkit/pull")
    ls = _ls(server)
    surveys = [deploy(ls, instruments["partnership"], wave=w, mapping_file=mapping)
               for w in ("baseline", "midpoint", "endline")]
    for d in surveys:
        add_participants(ls, d, _people(3), key=KEY, sites=SITES, mapping_file=mapping)
        for i in range(3):
            server.respond(d.survey_id, _answers(d, lambda item: "A3"),
                           token=participant_token(SITES[i], f"P{i:02d}", key=KEY))
    deployments = load_deployments(mapping).deployments
    server.calls.clear()
    # Each survey checked first (properties, questions: 6 calls), then survey 1 fetched
    # (export, participants); the 9th call gets no answer.
    server.stop_answering(after=8)
    with pytest.raises(PullInterruptedError) as info:
        pull(ls, deployments, instruments, store=project.store_path, key=KEY, staging=staging)
    assert str(info.value) == (
        f"LimeSurvey at {server.url} stopped answering during export_responses "
        f"(ConnectionError); stopped at survey {surveys[1].survey_id} (partnership, midpoint), "
        f"1 of 3 surveys fetched. Nothing was ingested; 1 fetched survey(s) are kept in "
        f"{staging} and the next `evalkit pull` reuses them if the server confirms they are "
        "unchanged")
    assert _counts(project.store_path) == (0, 0, 0)

    server.resume()
    server.calls.clear()
    server.requests.clear()
    done = pull(ls, deployments, instruments, store=project.store_path, key=KEY,
                staging=staging)
    assert list(done.surveys["resumed"]) == [True, False, False]
    assert list(done.surveys["copy"]) == ["reused", "fetched", "fetched"]
    # Survey 1 was confirmed by an export of four fields only, not fetched again.
    exports = [p for m, p in server.requests if m == "export_responses"]
    assert [p[1] for p in exports] == [surveys[0].survey_id, surveys[1].survey_id,
                                       surveys[2].survey_id]
    assert [p[9] for p in exports] == [["id", "submitdate", "lastpage", "datestamp"], None,
                                       None]
    assert server.calls.count("list_participants") == 2
    assert _counts(project.store_path)[0] == 9 and done.ingest.inserted == 9
    assert not list(staging.glob("*.json"))


def test_an_expired_session_is_renewed_during_a_pull(server, project, instruments):
    mapping = project.path("limesurvey.yml")
    ls = _ls(server)
    d = deploy(ls, instruments["session_feedback"], wave="baseline", mapping_file=mapping)
    add_participants(ls, d, _people(2), key=KEY, sites=SITES, mapping_file=mapping)
    server.respond(d.survey_id, {"modality": "A2", "hours": "1.5", **_answers(d, lambda i: "A5")},
                   token=participant_token("S01", "P00", key=KEY))
    server.expire_sessions()
    result = pull(ls, load_deployments(mapping).deployments,
                  load_instruments(project.path("surveys")), store=project.store_path,
                  key=KEY, staging=project.path(".evalkit/pull"))
    assert result.ingest.inserted == 1 and ls.relogins == 1
    assert server.calls.count("get_session_key") == 2
    hours = read_table(project.store_path, "SELECT value FROM answers WHERE item = 'hours'")
    assert hours["value"].tolist() == [1.5]


def test_wrong_credentials(server):
    with pytest.raises(AuthenticationError, match="Invalid user name or password"):
        connect(server.url, "admin", "not-the-password")


def test_a_survey_id_that_does_not_exist(server, project, instruments):
    ls = _ls(server)
    real = deploy(ls, instruments["partnership"], wave="baseline",
                  mapping_file=project.path("limesurvey.yml"))
    ghost = real.model_copy(update={"survey_id": 999999})
    result = pull(ls, [ghost], instruments, store=project.store_path, key=KEY,
                  staging=project.path(".evalkit/pull"))
    assert result.skipped == ("survey 999999 (partnership, baseline): not on the server "
                              "(get_survey_properties: Error: Invalid survey ID); skipped",)
    assert result.ingest is None and not project.store_path.exists()


def test_an_empty_export_ingests_nothing(server, project, instruments):
    ls = _ls(server)
    deploy(ls, instruments["partnership"], wave="baseline",
           mapping_file=project.path("limesurvey.yml"))
    result = pull(ls, load_deployments(project.path("limesurvey.yml")).deployments,
                  instruments, store=project.store_path, key=KEY,
                  staging=project.path(".evalkit/pull"))
    assert result.ingest is None and result.responses == 0
    assert "export_responses" in server.calls


def test_invitations_and_reminders_through_the_session(server, project, instruments):
    mapping = project.path("limesurvey.yml")
    ls = _ls(server)
    d = deploy(ls, instruments["partnership"], wave="baseline", mapping_file=mapping)
    added = add_participants(ls, d, _people(5), key=KEY, sites=SITES, mapping_file=mapping,
                             invite=True)
    assert (added.invitations.sent, added.invitations.left) == (5, 0)
    server.respond(d.survey_id, _answers(d, lambda item: "A4"),
                   token=participant_token("S01", "P00", key=KEY))
    first = remind_participants(ls, d)
    assert first.sent == 4  # the one who answered is not reminded
    assert remind_participants(ls, d, max_reminders=1).sent == 0  # no candidates left
    assert server.calls.count("remind_participants") == 2


def test_a_network_survey_maps_its_grid_back_to_organizations(server, project, instruments):
    mapping = project.path("limesurvey.yml")
    ls = _ls(server)
    orgs = {"S01-O01": "Clinic", "S01-O02": "Food bank", "S01-O03": "Church"}
    d = deploy(ls, instruments["network"], wave="baseline", site="S01", organizations=orgs,
               mapping_file=mapping)
    people = pd.DataFrame([{"code": "R1", "site": "S01", "email": "r1@x.org", "org": "S01-O01"}])
    add_participants(ls, d, people, key=KEY, sites=SITES, mapping_file=mapping)
    contact = next(q for q in d.questions if q.subquestions.get("SQ001") == "contact[S01-O01]")
    server.respond(d.survey_id, {f"{contact.code}[SQ001]": "A5",  # itself: dropped
                                 f"{contact.code}[SQ002]": "A4",
                                 f"{contact.code}[SQ003]": "A1"},
                   token=participant_token("S01", "R1", key=KEY))
    pull(ls, load_deployments(mapping).deployments, instruments, store=project.store_path,
         key=KEY, staging=project.path(".evalkit/pull"))
    stored = read_table(project.store_path, "SELECT r.respondent_id, a.item, a.value FROM "
                        "answers a JOIN responses r USING (response_id) ORDER BY a.item")
    assert stored.to_dict("records") == [
        {"respondent_id": "S01-O01", "item": "contact[S01-O02]", "value": 4.0},
        {"respondent_id": "S01-O01", "item": "contact[S01-O03]", "value": 1.0}]


def test_a_mapping_that_no_longer_fits_the_export_is_refused(server, project, instruments):
    mapping = project.path("limesurvey.yml")
    ls = _ls(server)
    d = deploy(ls, instruments["partnership"], wave="baseline", mapping_file=mapping)
    server.respond(d.survey_id, _answers(d, lambda item: "A4"))
    broken = d.model_copy(update={"questions": (
        d.questions[0].model_copy(update={"code": "renamed"}), *d.questions[1:]),
        "site": "S01"})
    save_deployments(mapping, Deployments(deployments=(broken,)))
    from evalkit.errors import IngestError

    with pytest.raises(IngestError, match=r"lacks column\(s\) \['renamed\[SQ001\]'"):
        pull(ls, [broken], instruments, store=project.store_path, key=KEY,
             staging=project.path(".evalkit/pull"))
    assert not project.store_path.exists()


def test_staged_surveys_expire(server, project, instruments):
    mapping = project.path("limesurvey.yml")
    staging = project.path(".evalkit/pull")
    ls = _ls(server)
    d = deploy(ls, instruments["partnership"], wave="baseline", mapping_file=mapping)
    server.respond(d.survey_id, _answers(d, lambda item: "A4"), token=None)
    staging.mkdir(parents=True)
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).isoformat()
    (staging / f"{d.origin}-{d.survey_id}.json").write_text(json.dumps({
        "version": 2, "survey_id": d.survey_id, "url": server.url, "origin": d.origin,
        "survey_created": d.survey_created, "fetched_at": old, "stamp": None,
        "responses": [], "answers": []}))
    d_site = d.model_copy(update={"site": "S02"})
    result = pull(ls, [d_site], instruments, store=project.store_path, key=KEY,
                  staging=staging)
    assert list(result.surveys["copy"]) == ["fetched"] and result.responses == 1


def test_a_response_opened_and_left_is_kept_as_incomplete(server, project, instruments):
    ls = _ls(server)
    d = deploy(ls, instruments["partnership"], wave="baseline",
               mapping_file=project.path("limesurvey.yml"))
    add_participants(ls, d, _people(1), key=KEY, sites=SITES,
                     mapping_file=project.path("limesurvey.yml"))
    server.respond(d.survey_id, {}, token=participant_token("S01", "P00", key=KEY),
                   complete=False, lastpage=0)
    result = pull(ls, load_deployments(project.path("limesurvey.yml")).deployments,
                  instruments, store=project.store_path, key=KEY,
                  staging=project.path(".evalkit/pull"))
    assert (result.ingest.inserted, result.ingest.answers_written) == (1, 0)
    stored = read_table(project.store_path, "SELECT complete, submitted_at FROM responses")
    assert stored["complete"].tolist() == [False] and stored["submitted_at"].isna().all()


def test_response_rates_of_the_demo_collaborative(tmp_path):
    from evalkit.demo import demo_config, generate
    from evalkit.store import Batch, ingest

    demo = generate(seed=11, n_sites=3)
    cfg = create_project(tmp_path / "demo", config=demo_config(demo))
    b = demo.batch
    ingest(cfg.store_path, Batch(sites=b.sites, organizations=b.organizations,
                                 participants=b.participants, responses=b.responses,
                                 answers=b.answers[b.answers["item"] != "contact_email"]),
           source="demo", kind="demo")
    rates = response_rates(cfg)
    sites = [s.id for s in cfg.sites]
    assert sorted(set(rates["site"])) == sorted(sites)
    r = rates.set_index(["site", "wave", "instrument"])
    for site in sites:
        people = int((b.participants["site_id"] == site).sum())
        orgs = int((b.organizations["site_id"] == site).sum())
        done = b.responses[(b.responses["site_id"] == site)
                           & (b.responses["instrument"] == "partnership")
                           & (b.responses["wave"] == "baseline")]
        row = r.loc[(site, "baseline", "partnership")]
        assert (row["expected"], row["responded"]) == (people, len(done))
        assert row["rate"] == round(len(done) / people, 3)
        assert r.loc[(site, "endline", "network"), "expected"] == orgs
        assert pd.isna(r.loc[(site, "baseline", "community"), "rate"])  # open survey
        assert r.loc[(site, "baseline", "community"), "responded"] > 0
