"""ASE integrators for each ensemble, and the integrator state a checkpoint must carry.

=============  ==========================================  ==============================
ensemble       ASE class                                    state beyond (r, p, cell)
=============  ==========================================  ==============================
nve            ``ase.md.verlet.VelocityVerlet``             none
langevin       ``ase.md.langevin.Langevin``                 RNG state (saved by the runner)
bussi          ``ase.md.bussi.Bussi``                       RNG state, transferred energy
nose-hoover    ``ase.md.nose_hoover_chain.NoseHooverChainNVT``  chain ``η_j, p_η_j``
npt (iso)      ``ase.md.nose_hoover_chain.IsotropicMTKNPT``  chains, ``ε, p_ε``, reference cell
npt (aniso)    ``ase.md.nose_hoover_chain.MTKNPT``           chains, cell momenta ``p_g`` (3×3)
=============  ==========================================  ==============================

Velocity Verlet, the NVE integrator, is the time-reversible, symplectic splitting

    p(t + Δt/2) = p(t) + (Δt/2) F(r(t))
    r(t + Δt)   = r(t) + Δt p(t + Δt/2) / m
    p(t + Δt)   = p(t + Δt/2) + (Δt/2) F(r(t + Δt))

whose energy error stays bounded, O(Δt²), instead of drifting.  The thermostats add an
Ornstein–Uhlenbeck step (Langevin, friction γ), a stochastic rescaling of the kinetic energy
towards ``K̄ = N_f k_B T / 2`` with time constant τ_T (Bussi), or a chain of deterministic
friction variables (Nosé–Hoover); the MTK barostats add the cell (isotropic: log-volume
``ε`` only, anisotropic: the full 3×3 cell) as dynamical variables driven by P_int − P_ext.

>>> from ase.build import bulk
>>> from ase.calculators.emt import EMT
>>> atoms = bulk("Cu", cubic=True); atoms.calc = EMT()
>>> dynamics = make_dynamics(atoms, "nose-hoover", timestep_fs=1.0, temperature_K=300, tdamp_fs=100)
>>> sorted(dynamics_state(dynamics, "nose-hoover"))
['_thermostat._eta', '_thermostat._p_eta', 'nsteps']
"""

from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.md.md import MolecularDynamics

from ..errors import InputError

# attributes (``object.attribute``; "" is the integrator itself) that hold evolving state
_STATE = {
    "nve": ("nsteps",),
    "langevin": ("nsteps",),
    "bussi": ("nsteps", "transferred_energy"),
    "nose-hoover": ("nsteps", "_thermostat._eta", "_thermostat._p_eta"),
    "npt-isotropic": (
        "nsteps", "_eps", "_p_eps", "_volume0", "_cell0",
        "_thermostat._eta", "_thermostat._p_eta", "_barostat._xi", "_barostat._p_xi",
    ),
    "npt-anisotropic": (
        "nsteps", "_p_g", "_thermostat._eta", "_thermostat._p_eta", "_barostat._xi", "_barostat._p_xi",
    ),
}


def state_kind(ensemble: str, barostat: str = "isotropic") -> str:
    return f"npt-{barostat}" if ensemble == "npt" else ensemble


def make_dynamics(
    atoms: Atoms,
    ensemble: str,
    timestep_fs: float,
    temperature_K: float = 300.0,
    *,
    friction_per_fs: float = 0.01,
    tdamp_fs: float = 50.0,
    pdamp_fs: float = 500.0,
    pressure_GPa: float = 0.0,
    barostat: str = "isotropic",
    rng: np.random.Generator | None = None,
) -> MolecularDynamics:
    """The ASE integrator of ``ensemble`` on ``atoms`` (which carry the calculator and momenta).

    Stochastic integrators draw from ``rng`` (a numpy Generator whose state the checkpoint keeps).
    """
    dt = timestep_fs * units.fs
    if ensemble == "npt" and not atoms.pbc.all():
        raise InputError(f"--ensemble npt needs a 3D-periodic cell, but pbc is {atoms.pbc.tolist()} (a tube, slab or "
                         "molecule has no pressure to hold along its vacuum axes); use nve, langevin, bussi or "
                         "nose-hoover, or relax the period with `ase-relaxed relax --cell`")
    if ensemble == "nve":
        from ase.md.verlet import VelocityVerlet

        return VelocityVerlet(atoms, timestep=dt)
    if rng is None and ensemble in ("langevin", "bussi"):
        raise InputError(f"--ensemble {ensemble} needs a random generator (rng=)")
    if ensemble == "langevin":
        from ase.md.langevin import Langevin

        # fixcm=False: ASE deprecates its centre-of-mass fix, which biases small systems
        return Langevin(atoms, timestep=dt, temperature_K=temperature_K, friction=friction_per_fs / units.fs,
                        fixcm=False, rng=rng)
    if ensemble == "bussi":
        from ase.md.bussi import Bussi

        if atoms.get_kinetic_energy() <= 0:
            raise InputError("--ensemble bussi needs non-zero initial velocities (--initial-temperature > 0)")
        return Bussi(atoms, timestep=dt, temperature_K=temperature_K, taut=tdamp_fs * units.fs, rng=rng)
    if ensemble == "nose-hoover":
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(atoms, timestep=dt, temperature_K=temperature_K, tdamp=tdamp_fs * units.fs)
    if ensemble == "npt":
        from ase.md.nose_hoover_chain import MTKNPT, IsotropicMTKNPT

        if not atoms.pbc.all() or atoms.cell.volume <= 0:
            raise InputError(f"--ensemble npt needs a 3D-periodic cell, but pbc={atoms.pbc.tolist()}")
        cls = {"isotropic": IsotropicMTKNPT, "anisotropic": MTKNPT}.get(barostat)
        if cls is None:
            raise InputError(f"--barostat must be isotropic or anisotropic, got {barostat!r}")
        return cls(atoms, timestep=dt, temperature_K=temperature_K, pressure_au=pressure_GPa * units.GPa,
                   tdamp=tdamp_fs * units.fs, pdamp=pdamp_fs * units.fs)
    raise InputError(f"unknown ensemble {ensemble!r}")


def _resolve(dynamics: MolecularDynamics, path: str) -> tuple[object, str]:
    *owners, name = path.split(".")
    obj = dynamics
    for owner in owners:
        obj = getattr(obj, owner)
    if not hasattr(obj, name):
        raise InputError(f"{type(dynamics).__name__} of this ASE version has no {path!r}; cannot checkpoint it")
    return obj, name


def dynamics_state(dynamics: MolecularDynamics, kind: str) -> dict[str, list | float | int]:
    """The integrator's evolving variables as JSON-ready values (floats round-trip exactly)."""
    state = {}
    for path in _STATE[kind]:
        obj, name = _resolve(dynamics, path)
        value = getattr(obj, name)
        state[path] = np.asarray(value).tolist() if isinstance(value, np.ndarray) else value
    return state


def restore_dynamics_state(dynamics: MolecularDynamics, kind: str, state: dict) -> None:
    """Inverse of :func:`dynamics_state`: write the saved variables back into a fresh integrator."""
    missing = sorted(set(_STATE[kind]) - set(state))
    if missing:
        raise InputError(f"checkpoint lacks integrator state {missing} for {kind}")
    for path in _STATE[kind]:
        obj, name = _resolve(dynamics, path)
        old = getattr(obj, name)
        value = state[path]
        setattr(obj, name, np.array(value, dtype=float) if isinstance(old, np.ndarray) else type(old)(value))


def conserved_energy(dynamics: MolecularDynamics, kind: str) -> float:
    """The integrator's conserved quantity (eV): E_tot for NVE, E_tot − heat for Bussi, the
    extended Hamiltonian for Nosé–Hoover/MTK; NaN for Langevin, which conserves nothing."""
    atoms = dynamics.atoms
    if kind == "nve":
        return float(atoms.get_potential_energy() + atoms.get_kinetic_energy())
    if kind == "bussi":
        return float(atoms.get_potential_energy() + atoms.get_kinetic_energy() - dynamics.transferred_energy)
    if hasattr(dynamics, "get_conserved_energy"):
        return float(dynamics.get_conserved_energy())
    return float("nan")
