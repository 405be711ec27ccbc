// netsor/free.hpp — module header: free probability (shared/API.md, "Free probability"; shared/MATH.md,
// "Freeness"): moment-cumulant relations and convolutions, the classical free laws, and the numerical freeness
// test on tensor programs.
#pragma once

#include <netsor/free/distributions.hpp>
#include <netsor/free/freeness_check.hpp>
#include <netsor/free/toolkit.hpp>
