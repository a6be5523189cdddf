#!/usr/bin/env bash
# The issue-15 extension of the carbon reference data: GFN1-xTB (tblite) labels of diamond (bulk 216 atoms,
# vacancy, (100) and (111) slabs), graphite AB/AA (with an interlayer-distance scan), C60 and C20, Stone-Wales
# and vacancy defects in a (10,0) tube and in graphene, and Brenner melt-quenched amorphous carbon; rattled /
# strained / thermal (300-2000 K, Brenner-propagated). Frame k is family k mod 13, so every prefix of the file
# covers the families evenly: N=130 is 10 frames per family. Resumable: re-run to continue after a stop
# (frames are deterministic per (seed, k); a resumed file equals an uninterrupted run's).
# One core, politely: OMP_NUM_THREADS=1 nice -n 10 bash scripts/make_carbon_families_data.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/carbon_gfn1_families.extxyz
n=${1:-130}
resume=()
[ -s "$out" ] && resume=(--resume)
ase-relaxed data --method gfn1-xtb --families all -n "$n" --seed 0 --out "$out" "${resume[@]}"
