// Host-side entry points of madsbi._core_cuda; implemented in csrc/cuda/*.cu.
#pragma once

#include <cstddef>
#include <string>

namespace madsbi::cuda {

// Number of usable CUDA devices; 0 when there is no driver or no device.
int device_count();
// Name of the device, e.g. "NVIDIA H100 80GB HBM3".
std::string device_name(int device);

// Same contract as madsbi::morphing_weights_batch, on host arrays; runs on `device`.
void morphing_weights(const double* thetas, std::size_t n_points, int n_parameters,
                      const double* theta0, const double* w_inverse, const double* sigma_basis,
                      double* out_a, double* out_sigma, int device);

}  // namespace madsbi::cuda
