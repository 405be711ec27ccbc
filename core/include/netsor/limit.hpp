// netsor/limit.hpp — module header: infinite-width limits of tensor programs by the Master Theorem (Yang, Tensor
// Programs I, Thm 5.4; Tensor Programs III, Thm 2.5 for NETSOR-transpose and the Free Independence Principle for
// traces of words): `limit`, `Limit`, `Estimate`, `lim.trace`.
#pragma once

#include <netsor/limit/limit.hpp>
