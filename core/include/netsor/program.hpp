// netsor/program.hpp — module header: the tensor-program DSL (programs, widths, vectors, matrices, scalars,
// coordinatewise expressions). See shared/API.md, "Building a tensor program".
#pragma once

#include <netsor/program/param.hpp>
#include <netsor/program/program.hpp>
#include <netsor/program/word.hpp>
