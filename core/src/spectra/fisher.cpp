// placeholder
#include <netsor/errors.hpp>
#include <netsor/spectra/spectrum.hpp>
namespace netsor {
Spectrum fisher_spectrum(const NetworkSpec&, const SpectrumOptions&) { throw invalid_argument("todo"); }
}
