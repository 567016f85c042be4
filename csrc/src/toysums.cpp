#include "madsbi/toysums.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "madsbi/clones.hpp"
#include "madsbi/gridscan.hpp"
#include "madsbi/gridscan_terms.hpp"
#include "madsbi/parallel.hpp"

// Each toy's sum of logs is taken as the log of a product: per (event, grid point) only the
// argument a = c_e · φ_g (1 + that with log1p) is formed, never its log, and every toy
// multiplies the arguments of its events into a running product whose binary exponent is
// moved into an integer-valued sum whenever it could leave the double range. One log per toy
// and grid point at the end. A log costs far more than a multiply: this is what makes the toys
// cheaper than a scan per toy even where each event sits in only a few toys (coverage at
// ν ≈ 3·10³ events per toy from 2·10⁵), where forming every log once does not pay. Rounding:
// one per multiply, ~1e−16 relative, so the sums agree with the per-pair logs to
// ~1e−16 × (events per toy) absolute.

namespace madsbi {

namespace {

using gridscan_detail::bits_of;
using gridscan_detail::double_of;

// Grid points of one strip: the product of one toy over a strip is kStrip doubles, kept in
// registers while the toy's events of a block are multiplied in.
constexpr std::size_t kStrip = 32;
// Events of one block of arguments: 1024 × 32 doubles = 256 kB (L2), each row read by the toys
// holding the event (2048 and 512 ran no faster here).
constexpr std::size_t kBlockEvents = 1024;
// A "plain" argument lies in [2^−30, 2^30) (and the mantissas of the others in [1, 2)):
// products of up to kMaxFactors of them, starting from [1, 2), stay inside the normal range
// (within 2^±961).
constexpr int kMaxFactors = 32;
constexpr std::uint64_t kExponentBits = 0x7ff0000000000000ULL;
constexpr std::uint64_t kOneBits = 0x3ff0000000000000ULL;
constexpr double kLn2Hi = 6.93147180369123816490e-01;  // 0x3fe62e42 fee00000
constexpr double kLn2Lo = 1.90821492927058770002e-10;  // 0x3dea39ef 35793c76

#if defined(__GNUC__) || defined(__clang__)
// Four lanes as one value (an AVX2 register in the x86-64-v3 clone): plain loops over the
// strip's points let GCC vectorise the loop over k with shuffles instead (see gridscan.cpp),
// and keep the products in memory.
typedef double Vec4 __attribute__((vector_size(4 * sizeof(double))));
typedef std::int64_t Int4 __attribute__((vector_size(4 * sizeof(std::int64_t))));
constexpr std::size_t kVecs = kStrip / 4;
#endif

struct ToyInput {
  const double* coefficients;  // N×K
  std::size_t n_events;
  std::size_t K;
  const double* features;  // G×K
  std::size_t n_points;
  std::size_t n_toys;
  double log_floor;
};

// The counts regrouped by event block: within block b, entries [block_start[b],
// block_start[b + 1]) in groups of one toy each (toys ascending, each toy's events ascending).
struct Entries {
  std::vector<std::size_t> block_start;  // n_blocks + 1, into groups
  std::vector<std::int64_t> group_toy;   // per group
  std::vector<std::size_t> group_start;  // n_groups + 1, into entries
  std::vector<std::uint32_t> event;      // per entry, index within its block
  std::vector<std::uint32_t> count;      // per entry
};

void check_counts(const ToyInput& in, const std::int64_t* row_starts,
                  const std::int64_t* event_index, const double* counts) {
  if (row_starts[0] != 0) {
    throw std::invalid_argument("row_starts: expected row_starts[0] == 0, got " +
                                std::to_string(row_starts[0]));
  }
  for (std::size_t t = 0; t < in.n_toys; ++t) {
    const std::int64_t begin = row_starts[t], end = row_starts[t + 1];
    if (end < begin) {
      throw std::invalid_argument("row_starts: decreasing at toy " + std::to_string(t));
    }
    for (std::int64_t j = begin; j < end; ++j) {
      const std::int64_t e = event_index[j];
      if (e < 0 || static_cast<std::size_t>(e) >= in.n_events) {
        throw std::invalid_argument("event_index: " + std::to_string(e) + " of toy " +
                                    std::to_string(t) + " outside [0, " +
                                    std::to_string(in.n_events) + ")");
      }
      if (j > begin && e <= event_index[j - 1]) {
        throw std::invalid_argument("event_index: not increasing within toy " +
                                    std::to_string(t) + " at entry " + std::to_string(j));
      }
      const double n = counts[j];
      if (!(n >= 0.0 && n <= 4294967295.0 && n == std::floor(n))) {
        throw std::invalid_argument("counts: expected whole numbers in [0, 2^32), got " +
                                    std::to_string(n) + " at entry " + std::to_string(j));
      }
    }
  }
}

Entries regroup(const ToyInput& in, const std::int64_t* row_starts,
                const std::int64_t* event_index, const double* counts) {
  const std::size_t n_blocks = (in.n_events + kBlockEvents - 1) / kBlockEvents;
  const std::size_t nnz = static_cast<std::size_t>(row_starts[in.n_toys]);
  // Entries and groups per block (a group: one toy's entries in one block).
  std::vector<std::size_t> entries_in(n_blocks, 0), groups_in(n_blocks, 0);
  for (std::size_t t = 0; t < in.n_toys; ++t) {
    std::size_t last = n_blocks;
    for (std::int64_t j = row_starts[t]; j < row_starts[t + 1]; ++j) {
      const std::size_t b = static_cast<std::size_t>(event_index[j]) / kBlockEvents;
      ++entries_in[b];
      if (b != last) ++groups_in[b];
      last = b;
    }
  }
  Entries out;
  out.block_start.assign(n_blocks + 1, 0);
  std::vector<std::size_t> entry_next(n_blocks, 0), group_next(n_blocks, 0);
  std::size_t n_groups = 0, n_entries = 0;
  for (std::size_t b = 0; b < n_blocks; ++b) {
    out.block_start[b] = n_groups;
    group_next[b] = n_groups;
    entry_next[b] = n_entries;
    n_groups += groups_in[b];
    n_entries += entries_in[b];
  }
  out.block_start[n_blocks] = n_groups;
  out.group_toy.resize(n_groups);
  out.group_start.resize(n_groups + 1);
  out.group_start[n_groups] = nnz;
  out.event.resize(nnz);
  out.count.resize(nnz);
  for (std::size_t t = 0; t < in.n_toys; ++t) {
    std::size_t last = n_blocks;
    for (std::int64_t j = row_starts[t]; j < row_starts[t + 1]; ++j) {
      const std::size_t e = static_cast<std::size_t>(event_index[j]);
      const std::size_t b = e / kBlockEvents;
      if (b != last) {
        const std::size_t g = group_next[b]++;
        out.group_toy[g] = static_cast<std::int64_t>(t);
        out.group_start[g] = entry_next[b];
      }
      last = b;
      const std::size_t i = entry_next[b]++;
      out.event[i] = static_cast<std::uint32_t>(e - b * kBlockEvents);
      out.count[i] = static_cast<std::uint32_t>(counts[j]);
    }
  }
  return out;
}

// Rows of a block of arguments that are not plain everywhere, rewritten so that the toys
// multiply them in like plain ones: each argument a = 2^k m becomes its mantissa m in [1, 2)
// (1 where a is outside the domain), with k and the clamped term log(floor) (or 0) aside.
struct SpecialRows {
  std::vector<std::uint16_t> slot;  // per event of the block: 0 plain, else 1 + its row below
  std::vector<double> exponent;     // rows of kStrip: k
  std::vector<double> floors;       // rows of kStrip: log(floor) where clamped, else 0
  std::size_t used = 0;
};

// Rewrites one row (see SpecialRows) into slot `s`; returns the pairs clamped among the first
// `width` points.
std::int64_t normalise_row(double* row, std::size_t width, double log_floor, SpecialRows& special,
                           std::size_t s) {
  double* exponent = special.exponent.data() + s * kStrip;
  double* floors = special.floors.data() + s * kStrip;
  std::int64_t clamped = 0;
  for (std::size_t p = 0; p < kStrip; ++p) {
    const bool ok = in_log_domain(row[p]);
    int k = 0;
    const double m = ok ? std::frexp(row[p], &k) : 0.5;  // [0.5, 1), subnormals included
    row[p] = 2.0 * m;
    exponent[p] = ok ? static_cast<double>(k - 1) : 0.0;
    floors[p] = ok ? 0.0 : log_floor;
    clamped += (!ok && p < width) ? 1 : 0;
  }
  return clamped;
}

// Marks row `i` of the block plain (slot 0) or rewrites it into the next special slot; returns
// the pairs clamped among its first `width` points.
std::int64_t finish_row(double* row, bool plain, std::size_t width, double log_floor,
                        std::size_t i, SpecialRows& special) {
  std::int64_t clamped = 0;
  std::uint16_t slot = 0;
  if (!plain) {
    clamped = normalise_row(row, width, log_floor, special, special.used);
    slot = static_cast<std::uint16_t>(++special.used);
  }
  special.slot[i] = slot;
  return clamped;
}

// Arguments of events [e_begin, e_end) at the strip's points into A (rows of kStrip), the rows
// that are not plain everywhere rewritten into `special`; returns the pairs clamped at the
// strip's first `width` points.
// In the domain of the log: a = c·φ finite and > 0; with log1p a = 1 + u, exact for u in
// [−2, −½], so again a > 0 exactly when u > −1 (and u = ±inf or NaN gives a non-finite a).
#if defined(__GNUC__) || defined(__clang__)
template <bool LOG1P>
inline std::int64_t strip_arguments(const ToyInput& in, const double* phi, std::size_t width,
                                    std::size_t e_begin, std::size_t e_end, double* A,
                                    SpecialRows& special) {
  const std::size_t K = in.K;
  const std::size_t k_begin = LOG1P ? 1 : 0;
  const Vec4 low = Vec4{} + 0x1p-30, high = Vec4{} + 0x1p30;
  std::int64_t clamped = 0;
  special.used = 0;
  for (std::size_t e = e_begin; e < e_end; ++e) {
    const double* c = in.coefficients + e * K;
    Vec4 z[kVecs];
#pragma GCC unroll 8
    for (std::size_t v = 0; v < kVecs; ++v) z[v] = Vec4{} + (LOG1P ? 1.0 : 0.0);
    for (std::size_t k = k_begin; k < K; ++k) {
      const double ck = c[k];
#pragma GCC unroll 8
      for (std::size_t v = 0; v < kVecs; ++v) {
        Vec4 f;
        std::memcpy(&f, phi + k * kStrip + 4 * v, sizeof f);
        z[v] += ck * f;
      }
    }
    double* row = A + (e - e_begin) * kStrip;
    Int4 is_plain = Int4{} - 1;
#pragma GCC unroll 8
    for (std::size_t v = 0; v < kVecs; ++v) {
      std::memcpy(row + 4 * v, &z[v], sizeof z[v]);
      // In [2^−30, 2^30): plain (NaN compares false).
      is_plain &= (z[v] >= low) & (z[v] < high);
    }
    const bool plain = (is_plain[0] & is_plain[1] & is_plain[2] & is_plain[3]) != 0;
    clamped += finish_row(row, plain, width, in.log_floor, e - e_begin, special);
  }
  return clamped;
}
#else
template <bool LOG1P>
std::int64_t strip_arguments(const ToyInput& in, const double* phi, std::size_t width,
                             std::size_t e_begin, std::size_t e_end, double* A,
                             SpecialRows& special) {
  const std::size_t K = in.K;
  const std::size_t k_begin = LOG1P ? 1 : 0;
  std::int64_t clamped = 0;
  special.used = 0;
  for (std::size_t e = e_begin; e < e_end; ++e) {
    const double* c = in.coefficients + e * K;
    double* row = A + (e - e_begin) * kStrip;
    bool all_plain = true;
    for (std::size_t p = 0; p < kStrip; ++p) {
      double z = 0.0;
      for (std::size_t k = k_begin; k < K; ++k) z += c[k] * phi[k * kStrip + p];
      row[p] = LOG1P ? 1.0 + z : z;
      all_plain = all_plain && row[p] >= 0x1p-30 && row[p] < 0x1p30;
    }
    clamped += finish_row(row, all_plain, width, in.log_floor, e - e_begin, special);
  }
  return clamped;
}
#endif

// acc = 2^k m with m in [1, 2): acc ← m, exponent += k (acc is a positive normal double).
inline void fold_exponent(double* acc, double* exponent) {
  for (std::size_t p = 0; p < kStrip; ++p) {
    const std::uint64_t b = bits_of(acc[p]);
    const auto biased = static_cast<std::int64_t>(b >> 52);
    exponent[p] += gridscan_detail::small_int_to_double(biased) - 1023.0;
    acc[p] = double_of((b & ~kExponentBits) | kOneBits);
  }
}

// Adds count · (exponent, clamped term) of a special row (see SpecialRows) to a toy's.
void add_special(const SpecialRows& special, std::size_t slot, double n, double* exponent,
                 double* floors) {
  const double* k = special.exponent.data() + (slot - 1) * kStrip;
  const double* fl = special.floors.data() + (slot - 1) * kStrip;
  for (std::size_t p = 0; p < kStrip; ++p) {
    exponent[p] += n * k[p];
    floors[p] += n * fl[p];
  }
}

// One toy's entries [j_begin, j_end) of a block: multiply their arguments into the toy's
// product `acc_out` (factors since the last fold in `factors`: at most kMaxFactors between
// folds, so the product stays in the normal range); the exponents and clamped terms of special
// rows go into `exponent` and `floors`. The common entry (a plain row, count 1) is one load and
// multiply per lane; everything else takes the branch.
inline void multiply_group(const std::uint32_t* event, const std::uint32_t* count,
                           std::size_t n_entries, const double* A, const SpecialRows& special,
                           double* acc_out, double* exponent, double* floors, int* factors) {
  const std::uint16_t* slots = special.slot.data();
  int f = *factors;
#if defined(__GNUC__) || defined(__clang__)
  Vec4 acc[kVecs];  // the product in registers
#pragma GCC unroll 8
  for (std::size_t v = 0; v < kVecs; ++v) std::memcpy(&acc[v], acc_out + 4 * v, sizeof acc[v]);
  auto fold = [&]() {
#pragma GCC unroll 8
    for (std::size_t v = 0; v < kVecs; ++v) std::memcpy(acc_out + 4 * v, &acc[v], sizeof acc[v]);
    fold_exponent(acc_out, exponent);
#pragma GCC unroll 8
    for (std::size_t v = 0; v < kVecs; ++v) std::memcpy(&acc[v], acc_out + 4 * v, sizeof acc[v]);
    f = 0;
  };
  auto multiply = [&](const double* a) {
#pragma GCC unroll 8
    for (std::size_t v = 0; v < kVecs; ++v) {
      Vec4 x;
      std::memcpy(&x, a + 4 * v, sizeof x);
      acc[v] *= x;
    }
    ++f;
  };
#else
  auto fold = [&]() {
    fold_exponent(acc_out, exponent);
    f = 0;
  };
  auto multiply = [&](const double* a) {
    for (std::size_t p = 0; p < kStrip; ++p) acc_out[p] *= a[p];
    ++f;
  };
#endif
  for (std::size_t j = 0; j < n_entries; ++j) {
    const std::uint32_t e = event[j];
    const std::uint32_t n = count[j];
    const double* a = A + std::size_t{e} * kStrip;
    const std::uint16_t slot = slots[e];
    if (__builtin_expect((slot | (n - 1)) == 0, 1)) {
      if (f == kMaxFactors) fold();
      multiply(a);
      continue;
    }
    if (slot != 0) add_special(special, slot, static_cast<double>(n), exponent, floors);
    for (std::uint32_t r = 0; r < n; ++r) {
      if (f == kMaxFactors) fold();
      multiply(a);
    }
  }
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC unroll 8
  for (std::size_t v = 0; v < kVecs; ++v) std::memcpy(acc_out + 4 * v, &acc[v], sizeof acc[v]);
#endif
  *factors = f;
}

// S of strips [s_begin, s_end) into out (T×G); returns the pairs clamped. The kernels above
// are inlined here, into each clone.
template <bool LOG1P>
MADSBI_CLONES std::int64_t strips(const ToyInput& in, const Entries& entries,
                                  std::size_t s_begin, std::size_t s_end, double* out) {
  const std::size_t K = in.K, T = in.n_toys, N = in.n_events;
  std::vector<double> phi(K * kStrip);
  std::vector<double> A(kBlockEvents * kStrip);
  SpecialRows special;
  special.slot.assign(kBlockEvents, 0);
  special.exponent.resize(kBlockEvents * kStrip);
  special.floors.resize(kBlockEvents * kStrip);
  std::vector<double> product(T * kStrip), exponent(T * kStrip), floors(T * kStrip);
  std::vector<int> factors(T);
  std::int64_t clamped = 0;
  for (std::size_t s = s_begin; s < s_end; ++s) {
    const std::size_t g0 = s * kStrip;
    const std::size_t width = std::min(kStrip, in.n_points - g0);
    // Padding points repeat the strip's first point: its arguments, never counted.
    for (std::size_t p = 0; p < kStrip; ++p) {
      const double* f = in.features + (g0 + (p < width ? p : 0)) * K;
      for (std::size_t k = 0; k < K; ++k) phi[k * kStrip + p] = f[k];
    }
    std::fill(product.begin(), product.end(), 1.0);
    std::fill(exponent.begin(), exponent.end(), 0.0);
    std::fill(floors.begin(), floors.end(), 0.0);
    std::fill(factors.begin(), factors.end(), 0);
    for (std::size_t b = 0, e0 = 0; e0 < N; ++b, e0 += kBlockEvents) {
      const std::size_t e1 = std::min(N, e0 + kBlockEvents);
      clamped += strip_arguments<LOG1P>(in, phi.data(), width, e0, e1, A.data(), special);
      for (std::size_t g = entries.block_start[b]; g < entries.block_start[b + 1]; ++g) {
        const auto t = static_cast<std::size_t>(entries.group_toy[g]);
        const std::size_t j0 = entries.group_start[g];
        multiply_group(entries.event.data() + j0, entries.count.data() + j0,
                       entries.group_start[g + 1] - j0, A.data(), special, &product[t * kStrip],
                       &exponent[t * kStrip], &floors[t * kStrip], &factors[t]);
      }
    }
    for (std::size_t t = 0; t < T; ++t) {
      double* acc = &product[t * kStrip];
      double* k = &exponent[t * kStrip];
      fold_exponent(acc, k);
      for (std::size_t p = 0; p < width; ++p) {
        // k ln 2 as fdlibm forms it: k · ln2_hi is exact for |k| < 2^21 (ln2_hi has 32
        // significant bits).
        out[t * in.n_points + g0 + p] =
            ((k[p] * kLn2Hi + log_positive(acc[p])) + k[p] * kLn2Lo) + floors[t * kStrip + p];
      }
    }
  }
  return clamped;
}

}  // namespace

std::int64_t toy_log_sums(const double* coefficients, std::size_t n_events, int n_coefficients,
                          const double* features, std::size_t n_points,
                          const std::int64_t* row_starts, std::size_t n_toys,
                          const std::int64_t* event_index, const double* counts, bool log1p,
                          double floor, double* out_sums, int n_threads) {
  detail::check_scan_inputs(coefficients, 1, n_events, n_coefficients, features, n_points,
                            nullptr, log1p, floor, n_threads);
  const ToyInput in{coefficients, n_events, static_cast<std::size_t>(n_coefficients),
                    features,     n_points, n_toys,
                    std::log(floor)};
  check_counts(in, row_starts, event_index, counts);
  const Entries entries = regroup(in, row_starts, event_index, counts);
  const std::size_t n_strips = (n_points + kStrip - 1) / kStrip;
  const int threads = n_threads <= 0 ? default_threads() : n_threads;
  std::vector<std::int64_t> clamped(static_cast<std::size_t>(std::max(1, threads)), 0);
  parallel_for(n_strips, threads, 1, [&](std::size_t begin, std::size_t end, int thread) {
    clamped[static_cast<std::size_t>(thread)] =
        log1p ? strips<true>(in, entries, begin, end, out_sums)
              : strips<false>(in, entries, begin, end, out_sums);
  });
  std::int64_t total = 0;
  for (std::int64_t c : clamped) total += c;
  return total;
}

}  // namespace madsbi
