"""Benchmarks of whole optimizer steps from Python: optkern against its same-traffic memory
ceiling, optkern.reference, the naive NumPy formula and, when installed, torch.optim and DeepSpeed.

``optkern bench`` runs a short preset; ``bench/peer_benchmark.py`` the full matrix (bench/README.md
describes the method). Nothing here is needed to use optkern.
"""
