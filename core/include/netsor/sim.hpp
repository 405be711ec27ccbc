// netsor/sim.hpp — module header: finite-width simulation (`simulate`, `Simulation`, `Stat`).
#pragma once

#include <netsor/sim/simulation.hpp>
