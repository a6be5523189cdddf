"""Field names of the data dictionary that flows through ase_relaxed.

Every graph is a plain ``dict[str, torch.Tensor]``.  The shape comments use
``n`` for atoms, ``e`` for edges and ``g`` for graphs (structures) in a batch.
"""

POSITIONS = "positions"  # (n, 3) float, Å
ATOMIC_NUMBERS = "atomic_numbers"  # (n,) long
CELL = "cell"  # (g, 3, 3) float, Å, rows are lattice vectors
PBC = "pbc"  # (g, 3) bool
EDGE_INDEX = "edge_index"  # (2, e) long: row 0 centre atom i, row 1 neighbour j
EDGE_SHIFT = "edge_shift"  # (e, 3) float: integer cell shift S, r_ij = r_j - r_i + S @ cell
BATCH = "batch"  # (n,) long: graph index of each atom
NUM_ATOMS = "num_atoms"  # (g,) long

ATOMIC_ENERGY = "atomic_energy"  # (n,) float, eV
ENERGY = "energy"  # (g,) float, eV
FORCES = "forces"  # (n, 3) float, eV/Å
DIRECT_FORCES = "direct_forces"  # (n, 3) float, eV/Å: a direct-force model's 1o output head
GRADIENT_FORCES = "gradient_forces"  # (n, 3) float, eV/Å: −∂E/∂r of a direct-force model (consistency checks)
STRESS = "stress"  # (g, 3, 3) float, eV/Å^3 (ASE sign convention)
NODE_FEATURES = "node_features"  # (n, c·T) float: the invariant (0e) features of every block, a descriptor

FLOAT_KEYS = (POSITIONS, CELL, EDGE_SHIFT)
