#!/usr/bin/env bash
# The carbon reference data set of the shipped model (issue 4): GFN1-xTB (tblite) labels of
# nanotubes (radii 3-8 Å) and graphene, rattled / strained / thermal, one 6 Å vacuum for all,
# periodic lengths >= 17 Å (xTB is Gamma-only). Resumable: re-run to continue after a stop.
# Families cnt(11,0), cnt(6,6), cnt(7,4) are meant as the held-out test chiralities.
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/carbon_gfn1.extxyz
resume=()
[ -s "$out" ] && resume=(--resume)
ase-relaxed data --method gfn1-xtb \
  --chiralities 8,0 10,0 12,0 14,0 5,5 7,7 9,9 6,3 8,4 11,0 6,6 7,4 \
  -n 260 --seed 0 --out "$out" "${resume[@]}"
