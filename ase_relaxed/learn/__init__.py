"""On-the-fly learning of the kernel force field (Sharma, Kumar & Suryanarayana, arXiv:2408.07554).

``ase-relaxed learn RUN_DIR`` (:mod:`ase_relaxed.cli.learn`) runs :func:`learn_on_the_fly`: Langevin MD of
representative tubes under the kernel model, a GFN1-xTB call where the model's Bayesian force error is large,
refits by evidence maximisation, resumable after SIGKILL.
"""

from __future__ import annotations

from .config import LearnConfig
from .loop import learn_on_the_fly

__all__ = ["LearnConfig", "learn_on_the_fly"]
