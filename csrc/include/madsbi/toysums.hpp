// Event sums of coverage toys drawn from one test sample (docs/design.md, "Coverage at scale is
// dense algebra"): S[t, g] = Σ_e n_te log(c_e · φ_g), with the counts n_te as a sparse matrix.
#pragma once

#include <cstddef>
#include <cstdint>

namespace madsbi {

// coefficients (N×K) and features (G×K) row-major; the counts of toy t are counts[j] of the
// events event_index[j] for j in [row_starts[t], row_starts[t + 1]), event indices strictly
// increasing within a toy (compressed sparse rows, as scipy's CSR with sorted indices).
// out_sums (T×G) row-major; returns the number of (event, grid point) pairs that were clamped
// (argument outside the domain of log, resp. log1p with the caller's promise c_e0 = φ_g0 = 1:
// the term is then log(floor)), counted once per pair whatever the number of toys holding the
// event. The sums are taken as logs of products: per (event, grid point) only the argument is
// formed and multiplied into every toy holding the event (exponents moved aside before the
// product could leave the double range), one log per toy and grid point at the end: N·G dot
// products plus nnz·G multiplies, against Σ_t n_t·G logs of a scan per toy. Agrees with the
// per-pair logs to ~1e−16 relative per event (one rounding per multiply). The result does not
// depend on n_threads (<= 0: all hardware threads). Throws std::invalid_argument for the bad
// inputs of log_ratio_sums, and for row_starts not starting at 0 or decreasing, an event index
// outside [0, N) or not increasing within a toy, or a count that is not a whole number in
// [0, 2^32).
std::int64_t toy_log_sums(const double* coefficients, std::size_t n_events, int n_coefficients,
                          const double* features, std::size_t n_points,
                          const std::int64_t* row_starts, std::size_t n_toys,
                          const std::int64_t* event_index, const double* counts, bool log1p,
                          double floor, double* out_sums, int n_threads);

}  // namespace madsbi
