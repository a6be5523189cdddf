"""Exceptions with messages meant for people, not stack traces."""


class AseRelaxedError(Exception):
    """Base class of every error ase_relaxed raises on purpose."""


class InputError(AseRelaxedError, ValueError):
    """A structure (or other user input) that the model cannot evaluate."""


class ModelFileError(AseRelaxedError, OSError):
    """A model file that is missing, corrupt, or not an ase_relaxed model."""


class DeviceError(AseRelaxedError, RuntimeError):
    """A device that was asked for but is not available."""


class Interrupted(AseRelaxedError):
    """A long run stopped on SIGINT/SIGTERM at a safe point, after saving what it had (the message says where)."""


class NonConservativeForcesWarning(UserWarning):
    """Forces of a direct-force model used where only −∂E/∂r makes sense (NVE, phonons)."""


class OutOfDomainWarning(UserWarning):
    """Atoms whose environments lie far from every environment the model was trained on."""
