// Host/device annotations shared by the CPU build and nvcc.
#pragma once

#if defined(__CUDACC__)
#define MADSBI_HD __host__ __device__ __forceinline__
#else
#define MADSBI_HD inline
#endif

namespace madsbi {

// Largest number of θ components the fixed-size kernels accept: K = 1 + n + n(n+1)/2 = 120.
constexpr int kMaxParameters = 14;
constexpr int kMaxCoefficients = 1 + kMaxParameters + kMaxParameters * (kMaxParameters + 1) / 2;

MADSBI_HD int n_coefficients(int n_parameters) {
  return 1 + n_parameters + n_parameters * (n_parameters + 1) / 2;
}

}  // namespace madsbi
