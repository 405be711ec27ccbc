// core/src/spectra/fisher.cpp — the Fisher information spectrum (Hayase & Karakida 2021; shared/MATH.md, "The
// Fisher information spectrum"). Not implemented yet: issue 6, item 3 is open (see docs/spectra.md).
#include <netsor/errors.hpp>
#include <netsor/spectra/spectrum.hpp>

namespace netsor {

Spectrum fisher_spectrum(const NetworkSpec&, const SpectrumOptions&) {
  throw invalid_argument("fisher_spectrum: not implemented yet (issue 6, item 3); see docs/spectra.md");
}

}  // namespace netsor
