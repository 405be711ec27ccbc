#!/usr/bin/env python3
"""Independent references for the 2-D kernel tests in tests/limit/test_limit.cpp (the evaluator's fast paths:
even integrands walked on half the outer line, exponentials updated along the inner lattice, strip hints), by
direct mpmath quadrature of the Gaussian integrals (no use of netsor), at 50 digits; the tests check 40.
Run: /usr/bin/python3 tests/limit/reference/kernels_mpmath.py   (a few minutes: one 2-D quadrature per value)"""
from mpmath import mp, mpf, quad, exp, sqrt, pi, tanh, inf

mp.dps = 50


def E(f):  # E f(z), z ~ N(0, 1)
    return quad(lambda z: f(z) * exp(-z * z / 2), [-inf, 0, inf]) / sqrt(2 * pi)


def E2(f):  # E f(x, y), iid standard
    return quad(lambda x, y: f(x, y) * exp(-(x * x + y * y) / 2), [-inf, 0, inf], [-inf, 0, inf]) / (2 * pi)


def pair(q, c):  # (u, v) with Var u = Var v = q, Cov = c, from iid (x, y)
    s = sqrt(q)
    return lambda x, y: (s * x, c / s * x + sqrt(q - c * c / q) * y)


def sigmoid(x):
    return 1 / (1 + exp(-x))


out = {}
# 3-layer tanh MLP kernel (programs::kernel("tanh", 3, 1.5, 0.05, 0.5)): K_l = E tanh(u_l) tanh(v_l) with
# Var = q_l, Cov = c_l; q_1 = 3/2 + 1/20, c_1 = 3/2 * 1/2 + 1/20, q_{l+1} = 3/2 E tanh(u_l)^2 + 1/20,
# c_{l+1} = 3/2 K_l + 1/20.
sw2, sb2 = mpf(3) / 2, mpf(1) / 20
q, c = sw2 + sb2, sw2 / 2 + sb2
for l in range(1, 4):
    uv = pair(q, c)
    K = E2(lambda x, y: tanh(uv(x, y)[0]) * tanh(uv(x, y)[1]))
    out["tanh_kernel_K%d" % l] = K
    q = sw2 * E(lambda z: tanh(sqrt(q) * z) ** 2) + sb2
    c = sw2 * K + sb2
# Nearly parallel inputs (correlation 0.999, unit variances): the inner lines' strip is 22 times pi/2.
uv = pair(mpf(1), mpf(999) / 1000)
out["tanh_close_pair"] = E2(lambda x, y: tanh(uv(x, y)[0]) * tanh(uv(x, y)[1]))
# Not even (centered forms shifted), sigmoid and exp on the lattice: a, b unit variances, correlation 1/2.
uv = pair(mpf(1), mpf(1) / 2)
out["sigmoid_exp_shifted"] = E2(lambda x, y: sigmoid(uv(x, y)[0] + mpf(1) / 2) * exp(uv(x, y)[1] / 4))
out["tanh_tanh_shifted"] = E2(lambda x, y: tanh(uv(x, y)[0]) * tanh(uv(x, y)[1] + mpf(1) / 3))
for k, v in out.items():
    print(k, mp.nstr(v, 48), flush=True)
