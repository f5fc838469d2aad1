"""Read rendered reports back and check every claim they make against ``results/``.

The checker is independent of :mod:`evalkit.findings`: it reads the result tables and the
instrument files itself and recomputes directions, the modality ranking and the decision
rule, then looks at what a reader sees (the HTML's text, the Word file's paragraphs and
tables).

What it checks (a "contradiction" is any failure):

* every direction word in the text (rose, fell, grew, gain, decline, improved, ...) sits in a
  claim it can verify, and that claim agrees with the sign in the results: a change of an
  outcome at a level, a modality's model-estimated change, the modality that "showed the
  largest gain" or "fell least", a network's density change, "the same/opposite direction";
* numbers of those claims: "went from A to B" and "a change of C" match the pre/post row;
  the model-estimated change of a modality matches the emmeans;
* trust and value between partner organizations: "rose/fell by X points" only when the
  paired 95% CI (recomputed here from ``network_organizations``) excludes 0, the interval
  as printed, "did not clearly change" only when it includes 0;
* "Offer X to more sites" appears only when the decision rule (model CI excludes 0 against
  every other modality, permutation p <= 0.10, an improvement) holds, recomputed here;
* no instrument title, wave label or modality label of another project (the shipped
  instruments, the demo's and the scenario generator's) appears unless this project has it;
  no network or community section when the project has no such instrument; item counts and
  scale ranges match the instrument files.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import yaml

UP = r"(?:rose|grew|gain|gains|improved|improve|higher|stronger|denser)"
DOWN = r"(?:fell|declined|decline|lower|weaker|sparser|dropped)"
DIRECTION_WORD = re.compile(rf"\b(?:{UP[3:-1]}|{DOWN[3:-1]})\b", re.IGNORECASE)

#: Phrases that carry a direction word but make no claim about a result.
NEUTRAL = [
    r"those who dropped out", r"dropped out", r"higher is better",
    r"counts below \d+ are", r"did not improve under any approach",
    r"least under", r"largest gain in the", r"at most [\d.]+",
    r"Reading these numbers", r"or higher",
]


@dataclass
class Report:
    """What one check found."""

    path: Path
    claims: int = 0
    contradictions: list[str] = field(default_factory=list)


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag in ("p", "li", "tr", "h1", "h2", "h3", "h4", "div", "figcaption", "br",
                   "caption", "td", "th", "blockquote"):
            self.parts.append("\n")
        if tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f"\n{alt}\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def report_text(path: Path) -> str:
    """The text a reader sees in an HTML or Word report, one block per line."""
    if path.suffix == ".html":
        parser = _Text()
        parser.feed(path.read_text(encoding="utf-8"))
        text = "".join(parser.parts)
    else:
        import docx

        with zipfile.ZipFile(path):
            pass
        doc = docx.Document(str(path))
        blocks = [p.text for p in doc.paragraphs]
        for table in doc.tables:
            for row in table.rows:
                blocks.append(" | ".join(c.text for c in row.cells))
        text = "\n".join(blocks)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"')
    text = text.replace("\u201d", '"').replace("\u00a0", " ").replace("\u2212", "-")
    return "\n".join(re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()
                     if line.strip())


# --------------------------------------------------------------------------- the project

@dataclass
class Truth:
    """What the results and the project's files say, read without evalkit.findings."""

    outcomes: pd.DataFrame
    prepost: pd.DataFrame
    emm_change: dict[tuple[str, str], float]
    decision: dict[str, tuple[bool, str]]
    mod_label: dict[str, str]
    network_mean: float | None
    network_by: dict[str, float]
    site_density: dict[str, float]
    absent_names: list[str]
    has_network: bool
    has_community: bool
    item_counts: dict[str, int]
    scale_ranges: dict[str, tuple[int, int]]
    #: (site id or "" for the collaborative, "trust"/"value") -> (change, ci low, ci high)
    partner_change: dict[tuple[str, str], tuple[float, float, float]] = field(
        default_factory=dict)
    site_ids: dict[str, str] = field(default_factory=dict)  # site name -> id


def _read(results: Path, name: str) -> pd.DataFrame:
    path = results / f"{name}.parquet"
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def _partner_change(results: Path) -> dict[tuple[str, str], tuple[float, float, float]]:
    """Trust and value change recomputed from ``network_organizations``: paired t interval
    over a site's organizations rated at both waves, t interval of the sites' changes for
    the collaborative (the definitions the reports state), with scipy, not evalkit."""
    from scipy import stats

    orgs, ch = _read(results, "network_organizations"), _read(results, "network_change")
    if not len(orgs):
        return {}
    if len(ch):
        pre, post = str(ch["pre"].iloc[0]), str(ch["post"].iloc[0])
    else:
        waves = list(dict.fromkeys(orgs["wave"]))
        if len(waves) < 2:
            return {}
        pre, post = waves[0], waves[-1]
    out: dict[tuple[str, str], tuple[float, float, float]] = {}
    for measure in ("trust", "value"):
        col = f"{measure}_received"
        changes = []
        for site, sub in orgs.dropna(subset=[col]).groupby("site_id"):
            a = sub[sub["wave"] == pre].set_index("org_id")[col]
            b = sub[sub["wave"] == post].set_index("org_id")[col]
            both = a.index.intersection(b.index)
            d = (b[both] - a[both]).to_numpy(float)
            if len(d) == 0:
                continue
            changes.append(d.mean())
            if len(d) > 1:
                lo, hi = stats.t.interval(0.95, len(d) - 1, d.mean(), stats.sem(d))
                out[(str(site), measure)] = (float(d.mean()), float(lo), float(hi))
        if len(changes) > 1:
            c = pd.Series(changes).to_numpy(float)
            lo, hi = stats.t.interval(0.95, len(c) - 1, c.mean(), stats.sem(c))
            out[("", measure)] = (float(c.mean()), float(lo), float(hi))
    return out


def _all_known_names() -> set[str]:
    """Instrument titles, wave and modality labels any shipped or generated project has."""
    from evalkit import scenarios
    from evalkit._assets import asset_path
    from evalkit.demo import _WAVES, MODALITIES

    names = set()
    for f in asset_path("surveys").glob("*.yaml"):
        names.add(yaml.safe_load(f.read_text())["title"])
    for own in (scenarios.CARE_COORDINATION, scenarios.ECOSYSTEM_OUTCOMES):
        names.add(own.title)
    names.update(MODALITIES.values())
    names.update(label for _, label in scenarios._MODALITIES)
    names.update(label for _, label, *_ in _WAVES)
    for waves in scenarios._WAVE_SETS.values():
        names.update(label for _, label in waves)
    template = yaml.safe_load((asset_path("templates") / "evalkit.yml").read_text())
    names.update(m["label"] for m in template["modalities"])
    names.update(w["label"] for w in template["waves"])
    return names


def read_truth(project: Path) -> Truth:
    """Read the project's configuration, instrument files and results."""
    cfg = yaml.safe_load((project / "evalkit.yml").read_text())
    results = project / cfg.get("reports", {}).get("results_dir", "results")
    outcomes = _read(results, "outcomes").set_index("id")
    pp = _read(results, "prepost")
    mod_label = {m["id"]: m["label"] for m in cfg["modalities"]}
    import json

    plan = json.loads((results / "manifest.json").read_text())["plan"]
    pre, post = plan["compare"]["pre"], plan["compare"]["post"]
    emm = _read(results, "model_emmeans")
    emm_change: dict[tuple[str, str], float] = {}
    for (o, m), sub in (emm.groupby(["outcome", "modality"]) if len(emm) else []):
        s = sub.set_index("wave")["emmean"]
        if pre in s and post in s:
            emm_change[(o, m)] = float(s[post] - s[pre])
    con, perm = _read(results, "model_contrasts"), _read(results, "model_permutation")
    max_p = float((plan.get("decision") or {}).get("max_permutation_p", 0.10))
    decision = {}
    for o in {o for o, _ in emm_change}:
        ch = {m: v for (oo, m), v in emm_change.items() if oo == o}
        if len(ch) < 2:
            continue
        best = max(ch, key=ch.get)
        c = con[(con["outcome"] == o) & (con["from"] == pre) & (con["to"] == post)]
        ok = True
        for other in ch:
            if other == best:
                continue
            hit = c[(c["a"] == best) & (c["b"] == other)]
            if len(hit):
                ok &= bool(hit["lower"].iloc[0] > 0)
            else:
                hit = c[(c["a"] == other) & (c["b"] == best)]
                ok &= bool(len(hit) and hit["upper"].iloc[0] < 0)
        pr = perm[perm["outcome"] == o] if len(perm) else perm
        ok &= bool(len(pr) and pr["p"].iloc[0] <= max_p)
        ok &= ch[best] > 0
        decision[o] = (ok, best)
    net = _read(results, "network_change")
    net = net.dropna(subset=["density_change"]) if len(net) else net
    instruments = {}
    for key, use in cfg["instruments"].items():
        instruments[key] = yaml.safe_load((project / use["file"]).read_text())
    respondents = {i.get("respondent") for i in instruments.values()}
    item_counts, scale_ranges = {}, {}
    for inst in instruments.values():
        items = [it for it in inst["items"]
                 if it["type"] != "text" and not it.get("personal", False)]
        item_counts[inst["title"]] = len(items)
        codes = {}
        for name, sc in (inst.get("response_scales") or {}).items():
            codes[name] = [int(c) for c in sc["codes"]]
        for s in inst.get("scales", []):
            used = [it.get("response_scale") for it in inst["items"] if it["code"] in s["items"]]
            vals = [v for u in used if u in codes for v in codes[u]]
            if vals:
                scale_ranges[s["label"]] = (min(vals), max(vals))
    present = {inst["title"] for inst in instruments.values()}
    present |= set(mod_label.values()) | {w["label"] for w in cfg["waves"]}
    absent = sorted(n for n in _all_known_names() - present
                    if not any(n.lower() in p.lower() for p in present))
    return Truth(
        outcomes=outcomes, prepost=pp, emm_change=emm_change, decision=decision,
        mod_label=mod_label,
        network_mean=float(net["density_change"].mean()) if len(net) else None,
        network_by=(net.groupby("modality")["density_change"].mean().to_dict()
                    if len(net) else {}),
        site_density=(dict(zip(net["site_id"], net["density_change"], strict=True))
                      if len(net) else {}),
        absent_names=absent, has_network="organization" in respondents,
        has_community="community" in respondents, item_counts=item_counts,
        scale_ranges=scale_ranges, partner_change=_partner_change(results),
        site_ids={str(x["name"]): str(x["id"]) for x in cfg["sites"]})


# --------------------------------------------------------------------------- the claims

def _sign_word(word: str) -> int:
    return 1 if re.fullmatch(UP, word, re.IGNORECASE) else -1


def _mod_id(truth: Truth, text: str) -> str | None:
    for m, label in truth.mod_label.items():
        if text.strip().lower() == label.lower():
            return m
    return None


def _outcome_ids(truth: Truth, text: str) -> list[str]:
    """Outcome ids whose label matches ``text`` (as it appears, in any case)."""
    t = text.strip().lower()
    out = []
    for oid, row in truth.outcomes.iterrows():
        label = str(row["label"]).lower()
        if t in (label, f"{label} score", f"mean {label}", f"mean {label} score"):
            out.append(oid)
    return out


def check_text(text: str, truth: Truth, where: Path) -> Report:
    """Check one report's text; see the module docstring."""
    rep = Report(where)
    verified: list[tuple[int, int]] = []

    def ok(m: re.Match[str]) -> None:
        rep.claims += 1
        verified.append(m.span())

    def bad(m: re.Match[str], why: str) -> None:
        rep.claims += 1
        verified.append(m.span())
        rep.contradictions.append(f"{where.name}: {why}: {m.group(0)!r}")

    pp = truth.prepost
    mods = "|".join(re.escape(lab) for lab in sorted(truth.mod_label.values(), key=len,
                                                      reverse=True)) or "(?!)"
    MOD = rf"(?P<mod>(?i:{mods}))"
    # 1. "<Outcome label> rose|fell|did not clearly change across the collaborative|at X."
    for m in re.finditer(r"^(?:\d+\. |- )?(?P<label>[^.\n]+?) (?P<verb>rose|fell|did not "
                         r"clearly change) (?P<where>across the collaborative|at the sites "
                         r"receiving [^.\n]+|at [^.\n]+)\.", text, re.MULTILINE):
        ids = _outcome_ids(truth, m["label"])
        if not ids:
            bad(m, "a change claim about an outcome the results do not have")
            continue
        level = ("collaborative" if m["where"].startswith("across") else
                 "modality" if m["where"].startswith("at the sites") else "site")
        rows = pp[(pp["outcome"].isin(ids)) & (pp["level"] == level)].dropna(
            subset=["mean_diff"])
        agree = False
        for r in rows.itertuples():
            clear = r.ci_low > 0 or r.ci_high < 0
            if m["verb"] == "did not clearly change":
                agree |= not clear
            else:
                agree |= clear and (r.mean_diff > 0) == (m["verb"] == "rose")
        (ok if agree else lambda mm: bad(mm, "direction disagrees with prepost"))(m)
    # 2. "went from A to B ..., a change of C" / "was A ... and B ..., a difference of C"
    for m in re.finditer(r"(?:went from|was) (?P<a>\d+\.\d\d) (?:to|among the \d+ anonymous "
                         r"responses at [^,]+? and) (?P<b>\d+\.\d\d)[^.]*?, a (?:change|"
                         r"difference) of (?P<c>[+-]\d+\.\d\d)", text):
        a, b, c = float(m["a"]), float(m["b"]), float(m["c"])
        hit = pp[((pp["mean_pre"] - a).abs() <= 0.0051) & ((pp["mean_post"] - b).abs() <= 0.0051)
                 & ((pp["mean_diff"] - c).abs() <= 0.0051)] if len(pp) else pp
        (ok if len(hit) else lambda mm: bad(mm, "numbers not in the prepost table"))(m)
    # 3. a modality's model-estimated change: "rose by 0.46 points" + "under <modality>"
    for m in re.finditer(r"[Uu]nder (?P<mod>[^,]+), the model's estimate of the (?P<o>.+?) "
                         r"(?P<verb>rose|fell) by (?P<x>\d+\.\d\d) points", text):
        _check_mod_change(m, truth, m["mod"], m["verb"], float(m["x"]), ok, bad)
    for m in re.finditer(rf"{MOD}: (?P<verb>rose|fell) by (?P<x>\d+\.\d\d) points", text):
        _check_mod_change(m, truth, m["mod"], m["verb"], float(m["x"]), ok, bad)
    for m in re.finditer(rf"under {MOD} (?P<verb>rose|fell) by (?P<x>\d+\.\d\d) points",
                         text):
        _check_mod_change(m, truth, m["mod"], m["verb"], float(m["x"]), ok, bad)
    for m in re.finditer(rf"a (?P<verb>rise|fall) of (?P<x>\d+\.\d\d) under {MOD}", text):
        verb = "rose" if m["verb"] == "rise" else "fell"
        _check_mod_change(m, truth, m["mod"], verb, float(m["x"]), ok, bad)
    # 4. the best modality
    for m in re.finditer(r"(?P<mod>[A-Z][^.\n]*?) showed the largest gain in the (?P<o>[^.\n]+)"
                         r"\.", text):
        ch = _changes_for(truth, m["o"])
        mod = _mod_id(truth, m["mod"])
        good = bool(ch) and mod in ch and ch[mod] == max(ch.values()) and ch[mod] > 0
        (ok if good else lambda mm: bad(mm, "not the largest gain in the results"))(m)
    for m in re.finditer(r"The (?P<o>[^.\n]+?) fell under every approach, least under "
                         r"(?P<mod>[^.\n]+)\.", text):
        ch = _changes_for(truth, m["o"])
        mod = _mod_id(truth, m["mod"])
        good = (bool(ch) and mod in ch and all(v < 0 for v in ch.values())
                and ch[mod] == max(ch.values()))
        (ok if good else lambda mm: bad(mm, "not a fall under every approach"))(m)
    for m in re.finditer(r"the (?P<o>[^.;:\n]+?) did not improve under any approach", text):
        ch = _changes_for(truth, m["o"])
        (ok if ch and max(ch.values()) <= 0 else
         lambda mm: bad(mm, "some approach improved"))(m)
    # 5. recommendations
    for m in re.finditer(r"Offer (?P<mod>[^.\n]+?) to more sites[^.]*?on the (?P<o>[^.\n]+?) "
                         r"it meets the decision rule", text):
        ids = _outcome_ids(truth, m["o"])
        mod = _mod_id(truth, m["mod"])
        good = any(truth.decision.get(o) == (True, mod) for o in ids)
        (ok if good else lambda mm: bad(mm, "recommendation without the decision rule"))(m)
    for m in re.finditer(rf"Recommend {MOD}\b", text):
        mod = _mod_id(truth, m["mod"])
        good = any(v == (True, mod) for v in truth.decision.values())
        (ok if good else lambda mm: bad(mm, "recommendation without the decision rule"))(m)
    for m in re.finditer(r"Do not choose an approach on the strength of the (?P<o>[^:\n]+?) "
                         r"yet", text):
        ids = _outcome_ids(truth, m["o"])
        good = bool(ids) and not any(truth.decision.get(o, (False,))[0] for o in ids)
        (ok if good else lambda mm: bad(mm, "withholds a recommendation the rule allows"))(m)
    # 6. networks
    for m in re.finditer(r"Partner networks (?P<v>grew denser|became sparser|kept the same "
                         r"density)\.", text):
        x = truth.network_mean
        good = x is not None and ((m["v"] == "grew denser" and x > 0)
                                  or (m["v"] == "became sparser" and x < 0)
                                  or (m["v"].startswith("kept") and x == 0))
        (ok if good else lambda mm: bad(mm, "network direction disagrees"))(m)
    for m in re.finditer(rf"(?P<v>rose|fell) by (?P<x>\d+) percentage points(?P<avg> on "
                         rf"average| under {MOD})?", text):
        x = int(m["x"]) * (1 if m["v"] == "rose" else -1) / 100
        cands = ([truth.network_mean] if m["avg"] and "average" in m["avg"] else
                 [truth.network_by.get(_mod_id(truth, m["mod"]) or "")] if m["mod"] else
                 list(truth.site_density.values()))
        good = any(c is not None and abs(c - x) <= 0.006 for c in cands)
        (ok if good else lambda mm: bad(mm, "density change not in the results"))(m)
    # 6b. trust and value between partner organizations (PARTNER)
    for m in re.finditer(r"(?:At (?P<site>[^,\n]+)|Across the (?P<n>\d+) sites?), the mean "
                         r"(?P<m>trust|value) rating partner organizations received "
                         r"(?:(?P<v>rose|fell) by (?P<x>\d+\.\d\d) points|did not clearly "
                         r"change)[^\n]*?(?:95% CI (?P<lo>[+-]\d+\.\d\d) to "
                         r"(?P<hi>[+-]\d+\.\d\d)|too few organizations)", text):
        site = "" if m["n"] else truth.site_ids.get(m["site"], "?")
        hit = truth.partner_change.get((site, m["m"]))
        if hit is None:
            good = m["lo"] is None and m["v"] is None and site != "?"
        else:
            change, lo, hi = hit
            clear = lo > 0 or hi < 0
            good = (m["lo"] is not None and abs(float(m["lo"]) - lo) <= 0.006
                    and abs(float(m["hi"]) - hi) <= 0.006)
            if m["v"]:
                good &= clear and (change > 0) == (m["v"] == "rose") and abs(
                    float(m["x"]) - abs(change)) <= 0.006
            else:
                good &= not clear
        (ok if good else lambda mm: bad(mm, "trust/value change disagrees with the "
                                            "organizations' ratings"))(m)
    # 7. community vs matched direction
    for m in re.finditer(r"their ratings moved in the (?P<v>same|opposite) direction", text):
        col = pp[(pp["level"] == "collaborative")].dropna(subset=["mean_diff"])
        cs = col[col["design"] == "cross_sectional"]
        mt = col[col["design"] == "matched"]
        good = bool(len(cs) and len(mt))
        if good:
            same = (cs["mean_diff"].iloc[0] > 0) == (mt["mean_diff"].iloc[0] > 0)
            good = same == (m["v"] == "same")
        (ok if good else lambda mm: bad(mm, "community direction claim disagrees"))(m)
    # 8. every other direction word is an unverified claim
    masked = list(text)
    for a, b in verified:
        masked[a:b] = [" "] * (b - a)
    rest = "".join(masked)
    for pattern in NEUTRAL:
        rest = re.sub(pattern, lambda mm: " " * len(mm.group(0)), rest, flags=re.IGNORECASE)
    for m in DIRECTION_WORD.finditer(rest):
        line = text[text.rfind("\n", 0, m.start()) + 1:text.find("\n", m.end())]
        rep.contradictions.append(f"{where.name}: unverified direction word {m.group(0)!r} "
                                  f"in {line[:160]!r}")
    # 9. names, sections, item counts, scale ranges
    low = text.lower()
    for name in truth.absent_names:
        if re.search(rf"\b{re.escape(name.lower())}\b", low):
            rep.contradictions.append(f"{where.name}: names {name!r}, which this project "
                                      f"does not have")
    if not truth.has_network and re.search(r"partner network|partner-network|network "
                                           r"survey", low):
        rep.contradictions.append(f"{where.name}: describes a partner network the project "
                                  f"does not survey")
    if not truth.has_community and re.search(r"community feedback|community survey|"
                                             r"community members|anonymous", low):
        rep.contradictions.append(f"{where.name}: describes a community survey the project "
                                  f"does not have")
    for m in re.finditer(r"answered the (?P<t>[^(\n]+?) \((?P<n>\d+) questions", text):
        rep.claims += 1
        if truth.item_counts.get(m["t"]) != int(m["n"]):
            rep.contradictions.append(f"{where.name}: {m['t']!r} has "
                                      f"{truth.item_counts.get(m['t'])} questions, not {m['n']}")
    for m in re.finditer(r"their mean (?P<o>[^\n]+?) went from [^\n]*? on a (?P<a>\d+)-to-"
                         r"(?P<b>\d+) scale", text):
        rep.claims += 1
        ids = _outcome_ids(truth, m["o"])
        ranges = {truth.scale_ranges.get(str(truth.outcomes.loc[o, "scale_label"]))
                  for o in ids if "scale_label" in truth.outcomes}
        if (int(m["a"]), int(m["b"])) not in ranges:
            rep.contradictions.append(f"{where.name}: {m['o']!r} is not on a "
                                      f"{m['a']}-to-{m['b']} scale ({ranges})")
    return rep


def _changes_for(truth: Truth, outcome_text: str) -> dict[str, float]:
    ids = _outcome_ids(truth, outcome_text)
    return {m: v for (o, m), v in truth.emm_change.items() if o in ids}


def _check_mod_change(m: re.Match[str], truth: Truth, mod_text: str, verb: str, x: float,
                      ok, bad) -> None:  # type: ignore[no-untyped-def]
    mod = _mod_id(truth, mod_text)
    value = x if verb == "rose" else -x
    good = mod is not None and any(mm == mod and abs(v - value) <= 0.006
                                   for (_, mm), v in truth.emm_change.items())
    (ok if good else lambda mm: bad(mm, "modality change not in the emmeans"))(m)


def check_reports(project: Path) -> list[Report]:
    """Check every rendered HTML and Word report of a project."""
    truth = read_truth(project)
    out = project / "_output"
    return [check_text(report_text(p), truth, p)
            for p in sorted(out.rglob("*")) if p.suffix in (".html", ".docx")]
