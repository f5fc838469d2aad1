"""A small fixed project for the export labels reference (tests/test_export.py).

``python tests/reference/export/fixed.py`` builds it in a temporary folder and writes its
Stata and SPSS exports into ``tests/reference/export/fixed/``; ``haven_labels.R`` reads
those files with R's haven and writes the labels it sees to ``haven_labels.json``. The
test builds the same project again, exports it and compares what pyreadstat wrote with the
JSON, so the R check is recorded and the tests never call R.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SURVEYS = HERE.parents[2] / "surveys"

#: An instrument with what the shipped ones lack: multiple choice, a date, a long item text
#: (longer than Stata's 80-character labels) and labels outside ASCII.
TOY = {
    "id": "toy", "version": "1.0", "title": "Fixed export check — données", "respondent":
    "participant",
    "response_scales": {"yes3": {"codes": {0: "Non", 1: "Oui, un peu", 2: "Oui, beaucoup — très"}}},
    "items": [
        {"code": "T1", "type": "likert", "response_scale": "yes3", "text": "Première question?"},
        {"code": "T2", "type": "likert", "response_scale": "yes3", "reverse": True,
         "text": "A deliberately long statement whose text runs past the eighty characters a "
                 "Stata variable label can hold, so the label is cut there."},
        {"code": "tools", "type": "multiple", "options": {1: "Shared records", 2: "Referral app"},
         "text": "Which tools do you use?"},
        {"code": "started", "type": "date", "text": "When did you join?"},
        {"code": "note", "type": "text", "text": "Anything else?"},
        {"code": "email", "type": "text", "personal": True, "text": "Your email"},
    ],
    "scales": [{"id": "toy_total", "label": "Toy total", "items": ["T1", "T2"], "min_items": 1}],
}


def build(folder: Path) -> Path:
    """Write the project (configuration, instruments, store) into ``folder``; returns it."""
    from evalkit.config import load_config
    from evalkit.pipeline import project_instruments
    from evalkit.store import Batch, ingest

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "surveys").mkdir(exist_ok=True)
    for name in ("partnership_self_assessment.yaml", "learning_session_feedback.yaml",
                 "partner_network.yaml"):
        shutil.copyfile(SURVEYS / name, folder / "surveys" / name)
    (folder / "surveys" / "toy.yaml").write_text(yaml.safe_dump(TOY, allow_unicode=True),
                                                 encoding="utf-8")
    config = {
        "collaborative": {"name": "Fixed", "period": {"start": "2026-01-01",
                                                      "end": "2026-12-31"}},
        "modalities": [{"id": "coaching", "label": "Coaching"}, {"id": "peer", "label": "Peer"}],
        "sites": [{"id": "S01", "name": "One", "modalities": ["coaching"]},
                  {"id": "S02", "name": "Two", "modalities": ["peer"]}],
        "waves": [{"id": "baseline", "label": "Baseline"}, {"id": "endline", "label": "Endline"}],
        "instruments": {
            "partnership": {"file": "surveys/partnership_self_assessment.yaml",
                            "waves": ["baseline", "endline"]},
            "session_feedback": {"file": "surveys/learning_session_feedback.yaml",
                                 "waves": ["baseline", "endline"]},
            "network": {"file": "surveys/partner_network.yaml", "waves": ["baseline"]},
            "toy": {"file": "surveys/toy.yaml", "waves": ["baseline", "endline"]},
        },
    }
    (folder / "evalkit.yml").write_text(yaml.safe_dump(config, sort_keys=False),
                                        encoding="utf-8")
    cfg = load_config(folder)
    instruments = project_instruments(cfg)
    responses, answers = [], []
    for s, site in enumerate(("S01", "S02")):
        for w, wave in enumerate(("baseline", "endline")):
            for p in range(2):
                person = f"P{s}{p}"
                for inst in ("partnership", "session_feedback", "toy"):
                    rid = f"{inst}:{wave}:{site}:{person}"
                    responses.append({"response_id": rid, "instrument": inst, "wave": wave,
                                      "site_id": site, "respondent_id": person,
                                      "submitted_at": f"2026-{(2, 9)[w]:02d}-1{p}"})
                    k = s + w + p
                    if inst == "partnership":
                        answers += [{"response_id": rid, "item": f"PSA{i:02d}",
                                     "value": float(1 + (i + k) % 5)} for i in range(1, 25)
                                    if (i + k) % 7]
                    elif inst == "session_feedback":
                        answers += [{"response_id": rid, "item": "modality",
                                     "value": float(1 + k % 4)},
                                    {"response_id": rid, "item": "LS01", "value": float(5 - k % 3)},
                                    {"response_id": rid, "item": "LS04", "value": 2.0},
                                    {"response_id": rid, "item": "hours", "value": 1.5 + k},
                                    {"response_id": rid, "item": "LS_COMMENT",
                                     "text": "free text is never exported"}]
                    else:
                        answers += [{"response_id": rid, "item": "T1", "value": float(k % 3)},
                                    {"response_id": rid, "item": "T2", "value": float((k + 1) % 3)},
                                    {"response_id": rid, "item": "tools[1]", "value": 1.0},
                                    {"response_id": rid, "item": "tools[2]", "value": float(p)},
                                    {"response_id": rid, "item": "started",
                                     "text": f"2025-1{p}-0{1 + s}"},
                                    {"response_id": rid, "item": "note", "text": "not exported"}]
            if wave == "baseline":
                rid = f"network:{wave}:{site}:org"
                responses.append({"response_id": rid, "instrument": "network", "wave": wave,
                                  "site_id": site, "respondent_id": f"{site}-O1"})
                answers += [{"response_id": rid, "item": f"contact[{site}-O2]", "value": 4.0},
                            {"response_id": rid, "item": f"trust[{site}-O2]", "value": 3.0}]
    batch = Batch.from_records(
        sites=[{"site_id": "S01", "modality": "coaching"}, {"site_id": "S02", "modality": "peer"}],
        organizations=[{"org_id": f"{s}-O{i}", "site_id": s, "name": f"Org {i} of {s} — café",
                        "sector": "other"} for s in ("S01", "S02") for i in (1, 2)],
        responses=responses, answers=answers)
    ingest(cfg.store_path, batch, source="fixed-export", kind="test",
           personal_items={k: v.personal_items for k, v in instruments.items()})
    return folder


def export(folder: Path, out: Path, fmt: str) -> list[Path]:
    """Export the fixed project in ``fmt`` into ``out``."""
    from evalkit.export import export_project

    return list(export_project(folder, out, format=fmt).files)  # type: ignore[arg-type]


if __name__ == "__main__":
    target = HERE / "fixed"
    shutil.rmtree(target, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        project = build(Path(tmp) / "project")
        for fmt in ("stata", "spss"):
            for path in export(project, Path(tmp) / fmt, fmt):
                target.mkdir(exist_ok=True)
                shutil.copyfile(path, target / path.name)
    print("\n".join(sorted(p.name for p in target.iterdir())), file=sys.stderr)
