"""Phonons: phonopy's finite-displacement route with batched forces, and the helical-symmetry route.

* :mod:`.phonopy_bridge`: ``compute_phonons`` and phonopy's verbs (``run_band_structure``, ``run_dos``, ...);
* :mod:`.outputs`: ``plot_bands_and_dos`` and ``write_phonopy_outputs`` (phonopy.yaml, FORCE_SETS, band.yaml);
* :mod:`.helical`: ``helical_phonons`` from the 2-atom fundamental domain of a tube (Sharma, Kumar &
  Suryanarayana, arXiv:2408.07554), with :mod:`.force_constants` for D(η, ν) and its sum rules;
* :mod:`.helical_outputs`: phonopy's ``band.yaml``, ``total_dos.dat`` and ``thermal_properties.yaml`` from it;
* :mod:`.helical_uncertainty`: ``helical_phonons_with_error_bars`` for kernel models (posterior weight draws);
* :mod:`.modes`: ``gamma_modes`` classifies the RBM and the G band.

>>> from ase_relaxed.phonons import THZ_TO_CM
>>> round(THZ_TO_CM, 3)
33.356
"""

from .force_constants import HelicalForceConstants, acoustic_sum_rule_violation, apply_acoustic_sum_rule
from .helical import TO_CM, HelicalPhonons, helical_phonons, relax_line_group, segment_cells
from .helical_outputs import helical_thermal_properties, write_helical_band_yaml, write_helical_total_dos
from .helical_uncertainty import HelicalPhononsPosterior, calibration, helical_phonons_with_error_bars
from .modes import gamma_modes
from .outputs import plot_bands_and_dos, write_phonopy_outputs
from .phonopy_bridge import (
    THZ_TO_CM,
    EvaluationInfo,
    compute_phonons,
    default_mesh,
    evaluate_forces,
    evaluation_info,
    gamma_frequencies,
    get_interaction_range,
    run_band_structure,
    run_dos,
    run_thermal,
)

__all__ = [
    "THZ_TO_CM", "TO_CM", "EvaluationInfo", "HelicalForceConstants", "HelicalPhonons", "HelicalPhononsPosterior",
    "acoustic_sum_rule_violation", "calibration", "helical_phonons_with_error_bars", "helical_thermal_properties",
    "write_helical_band_yaml", "write_helical_total_dos",
    "apply_acoustic_sum_rule", "compute_phonons", "default_mesh", "evaluate_forces", "evaluation_info",
    "gamma_frequencies", "gamma_modes", "get_interaction_range", "helical_phonons", "plot_bands_and_dos",
    "relax_line_group", "run_band_structure", "run_dos", "run_thermal", "segment_cells", "write_phonopy_outputs",
]
