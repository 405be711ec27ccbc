#!/usr/bin/env python3
# peer_mpmath_quadrature.py — the peer of bench/bench_quadrature.cpp: the same Gaussian expectations with
# python3-mpmath's mp.quad (tanh-sinh on the whole line, degree raised until two degrees agree) at the same
# digits, so that `bench_quadrature` can be read as ratios. Each integral is timed cold (mpmath caches its nodes
# per precision, so a second call is also timed and the faster of the two is reported).
#
#   python3 bench/peer_mpmath_quadrature.py            # everything (about 5 minutes: 300 digits and 2-D)
#   python3 bench/peer_mpmath_quadrature.py --quick    # only 1-D E[tanh(z)^2] at 50 digits (a second)
#
# Output, one line per case:  "mpmath <case> digits=<d> seconds=<best> value=<first 30 digits>".
import argparse
import time

import mpmath as mp


def e_tanh2(digits):
    mp.mp.dps = digits
    f = lambda z: mp.tanh(z) ** 2 * mp.exp(-z * z / 2)
    return mp.quad(f, [-mp.inf, mp.inf]) / mp.sqrt(2 * mp.pi)


def e_tanh_tanh_2d(digits):
    # E[tanh(z1) tanh(0.6 z1 + 0.8 z2)], z ~ N(0, I_2)
    mp.mp.dps = digits
    c, s = mp.mpf(3) / 5, mp.mpf(4) / 5
    f = lambda x, y: mp.tanh(x) * mp.tanh(c * x + s * y) * mp.exp(-(x * x + y * y) / 2)
    return mp.quad(f, [-mp.inf, mp.inf], [-mp.inf, mp.inf]) / (2 * mp.pi)


def e_relu2(digits):
    mp.mp.dps = digits
    f = lambda z: z * z * mp.exp(-z * z / 2)
    return mp.quad(f, [0, mp.inf]) / mp.sqrt(2 * mp.pi)


def timed(name, fn, digits, repeats=2):
    best, value = None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn(digits)
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    print(f"mpmath {name} digits={digits} seconds={best:.6g} value={mp.nstr(value, 30)}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="only the 1-D case at 50 digits")
    args = ap.parse_args()
    print(f"# mpmath {mp.__version__}, backend {mp.libmp.BACKEND}", flush=True)
    if args.quick:
        timed("tanh2_1d", e_tanh2, 50, repeats=3)
        return
    for d in (30, 50, 100):
        timed("tanh2_1d", e_tanh2, d, repeats=3)
    timed("relu2_1d", e_relu2, 50, repeats=3)
    timed("tanh2_1d", e_tanh2, 300, repeats=1)
    timed("tanh_tanh_2d", e_tanh_tanh_2d, 30, repeats=1)
    timed("tanh_tanh_2d", e_tanh_tanh_2d, 50, repeats=1)


if __name__ == "__main__":
    main()
