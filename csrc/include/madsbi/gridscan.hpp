// Likelihood grid scan on the CPU: S[m, g] = Σ_e w_e log(c_me · φ_g) for every ensemble member
// m and grid point g, accumulated in float64 (docs/design.md, "Likelihood, test statistic,
// coverage").
#pragma once

#include <cstddef>
#include <cstdint>

namespace madsbi {

// coefficients (M×N×K), features (G×K), weights (N) or null for unit weights; out_sums and
// out_clamped (M×G), all row-major. With log1p the caller promises c_me0 = φ_g0 = 1 and the
// terms are log1p(Σ_{k≥1} c_mek φ_gk). A pair whose argument is outside the domain of log
// (resp. log1p) or not finite contributes w_e log(floor) and is counted in out_clamped.
// The order of every sum is fixed (events in blocks of a fixed size, summed in order), so the
// result does not depend on n_threads (<= 0: all hardware threads). Throws
// std::invalid_argument for K outside [1, kMaxCoefficients], floor not finite and > 0, a
// non-finite input, or with log1p a leading coefficient or feature other than 1.
void log_ratio_sums(const double* coefficients, std::size_t n_members, std::size_t n_events,
                    int n_coefficients, const double* features, std::size_t n_points,
                    const double* weights, bool log1p, double floor, double* out_sums,
                    std::int64_t* out_clamped, int n_threads);

namespace detail {
// The input checks of log_ratio_sums (throws std::invalid_argument naming the bad value);
// shared with toy_log_sums.
void check_scan_inputs(const double* coefficients, std::size_t n_members, std::size_t n_events,
                       int K, const double* features, std::size_t n_points, const double* weights,
                       bool log1p, double floor, int n_threads);
}  // namespace detail

// The vectorised log and log1p of the scan, element-wise and without clamping (for tests):
// out[i] = log(x[i]) for finite x > 0, or log1p(x[i]) for finite x > −1.
void log_kernel_batch(const double* x, std::size_t n, bool log1p, double* out);

}  // namespace madsbi
