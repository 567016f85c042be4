// Batched morphing weights a(θ) = W⁻ᵀ φ(θ − θ0) on the GPU: one thread per θ point, the same
// header template as the CPU path (kernels/madsbi/polynomial.hpp).
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "madsbi/cuda_api.hpp"
#include "madsbi/polynomial.hpp"

namespace madsbi::cuda {

namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " +
                             cudaGetErrorString(status));
  }
}

__global__ void morphing_weights_kernel(const double* __restrict__ thetas, std::size_t n_points,
                                        int n_parameters, const double* __restrict__ theta0,
                                        const double* __restrict__ w_inverse,
                                        const double* __restrict__ sigma_basis,
                                        double* __restrict__ out_a,
                                        double* __restrict__ out_sigma) {
  const std::size_t g = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (g >= n_points) return;
  const int K = n_coefficients(n_parameters);
  const double s = morphing_weights_point(thetas + g * n_parameters, theta0, n_parameters,
                                          w_inverse, sigma_basis, out_a + g * K);
  if (out_sigma != nullptr) out_sigma[g] = s;
}

// Device buffer freed on scope exit, so an exception leaks nothing.
struct DeviceBuffer {
  double* ptr = nullptr;
  explicit DeviceBuffer(std::size_t count) {
    if (count > 0) check(cudaMalloc(&ptr, count * sizeof(double)), "cudaMalloc");
  }
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

}  // namespace

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" status
    return 0;
  }
  return count;
}

std::string device_name(int device) {
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  return prop.name;
}

void morphing_weights(const double* thetas, std::size_t n_points, int n_parameters,
                      const double* theta0, const double* w_inverse, const double* sigma_basis,
                      double* out_a, double* out_sigma, int device) {
  if (n_parameters < 0 || n_parameters > kMaxParameters) {
    throw std::invalid_argument("n_parameters must be in [0, " + std::to_string(kMaxParameters) +
                                "], got " + std::to_string(n_parameters));
  }
  check(cudaSetDevice(device), "cudaSetDevice");
  const std::size_t n = static_cast<std::size_t>(n_parameters);
  const std::size_t K = static_cast<std::size_t>(n_coefficients(n_parameters));
  DeviceBuffer d_thetas(n_points * n), d_theta0(n), d_winv(K * K), d_sigma_basis(K),
      d_a(n_points * K), d_sigma(n_points);
  const auto to_device = [](DeviceBuffer& dst, const double* src, std::size_t count) {
    if (count > 0) {
      check(cudaMemcpy(dst.ptr, src, count * sizeof(double), cudaMemcpyHostToDevice),
            "cudaMemcpy to device");
    }
  };
  to_device(d_thetas, thetas, n_points * n);
  to_device(d_theta0, theta0, n);
  to_device(d_winv, w_inverse, K * K);
  if (sigma_basis != nullptr) to_device(d_sigma_basis, sigma_basis, K);
  if (n_points > 0) {
    const int block = 128;
    const unsigned grid = static_cast<unsigned>((n_points + block - 1) / block);
    morphing_weights_kernel<<<grid, block>>>(
        d_thetas.ptr, n_points, n_parameters, d_theta0.ptr, d_winv.ptr,
        sigma_basis != nullptr ? d_sigma_basis.ptr : nullptr, d_a.ptr,
        out_sigma != nullptr ? d_sigma.ptr : nullptr);
    check(cudaGetLastError(), "morphing_weights_kernel launch");
    check(cudaDeviceSynchronize(), "morphing_weights_kernel");
    check(cudaMemcpy(out_a, d_a.ptr, n_points * K * sizeof(double), cudaMemcpyDeviceToHost),
          "cudaMemcpy to host");
    if (out_sigma != nullptr) {
      check(cudaMemcpy(out_sigma, d_sigma.ptr, n_points * sizeof(double),
                       cudaMemcpyDeviceToHost),
            "cudaMemcpy to host");
    }
  }
}

}  // namespace madsbi::cuda
