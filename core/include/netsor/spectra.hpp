// netsor/spectra.hpp — module header: spectra of deep networks at initialization (shared/API.md, "Spectra of deep
// networks"; shared/MATH.md, "Jacobians of deep networks", "The Fisher information spectrum"): mean-field theory,
// the law of J J^T and the Fisher information spectrum (moments exact to digits, certified densities), and a
// sampler of finite networks to compare against.
#pragma once

#include <netsor/spectra/mean_field.hpp>
#include <netsor/spectra/simulate.hpp>
#include <netsor/spectra/spectrum.hpp>
