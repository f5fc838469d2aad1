"""A light command line: help, version and a no-op ``evalkit report`` import nothing heavy.

Each check runs in a fresh interpreter (``sys.modules`` of the test process already holds
pandas) that imports :mod:`evalkit.cli`, runs the command and prints, as JSON, which heavy
modules got imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ("pandas", "numpy", "scipy", "matplotlib", "duckdb", "statsmodels", "pingouin",
         "networkx", "openpyxl", "docx", "pyarrow", "nbclient", "jupyter_client")

_RUN = textwrap.dedent("""
    import json, sys
    from evalkit.cli import app
    import typer.main

    heavy = {heavy!r}
    runs = json.loads(sys.argv[1])
    if runs == "every --help":
        runs, group = [["--help"], ["--version"], ["-h"]], typer.main.get_command(app)
        def walk(cmd, path):
            for name, sub in sorted(getattr(cmd, "commands", {{}}).items()):
                runs.append([*path, name, "--help"])
                walk(sub, [*path, name])
        walk(group, [])
    loaded = {{}}
    for args in runs:
        try:
            app(args, prog_name="evalkit")
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise
        new = [m for m in heavy if m in sys.modules and m not in sum(loaded.values(), [])]
        loaded[" ".join(args)] = new
    print("\\n@@" + json.dumps(loaded))
""")


def _heavy_imports(runs: object, cwd: Path | None = None) -> tuple[dict[str, list[str]], str]:
    """Run ``evalkit ARGS`` for each of ``runs`` in one fresh interpreter; return the heavy
    modules each one imported first, and what it printed."""
    proc = subprocess.run([sys.executable, "-c", _RUN.format(heavy=HEAVY), json.dumps(runs)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    printed, _, loaded = proc.stdout.rpartition("\n@@")
    return json.loads(loaded), printed


def test_help_version_and_every_commands_help_import_nothing_heavy():
    loaded, printed = _heavy_imports("every --help")
    assert len(loaded) > 20  # every command of every group was asked for its help
    assert "Usage: evalkit" in printed
    assert {args: mods for args, mods in loaded.items() if mods} == {}


def test_the_reporting_facade_is_lazy_and_complete():
    code = ("import sys, evalkit.reporting as r, evalkit.reporting._cache\n"
            f"assert not [m for m in {HEAVY!r} if m in sys.modules], sys.modules.keys()\n"
            "[getattr(r, name) for name in r.__all__]\n"
            "assert r.load_results is r.read_results\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr


# The quick no-op check of `evalkit report` ------------------------------------------------
def _rendered_project(tmp_path: Path) -> tuple[Path, list[str]]:
    """A project whose (stand-in) reports were rendered and recorded as `evalkit report`
    records a complete render: state file, outputs, and the outcome under the fingerprint.
    Its plan names a file of names to scrub (data/names.txt)."""
    from evalkit.cli import _report_check as check
    from evalkit.project import create_project
    from evalkit.reporting._cache import RenderState, _evalkit_code, file_sha256

    root = tmp_path / "proj"
    cfg = create_project(root)
    plan = root / "analyses" / "plan.yml"
    assert "names_file: null" in plan.read_text()
    plan.write_text(plan.read_text().replace("names_file: null", "names_file: data/names.txt"))
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "names.txt").write_text("Rosa Mendez\n")
    (cfg.results_path).mkdir(parents=True, exist_ok=True)
    (cfg.results_path / "manifest.json").write_text(
        '{"created_at": "2026-01-01T00:00:00+00:00", "data_hash": "abc", "tables": {}}\n')
    out = cfg.output_path
    state = RenderState.load(out)
    jobs = ["cross-site/cross-site", "sites/S01/site-S01"]
    outputs = []
    for job in jobs:
        path = out / f"{job}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"<p>{job}</p>\n")
        outputs.append(path)
        state.jobs[job] = {"key": "k-" + job, "outputs": {f"{job}.html": file_sha256(path)},
                           "scan": {}, "comparison": None}
    state.save()
    _evalkit_code.cache_clear()  # the code as the subprocess will hash it, not as it was
    before = check.fingerprint(root, sites=None, only=None, formats=["html"], engine="auto")
    assert before is not None
    check._record(before, note="Rendering with a stand-in.", describe="0 rendered, 2 up to "
                  "date.", outputs=outputs, jobs=jobs)
    return root, [str(p) for p in outputs]


def test_a_noop_report_answers_from_the_record_without_heavy_imports(tmp_path):
    root, outputs = _rendered_project(tmp_path)
    loaded, printed = _heavy_imports([["report", "-p", str(root), "--format", "html"]])
    assert printed.splitlines() == ["Rendering with a stand-in.", "0 rendered, 2 up to date.",
                                    *[f"  up to date  {p}" for p in outputs]]
    assert list(loaded.values()) == [[]]


@pytest.mark.parametrize("change", ["output edited", "output deleted", "config", "results",
                                    "manifest", "document", "state", "request", "names file"])
def test_the_record_holds_only_while_nothing_changed(tmp_path, change):
    from evalkit.cli import _report_check as check

    root, outputs = _rendered_project(tmp_path)
    request = {"sites": None, "only": None, "formats": ["html"], "engine": "auto"}

    def quick():
        return check.quick_outcome(check.fingerprint(root, **request))

    assert quick() is not None
    if change == "output edited":
        Path(outputs[1]).write_text("<p>edited</p>\n")
    elif change == "output deleted":
        Path(outputs[0]).unlink()
    elif change == "config":
        config = root / "evalkit.yml"
        config.write_text(config.read_text() + "\n# edited\n")
    elif change == "results":
        (root / "results" / "extra.parquet").write_bytes(b"PAR1")
    elif change == "manifest":
        manifest = root / "results" / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"abc"', '"abd"'))
    elif change == "document":
        doc = root / "reports" / "site.qmd"
        doc.write_text(doc.read_text() + "\nMore text.\n")
    elif change == "state":
        state = root / "_output" / ".render-state.json"
        state.write_text(state.read_text().replace("k-sites", "other-key-sites"))
    elif change == "request":
        request["formats"] = ["html", "docx"]
    elif change == "names file":
        (root / "data" / "names.txt").write_text("Rosa Mendez\nAmal Haddad\n")
    assert quick() is None


def test_analysing_unchanged_data_again_keeps_the_record(tmp_path):
    # Only the manifest's created_at changes; it is part of no render key.
    from evalkit.cli import _report_check as check

    root, _ = _rendered_project(tmp_path)
    manifest = root / "results" / "manifest.json"
    manifest.write_text(manifest.read_text().replace("2026-01-01", "2026-02-02"))
    assert check.quick_outcome(check.fingerprint(
        root, sites=None, only=None, formats=["html"], engine="auto")) is not None


def test_python_dash_m_evalkit():
    proc = subprocess.run([sys.executable, "-m", "evalkit", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("evalkit ")


def test_deciding_what_to_render_imports_no_statistics_or_renderer():
    # What `evalkit report` imports before it knows something must be rendered.
    code = ("import sys\n"
            "import evalkit.pipeline, evalkit.feedback, evalkit.plan\n"
            "import evalkit.reporting._reports, evalkit.reporting._render\n"
            "bad = ('scipy', 'matplotlib', 'statsmodels', 'pingouin', 'networkx', 'nbclient',\n"
            "       'jupyter_client', 'docx', 'openpyxl')\n"
            "print([m for m in bad if m in sys.modules])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
