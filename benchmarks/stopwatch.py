"""A stopwatch for benchmark breakdowns; dependency-free, so both the main and the MACE venv import it."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Callable

_MISSING = object()


class Stopwatch:
    """Seconds and call counts, per key, of wrapped callables while :attr:`active` is true.

    :meth:`wrap` replaces ``owner.name`` by a timing wrapper (an instance attribute on objects,
    a module attribute on modules); :meth:`hook_module` times a torch module's forward;
    :meth:`restore` undoes everything, newest first.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.active = False
        self._patched: list[tuple[Any, str, Any]] = []
        self._hooks: list[Any] = []
        self._started: float | None = None

    def wrap(self, owner: Any, name: str, key: str) -> None:
        original: Callable = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.active:
                return original(*args, **kwargs)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[key] += time.perf_counter() - start
                self.calls[key] += 1

        self._patched.append((owner, name, vars(owner).get(name, _MISSING)))
        setattr(owner, name, timed)

    def hook_module(self, module: Any, key: str) -> None:
        """Time ``module``'s forward call (MACE computes forces and virials inside it)."""

        def before(*_: Any) -> None:
            self._started = time.perf_counter()

        def after(*_: Any) -> None:
            if self.active and self._started is not None:
                self.seconds[key] += time.perf_counter() - self._started
                self.calls[key] += 1
            self._started = None

        self._hooks += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]

    def restore(self) -> None:
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()
        for owner, name, before in reversed(self._patched):
            if before is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, before)
        self._patched.clear()
