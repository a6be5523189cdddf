"""Graceful stops: SIGINT (Ctrl-C) and SIGTERM become a request that long loops honour at a safe point.

The command line installs the handlers for the whole command (:func:`graceful_stop`). A loop that
can stop cleanly (an MD step, a training step, a labelled frame) runs inside :func:`deferred_stop`
and asks :func:`stop_requested` after each unit of work: on a request it saves a checkpoint and
raises :class:`~ase_relaxed.errors.Interrupted` saying what was kept and how to resume. Outside a
deferred loop, or on a second signal, the signal interrupts at once (``KeyboardInterrupt``), so
Ctrl-C never hangs. Without :func:`graceful_stop` (plain Python use) nothing changes.

>>> with graceful_stop(), deferred_stop():
...     _request("SIGTERM")            # what the handler does on the first signal
...     stop_requested()
'SIGTERM'
>>> stop_requested() is None           # cleared when the command ends
True
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_STATE: dict = {"installed": False, "deferred": 0, "signal": None}


def _request(name: str) -> None:
    if _STATE["deferred"] and _STATE["signal"] is None:
        _STATE["signal"] = name
        return
    raise KeyboardInterrupt(name)


def _handler(signum: int, frame) -> None:
    _request(signal.Signals(signum).name)


@contextmanager
def graceful_stop() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into stop requests for the duration (main thread only; else a no-op)."""
    if threading.current_thread() is not threading.main_thread() or _STATE["installed"]:
        yield
        return
    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    _STATE.update(installed=True, signal=None)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _STATE.update(installed=False, signal=None, deferred=0)


@contextmanager
def deferred_stop() -> Iterator[None]:
    """Inside, a first signal only sets :func:`stop_requested`; the loop decides where to stop."""
    _STATE["deferred"] += 1
    try:
        yield
    finally:
        _STATE["deferred"] -= 1


def stop_requested() -> str | None:
    """The name of the signal that asked to stop (``'SIGINT'``, ``'SIGTERM'``), or None."""
    return _STATE["signal"] if _STATE["installed"] else None
