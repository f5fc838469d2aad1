"""A seedable demo collaborative: sites, partners, participants and survey responses.

The generator builds a learning collaborative with known ("true") modality effects so the
analyses have something real to find. The truth is returned beside the data and written to
``data/demo_truth.json`` by :func:`write_demo_project`.

Design of the default demo (``generate(seed)``):

* 6 sites, 2 per modality (``coaching``, ``peer``, ``convening``), each with 15-30 partner
  organizations spread over the sectors;
* 20-40 site-team participants per site answering the partnership self-assessment at
  baseline, midpoint and endline (about 10% miss the midpoint, about 20% are gone by
  endline, about 3% item non-response);
* the partner-network survey answered by about 85% of organizations at baseline and endline;
* 60-150 anonymous community-feedback responses per site and wave (baseline, endline) with
  open-ended comments and a self-generated code (about 30% of endline respondents also
  answered at baseline).

True effects are stated on the item-mean scale (1-5) of the latent response before it is
rounded to an answer category, so an analysis of the scored data should find values close
to, not exactly, the truth.

Examples
--------
>>> from evalkit.demo import generate
>>> demo = generate(seed=7)
>>> sorted(demo.sites["modality"].unique())
['coaching', 'convening', 'peer']
>>> demo.truth["partnership_total_change"]["coaching"]
0.45
>>> generate(seed=7).batch.answers.equals(demo.batch.answers)
True
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from evalkit.config import DEFAULT_SECTORS
from evalkit.store import Batch

__all__ = ["DemoData", "generate", "demo_config", "TRUE_EFFECTS"]

MODALITIES = {
    "coaching": "Technical assistance and coaching",
    "peer": "Peer learning",
    "convening": "Regional convenings",
}

#: Baseline-to-endline change in the mean partnership score (item-mean scale) by modality;
#: half of it is reached at midpoint.
TRUE_EFFECTS: dict[str, dict[str, float]] = {
    "partnership_total_change": {"coaching": 0.45, "peer": 0.30, "convening": 0.15},
    "community_experience_change": {"coaching": 0.30, "peer": 0.20, "convening": 0.10},
    "network_tie_probability_change": {"coaching": 0.15, "peer": 0.10, "convening": 0.05},
}

_SITES = [
    ("S01", "Riverbend Complex Care Partnership", "Northeast", "coaching"),
    ("S02", "Harbor County Care Network", "South", "peer"),
    ("S03", "Mesa Valley Health Ecosystem", "West", "convening"),
    ("S04", "Prairie Hills Community Alliance", "Midwest", "coaching"),
    ("S05", "Lakeshore Care Collaborative", "Midwest", "peer"),
    ("S06", "Piedmont Whole-Person Care Coalition", "South", "convening"),
]

_WAVES = [
    ("baseline", "Baseline", "2025-01-06", "2025-02-28"),
    ("midpoint", "Midpoint (month 8)", "2025-08-01", "2025-09-15"),
    ("endline", "Endline (month 15)", "2026-03-01", "2026-04-15"),
]

_ROLES = ["Site lead", "Care coordinator", "Program manager", "Community health worker",
          "Data analyst", "Clinician", "Peer specialist", "Administrator"]

_COMMENTS = {
    "positive": [
        "The care coordinator called the food bank for me and they already knew my situation.",
        "Staff spoke Spanish and helped me fill out the housing forms.",
        "They set up my ride to the clinic so I did not miss the appointment.",
        "For the first time the clinic and the shelter talked to each other about my needs.",
        "The community health worker came to my home and explained my medicines.",
        "I felt respected and listened to, they asked what mattered to me.",
        "Getting help with my utility bill was quick once the church connected me.",
        "The new shared referral made it easy, I only had to tell my story once.",
    ],
    "negative": [
        "I had to repeat my story at every office and nobody knew what the others did.",
        "Waited three weeks for a call back about mental health services.",
        "Hard to get there without a car, the bus does not go to the clinic.",
        "Nobody spoke my language and the forms were only in English.",
        "I was sent from one place to another and still did not get housing help.",
        "The hours do not work for me because I work during the day.",
        "Staff were rushed and did not explain what happens next.",
        "Too much paperwork just to get food assistance.",
    ],
    "neutral": [
        "It was okay.",
        "Some places were helpful, others not so much.",
        "I would like more information about what services exist.",
        "Please keep the evening hours.",
    ],
}


#: Staff and resident names that appear in some demo comments. Real projects keep such a list
#: outside the store (``feedback.names_file`` in the plan) so quotes can be scrubbed.
DEMO_NAMES = ("Rosa Delgado", "Marcus Whitfield", "Aisha Okafor", "Tom Brennan", "Lupe Ortiz")

_PERSONAL_COMMENTS = [
    "Rosa Delgado at the clinic called the shelter for me, she is the best.",
    "Please call me back at (555) 201-3344 about the housing forms.",
    "Marcus Whitfield never returned my calls about the food bank.",
    "You can reach me at maria.g+help@example.org if you need more.",
    "Aisha Okafor explained my medicines and set up my ride to the clinic.",
    "I live at 1417 Cedar Street Apt 3 and nobody came for the home visit.",
    "Tom Brennan helped me fill out the forms in Spanish. Text me 555.867.5309.",
    "Lupe Ortiz connected me with the church pantry, they already knew my situation.",
]


@dataclass(frozen=True)
class DemoData:
    """A generated collaborative: the rows to ingest plus the truth behind them.

    Attributes
    ----------
    batch
        Sites, organizations, participants, responses and answers (long form).
    sites
        One row per site: ``site_id, name, region, modality, start_date``.
    truth
        The effects built into the data (see :data:`TRUE_EFFECTS`) and the generator settings.
    seed
        The seed that reproduces this collaborative.
    names
        Names that occur in some comments (to be scrubbed from published quotes).
    """

    batch: Batch
    sites: pd.DataFrame
    truth: dict[str, Any]
    seed: int
    names: tuple[str, ...] = DEMO_NAMES


def _pid(seed: int, site: str, k: int) -> str:
    """A pseudonymous participant id: stable for a seed, meaningless outside the project."""
    digest = hashlib.sha256(f"{seed}|{site}|{k}".encode()).hexdigest()[:8].upper()
    return f"P-{digest}"


def _date_in(rng: np.random.Generator, start: str, end: str) -> dt.datetime:
    a, b = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    day = a + dt.timedelta(days=int(rng.integers(0, (b - a).days + 1)))
    return dt.datetime.combine(day, dt.time(int(rng.integers(8, 20)), int(rng.integers(0, 60))))


def _likert(latent: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    return np.clip(np.rint(latent + rng.normal(0, noise, latent.shape)), 1, 5)


def _sgic(rng: np.random.Generator) -> str:
    letters = "ABCDEFGHIJKLMNOPRSTW"
    return (letters[rng.integers(len(letters))] + letters[rng.integers(len(letters))]
            + f"{int(rng.integers(1, 13)):02d}" + letters[rng.integers(len(letters))])


def generate(seed: int = 2026, *, n_sites: int = 6) -> DemoData:
    """Generate the demo collaborative.

    Parameters
    ----------
    seed
        Seed of the random generator; the same seed gives identical data.
    n_sites
        Number of sites (a multiple of 3 keeps the modalities balanced); at most 6.

    Returns
    -------
    DemoData
    """
    if not 3 <= n_sites <= len(_SITES):
        raise ValueError(f"n_sites must be between 3 and {len(_SITES)}; got {n_sites}")
    rng = np.random.default_rng(seed)
    waves = {w[0]: w for w in _WAVES}
    site_rows: list[dict[str, Any]] = []
    org_rows: list[dict[str, Any]] = []
    part_rows: list[dict[str, Any]] = []
    resp_rows: list[dict[str, Any]] = []
    ans_frames: list[pd.DataFrame] = []
    part_items = [f"PSA{i:02d}" for i in range(1, 25)]
    reverse = {"PSA03", "PSA06", "PSA12", "PSA20"}
    cf_items = [f"CF{i:02d}" for i in range(1, 9)]
    wave_frac = {"baseline": 0.0, "midpoint": 0.5, "endline": 1.0}

    for site_id, name, region, modality in _SITES[:n_sites]:
        site_rows.append({"site_id": site_id, "name": name, "region": region,
                          "modality": modality, "modalities": modality,
                          "start_date": dt.date(2025, 1, 1)})
        site_effect = rng.normal(0, 0.25)
        # Partner organizations, spread over the sectors.
        n_org = int(rng.integers(15, 31))
        sectors = list(DEFAULT_SECTORS)
        org_sectors = sectors + list(rng.choice(sectors, n_org - len(sectors)))
        rng.shuffle(org_sectors)
        orgs = [f"{site_id}-O{k:02d}" for k in range(1, n_org + 1)]
        for org, sector in zip(orgs, org_sectors, strict=True):
            org_rows.append({"org_id": org, "site_id": site_id,
                             "name": f"Partner {org[-3:]} ({sector})", "sector": sector})

        # Partnership self-assessment: participants at baseline, midpoint, endline.
        n_part = int(rng.integers(20, 41))
        person = rng.normal(0, 0.45, n_part)
        dropped = rng.random(n_part) < 0.20
        skip_mid = rng.random(n_part) < 0.10
        item_shift = rng.normal(0, 0.2, len(part_items))
        change = TRUE_EFFECTS["partnership_total_change"][modality]
        for k in range(n_part):
            pid = _pid(seed, site_id, k)
            part_rows.append({"participant_id": pid, "site_id": site_id,
                              "role": _ROLES[int(rng.integers(len(_ROLES)))],
                              "org_id": orgs[int(rng.integers(n_org))]})
            for wave in ("baseline", "midpoint", "endline"):
                if (wave == "endline" and dropped[k]) or (wave == "midpoint" and skip_mid[k]):
                    continue
                latent = 3.0 + site_effect + person[k] + change * wave_frac[wave] + item_shift
                values = _likert(latent, rng, 0.7)
                values = np.where([i in reverse for i in part_items], 6 - values, values)
                missing = rng.random(len(part_items)) < 0.03
                rid = f"demo:partnership:{wave}:{pid}"
                resp_rows.append({"response_id": rid, "instrument": "partnership",
                                  "wave": wave, "site_id": site_id, "respondent_id": pid,
                                  "submitted_at": _date_in(rng, *waves[wave][2:])})
                keep = ~missing
                ans_frames.append(pd.DataFrame({
                    "response_id": rid, "item": np.array(part_items)[keep],
                    "value": values[keep], "text": None}))

        # Partner-network survey: each responding organization rates the others.
        base_p = rng.uniform(0.25, 0.4)
        tie_change = TRUE_EFFECTS["network_tie_probability_change"][modality]
        for wave in ("baseline", "endline"):
            p_tie = base_p + (tie_change if wave == "endline" else 0.0)
            responds = rng.random(n_org) < 0.85
            for i, ego in enumerate(orgs):
                if not responds[i]:
                    continue
                alters = [a for a in orgs if a != ego]
                known = rng.random(len(alters)) < min(0.95, p_tie + 0.35)
                contact = np.where(rng.random(len(alters)) < p_tie,
                                   rng.integers(3, 6, len(alters)),
                                   rng.integers(1, 3, len(alters)))
                collab = np.clip(contact + rng.integers(-1, 2, len(alters)), 1, 5)
                trust = np.clip(np.rint(1 + contact * 0.6 + rng.normal(0, 0.5, len(alters))), 1, 4)
                value = np.clip(np.rint(1 + contact * 0.55 + rng.normal(0, 0.6, len(alters))), 1, 4)
                rid = f"demo:network:{wave}:{ego}"
                resp_rows.append({"response_id": rid, "instrument": "network", "wave": wave,
                                  "site_id": site_id, "respondent_id": ego,
                                  "submitted_at": _date_in(rng, *waves[wave][2:])})
                idx = np.flatnonzero(known)
                rows = []
                for code, vals in (("contact", contact), ("collaboration", collab),
                                   ("trust", trust), ("value", value)):
                    rows.append(pd.DataFrame({
                        "response_id": rid,
                        "item": [f"{code}[{alters[j]}]" for j in idx],
                        "value": vals[idx].astype(float), "text": None}))
                ans_frames.append(pd.concat(rows, ignore_index=True))

        # Community feedback: anonymous, cross-sectional, some linked by self-generated code.
        cf_change = TRUE_EFFECTS["community_experience_change"][modality]
        base_codes: list[str] = []
        for wave in ("baseline", "endline"):
            n_cf = int(rng.integers(60, 151))
            for j in range(n_cf):
                if wave == "endline" and base_codes and rng.random() < 0.30:
                    code = base_codes.pop(int(rng.integers(len(base_codes))))
                    if rng.random() < 0.15:  # a typo: one character written differently
                        pos = int(rng.integers(len(code)))
                        code = code[:pos] + ("X" if code[pos] != "X" else "Y") + code[pos + 1:]
                else:
                    code = _sgic(rng)
                    if wave == "baseline":
                        base_codes.append(code)
                shift = cf_change if wave == "endline" else 0.0
                latent = 3.3 + site_effect * 0.8 + rng.normal(0, 0.55) + shift
                values = _likert(np.full(len(cf_items), latent), rng, 0.7)
                values[1] = 6 - values[1]  # CF02 is worded negatively
                missing = rng.random(len(cf_items)) < 0.04
                rid = f"demo:community:{wave}:{site_id}-{j:03d}"
                resp_rows.append({"response_id": rid, "instrument": "community", "wave": wave,
                                  "site_id": site_id, "respondent_id": None,
                                  "submitted_at": _date_in(rng, *waves[wave][2:])})
                frame = pd.DataFrame({"response_id": rid, "item": np.array(cf_items)[~missing],
                                      "value": values[~missing], "text": None})
                extra = [{"response_id": rid, "item": "SGIC", "value": None, "text": code},
                         {"response_id": rid, "item": "age_group",
                          "value": float(rng.integers(1, 5)), "text": None},
                         {"response_id": rid, "item": "language",
                          "value": float(rng.choice([1, 2, 3], p=[0.7, 0.22, 0.08])),
                          "text": None}]
                if rng.random() < 0.55:
                    mood = ("positive" if latent > 3.6 else "negative" if latent < 3.0
                            else "neutral")
                    pool = _COMMENTS[mood] if rng.random() > 0.06 else _PERSONAL_COMMENTS
                    extra.append({"response_id": rid, "item": "COMMENT", "value": None,
                                  "text": pool[int(rng.integers(len(pool)))]})
                if rng.random() < 0.1:
                    extra.append({"response_id": rid, "item": "contact_email", "value": None,
                                  "text": f"resident{int(rng.integers(1000, 9999))}@example.org"})
                ans_frames.append(pd.concat([frame, pd.DataFrame(extra)], ignore_index=True))

    answers = pd.concat(ans_frames, ignore_index=True)
    answers["text"] = answers["text"].astype("object").where(answers["text"].notna(), None)
    batch = Batch(
        sites=pd.DataFrame(site_rows),
        organizations=pd.DataFrame(org_rows),
        participants=pd.DataFrame(part_rows),
        responses=pd.DataFrame(resp_rows),
        answers=answers,
    )
    truth = {
        "seed": seed,
        "n_sites": n_sites,
        "scale": "item-mean (1-5) of the latent response before rounding to a category",
        **{k: dict(v) for k, v in TRUE_EFFECTS.items()},
        "midpoint_share_of_change": 0.5,
        "attrition_by_endline": 0.20,
        "midpoint_missed": 0.10,
        "item_nonresponse": 0.03,
    }
    return DemoData(batch=batch, sites=pd.DataFrame(site_rows), truth=truth, seed=seed)


def demo_config(demo: DemoData) -> dict[str, Any]:
    """The ``evalkit.yml`` content describing a generated demo collaborative.

    Examples
    --------
    >>> from evalkit.demo import demo_config, generate
    >>> cfg = demo_config(generate(seed=1))
    >>> [w["id"] for w in cfg["waves"]]
    ['baseline', 'midpoint', 'endline']
    """
    return {
        "collaborative": {
            "name": "Demo Complex Care Learning Collaborative",
            "period": {"start": "2025-01-01", "end": "2026-04-30"},
        },
        "modalities": [{"id": k, "label": v} for k, v in MODALITIES.items()],
        "sites": [
            {"id": r.site_id, "name": r.name, "region": r.region, "modalities": [r.modality],
             "start_date": str(r.start_date)}
            for r in demo.sites.itertuples()
        ],
        "waves": [
            {"id": w, "label": label, "window": {"start": a, "end": b}}
            for w, label, a, b in _WAVES
        ],
        "instruments": {
            "partnership": {"file": "surveys/partnership_self_assessment.yaml",
                            "waves": ["baseline", "midpoint", "endline"]},
            "network": {"file": "surveys/partner_network.yaml",
                        "waves": ["baseline", "endline"]},
            "community": {"file": "surveys/community_feedback.yaml",
                          "waves": ["baseline", "endline"]},
        },
        "store": "evalkit.duckdb",
        "plan": "analyses/plan.yml",
        "reports": {"suppression_threshold": 11, "results_dir": "results",
                    "output_dir": "_output"},
    }
