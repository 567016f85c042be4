// Batched θ-polynomial features and morphing weights on the CPU.
#pragma once

#include <cstddef>

namespace madsbi {

// φ(θ_g − θ0) for G points: thetas (G×n), out (G×K), row-major.
void polynomial_features_batch(const double* thetas, std::size_t n_points, int n_parameters,
                               const double* theta0, double* out, int n_threads);

// a(θ_g) = W⁻ᵀ φ(θ_g − θ0) for G points: thetas (G×n), w_inverse (K×K), out_a (G×K);
// when sigma_basis (K) and out_sigma (G) are not null also σ(θ_g) = Σ_b a_b σ_b.
void morphing_weights_batch(const double* thetas, std::size_t n_points, int n_parameters,
                            const double* theta0, const double* w_inverse,
                            const double* sigma_basis, double* out_a, double* out_sigma,
                            int n_threads);

}  // namespace madsbi
