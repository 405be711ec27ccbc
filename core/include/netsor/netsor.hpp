// netsor/netsor.hpp — everything a user script needs: the tensor-program DSL, finite-width simulation,
// infinite-width limits, free probability and spectra.
#pragma once

#include <netsor/errors.hpp>
#include <netsor/free.hpp>
#include <netsor/limit.hpp>
#include <netsor/numbers.hpp>
#include <netsor/program.hpp>
#include <netsor/sim.hpp>
#include <netsor/spectra.hpp>
