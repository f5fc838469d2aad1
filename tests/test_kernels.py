"""Kernels warmed ahead of need (evalkit.reporting._kernels): the same output as a kernel
started by the document, one kernel per document, nothing left running or on disk."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from evalkit.reporting._kernels import warm_kernels
from evalkit.reporting._render import render_document

FIXTURES = Path(__file__).parent / "render_fixtures"

# Each document prints the names it can see: a name another document defined, or one left
# by the start-up imports, would show.
_DOC = """---
title: "Kernel {n}"
---

```{{python}}
#| echo: false
import matplotlib.pyplot as plt
names = sorted(n for n in globals() if not n.startswith("_") and n not in {{
    "In", "Out", "exit", "quit", "get_ipython", "open", "plt"}})
print(names)
secret_{n} = {n}
fig, ax = plt.subplots(figsize=(2, 1))
ax.plot([0, {n}])
plt.show()
```
"""


def _docs(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for n in range(1, count + 1):
        path = folder / f"doc{n}.qmd"
        path.write_text(_DOC.format(n=n), encoding="utf-8")
        paths.append(path)
    return paths


def _wait_for(pool, count: int) -> None:
    deadline = time.monotonic() + 90
    while len(pool._kernels) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(pool._kernels) == count


def test_a_warmed_kernel_gives_the_same_report_and_serves_one_document(tmp_path):
    docs = _docs(tmp_path / "reports", 3)
    cold = render_document(docs[0], output_dir=tmp_path / "cold", engine="fallback")
    with warm_kernels(tmp_path / "reports", ready=2, total=2) as pool:
        _wait_for(pool, 2)
        pids = {k.manager.provisioner.process.pid for k in pool._kernels}
        warm = [render_document(d, output_dir=tmp_path / "warm", engine="fallback")
                for d in docs]
        assert pool._kernels == []  # two taken, the third document started its own
        root = pool._root
    assert warm[0].outputs[0].read_bytes() == cold.outputs[0].read_bytes()
    for n, doc in enumerate(warm, start=1):
        html = doc.outputs[0].read_text(encoding="utf-8")
        assert "[&#39;ax&#39;, &#39;fig&#39;, &#39;names&#39;]" not in html  # printed first
        assert "[]" in html, f"document {n} saw names it did not define"
        assert "secret_" not in html
    for pid in pids:  # each kernel stopped with its document
        assert not Path(f"/proc/{pid}").exists()
    assert not root.exists()


def test_unused_kernels_stop_and_other_folders_start_their_own(tmp_path):
    docs = _docs(tmp_path / "elsewhere", 1)
    (tmp_path / "reports-not-used").mkdir()
    with warm_kernels(tmp_path / "reports-not-used", ready=1, total=1) as pool:
        _wait_for(pool, 1)
        kernel = pool._kernels[0]
        pid = kernel.manager.provisioner.process.pid
        render_document(docs[0], output_dir=tmp_path / "out", engine="fallback")
        assert pool._kernels == [kernel]  # not handed to a document of another folder
        root = pool._root
    assert not Path(f"/proc/{pid}").exists()
    assert not root.exists()
    shutil.rmtree(tmp_path / "out")
