"""ase_relaxed: relaxed-equivariant machine-learned potentials for ASE and phonopy.

>>> from ase_relaxed import ModelConfig, build_model, RelaxedCalculator
>>> calc = RelaxedCalculator(build_model(ModelConfig(species=["C"], channels=4, num_layers=1)))
"""

__version__ = "0.1.0"

from .calculator import RelaxedCalculator
from .errors import AseRelaxedError, DeviceError, InputError, ModelFileError
from .models import ModelConfig, build_model, load_model, save_model
from .pretrained import list_pretrained

__all__ = [
    "AseRelaxedError", "DeviceError", "InputError", "ModelConfig", "ModelFileError", "RelaxedCalculator",
    "__version__", "build_model", "list_pretrained", "load_model", "save_model",
]
