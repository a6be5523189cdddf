"""Patch LAMMPS's ML-IAP ``MLIAPData`` so that its neighbour copy is linear, not quadratic, in the atoms per rank.

    python scripts/patch_lammps_mliap.py LAMMPS_SRC/src/ML-IAP      # idempotent; build_lammps.sh runs it

LAMMPS 4 Feb 2025 allocates ``MLIAPData::lmp_firstneigh`` (a per-atom copy of the neighbour list kept
for external descriptors) as (atoms with neighbours) × (all pairs of the rank), although each row holds
only that atom's own neighbours.  With the 9 Å pair cutoff a 2-layer ``carbon-gfn1`` needs, a
10 000-atom rank asks for 10 000 × 1.31 M ints = 52 GB and stops with "Failed to reallocate 52400000000
bytes for array MLIAPData:lmp_firstneigh".  The patch sizes the rows by the largest neighbour count of
any atom instead (every access is ``lmp_firstneigh[ii][k]`` with k < ``numneighs[ii]``), tracked in two
new members, so the array is (atoms) × (max neighbours per atom), as LAMMPS's own neighbour pages are.
"""

from __future__ import annotations

import sys
from pathlib import Path

MARK = "ase_relaxed patch"

HEADER = [("  int **lmp_firstneigh;", "  int **lmp_firstneigh;\n"
           f"  int firstneigh_rows, firstneigh_cols;    // {MARK}: allocated shape of lmp_firstneigh\n")]

SOURCE = [
    ("  nneigh_max = 0;\n", f"  nneigh_max = 0;\n  firstneigh_rows = firstneigh_cols = 0;    // {MARK}\n"),
    ('    memory->grow(lmp_firstneigh, natomneigh, nneigh_max, "MLIAPData:lmp_firstneigh");\n', ""),
    ('    memory->grow(lmp_firstneigh, natomneigh, nneigh, "MLIAPData:lmp_firstneigh");\n', ""),
    ("  int nneigh = 0;\n", "  int nneigh = 0;\n  int ninside_max = 1;\n"),
    ("    nneigh += ninside;\n  }\n",
     "    nneigh += ninside;\n    if (ninside > ninside_max) ninside_max = ninside;\n  }\n"
     f"  if (natomneigh > firstneigh_rows || ninside_max > firstneigh_cols) {{    // {MARK}: rows × widest row\n"
     "    if (natomneigh > firstneigh_rows) firstneigh_rows = natomneigh;\n"
     "    if (ninside_max > firstneigh_cols) firstneigh_cols = ninside_max;\n"
     '    memory->grow(lmp_firstneigh, firstneigh_rows, firstneigh_cols, "MLIAPData:lmp_firstneigh");\n'
     "  }\n"),
    ("  bytes += (double) nneigh_max * natomneigh_max * sizeof(int);",
     "  bytes += (double) firstneigh_cols * firstneigh_rows * sizeof(int);"),
]


def patch(path: Path, edits: list[tuple[str, str]]) -> bool:
    """Apply ``edits`` (each old text must occur exactly once) to ``path``; False if it was patched before."""
    text = path.read_text()
    if MARK in text:
        return False
    for old, new in edits:
        if text.count(old) != 1:
            raise SystemExit(f"patch_lammps_mliap: {path}: expected one {old.strip()!r}, found {text.count(old)}; "
                             "this LAMMPS version differs from 4 Feb 2025: check MLIAPData by hand")
        text = text.replace(old, new)
    path.write_text(text)
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / "mliap_data.cpp").is_file():
        print("usage: patch_lammps_mliap.py LAMMPS_SRC/src/ML-IAP (the folder with mliap_data.cpp)", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    if "lmp_firstneigh" not in (folder / "mliap_data.cpp").read_text():
        print("patch_lammps_mliap: this LAMMPS has no lmp_firstneigh: nothing to patch")
        return 0
    changed = [patch(folder / "mliap_data.h", HEADER), patch(folder / "mliap_data.cpp", SOURCE)]
    print("patch_lammps_mliap: " + ("patched" if any(changed) else "already patched") + f" {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
