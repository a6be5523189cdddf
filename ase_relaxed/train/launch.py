"""Start N training ranks on this machine (``ase-relaxed train CONFIG --nproc N``), as torchrun would.

Each rank is ``python -m ase_relaxed train CONFIG ...`` with the variables torchrun sets (RANK,
LOCAL_RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT a free port) and OMP_NUM_THREADS =
cores // N unless already set. The launcher's contract:

* exit status: 0 when every rank succeeds, else that of the first rank to fail (2 for bad input,
  130 when stopped), and a failure is reported once: rank 0's stderr reaches the terminal, another
  rank's only when it failed first and rank 0 did not fail the same way (bad input fails all alike);
* the first SIGINT/SIGTERM is passed on (once) to every rank, which then stop together at the next step
  and checkpoint (the ranks sit in their own session, so Ctrl-C reaches them only this way); a second
  one kills them;
* a rank dies with the launcher (Linux ``PR_SET_PDEATHSIG``): a SIGKILLed launcher leaves no rank
  training on and writing into the run folder.

>>> env = rank_environment(rank=1, world_size=2, port=29500, threads=1)
>>> env["RANK"], env["WORLD_SIZE"], env["MASTER_PORT"]
('1', '2', '29500')
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from ..interrupt import deferred_stop, stop_requested


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rank_environment(rank: int, world_size: int, port: int, threads: int | None = None) -> dict[str, str]:
    """The environment of one rank: this process's, plus what torchrun would set."""
    env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
               LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if "OMP_NUM_THREADS" not in os.environ:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        env["OMP_NUM_THREADS"] = str(threads or max(1, cores // world_size))
    return env


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the ranks may outlive a SIGKILLed launcher
        pass


def launch(train_args: list[str], nproc: int, grace_s: float = 30.0) -> int:
    """Run ``ase_relaxed train *train_args`` as ``nproc`` ranks; return the run's exit status."""
    port = free_port()
    command = [sys.executable, "-m", "ase_relaxed", "train", *train_args]
    logs = [tempfile.TemporaryFile(mode="w+") for _ in range(1, nproc)]
    ranks = [subprocess.Popen(command, env=rank_environment(r, nproc, port), start_new_session=True,
                              preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                              stderr=None if r == 0 else logs[r - 1], stdout=None if r == 0 else subprocess.DEVNULL)
             for r in range(nproc)]
    failed: tuple[int, int] | None = None  # (rank, exit status) of the first failure
    forwarded, deadline = False, float("inf")
    try:
        with deferred_stop():
            while any(p.poll() is None for p in ranks):
                if stop_requested() and not forwarded:  # the same signal, once
                    forwarded = _signal_all(ranks, getattr(signal, stop_requested(), signal.SIGTERM))
                if failed is None:
                    failed = next(((r, p.returncode) for r, p in enumerate(ranks) if p.returncode not in (None, 0)),
                                  None)
                    if failed is not None:  # the others would wait for it: stop them, then kill them
                        forwarded = forwarded or _signal_all(ranks, signal.SIGTERM)
                        deadline = time.monotonic() + grace_s
                if failed is not None and time.monotonic() > deadline:
                    _signal_all(ranks, signal.SIGKILL)
                time.sleep(0.05)
    except BaseException:  # a second signal, or an error here: no rank may survive the launcher
        _signal_all(ranks, signal.SIGKILL)
        for p in ranks:
            p.wait()
        raise
    if failed is None:
        failed = next(((r, p.returncode) for r, p in enumerate(ranks) if p.returncode != 0), None)
    if failed is None:
        return 0
    rank, status = failed
    if rank > 0 and ranks[0].returncode != status:  # rank 0 spoke for itself; add what the first to fail said
        logs[rank - 1].seek(0)
        sys.stderr.write(f"[rank {rank}] " + logs[rank - 1].read()[-4000:])
    return status if status > 0 else 128 - status  # killed by signal s: 128 + s, as a shell reports it


def _signal_all(ranks: list[subprocess.Popen], signum: int) -> bool:
    for p in ranks:
        if p.poll() is None:
            try:
                p.send_signal(signum)
            except ProcessLookupError:
                pass
    return True
