// Likelihood grid scan on the GPU: S[m, g] = Σ_e w_e log(c_me · φ_g) (docs/design.md, "Likelihood,
// test statistic, coverage"), with the per-pair math of the CPU kernel: the dot product, the
// log / log1p and the clamping all come from kernels/madsbi/gridscan_terms.hpp, so that CPU
// and GPU share one kernel source for every pair.
//
// Precision: float64 throughout. Inside a tile the dot product is a float64 FMA chain in
// ascending k (pair_dot), the log is the header's fdlibm log_positive / log1p_above_minus_one,
// and the weighted terms are summed in float64 in event order; the tile sums go into a
// compensated (Neumaier) running sum, as on the CPU. On H100-class GPUs float64 runs at half
// the float32 rate, so float32 would at most double the speed of the log-bound loop, while
// float64 makes the result agree with the CPU kernel and the NumPy reference to ~1e-12
// relative to the size of the terms (far inside the 1e-3 required of q(θ)) and makes the
// clamped-pair counts those of the CPU kernel (same arguments up to the last bit).
//
// Tiling: a block of kThreads threads owns kThreads · P grid points of one member. For the
// specialised sizes K = 3, 6, 10, 15, 21, 28 (n = 1…6 parameters) each thread keeps the
// features of its points in registers, P = 2 for K <= 16 (every coefficient read from shared
// memory serves two pairs), else 1; any other K reads the features through the L1 cache, P = 1. The events are staged tile by tile in shared memory
// ((E, K) coefficients and E weights, E = tile_events(K)); every thread then runs over the tile
// with the coefficients broadcast from shared memory. Events are further split into S ranges of
// whole tiles along blockIdx.y when M·G alone would not fill the GPU; each range leaves a
// partial (sum, compensation, count) per pair (m, g), and a second kernel adds the ranges in
// order. E depends on K only and S on (M, G, N, K) only (never on the device, the block size
// or the number of GPUs), so the result is deterministic and the same for any device count.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "madsbi/gridscan_terms.hpp"
#include "madsbi/hd.hpp"

namespace madsbi::cuda {

int device_count();  // morphing_weights.cu

namespace {

constexpr int kThreads = 128;
// Threads per device that a launch aims for, over M·G/P threads and the event splits: about
// four waves of 132 SMs × 2048 resident threads. A constant, not a device property: the split,
// and so the rounding, must not depend on the device.
constexpr std::size_t kTargetThreads = std::size_t{1} << 20;
// Every event split gets at least this many tiles (the partial sums cost a store each).
constexpr std::size_t kMinTilesPerSplit = 4;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA error in ") + what + ": " +
                             cudaGetErrorString(status));
  }
}

// Events per shared-memory tile: the largest power of two in [16, 512] whose coefficients
// and weights fit in 32 kB (K = 10: 256 events; K = 120: 32).
std::size_t tile_events(int K) {
  std::size_t e = 512;
  while (e > 16 && e * static_cast<std::size_t>(K + 1) * sizeof(double) > 32768) e /= 2;
  return e;
}

// Grid points per thread for the compile-time size KC (0: run-time K).
__host__ __device__ constexpr int points_per_thread(int KC) { return KC > 0 && KC <= 16 ? 2 : 1; }

struct RunningSum {  // Neumaier, as in src/gridscan.cpp
  double sum = 0.0;
  double compensation = 0.0;
  __device__ void add(double x) {
    const double t = sum + x;
    compensation += fabs(sum) >= fabs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
};

struct ScanArgs {
  const double* coefficients;  // M×N×K
  const double* weights;       // N, or null
  const double* features;      // Gd×K: this device's points
  std::size_t n_events;
  std::size_t n_points;  // Gd
  int K;
  double log_floor;
  std::size_t tiles_per_split;
  // Partials (S, M, Gd).
  double* part_sum;
  double* part_compensation;
  long long* part_clamped;
};

// blockIdx.x: a run of kThreads·P points, blockIdx.y: event split, blockIdx.z: member.
// Dynamic shared memory: E·K coefficients then E weights.
template <bool LOG1P, int KC>
__global__ void __launch_bounds__(kThreads)
    scan_kernel(ScanArgs a, std::size_t tile_size) {
  constexpr int P = points_per_thread(KC);
  constexpr int KR = KC > 0 ? KC : 1;  // register copy of the features only for KC > 0
  extern __shared__ double shared[];
  const int K = KC > 0 ? KC : a.K;
  const int k_begin = LOG1P ? 1 : 0;  // log1p: the leading 1·1 is the "1 +"
  double* s_coef = shared;
  double* s_weight = shared + tile_size * static_cast<std::size_t>(K);

  const std::size_t m = blockIdx.z;
  const std::size_t split = blockIdx.y;
  const std::size_t G = a.n_points;
  const std::size_t N = a.n_events;
  const double* C = a.coefficients + m * N * static_cast<std::size_t>(K);

  std::size_t g[P];
  bool valid[P];
  double phi[P][KR];
  const double* phi_row[P];
  for (int p = 0; p < P; ++p) {
    g[p] = (static_cast<std::size_t>(blockIdx.x) * P + p) * kThreads + threadIdx.x;
    valid[p] = g[p] < G;
    // Out-of-range threads compute on the last point and store nothing: they must still
    // help load the tiles and reach every barrier.
    phi_row[p] = a.features + (valid[p] ? g[p] : G - 1) * static_cast<std::size_t>(K);
    if constexpr (KC > 0) {
#pragma unroll
      for (int k = 0; k < KC; ++k) phi[p][k] = phi_row[p][k];
    }
  }

  RunningSum sums[P];
  long long clamped[P];
  for (int p = 0; p < P; ++p) clamped[p] = 0;

  const std::size_t n_tiles = (N + tile_size - 1) / tile_size;
  const std::size_t t_begin = split * a.tiles_per_split;
  const std::size_t t_end =
      t_begin + a.tiles_per_split < n_tiles ? t_begin + a.tiles_per_split : n_tiles;
  for (std::size_t t = t_begin; t < t_end; ++t) {
    const std::size_t e0 = t * tile_size;
    const std::size_t nb = N - e0 < tile_size ? N - e0 : tile_size;
    __syncthreads();  // the previous tile is no longer read
    for (std::size_t i = threadIdx.x; i < nb * K; i += kThreads) s_coef[i] = C[e0 * K + i];
    for (std::size_t i = threadIdx.x; i < nb; i += kThreads) {
      s_weight[i] = a.weights != nullptr ? a.weights[e0 + i] : 1.0;
    }
    __syncthreads();
    double tile_sum[P];
    for (int p = 0; p < P; ++p) tile_sum[p] = 0.0;
    for (std::size_t e = 0; e < nb; ++e) {
      const double* c = s_coef + e * K;
      const double w = s_weight[e];
#pragma unroll
      for (int p = 0; p < P; ++p) {
        double x;
        if constexpr (KC > 0) {
          x = pair_dot<double>(c, 1, phi[p], k_begin, KC);
        } else {
          x = pair_dot<double>(c, 1, phi_row[p], k_begin, K);
        }
        bool is_clamped = false;
        const double term = pair_log<LOG1P>(x, a.log_floor, is_clamped);
        tile_sum[p] += w * term;
        clamped[p] += is_clamped ? 1 : 0;
      }
    }
    for (int p = 0; p < P; ++p) sums[p].add(tile_sum[p]);
  }

  for (int p = 0; p < P; ++p) {
    if (!valid[p]) continue;
    const std::size_t i = (split * gridDim.z + m) * G + g[p];
    a.part_sum[i] = sums[p].sum;
    a.part_compensation[i] = sums[p].compensation;
    a.part_clamped[i] = clamped[p];
  }
}

// out[i] = the event splits of pair i added in order (compensated), i over M·Gd.
__global__ void reduce_kernel(const double* part_sum, const double* part_compensation,
                              const long long* part_clamped, std::size_t n_splits,
                              std::size_t n_pairs, double* out_sums, long long* out_clamped) {
  const std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (i >= n_pairs) return;
  RunningSum total;
  long long count = 0;
  for (std::size_t s = 0; s < n_splits; ++s) {
    total.add(part_sum[s * n_pairs + i]);
    total.add(part_compensation[s * n_pairs + i]);
    count += part_clamped[s * n_pairs + i];
  }
  out_sums[i] = total.sum + total.compensation;
  out_clamped[i] = count;
}

template <typename T>
struct DeviceBuffer {  // freed on scope exit, so an exception leaks nothing
  T* ptr = nullptr;
  explicit DeviceBuffer(std::size_t count) {
    if (count > 0) check(cudaMalloc(&ptr, count * sizeof(T)), "cudaMalloc");
  }
  ~DeviceBuffer() {
    if (ptr != nullptr) cudaFree(ptr);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

template <typename T>
void to_device(DeviceBuffer<T>& dst, const T* src, std::size_t count) {
  if (count > 0) {
    check(cudaMemcpy(dst.ptr, src, count * sizeof(T), cudaMemcpyHostToDevice),
          "cudaMemcpy to device");
  }
}

template <bool LOG1P, int KC>
void launch(const ScanArgs& args, std::size_t n_members, std::size_t n_splits,
            std::size_t tile_size) {
  constexpr int P = points_per_thread(KC);
  const std::size_t per_block = static_cast<std::size_t>(kThreads) * P;
  const dim3 grid(static_cast<unsigned>((args.n_points + per_block - 1) / per_block),
                  static_cast<unsigned>(n_splits), static_cast<unsigned>(n_members));
  const std::size_t shared = tile_size * static_cast<std::size_t>(args.K + 1) * sizeof(double);
  scan_kernel<LOG1P, KC><<<grid, kThreads, shared>>>(args, tile_size);
  check(cudaGetLastError(), "scan_kernel launch");
}

// Compile-time K for the polynomial sizes of n = 1…6 parameters (features in registers);
// any other K runs the generic kernel (features read through the L1 cache).
template <bool LOG1P>
void launch_for_k(const ScanArgs& args, std::size_t n_members, std::size_t n_splits,
                  std::size_t tile_size) {
  switch (args.K) {
    case 3:
      return launch<LOG1P, 3>(args, n_members, n_splits, tile_size);
    case 6:
      return launch<LOG1P, 6>(args, n_members, n_splits, tile_size);
    case 10:
      return launch<LOG1P, 10>(args, n_members, n_splits, tile_size);
    case 15:
      return launch<LOG1P, 15>(args, n_members, n_splits, tile_size);
    case 21:
      return launch<LOG1P, 21>(args, n_members, n_splits, tile_size);
    case 28:
      return launch<LOG1P, 28>(args, n_members, n_splits, tile_size);
    default:
      return launch<LOG1P, 0>(args, n_members, n_splits, tile_size);
  }
}

struct Problem {
  const double* coefficients;
  std::size_t n_members;
  std::size_t n_events;
  int K;
  const double* features;
  const double* weights;
  bool log1p;
  double log_floor;
  std::size_t n_splits;
  std::size_t tiles_per_split;
  std::size_t tile_size;
  std::size_t n_points;  // G, all devices
  double* out_sums;      // M×G, host
  std::int64_t* out_clamped;
};

// Points [g_begin, g_end) of every member on `device`, into the columns of the host outputs.
void scan_on_device(const Problem& pr, int device, std::size_t g_begin, std::size_t g_end) {
  check(cudaSetDevice(device), "cudaSetDevice");
  const std::size_t M = pr.n_members, N = pr.n_events, K = static_cast<std::size_t>(pr.K);
  const std::size_t Gd = g_end - g_begin;
  const std::size_t n_pairs = M * Gd;
  DeviceBuffer<double> d_coef(M * N * K), d_weights(pr.weights != nullptr ? N : 0),
      d_features(Gd * K), d_part_sum(pr.n_splits * n_pairs),
      d_part_compensation(pr.n_splits * n_pairs), d_sums(n_pairs);
  DeviceBuffer<long long> d_part_clamped(pr.n_splits * n_pairs), d_clamped(n_pairs);
  to_device(d_coef, pr.coefficients, M * N * K);
  if (pr.weights != nullptr) to_device(d_weights, pr.weights, N);
  to_device(d_features, pr.features + g_begin * K, Gd * K);

  const ScanArgs args{d_coef.ptr,
                      pr.weights != nullptr ? d_weights.ptr : nullptr,
                      d_features.ptr,
                      N,
                      Gd,
                      pr.K,
                      pr.log_floor,
                      pr.tiles_per_split,
                      d_part_sum.ptr,
                      d_part_compensation.ptr,
                      d_part_clamped.ptr};
  if (pr.log1p) {
    launch_for_k<true>(args, M, pr.n_splits, pr.tile_size);
  } else {
    launch_for_k<false>(args, M, pr.n_splits, pr.tile_size);
  }
  const int block = 256;
  reduce_kernel<<<static_cast<unsigned>((n_pairs + block - 1) / block), block>>>(
      d_part_sum.ptr, d_part_compensation.ptr, d_part_clamped.ptr, pr.n_splits, n_pairs,
      d_sums.ptr, d_clamped.ptr);
  check(cudaGetLastError(), "reduce_kernel launch");
  check(cudaDeviceSynchronize(), "scan_kernel");
  // (M, Gd) on the device into columns [g_begin, g_end) of the (M, G) host arrays.
  static_assert(sizeof(long long) == sizeof(std::int64_t), "int64 counts");
  check(cudaMemcpy2D(pr.out_sums + g_begin, pr.n_points * sizeof(double), d_sums.ptr,
                     Gd * sizeof(double), Gd * sizeof(double), M, cudaMemcpyDeviceToHost),
        "cudaMemcpy2D to host");
  check(cudaMemcpy2D(pr.out_clamped + g_begin, pr.n_points * sizeof(std::int64_t), d_clamped.ptr,
                     Gd * sizeof(long long), Gd * sizeof(long long), M, cudaMemcpyDeviceToHost),
        "cudaMemcpy2D to host");
}

}  // namespace

void log_ratio_sums(const double* coefficients, std::size_t n_members, std::size_t n_events,
                    int n_coefficients, const double* features, std::size_t n_points,
                    const double* weights, bool log1p, double floor, double* out_sums,
                    std::int64_t* out_clamped, const std::vector<int>& devices) {
  if (n_coefficients < 1 || n_coefficients > kMaxCoefficients) {
    throw std::invalid_argument("coefficients: the number of coefficients K must be in [1, " +
                                std::to_string(kMaxCoefficients) + "], got " +
                                std::to_string(n_coefficients));
  }
  if (!(floor > 0.0 && floor <= std::numeric_limits<double>::max())) {
    throw std::invalid_argument("floor: expected a finite value > 0");
  }
  const int visible = device_count();
  if (visible == 0) {
    throw std::runtime_error("no CUDA device is visible (no GPU, or no driver)");
  }
  std::vector<int> used = devices;
  if (used.empty()) {
    for (int d = 0; d < visible; ++d) used.push_back(d);
  }
  for (int d : used) {
    if (d < 0 || d >= visible) {
      throw std::invalid_argument("devices: device " + std::to_string(d) + " is not one of the " +
                                  std::to_string(visible) + " visible CUDA devices");
    }
  }
  const std::size_t M = n_members, G = n_points, N = n_events;
  if (M == 0 || G == 0) return;
  if (N == 0) {  // empty sums, nothing to launch
    std::fill(out_sums, out_sums + M * G, 0.0);
    std::fill(out_clamped, out_clamped + M * G, std::int64_t{0});
    return;
  }
  Problem pr{coefficients, M, N, n_coefficients, features, weights, log1p, std::log(floor),
             1,            1, 0, G, out_sums, out_clamped};
  pr.tile_size = tile_events(n_coefficients);
  const std::size_t n_tiles = (N + pr.tile_size - 1) / pr.tile_size;
  // Event splits from the shapes only (see the top of the file); threads counted as for P = 2.
  const std::size_t threads = M * ((G + 1) / 2);
  std::size_t splits = (kTargetThreads + threads - 1) / threads;
  splits = std::max<std::size_t>(1, std::min(splits, n_tiles / kMinTilesPerSplit));
  splits = std::min<std::size_t>(splits, 65535);
  pr.tiles_per_split = (n_tiles + splits - 1) / splits;
  pr.n_splits = (n_tiles + pr.tiles_per_split - 1) / pr.tiles_per_split;
  if (M > 65535) throw std::invalid_argument("coefficients: at most 65535 members on the GPU");

  // Grid points split evenly over the devices; one host thread per device.
  const std::size_t n_dev = std::min<std::size_t>(used.size(), G);
  if (n_dev == 1) {
    scan_on_device(pr, used[0], 0, G);
    return;
  }
  std::vector<std::exception_ptr> errors(n_dev);
  std::vector<std::thread> workers;
  for (std::size_t i = 0; i < n_dev; ++i) {
    const std::size_t g_begin = G * i / n_dev, g_end = G * (i + 1) / n_dev;
    workers.emplace_back([&, i, g_begin, g_end] {
      try {
        scan_on_device(pr, used[i], g_begin, g_end);
      } catch (...) {
        errors[i] = std::current_exception();
      }
    });
  }
  for (auto& w : workers) w.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace madsbi::cuda
