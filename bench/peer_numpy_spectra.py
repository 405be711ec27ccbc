#!/usr/bin/env python3
# bench/peer_numpy_spectra.py — the usual practice for the spectrum of J J^T: sample depth-20 relu networks at
# n = 1000 (sigma_w^2 = 2), multiply the layer Jacobians, take the singular values with numpy and histogram
# their squares on the same 1000-cell grid as bench_spectra. With the exact grid file written by bench_spectra
# (argument 1), prints the histogram's error against it.
import sys, time
import numpy as np

def sample(n, depth, rng):
    x = rng.standard_normal(n)  # q_1 = 2 * 1/2 * ... : relu at sigma_w^2 = 2 keeps E h^2 fixed
    J = np.eye(n)
    for _ in range(depth):
        W = rng.standard_normal((n, n)) * np.sqrt(2.0 / n)
        h = W @ x
        d = (h > 0).astype(float)
        J = d[:, None] * (W @ J)
        x = np.maximum(h, 0)
    return np.linalg.svd(J, compute_uv=False) ** 2

n, depth, trials = 1000, 20, 4
rng = np.random.default_rng(1)
t0 = time.perf_counter()
ev = np.concatenate([sample(n, depth, rng) for _ in range(trials)])
if len(sys.argv) > 1:
    g = np.loadtxt(sys.argv[1])
    x, exact = g[:, 0], g[:, 1]
    w = x[1] - x[0]
    edges = np.concatenate([[x[0] - w / 2], x + w / 2])
else:
    edges = np.linspace(0, 108.754, 1001)
hist, _ = np.histogram(ev, bins=edges)
dens = hist / (len(ev) * np.diff(edges))
dens[0] = 0 if len(sys.argv) <= 1 else dens[0]
seconds = time.perf_counter() - t0
print(f"density grid=1000 depth=20 seconds={seconds:.6f}")
if len(sys.argv) > 1:
    # the first cell holds the atom at 0 (mass 1/2) in the histogram: compare from the second cell on
    err = np.abs(dens[1:] - exact[1:])
    print(f"# numpy Monte Carlo ({trials} networks at n = {n}): max |histogram - exact| = {err.max():.3e}, "
          f"median relative error = {np.median(err / np.maximum(exact[1:], 1e-300)):.3e}")
