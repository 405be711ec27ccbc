// netsor/sim.hpp — module header: finite-width simulation of tensor programs (`simulate`, `Simulation`, `Stat`),
// the empirical side every limit of the Master Theorem (Yang, Tensor Programs I-III) is compared with.
#pragma once

#include <netsor/sim/simulation.hpp>
