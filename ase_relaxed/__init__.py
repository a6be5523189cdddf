"""ase_relaxed: relaxed-equivariant machine-learned potentials for ASE and phonopy.

The curated public API. Importing the package registers every model family that ships with it
(the e3nn graph network and the SOAP kernel model) with :mod:`ase_relaxed.models.registry`.

>>> from ase_relaxed import ModelConfig, build_model, RelaxedCalculator
>>> calc = RelaxedCalculator(build_model(ModelConfig(species=["C"], channels=4, num_layers=1)))
"""

from . import kernel  # noqa: F401  (registers the kernel-soap model kind)
from ._version import __version__
from .calculator import RelaxedCalculator
from .errors import AseRelaxedError, DeviceError, InputError, ModelFileError
from .models import ModelConfig, build_model, load_model, save_model
from .pretrained import list_pretrained

__all__ = [
    "AseRelaxedError", "DeviceError", "InputError", "ModelConfig", "ModelFileError", "RelaxedCalculator",
    "__version__", "build_model", "list_pretrained", "load_model", "save_model",
]
