#!/usr/bin/env bash
# Build LAMMPS from source for ase_relaxed's `pair_style mliap unified` potential.
#
#   scripts/build_lammps.sh [--prefix DIR] [--src TARBALL_OR_DIR] [--jobs N]
#                           [--kokkos-src DIR [--cuda --cuda-arch HOPPER90]]
#
# What it builds: a shared liblammps + the `lmp` executable + the `lammps` Python module, with
# ML-IAP, ML-SNAP, PYTHON and MLIAP_ENABLE_PYTHON (the Cython coupling), MPI (OpenMPI from apt).
# That is all the tests and `ase-relaxed export-lammps` need: the ase_relaxed coupling is exact for
# multi-layer models on the plain (non-KOKKOS) coupling (see docs/lammps.md).
#
# KOKKOS is optional: Debian's source package is "+dfsg" and ships without lib/kokkos, and no Kokkos
# >= 4.5 source is on Debian's mirror here. Pass --kokkos-src DIR (an unpacked Kokkos source tree, e.g.
# from github.com/kokkos/kokkos 4.5.x) to add KOKKOS (OpenMP backend; --cuda adds CUDA, --cuda-arch
# names the Kokkos_ARCH_* of the GPU, default HOPPER90 for an H100/H200).
#
# Source: by default Debian trixie's LAMMPS source (4 Feb 2025), fetched with
# `apt-get source --download-only` (needs a deb-src line for trixie; the script adds one if root).
#
# Resumable: the build directory is kept under PREFIX/build and `cmake --build` continues where it
# stopped; a finished install leaves PREFIX/.ase_relaxed_lammps_ok and a rerun then does nothing.
# Afterwards: `. PREFIX/env.sh` (PATH, LD_LIBRARY_PATH, PYTHONPATH) and ASE_RELAXED_LAMMPS=PREFIX.
# Patches ML-IAP's quadratic neighbour copy (scripts/patch_lammps_mliap.py) before configuring.
# Measured: 2 cores, -j2 under nice, no KOKKOS, other jobs running: 24 min 42 s (10 min CPU); docs/lammps.md.
set -euo pipefail

PREFIX="${HOME}/.local/lammps-ase-relaxed"
SRC=""
JOBS="$(nproc)"
KOKKOS_SRC=""
CUDA=0
CUDA_ARCH="HOPPER90"
DEB_VERSION="20250204+dfsg.1-2"
PYTHON="${PYTHON:-$(command -v python3)}"

while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --src) SRC="$2"; shift 2 ;;
    --jobs|-j) JOBS="$2"; shift 2 ;;
    --kokkos-src) KOKKOS_SRC="$2"; shift 2 ;;
    --cuda) CUDA=1; shift ;;
    --cuda-arch) CUDA_ARCH="$2"; shift 2 ;;
    --python) PYTHON="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "build_lammps.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ $CUDA == 1 && -z "$KOKKOS_SRC" ]]; then
  echo "build_lammps.sh: --cuda needs --kokkos-src DIR (a Kokkos >= 4.5 source tree)" >&2; exit 2
fi
PREFIX="$(mkdir -p "$PREFIX" && cd "$PREFIX" && pwd)"
MARKER="$PREFIX/.ase_relaxed_lammps_ok"
if [[ -f "$MARKER" ]]; then
  echo "LAMMPS already built in $PREFIX ($(head -1 "$MARKER")); remove $MARKER to rebuild."
  exit 0
fi
START=$(date +%s)

# ---- tools -------------------------------------------------------------------------------------
need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v mpicxx >/dev/null || need_apt+=(openmpi-bin libopenmpi-dev)
if [[ ${#need_apt[@]} -gt 0 ]]; then
  if [[ $(id -u) == 0 ]]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
  else echo "build_lammps.sh: install ${need_apt[*]} (apt) first" >&2; exit 2; fi
fi
"$PYTHON" -c "import Cython" 2>/dev/null || "$PYTHON" -m pip install -q cython
"$PYTHON" -c "import numpy" || { echo "build_lammps.sh: $PYTHON has no numpy" >&2; exit 2; }

# ---- source ------------------------------------------------------------------------------------
SRCROOT="$PREFIX/src"
mkdir -p "$SRCROOT"
if [[ -z "$SRC" ]]; then
  SRC="$(ls "$SRCROOT"/lammps_*.orig.tar.* 2>/dev/null | head -1 || true)"
  if [[ -z "$SRC" ]]; then
    if [[ $(id -u) == 0 && ! -f /etc/apt/sources.list.d/debsrc-lammps.sources ]]; then
      printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        > /etc/apt/sources.list.d/debsrc-lammps.sources
      apt-get update -qq
    fi
    # The .dsc may be gone from the mirror while the orig tarball is still there: ignore the error.
    (cd "$SRCROOT" && apt-get source --download-only "lammps=$DEB_VERSION" >/dev/null 2>&1 || true)
    SRC="$(ls "$SRCROOT"/lammps_*.orig.tar.* 2>/dev/null | head -1 || true)"
    [[ -n "$SRC" ]] || { echo "build_lammps.sh: could not fetch Debian's LAMMPS source; pass --src TARBALL_OR_DIR" >&2; exit 2; }
  fi
fi
if [[ -d "$SRC" ]]; then
  LAMMPS_DIR="$(cd "$SRC" && pwd)"
else
  if ! ls -d "$SRCROOT"/lammps-*/cmake >/dev/null 2>&1; then tar -xf "$SRC" -C "$SRCROOT"; fi
  LAMMPS_DIR="$(ls -d "$SRCROOT"/lammps-*/ | head -1)"; LAMMPS_DIR="${LAMMPS_DIR%/}"
fi
[[ -f "$LAMMPS_DIR/cmake/CMakeLists.txt" ]] || { echo "build_lammps.sh: $LAMMPS_DIR is not a LAMMPS source tree" >&2; exit 2; }

# ---- patch: ML-IAP's neighbour copy is quadratic in the atoms per rank (see the script's docstring) ------
"$PYTHON" "$(dirname "$0")/patch_lammps_mliap.py" "$LAMMPS_DIR/src/ML-IAP"

# ---- configure ---------------------------------------------------------------------------------
BUILD="$PREFIX/build"
mkdir -p "$BUILD"
OPTS=(
  -D CMAKE_BUILD_TYPE=Release -D CMAKE_INSTALL_PREFIX="$PREFIX"
  -D BUILD_SHARED_LIBS=on -D BUILD_MPI=on -D BUILD_OMP=on -D LAMMPS_EXCEPTIONS=on
  -D PKG_ML-IAP=on -D PKG_ML-SNAP=on -D PKG_PYTHON=on -D MLIAP_ENABLE_PYTHON=on
  -D Python_EXECUTABLE="$PYTHON" -D Python3_EXECUTABLE="$PYTHON"
  -D WITH_JPEG=off -D WITH_PNG=off -D WITH_FFMPEG=off -D WITH_GZIP=off -D BUILD_TOOLS=off
)
if [[ -n "$KOKKOS_SRC" ]]; then
  # LAMMPS builds its bundled Kokkos from lib/kokkos: put the given tree there.
  [[ -f "$KOKKOS_SRC/CMakeLists.txt" ]] || { echo "build_lammps.sh: $KOKKOS_SRC is not a Kokkos source tree" >&2; exit 2; }
  [[ -e "$LAMMPS_DIR/lib/kokkos/CMakeLists.txt" ]] || { rm -rf "$LAMMPS_DIR/lib/kokkos"; cp -a "$KOKKOS_SRC" "$LAMMPS_DIR/lib/kokkos"; }
  OPTS+=(-D PKG_KOKKOS=on -D Kokkos_ENABLE_SERIAL=on -D Kokkos_ENABLE_OPENMP=on)
  if [[ $CUDA == 1 ]]; then
    OPTS+=(-D Kokkos_ENABLE_CUDA=on -D "Kokkos_ARCH_${CUDA_ARCH}=on"
           -D CMAKE_CXX_COMPILER="$LAMMPS_DIR/lib/kokkos/bin/nvcc_wrapper")
  fi
fi
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  cmake -S "$LAMMPS_DIR/cmake" -B "$BUILD" "${OPTS[@]}" > "$BUILD/configure.log"
fi

# ---- build + install ---------------------------------------------------------------------------
nice -n 10 cmake --build "$BUILD" -j "$JOBS"
cmake --install "$BUILD" > "$BUILD/install.log"
PYVER="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
PYDIR="$PREFIX/lib/python$PYVER/site-packages"
mkdir -p "$PYDIR"
rm -rf "$PYDIR/lammps"
cp -a "$LAMMPS_DIR/python/lammps" "$PYDIR/lammps"
# The Python module loads liblammps.so from its own folder first.
ln -sf "$PREFIX/lib/liblammps.so" "$PYDIR/lammps/liblammps.so"
cat > "$PREFIX/env.sh" <<EOF
# source me: LAMMPS for ase_relaxed (built $(date -u +%FT%TZ))
export ASE_RELAXED_LAMMPS="$PREFIX"
export PATH="$PREFIX/bin:\$PATH"
export LD_LIBRARY_PATH="$PREFIX/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PYTHONPATH="$PYDIR\${PYTHONPATH:+:\$PYTHONPATH}"
EOF
END=$(date +%s)
{
  echo "LAMMPS $(basename "$LAMMPS_DIR") kokkos=$([[ -n $KOKKOS_SRC ]] && echo on || echo off) cuda=$CUDA"
  echo "built_in_s=$((END - START)) jobs=$JOBS python=$PYTHON date=$(date -u +%FT%TZ)"
} > "$MARKER"
echo "LAMMPS built in $((END - START)) s into $PREFIX; use it with: . $PREFIX/env.sh"
