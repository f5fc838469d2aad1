"""The fallback engine's Jupyter kernels: how one starts, and kernels started ahead of need.

Every document the fallback renders runs in a kernel of its own, a fresh process of this
interpreter (``python -m ipykernel_launcher``, from a private kernelspec), started in the
document's folder with the same environment. :func:`start_kernel` starts one.

Starting a kernel and importing what reports use (pandas, pyplot, evalkit's reporting and
findings) takes about 1.5 s of CPU per document. :func:`warm_kernels` starts some of them
*before* they are needed, while the machine has a core to spare (``evalkit demo`` warms them
while ``analyze`` runs on one core): a document then takes a kernel that is already up.
Each kernel still serves exactly one document and is shut down after it, so a document never
sees another's state; a warmed kernel is the same process a document would have started,
only started earlier.

Examples
--------
>>> from pathlib import Path
>>> with warm_kernels(Path("."), ready=0, total=0) as pool:
...     pool.take(Path(".")) is None
True
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["KernelPool", "StartedKernel", "start_kernel", "warm_kernels"]

#: Imported when a kernel starts (ipykernel's ``exec_lines``), before it reports ready; no
#: name is left in the document's namespace. What the reports import; a module that is not
#: installed is skipped.
WARM_MODULES = ("pandas", "matplotlib.pyplot", "IPython.core.pylabtools", "pyarrow.parquet",
                "scipy.special", "networkx", "evalkit.reporting", "evalkit.findings",
                "evalkit.figures")

_PRELUDE = (
    "for __evalkit_module__ in {modules!r}:\n"
    "    try:\n"
    "        __import__(__evalkit_module__)\n"
    "    except ImportError:\n"
    "        pass\n"
    "del __evalkit_module__"
)


@dataclass
class StartedKernel:
    """A kernel process and what :mod:`nbclient` needs to use it.

    Attributes
    ----------
    manager
        The ``jupyter_client.AsyncKernelManager`` that started it (``has_kernel`` true).
    log_path
        The file the kernel's stdout and stderr go to.
    """

    manager: Any
    log_path: Path
    _log: IO[str]
    _folder: Path
    _own_folder: bool = False

    def close_log(self) -> None:
        """Close the kernel's log file."""
        self._log.close()

    def alive(self) -> bool:
        """Whether the kernel process is running."""
        process = getattr(self.manager.provisioner, "process", None)
        return bool(self.manager.has_kernel and process is not None and process.poll() is None)

    def finish(self) -> None:
        """After its document: stop the kernel if it still runs, close its log and remove
        the files of a warmed kernel (a document's own kernel lives in its work folder)."""
        if self.alive():
            with contextlib.suppress(Exception):
                _run(self.manager.shutdown_kernel(now=True))
        self.close_log()
        if self._own_folder:
            shutil.rmtree(self._folder, ignore_errors=True)


def _run(awaitable: Awaitable[Any]) -> None:
    """Run one of jupyter_client's coroutines to its end, in an event loop of its own."""

    async def wait() -> None:
        await awaitable

    asyncio.run(wait())


def _argv() -> list[str]:
    lines = json.dumps([_PRELUDE.format(modules=WARM_MODULES)])
    return [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher",
            f"--IPKernelApp.exec_lines={lines}", "-f", "{connection_file}"]


def _env() -> dict[str, str]:
    from evalkit.reporting._render import _kernel_pythonpath

    return {
        **os.environ,
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "PYTHONPATH": _kernel_pythonpath(),
    }


def start_kernel(folder: Path, cwd: Path, *, remove_folder: bool = False) -> StartedKernel:
    """Start a kernel whose files (kernelspec, connection file, log) live in ``folder``,
    running in ``cwd``; it is up when its client's ``wait_for_ready`` returns. With
    ``remove_folder``, :meth:`StartedKernel.finish` removes ``folder`` too."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps({"argv": _argv(), "display_name": "Python 3 (evalkit)",
                    "language": "python"}),
        encoding="utf-8",
    )
    manager = AsyncKernelManager(
        kernel_name="python3",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]),
        connection_file=str(folder / "kernel-connection.json"),
    )
    log_path = folder / "kernel.log"
    log = log_path.open("w", encoding="utf-8")
    try:
        _run(manager.start_kernel(cwd=str(cwd), env=_env(), stdout=log, stderr=log))
    except BaseException:
        log.close()
        raise
    return StartedKernel(manager, log_path, log, folder, remove_folder)


def stop_kernel(kernel: StartedKernel) -> None:
    """Stop a kernel that no document took, and remove its files."""
    kernel.finish()


class KernelPool:
    """Kernels started ahead of need for documents in one folder (see :func:`warm_kernels`).

    One background thread starts them one after another, each only once the one before has
    finished starting (its imports done), so warming takes one core at most and leaves the
    other to whatever runs meanwhile. ``take`` hands out a kernel that is up (or ``None``:
    none is up yet, another folder, or the pool is closed) and asks for the next one while
    fewer than ``total`` have been asked for.
    """

    def __init__(self, cwd: Path, *, ready: int, total: int) -> None:
        self.cwd = Path(cwd).resolve()
        self._total = max(0, total)
        self._asked = 0
        self._kernels: list[StartedKernel] = []
        self._lock = threading.Lock()
        self._wanted = threading.Condition(self._lock)
        self._pending = 0
        self._closed = False
        self._root = Path(tempfile.mkdtemp(prefix="evalkit-kernels-"))
        self._thread = threading.Thread(target=self._starter, name="evalkit-kernels",
                                        daemon=True)
        with self._lock:
            for _ in range(min(max(0, ready), self._total)):
                self._ask()
        self._thread.start()

    def _ask(self) -> None:
        """Ask the starter for one more kernel (the caller holds the lock)."""
        self._asked += 1
        self._pending += 1
        self._wanted.notify()

    def _starter(self) -> None:
        number = 0
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._wanted.wait()
                if self._closed:
                    return
                self._pending -= 1
            number += 1
            folder = self._root / f"kernel-{number}"
            folder.mkdir()
            kernel = None
            try:
                kernel = start_kernel(folder, self.cwd, remove_folder=True)
                _run(_wait_ready(kernel))
            except Exception:  # noqa: BLE001 - a document then starts its own kernel
                if kernel is not None:
                    stop_kernel(kernel)  # started but never answered
                shutil.rmtree(folder, ignore_errors=True)
                continue
            with self._lock:
                if not self._closed:
                    self._kernels.append(kernel)
                    continue
            stop_kernel(kernel)

    def expect(self, total: int) -> None:
        """Start at most ``total`` kernels in all (once the number of documents is known)."""
        with self._lock:
            self._total = max(0, total)

    def take(self, cwd: Path) -> StartedKernel | None:
        """A kernel that is up, running in ``cwd``, or ``None``; asks for its replacement."""
        if Path(cwd).resolve() != self.cwd:
            return None
        with self._lock:
            if self._closed or not self._kernels:
                return None
            kernel = self._kernels.pop(0)
            if self._asked < self._total:
                self._ask()
        if kernel.alive():
            return kernel
        stop_kernel(kernel)  # it died while waiting: the document starts its own
        return None

    def close(self) -> None:
        """Stop the kernels nobody took and remove the pool's files."""
        with self._lock:
            self._closed = True
            self._wanted.notify_all()
        self._thread.join(timeout=120)
        with self._lock:
            left, self._kernels = self._kernels, []
        for kernel in left:
            stop_kernel(kernel)
        shutil.rmtree(self._root, ignore_errors=True)


async def _wait_ready(kernel: StartedKernel, timeout: float = 60) -> None:
    """Wait until the kernel answers (its start-up imports are done)."""
    client = kernel.manager.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=timeout)
    finally:
        client.stop_channels()


_POOLS: list[KernelPool] = []
_POOLS_LOCK = threading.Lock()


@contextlib.contextmanager
def warm_kernels(cwd: Path, *, ready: int, total: int) -> Iterator[KernelPool]:
    """Keep ``ready`` kernels started in ``cwd`` (at most ``total`` in all) while the block
    runs; fallback renders of documents in that folder take them. Unused ones are stopped
    on exit.

    Examples
    --------
    >>> from pathlib import Path
    >>> with warm_kernels(Path("reports"), ready=0, total=0) as pool:
    ...     pool.cwd.name
    'reports'
    """
    pool = KernelPool(cwd, ready=ready, total=total)
    with _POOLS_LOCK:
        _POOLS.append(pool)
    try:
        yield pool
    finally:
        with _POOLS_LOCK:
            _POOLS.remove(pool)
        pool.close()


def take_warm_kernel(cwd: Path) -> StartedKernel | None:
    """A kernel warmed for ``cwd`` by an active :func:`warm_kernels`, or ``None``."""
    with _POOLS_LOCK:
        pools = list(_POOLS)
    for pool in pools:
        kernel = pool.take(cwd)
        if kernel is not None:
            return kernel
    return None
