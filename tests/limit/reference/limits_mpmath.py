#!/usr/bin/env python3
"""Independent references for tests/limit/test_limit.cpp, computed with python3-mpmath by direct quadrature of
the closed-form Gaussian integrals (no use of netsor). Run: /usr/bin/python3 tests/limit/reference/limits_mpmath.py
Prints each value to 70 significant digits."""
from mpmath import mp, mpf, quad, exp, sqrt, pi, tanh, erf, asin, sech, inf, acos, sin, cos

mp.dps = 80


def E(f):  # E f(z), z ~ N(0, 1)
    return quad(lambda z: f(z) * exp(-z * z / 2), [-inf, 0, inf]) / sqrt(2 * pi)


def E2(f):  # E f(z1, z2), iid standard
    return quad(lambda a, b: f(a, b) * exp(-(a * a + b * b) / 2), [-inf, 0, inf], [-inf, 0, inf]) / (2 * pi)


out = {}
out["E_tanh_prime"] = E(lambda z: sech(z) ** 2)
out["E_tanh_sq"] = E(lambda z: tanh(z) ** 2)
out["g_sq_tanh"] = out["E_tanh_sq"] + out["E_tanh_prime"] ** 2
# MLP tanh, sigma_w^2 = 3/2, sigma_b^2 = 1/20, x ~ N(0, 1): q1 = 31/20, q_{l+1} = 3/2 E tanh(sqrt(q_l) z)^2 + 1/20
q = mpf(31) / 20
qs = [q]
for l in range(2, 4):
    q = mpf(3) / 2 * E(lambda z: tanh(sqrt(q) * z) ** 2) + mpf(1) / 20
    qs.append(q)
for i, v in enumerate(qs):
    out["mlp_tanh_q%d" % (i + 1)] = v
# erf kernel of correlated inputs: E[erf(a) erf(b)], Var a = Var b = 1, Cov = 1/2  (closed form, arcsine)
out["erf_kernel_closed"] = 2 / pi * asin(2 * mpf(1) / 2 / (1 + 2))
out["erf_kernel_quad"] = E2(lambda u, v: erf(u) * erf(mpf(1) / 2 * u + sqrt(mpf(3)) / 2 * v))
# relu kernel (arc-cosine): E[relu(a) relu(b)] with unit variances, correlation 1/2: (sin t + (pi - t) cos t)/(2 pi)
t = acos(mpf(1) / 2)
out["relu_kernel_closed"] = (sin(t) + (pi - t) * cos(t)) / (2 * pi)
# Moment feeding a nonlinearity: h ~ N(0, 2); s = E tanh(h)^2; y = tanh(s h + 1/2); t = E y^2
s = E(lambda z: tanh(sqrt(2) * z) ** 2)
out["feedback_s"] = s
out["feedback_t"] = E(lambda z: tanh(s * sqrt(2) * z + mpf(1) / 2) ** 2)
for k, v in out.items():
    print(k, mp.nstr(v, 70))
