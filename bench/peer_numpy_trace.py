#!/usr/bin/env python3
"""Peer of bench_trace.cpp: the same normalized word traces in numpy (OpenBLAS), written as a careful
researcher would: diagonal factors by broadcasting (never np.diag), products with @, then the trace.
Prints "trace word=<w> n=<n> seconds=<best of 3>"."""
import time

import numpy as np


def main():
    rng = np.random.default_rng(1)
    for n in (512, 1024, 2048):
        W = rng.standard_normal((n, n)) / np.sqrt(n)
        x = rng.standard_normal(n)
        d = np.tanh(W @ x)
        words = {
            "WDWtD": lambda: np.trace((W * d) @ (W.T * d)) / n,
            "WDWDWtD": lambda: np.trace((W * d) @ (W * d) @ (W.T * d)) / n,
            "(WWt)^3": lambda: np.trace(np.linalg.matrix_power(W @ W.T, 3)) / n,
        }
        for name, f in words.items():
            best, value = float("inf"), 0.0
            for _ in range(3):
                t0 = time.perf_counter()
                value = f()
                best = min(best, time.perf_counter() - t0)
            print(f"trace word={name} n={n} seconds={best:.6g}  (value {value:.6g})", flush=True)


if __name__ == "__main__":
    main()
