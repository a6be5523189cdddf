"""Input checks shared by the ``rg`` modules: each bad value becomes a one-line :class:`InputError`."""

from __future__ import annotations

import math
import numbers

from ..errors import InputError


def check_int(name: str, value: object, minimum: int) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= minimum``, else raise :class:`InputError`.

    >>> check_int("L", 4, 2)
    4
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {int(value)}")
    return int(value)


def check_float(name: str, value: object, minimum: float | None = None, positive: bool = False) -> float:
    """Return ``value`` as a finite ``float`` (``>= minimum``, or ``> 0`` when ``positive``), else raise.

    >>> check_float("coupling", 0.44, minimum=0.0)
    0.44
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise InputError(f"{name} must be > 0, got {value}")
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return value
