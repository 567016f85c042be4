// Host-side entry points of madsbi._core_cuda; implemented in csrc/cuda/*.cu.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace madsbi::cuda {

// Number of usable CUDA devices; 0 when there is no driver or no device.
int device_count();
// Name of the device, e.g. "NVIDIA H100 80GB HBM3".
std::string device_name(int device);

// Same contract as madsbi::morphing_weights_batch, on host arrays; runs on `device`.
void morphing_weights(const double* thetas, std::size_t n_points, int n_parameters,
                      const double* theta0, const double* w_inverse, const double* sigma_basis,
                      double* out_a, double* out_sigma, int device);

// Implemented in csrc/cuda/gridscan.cu. Same contract as madsbi::log_ratio_sums
// (include/madsbi/gridscan.hpp) on host arrays, except that finiteness and the log1p leading
// ones are left to the caller (the Python layer checks them); runs on `devices` (empty: every
// visible device), the grid points split evenly between them. Throws std::invalid_argument for
// bad K, floor or devices, std::runtime_error when no device is usable or CUDA fails.
void log_ratio_sums(const double* coefficients, std::size_t n_members, std::size_t n_events,
                    int n_coefficients, const double* features, std::size_t n_points,
                    const double* weights, bool log1p, double floor, double* out_sums,
                    std::int64_t* out_clamped, const std::vector<int>& devices);

}  // namespace madsbi::cuda
