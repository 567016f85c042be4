#include "madsbi/morphing.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "madsbi/clones.hpp"
#include "madsbi/parallel.hpp"
#include "madsbi/polynomial.hpp"

namespace madsbi {

namespace {
void check_parameters(int n_parameters) {
  if (n_parameters < 0 || n_parameters > kMaxParameters) {
    throw std::invalid_argument("n_parameters must be in [0, " + std::to_string(kMaxParameters) +
                                "], got " + std::to_string(n_parameters));
  }
}
// Throws std::invalid_argument naming the first non-finite θ component in [begin, end).
void check_finite(const double* thetas, std::size_t begin, std::size_t end, int n_parameters) {
  const std::size_t n = static_cast<std::size_t>(n_parameters);
  bool finite = true;
  for (std::size_t i = begin * n; i < end * n; ++i) finite &= std::isfinite(thetas[i]);
  if (finite) return;
  for (std::size_t i = begin * n; i < end * n; ++i) {
    if (!std::isfinite(thetas[i])) {
      throw std::invalid_argument("thetas: non-finite value " + std::to_string(thetas[i]) +
                                  " at point " + std::to_string(i / n) + ", component " +
                                  std::to_string(i % n));
    }
  }
}

}  // namespace

void polynomial_features_batch(const double* thetas, std::size_t n_points, int n_parameters,
                               const double* theta0, double* out, int n_threads) {
  check_parameters(n_parameters);
  const int K = n_coefficients(n_parameters);
  parallel_for(n_points, n_threads, 1 << 14, [&](std::size_t begin, std::size_t end, int) {
    check_finite(thetas, begin, end, n_parameters);
    for (std::size_t g = begin; g < end; ++g) {
      polynomial_features(thetas + g * n_parameters, theta0, n_parameters, out + g * K);
    }
  });
}

namespace {

// Fixed-size morphing weights for points [begin, end): the shared header template with n
// known at compile time, reading W⁻¹ from a local copy.
template <int N>
MADSBI_CLONES void morphing_weights_fixed(const double* thetas, std::size_t begin, std::size_t end,
                                          const double* theta0, const double* w_inverse,
                                          const double* sigma_basis, double* out_a,
                                          double* out_sigma) {
  constexpr int K = 1 + N + N * (N + 1) / 2;
  double winv[K * K];
  for (int i = 0; i < K * K; ++i) winv[i] = w_inverse[i];
  for (std::size_t g = begin; g < end; ++g) {
    const double s = morphing_weights_point<double, N>(thetas + g * N, theta0, N, winv,
                                                       sigma_basis, out_a + g * K);
    if (out_sigma != nullptr) out_sigma[g] = s;
  }
}

using RangeKernel = void (*)(const double*, std::size_t, std::size_t, const double*,
                             const double*, const double*, double*, double*);

RangeKernel fixed_kernel(int n_parameters) {
  switch (n_parameters) {
    case 1: return &morphing_weights_fixed<1>;
    case 2: return &morphing_weights_fixed<2>;
    case 3: return &morphing_weights_fixed<3>;
    case 4: return &morphing_weights_fixed<4>;
    case 5: return &morphing_weights_fixed<5>;
    case 6: return &morphing_weights_fixed<6>;
    default: return nullptr;
  }
}

}  // namespace

void morphing_weights_batch(const double* thetas, std::size_t n_points, int n_parameters,
                            const double* theta0, const double* w_inverse,
                            const double* sigma_basis, double* out_a, double* out_sigma,
                            int n_threads) {
  check_parameters(n_parameters);
  const int K = n_coefficients(n_parameters);
  if (out_sigma != nullptr && sigma_basis == nullptr) {
    throw std::invalid_argument("sigma_basis: needed to compute sigma");
  }
  const RangeKernel kernel = fixed_kernel(n_parameters);
  parallel_for(n_points, n_threads, 1 << 13, [&](std::size_t begin, std::size_t end, int) {
    check_finite(thetas, begin, end, n_parameters);
    if (kernel != nullptr) {
      kernel(thetas, begin, end, theta0, w_inverse, sigma_basis, out_a, out_sigma);
      return;
    }
    for (std::size_t g = begin; g < end; ++g) {  // general n: the shared header template
      const double s = morphing_weights_point(thetas + g * n_parameters, theta0, n_parameters,
                                              w_inverse, sigma_basis, out_a + g * K);
      if (out_sigma != nullptr) out_sigma[g] = s;
    }
  });
}

}  // namespace madsbi
