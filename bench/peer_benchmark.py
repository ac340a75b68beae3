"""optkern against its peers and its memory ceiling, one whole optimizer step from Python: the full
matrix (sizes 1e3 ... 1e7, a ResNet-50-shaped list, 2,000 x 512 tensors, float32 and float64,
1 ... all threads). The code is optkern.benchmarks (``optkern bench`` runs a short preset of it);
bench/README.md describes the method and how to install the peers.

    python bench/peer_benchmark.py --algorithms adam --sizes 1e3,1e6,1e7 --plot adam.png
"""

from __future__ import annotations

import sys

from optkern.benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
