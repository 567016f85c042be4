// The quadratic θ-polynomial features φ(Δθ) in the one order fixed by docs/design.md:
//   (1, Δθ_1 … Δθ_n, Δθ_1² … Δθ_n², Δθ_1Δθ_2, Δθ_1Δθ_3, …, Δθ_{n−1}Δθ_n).
// Header templates: the same code runs on the CPU and inside CUDA kernels.
#pragma once

#include "madsbi/hd.hpp"

namespace madsbi {

// φ(θ − θ0) for one point; `phi` receives n_coefficients(n) values.
template <typename T>
MADSBI_HD void polynomial_features(const T* theta, const T* theta0, int n, T* phi) {
  phi[0] = T(1);
  for (int i = 0; i < n; ++i) {
    const T d = theta[i] - theta0[i];
    phi[1 + i] = d;
    phi[1 + n + i] = d * d;
  }
  int k = 1 + 2 * n;
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      phi[k++] = phi[1 + i] * phi[1 + j];
    }
  }
}

// Morphing weights a(θ) = W⁻ᵀ φ(Δθ) for one point, given W⁻¹ (row-major K×K),
// and the morphed cross-section σ(θ) = Σ_b a_b σ_b when `sigma_basis` is not null.
// With N > 0 the number of parameters is a compile-time constant (n is then ignored), so the
// K×K product unrolls and vectorises over the basis index; N = 0 takes n at run time.
template <typename T, int N = 0>
MADSBI_HD T morphing_weights_point(const T* theta, const T* theta0, int n, const T* w_inverse,
                                   const T* sigma_basis, T* a) {
  const int np = N > 0 ? N : n;
  const int K = n_coefficients(np);
  T phi[kMaxCoefficients];
  polynomial_features(theta, theta0, np, phi);
  T acc[kMaxCoefficients];  // local, so the accumulation stays out of the output memory
  for (int b = 0; b < K; ++b) acc[b] = T(0);
  for (int k = 0; k < K; ++k) {
    const T p = phi[k];
    const T* row = w_inverse + k * K;  // a_b += (W⁻¹)_{kb} φ_k
    for (int b = 0; b < K; ++b) acc[b] += row[b] * p;
  }
  T sigma = T(0);
  for (int b = 0; b < K; ++b) {
    a[b] = acc[b];
    if (sigma_basis != nullptr) sigma += acc[b] * sigma_basis[b];
  }
  return sigma;
}

}  // namespace madsbi
