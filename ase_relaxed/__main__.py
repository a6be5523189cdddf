"""``python -m ase_relaxed ...`` is the ``ase-relaxed`` command line."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
