#include "madsbi/morphing.hpp"

#include <stdexcept>
#include <string>

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
}  // namespace

void polynomial_features_batch(const double* thetas, std::size_t n_points, int n_parameters,
                               const double* theta0, double* out, int n_threads) {
  check_parameters(n_parameters);
  const int K = n_coefficients(n_parameters);
  parallel_for(n_points, n_threads, 1 << 14, [&](std::size_t begin, std::size_t end, int) {
    for (std::size_t g = begin; g < end; ++g) {
      polynomial_features(thetas + g * n_parameters, theta0, n_parameters, out + g * K);
    }
  });
}

void morphing_weights_batch(const double* thetas, std::size_t n_points, int n_parameters,
                            const double* theta0, const double* w_inverse,
                            const double* sigma_basis, double* out_a, double* out_sigma,
                            int n_threads) {
  check_parameters(n_parameters);
  const int K = n_coefficients(n_parameters);
  parallel_for(n_points, n_threads, 1 << 13, [&](std::size_t begin, std::size_t end, int) {
    for (std::size_t g = begin; g < end; ++g) {
      const double s = morphing_weights_point(thetas + g * n_parameters, theta0, n_parameters,
                                              w_inverse, sigma_basis, out_a + g * K);
      if (out_sigma != nullptr) out_sigma[g] = s;
    }
  });
}

}  // namespace madsbi
