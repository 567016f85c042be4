#include "madsbi/gridscan.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "madsbi/gridscan_terms.hpp"
#include "madsbi/clones.hpp"
#include "madsbi/hd.hpp"
#include "madsbi/parallel.hpp"

namespace madsbi {

namespace {

// Independent partial sums per grid point inside a block (two AVX2 vectors).
constexpr std::size_t kLanes = 8;
// Grid points sharing each load of a coefficient in the dot products.
constexpr std::size_t kTile = 4;

// Events per block: the largest power of two in [16, 256] whose K×B coefficients fit in 16 kB,
// so that they stay in L1 while every grid point of a thread's range passes over them (with
// 256 events for K = 28 the scan ran 1.5x slower). Sums run over blocks in event order, so
// this size, a function of K only, fixes the rounding of the result; the thread count does not.
std::size_t block_events(std::size_t K) {
  std::size_t b = 256;
  while (b > 16 && b * K * sizeof(double) > 16384) b /= 2;
  return b;
}

std::string number_text(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", x);
  return buffer;
}

// "member m, event e, component k" of the flat index i into (M, N, K).
std::string index_text(std::size_t i, std::size_t n_events, std::size_t K) {
  return "member " + std::to_string(i / (n_events * K)) + ", event " +
         std::to_string(i / K % n_events) + ", component " + std::to_string(i % K);
}

// Whether every x[i] of [begin, end) is finite (branch-free, so it vectorises).
bool all_finite(const double* x, std::size_t begin, std::size_t end) {
  // Integer test on the exponent field: a floating-point compare would not vectorise.
  constexpr std::uint64_t kExponent = 0x7ff0000000000000ULL;
  std::uint64_t all_max = 0;
  for (std::size_t i = begin; i < end; ++i) {
    std::uint64_t b;
    std::memcpy(&b, x + i, sizeof b);
    all_max |= static_cast<std::uint64_t>((b & kExponent) == kExponent);
  }
  return all_max == 0;
}

// Index of the first x[i * stride] != 1 for i < n, or n.
std::size_t first_not_one(const double* x, std::size_t n, std::size_t stride) {
  for (std::size_t i = 0; i < n; ++i) {
    if (x[i * stride] != 1.0) return i;
  }
  return n;
}

}  // namespace

namespace detail {

void check_scan_inputs(const double* coefficients, std::size_t n_members, std::size_t n_events,
                       int K, const double* features, std::size_t n_points, const double* weights,
                       bool log1p, double floor, int n_threads) {
  if (K < 1 || K > kMaxCoefficients) {
    throw std::invalid_argument("coefficients: the number of coefficients K must be in [1, " +
                                std::to_string(kMaxCoefficients) + "], got " +
                                std::to_string(K));
  }
  if (!(floor > 0.0 && floor <= std::numeric_limits<double>::max())) {
    throw std::invalid_argument("floor: expected a finite value > 0, got " + number_text(floor));
  }
  const std::size_t k = static_cast<std::size_t>(K);
  const std::size_t n_coef = n_members * n_events * k;
  std::atomic<bool> coefficients_ok{true};
  parallel_for(n_coef, n_threads, 1 << 20, [&](std::size_t b, std::size_t e, int) {
    if (!all_finite(coefficients, b, e)) coefficients_ok = false;
  });
  if (!coefficients_ok) {  // locate the first one serially, for the message
    for (std::size_t i = 0; i < n_coef; ++i) {
      if (!std::isfinite(coefficients[i])) {
        throw std::invalid_argument("coefficients: non-finite value " +
                                    number_text(coefficients[i]) + " at " +
                                    index_text(i, n_events, k));
      }
    }
  }
  for (std::size_t i = 0; i < n_points * k; ++i) {
    if (!std::isfinite(features[i])) {
      throw std::invalid_argument("features: non-finite value " + number_text(features[i]) +
                                  " at point " + std::to_string(i / k) + ", component " +
                                  std::to_string(i % k));
    }
  }
  for (std::size_t i = 0; weights != nullptr && i < n_events; ++i) {
    if (!std::isfinite(weights[i])) {
      throw std::invalid_argument("weights: non-finite value " + number_text(weights[i]) +
                                  " at event " + std::to_string(i));
    }
  }
  if (!log1p) return;
  const std::size_t c = first_not_one(coefficients, n_members * n_events, k);
  if (c < n_members * n_events) {
    throw std::invalid_argument("coefficients: log1p needs coefficients[..., 0] == 1, got " +
                                number_text(coefficients[c * k]) + " at " +
                                index_text(c * k, n_events, k));
  }
  const std::size_t g = first_not_one(features, n_points, k);
  if (g < n_points) {
    throw std::invalid_argument("features: log1p needs features[:, 0] == 1, got " +
                                number_text(features[g * k]) + " at point " +
                                std::to_string(g));
  }
}

}  // namespace detail

namespace {

// Compensated (Neumaier) running sum of the block sums.
struct RunningSum {
  double sum = 0.0;
  double compensation = 0.0;
  void add(double x) {
    const double t = sum + x;
    compensation += std::fabs(sum) >= std::fabs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  double value() const { return sum + compensation; }
};

struct ScanInput {
  const double* coefficients;  // M×N×K
  std::size_t n_events;
  int K;
  const double* features;  // G×K
  std::size_t n_points;
  const double* weights;  // N, or null
  double log_floor;
};

#if defined(__GNUC__) || defined(__clang__)
// Four doubles as one value (an AVX2 register; two SSE2 registers in the baseline build):
// GCC's vector extension. Plain loops over lanes let GCC vectorise the loop over k (with
// shuffles) instead of the one over events, and 8-wide types are spilled to the stack.
typedef double Vec4 __attribute__((vector_size(4 * sizeof(double))));

// z[t][e] = Σ_{k >= k_begin} φ[k][t] c[k][e] for the kTile points of a tile and the nv events
// (a multiple of kLanes) of a block; ct and z have rows of `stride` events. k ascending:
// 4 points × 8 events of accumulators stay in registers, each coefficient is loaded once for
// all points.
inline void dot_tile(const double* ct, std::size_t stride, const double* phi, std::size_t k_begin,
                     std::size_t K, std::size_t nv, double* z) {
  static_assert(kTile == 4 && kLanes == 8, "dot_tile is written for 4 points × 8 events");
  for (std::size_t e = 0; e < nv; e += kLanes) {
    Vec4 a0 = {}, a1 = {}, a2 = {}, a3 = {}, b0 = {}, b1 = {}, b2 = {}, b3 = {};
    for (std::size_t k = k_begin; k < K; ++k) {
      Vec4 c, d;
      std::memcpy(&c, ct + k * stride + e, sizeof c);
      std::memcpy(&d, ct + k * stride + e + 4, sizeof d);
      const double* p = phi + k * kTile;
      a0 += c * p[0];
      b0 += d * p[0];
      a1 += c * p[1];
      b1 += d * p[1];
      a2 += c * p[2];
      b2 += d * p[2];
      a3 += c * p[3];
      b3 += d * p[3];
    }
    double* out = z + e;
    std::memcpy(out, &a0, sizeof a0);
    std::memcpy(out + 4, &b0, sizeof b0);
    std::memcpy(out + stride, &a1, sizeof a1);
    std::memcpy(out + stride + 4, &b1, sizeof b1);
    std::memcpy(out + 2 * stride, &a2, sizeof a2);
    std::memcpy(out + 2 * stride + 4, &b2, sizeof b2);
    std::memcpy(out + 3 * stride, &a3, sizeof a3);
    std::memcpy(out + 3 * stride + 4, &b3, sizeof b3);
  }
}
#else
inline void dot_tile(const double* ct, std::size_t stride, const double* phi, std::size_t k_begin,
                     std::size_t K, std::size_t nv, double* z) {
  for (std::size_t t = 0; t < kTile; ++t) {
    for (std::size_t e = 0; e < nv; ++e) z[t * stride + e] = 0.0;
  }
  for (std::size_t k = k_begin; k < K; ++k) {
    for (std::size_t t = 0; t < kTile; ++t) {
      const double p = phi[k * kTile + t];
      for (std::size_t e = 0; e < nv; ++e) z[t * stride + e] += ct[k * stride + e] * p;
    }
  }
}
#endif

// S[m, g] for the points [g_begin, g_end) of member m. Event blocks outer, grid tiles inner:
// each block is transposed once into (K, B) so that the loops run over events contiguously,
// then every tile of the range passes over it. Per grid point and block, kLanes partial sums
// in a fixed order; the block sums go into a compensated running sum.
template <bool LOG1P>
MADSBI_CLONES void scan_range(const ScanInput& in, std::size_t m, std::size_t g_begin,
                              std::size_t g_end, double* out_sums, std::int64_t* out_clamped) {
  const std::size_t N = in.n_events;
  const std::size_t K = static_cast<std::size_t>(in.K);
  const std::size_t B = block_events(K);
  const std::size_t k_begin = LOG1P ? 1 : 0;  // log1p: the leading 1·1 is the "1 +"
  const std::size_t n_range = g_end - g_begin;
  const double* C = in.coefficients + m * N * K;

  std::vector<double> ct(K * B);        // coefficients of the block, (K, B)
  std::vector<double> w(B);             // weights of the block
  std::vector<double> z(kTile * B);     // arguments of the tile, (kTile, B)
  std::vector<double> terms(B);         // w_e · log term of one grid point; 0 in the padding
  std::vector<RunningSum> sums(n_range);
  std::vector<std::int64_t> clamped(n_range, 0);
  // Features of the range, tile by tile as (K, kTile), zero-padded to whole tiles.
  const std::size_t n_tiles = (n_range + kTile - 1) / kTile;
  std::vector<double> phi(n_tiles * K * kTile, 0.0);
  for (std::size_t r = 0; r < n_range; ++r) {
    for (std::size_t k = 0; k < K; ++k) {
      phi[(r / kTile * K + k) * kTile + r % kTile] = in.features[(g_begin + r) * K + k];
    }
  }

  for (std::size_t e0 = 0; e0 < N; e0 += B) {
    const std::size_t nb = std::min(B, N - e0);
    const std::size_t nv = (nb + kLanes - 1) / kLanes * kLanes;  // padded to whole lanes
    for (std::size_t e = 0; e < nb; ++e) {
      const double* row = C + (e0 + e) * K;
      for (std::size_t k = 0; k < K; ++k) ct[k * B + e] = row[k];
    }
    for (std::size_t e = nb; e < nv; ++e) {
      for (std::size_t k = 0; k < K; ++k) ct[k * B + e] = 0.0;
      terms[e] = 0.0;
    }
    for (std::size_t e = 0; e < nb; ++e) w[e] = in.weights ? in.weights[e0 + e] : 1.0;

    for (std::size_t tile = 0; tile < n_tiles; ++tile) {
      const std::size_t r0 = tile * kTile;
      const std::size_t nt = std::min(kTile, n_range - r0);
      dot_tile(ct.data(), B, phi.data() + tile * K * kTile, k_begin, K, nv, z.data());
      for (std::size_t t = 0; t < nt; ++t) {
        const double* zt = z.data() + t * B;
        std::int64_t n_clamped = 0;
        for (std::size_t e = 0; e < nb; ++e) {
          bool is_clamped = false;
          const double term = pair_log<LOG1P>(zt[e], in.log_floor, is_clamped);
          terms[e] = w[e] * term;
          n_clamped += is_clamped ? 1 : 0;
        }
        double part[kLanes] = {};
        for (std::size_t e = 0; e < nv; e += kLanes) {
          for (std::size_t l = 0; l < kLanes; ++l) part[l] += terms[e + l];
        }
        const double block_sum = ((part[0] + part[1]) + (part[2] + part[3])) +
                                 ((part[4] + part[5]) + (part[6] + part[7]));
        sums[r0 + t].add(block_sum);
        clamped[r0 + t] += n_clamped;
      }
    }
  }
  for (std::size_t r = 0; r < n_range; ++r) {
    out_sums[r] = sums[r].value();
    out_clamped[r] = clamped[r];
  }
}

template <bool LOG1P>
MADSBI_CLONES void log_batch(const double* x, std::size_t n, double* out) {
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = LOG1P ? log1p_above_minus_one(x[i]) : log_positive(x[i]);
  }
}

}  // namespace

void log_ratio_sums(const double* coefficients, std::size_t n_members, std::size_t n_events,
                    int n_coefficients, const double* features, std::size_t n_points,
                    const double* weights, bool log1p, double floor, double* out_sums,
                    std::int64_t* out_clamped, int n_threads) {
  detail::check_scan_inputs(coefficients, n_members, n_events, n_coefficients, features, n_points,
                            weights, log1p, floor, n_threads);
  const ScanInput in{coefficients, n_events, n_coefficients, features,
                     n_points,     weights,  std::log(floor)};
  // A part of at least ~10⁵ pairs is worth a thread.
  const std::size_t min_points =
      std::max<std::size_t>(1, (std::size_t{1} << 17) / std::max<std::size_t>(1, n_events));
  // Work items are (member, grid point) in row-major order; a thread's range is cut at member
  // boundaries. Every S[m, g] is computed whole by one thread, in the same order for any split.
  parallel_for(n_members * n_points, n_threads, min_points,
               [&](std::size_t begin, std::size_t end, int) {
                 std::size_t i = begin;
                 while (i < end) {
                   const std::size_t m = i / n_points;
                   const std::size_t g_begin = i % n_points;
                   const std::size_t g_end = std::min(n_points, g_begin + (end - i));
                   if (log1p) {
                     scan_range<true>(in, m, g_begin, g_end, out_sums + i, out_clamped + i);
                   } else {
                     scan_range<false>(in, m, g_begin, g_end, out_sums + i, out_clamped + i);
                   }
                   i += g_end - g_begin;
                 }
               });
}

void log_kernel_batch(const double* x, std::size_t n, bool log1p, double* out) {
  if (log1p) {
    log_batch<true>(x, n, out);
  } else {
    log_batch<false>(x, n, out);
  }
}

}  // namespace madsbi
