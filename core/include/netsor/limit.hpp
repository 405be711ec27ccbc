// netsor/limit.hpp — module header: infinite-width limits by the Master Theorem (`limit`, `Limit`, `Estimate`).
#pragma once

#include <netsor/limit/limit.hpp>
