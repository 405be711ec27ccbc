#!/usr/bin/env python3
"""The peer of bench_simulator.cpp: a 4-layer tanh MLP forward and backward with the true W^T, 16 trials,
written as a researcher would in numpy (OpenBLAS). Prints "simulator n=<n> trials=16 seconds=<best of 3>"."""
import sys
import time

import numpy as np


def run(n, trials, seed, depth=4, var=1.5):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(trials):
        x = rng.standard_normal(n)
        Ws = [rng.standard_normal((n, n)) * np.sqrt(var / n) for _ in range(depth)]
        hs, a = [], x
        for W in Ws:
            h = W @ a
            hs.append(h)
            a = np.tanh(h)
        v = rng.standard_normal(n)
        dh = (1 - np.tanh(hs[-1]) ** 2) * v
        moments = []
        for l in range(depth, 0, -1):
            dx = Ws[l - 1].T @ dh
            moments.append(dx @ dx / n)
            if l > 1:
                dh = (1 - np.tanh(hs[l - 2]) ** 2) * dx
                moments.append(hs[l - 2] @ dh / n)
            else:
                moments.append(x @ dx / n)
        out.append(moments)
    return np.mean(out, axis=0)


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for n in (1024, 2048, 4096):
        best, check = float("inf"), 0.0
        for r in range(repeats):
            t0 = time.perf_counter()
            m = run(n, 16, r)
            best = min(best, time.perf_counter() - t0)
            check = m[0]
        print(f"simulator n={n} trials=16 seconds={best:.6g}  (|dx3|^2/n = {check:.6g})", flush=True)


if __name__ == "__main__":
    main()
