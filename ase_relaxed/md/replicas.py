"""N independent replicas whose forces come from one batched model evaluation per step.

ASE integrators ask for forces *inside* ``step()`` (velocity Verlet: after the drift), so the
replicas cannot simply be stepped one after another if their force calls are to be batched.
Instead each replica steps in its own thread, in lockstep, and talks to the model through a
:class:`ReplicaCalculator` proxy.  A force request parks the thread in the shared
:class:`BatchedReplicaEvaluator`; when every replica still inside the step has a request
pending, the last one to arrive evaluates them all at once (``calc.calculate_batch``) and wakes
the others.  A replica that finishes its step without asking (cached forces) or fails leaves
the lockstep, so the rest never wait for it.  The arithmetic of each replica is exactly that of
a separate run; only the model's batched forward pass is shared.

>>> import numpy as np
>>> from ase.build import bulk
>>> from ase.calculators.emt import EMT
>>> images = [bulk("Cu", cubic=True) for _ in range(3)]
>>> evaluator = BatchedReplicaEvaluator(EMT(), len(images))
>>> for k, atoms in enumerate(images):
...     atoms.rattle(0.01, seed=k); atoms.calc = ReplicaCalculator(evaluator, k)
>>> forces = evaluator.run_lockstep(lambda k: images[k].get_forces())
>>> evaluator.n_batches, np.allclose(forces[1], EMT().get_forces(images[1]))
(1, True)
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from ..errors import InputError

T = TypeVar("T")
BASE_PROPERTIES = ("energy", "forces")


class BatchedReplicaEvaluator:
    """Collects the force requests of ``n_replicas`` lockstepped replicas into batched calls.

    ``calc`` is any ASE calculator; with a ``calculate_batch(images, properties)`` method (as
    :class:`~ase_relaxed.RelaxedCalculator`) a batch is one forward pass, otherwise one call per
    image.  ``n_batches`` counts evaluations (one per MD step for velocity-Verlet integrators).
    """

    def __init__(self, calc: Calculator, n_replicas: int) -> None:
        self.calc = calc
        self.n_replicas = int(n_replicas)
        self.n_batches = 0
        self._cond = threading.Condition()
        self._pending: dict[int, tuple[Atoms, tuple[str, ...]]] = {}
        self._results: dict[int, dict | BaseException] = {}
        self._active: set[int] = set()
        self._executor = ThreadPoolExecutor(max_workers=self.n_replicas) if self.n_replicas > 1 else None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # -- lockstep -------------------------------------------------------------------------
    def run_lockstep(self, work: Callable[[int], T]) -> list[T]:
        """Run ``work(k)`` for every replica concurrently; return results in replica order.

        Exceptions are re-raised after all replicas finished (the lowest replica's first).
        """
        with self._cond:
            self._active = set(range(self.n_replicas))
        if self._executor is None:
            return [self._run_one(work, 0)]
        futures = [self._executor.submit(self._run_one, work, k) for k in range(self.n_replicas)]
        errors = [future.exception() for future in futures]
        for error in errors:
            if error is not None:
                raise error
        return [future.result() for future in futures]

    def _run_one(self, work: Callable[[int], T], k: int) -> T:
        try:
            return work(k)
        finally:
            with self._cond:
                self._active.discard(k)
                self._maybe_evaluate()

    def request(self, k: int, atoms: Atoms, properties: Sequence[str]) -> dict:
        """Results for replica ``k`` at ``atoms``; blocks until the batch it joins is evaluated."""
        with self._cond:
            self._pending[k] = (atoms.copy(), tuple(properties))
            self._maybe_evaluate()
            while k not in self._results:
                self._cond.wait()
            result = self._results.pop(k)
        if isinstance(result, BaseException):
            raise result
        return result

    def _maybe_evaluate(self) -> None:
        """Evaluate when no active replica is still moving (call with the lock held)."""
        if not self._pending or not self._active <= set(self._pending):
            return
        batch, self._pending = self._pending, {}
        self._results.update(self._evaluate(batch))
        self._cond.notify_all()

    # -- evaluation -------------------------------------------------------------------------
    def _evaluate(self, batch: dict[int, tuple[Atoms, tuple[str, ...]]]) -> dict[int, dict | BaseException]:
        order = sorted(batch)
        properties = sorted(set(BASE_PROPERTIES).union(*(batch[k][1] for k in order)))
        images = [batch[k][0] for k in order]
        self.n_batches += 1
        if len(images) > 1 and hasattr(self.calc, "calculate_batch"):
            try:
                return dict(zip(order, self.calc.calculate_batch(images, properties)))
            except InputError:
                pass  # find out which replica is at fault, one at a time
        out: dict[int, dict | BaseException] = {}
        for k, image in zip(order, images):
            try:
                self.calc.calculate(image, properties, all_changes)
                out[k] = {key: np.array(v, copy=True) if isinstance(v, np.ndarray) else v
                          for key, v in self.calc.results.items()}
            except Exception as error:  # delivered to (and raised in) the replica's own thread
                out[k] = error
        return out


class ReplicaCalculator(Calculator):
    """ASE calculator proxy of one replica: every calculation is a request to the evaluator.

    ``stress=True`` asks for the stress with every force call (NPT needs both at the same
    positions, and ASE would otherwise issue a second request).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, evaluator: BatchedReplicaEvaluator, index: int, stress: bool = False) -> None:
        super().__init__()
        self.evaluator = evaluator
        self.index = int(index)
        self.stress = bool(stress)

    def calculate(self, atoms: Atoms | None = None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        wanted = set(properties) | set(BASE_PROPERTIES) | ({"stress"} if self.stress else set())
        wanted.discard("free_energy")
        results = dict(self.evaluator.request(self.index, self.atoms, sorted(wanted)))
        results.setdefault("free_energy", results.get("energy"))
        self.results = results
