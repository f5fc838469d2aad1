#!/usr/bin/env python3
"""Set-up and everyday tasks, with nothing but Python 3.11+ installed.

    python3 tasks.py demo    # create .venv, install evalkit, run the demo end to end
    python3 tasks.py test    # create .venv, install with test tools, lint, type-check, run tests

Extra arguments after the task go to the underlying command, e.g.
``python3 tasks.py test -k store`` or ``python3 tasks.py demo --out /tmp/demo``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("EVALKIT_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


def run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    code = subprocess.call([str(c) for c in cmd], cwd=ROOT)
    if code:
        sys.exit(code)


def ensure_venv(extras: str) -> None:
    """Create the virtual environment and (re)install evalkit when pyproject.toml changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 - the check users on old Pythons need
        sys.exit(f"evalkit needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"Creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".evalkit-installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    target = f".[{extras}]" if extras else "."
    run(PY, "-m", "pip", "install", "--quiet", "-e", target)
    stamp.write_text(digest)


def demo(args: list[str]) -> None:
    ensure_venv("")
    run(BIN / "evalkit", "demo", *(args or ["--out", "demo"]))


def test(args: list[str]) -> None:
    ensure_venv("test")
    lint = [p for p in ("evalkit", "tests", "benchmarks", "tasks.py") if (ROOT / p).exists()]
    run(BIN / "ruff", "check", *lint)
    run(BIN / "mypy", "-p", "evalkit")
    code = subprocess.call([str(PY), "-m", "pytest", *args], cwd=ROOT)
    if code == 5:
        sys.exit("pytest collected no tests")
    sys.exit(code)


TASKS = {"demo": demo, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        sys.exit(__doc__)
    TASKS[sys.argv[1]](sys.argv[2:])
