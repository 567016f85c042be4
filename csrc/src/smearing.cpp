#include "madsbi/smearing.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "madsbi/parallel.hpp"
#include "madsbi/seeds.hpp"

namespace madsbi {

namespace {

// Throws std::invalid_argument naming the first non-finite weight or target of events
// [begin, end), if there is one (called once a cheap check has found something wrong).
void throw_first_non_finite(const double* targets, std::size_t n_targets, const double* weights,
                            std::size_t begin, std::size_t end) {
  for (std::size_t i = begin; i < end; ++i) {
    if (weights != nullptr && !std::isfinite(weights[i])) {
      throw std::invalid_argument("weights: non-finite value at event " + std::to_string(i));
    }
    for (std::size_t t = 0; t < n_targets; ++t) {
      if (!std::isfinite(targets[i * n_targets + t])) {
        throw std::invalid_argument("targets: non-finite value at event " + std::to_string(i) +
                                    ", target " + std::to_string(t));
      }
    }
  }
}

// Sums are accumulated in double over short blocks and the block sums in long double: the
// inner loop vectorises and the error stays at the level of a float64 pairwise sum.
constexpr std::size_t kBlock = 1024;

// Copy counts for a fixed (T > 0) or run-time (T = 0) number of targets. Branch-free: a
// non-finite target only raises a flag, and the offending event is located afterwards.
template <std::size_t T>
void count_copies(const double* targets, std::size_t n_events, std::size_t n_targets,
                  const double* inverse_upper, const double* inverse_lower, double cap,
                  std::int64_t* out_counts, int n_threads) {
  const std::size_t nt = T > 0 ? T : n_targets;
  parallel_for(n_events, n_threads, 1 << 15, [&](std::size_t b, std::size_t e, int) {
    const double* y = targets;
    std::int64_t* out = out_counts;
    bool finite = true;
    for (std::size_t i = b; i < e; ++i) {
      double n = 1.0;
      for (std::size_t t = 0; t < nt; ++t) {
        const double v = y[i * nt + t];
        finite &= std::isfinite(v);
        // |y|·(1/B) rather than |y|/B: a multiply instead of a divide per target; the
        // NumPy reference uses the same expression, so both round alike.
        const double inverse_edge = v >= 0.0 ? inverse_upper[t] : inverse_lower[t];
        const double q = std::fabs(v) * inverse_edge;
        n = (inverse_edge > 0.0 && q > n) ? q : n;
      }
      // ceil(min(n, cap)) = min(ceil(n), cap) for an integer cap; done by hand because
      // std::ceil is a library call without SSE4.1.
      const double c = std::min(n, cap);
      std::int64_t k = static_cast<std::int64_t>(c);
      k += static_cast<double>(k) < c;
      out[i] = k;
    }
    if (!finite) throw_first_non_finite(y, nt, nullptr, b, e);
  });
}

}  // namespace

void target_statistics(const double* targets, std::size_t n_events, std::size_t n_targets,
                       const double* weights, double* out_mean, double* out_std, int n_threads) {
  if (n_events == 0) throw std::invalid_argument("targets: need at least one event, got 0");
  if (n_threads <= 0) n_threads = default_threads();
  const std::size_t parts = static_cast<std::size_t>(n_threads);
  const std::size_t T = n_targets;
  // One pass over data shifted by the mean K of the first block (the "shifted data"
  // algorithm): Σw, Σw(y−K), Σw(y−K)². With K within a fraction of a standard deviation of
  // the mean, var = S2/W − (S1/W)² suffers no cancellation.
  std::vector<double> shift(T, 0.0);
  {
    const std::size_t m = std::min(n_events, kBlock);
    for (std::size_t t = 0; t < T; ++t) {
      double s = 0.0;
      std::size_t used = 0;
      for (std::size_t i = 0; i < m; ++i) {
        const double v = targets[i * T + t];
        if (std::isfinite(v)) {
          s += v;
          ++used;
        }
      }
      shift[t] = used ? s / static_cast<double>(used) : 0.0;
    }
  }
  std::vector<long double> sw(parts, 0.0L), s1(parts * T, 0.0L), s2(parts * T, 0.0L);
  parallel_for(n_events, n_threads, 1 << 16, [&](std::size_t b, std::size_t e, int p) {
    std::vector<double> block1(T), block2(T);
    const double* k = shift.data();
    long double total_w = 0.0L;
    for (std::size_t start = b; start < e; start += kBlock) {
      const std::size_t stop = std::min(e, start + kBlock);
      double block_w = 0.0;
      std::fill(block1.begin(), block1.end(), 0.0);
      std::fill(block2.begin(), block2.end(), 0.0);
      for (std::size_t i = start; i < stop; ++i) {
        const double w = weights == nullptr ? 1.0 : weights[i];
        block_w += w;
        for (std::size_t t = 0; t < T; ++t) {
          const double d = targets[i * T + t] - k[t];
          block1[t] += w * d;
          block2[t] += w * d * d;
        }
      }
      bool finite = std::isfinite(block_w);
      for (std::size_t t = 0; t < T; ++t) finite = finite && std::isfinite(block2[t]);
      if (!finite) {
        throw_first_non_finite(targets, T, weights, start, stop);
        throw std::invalid_argument("targets: values too large to square in double precision");
      }
      total_w += block_w;
      for (std::size_t t = 0; t < T; ++t) {
        s1[p * T + t] += block1[t];
        s2[p * T + t] += block2[t];
      }
    }
    sw[p] = total_w;
  });
  long double total_w = 0.0L;
  for (auto v : sw) total_w += v;
  if (!(total_w > 0.0L)) {
    throw std::invalid_argument("weights: the sum of event weights must be positive");
  }
  for (std::size_t t = 0; t < T; ++t) {
    long double a = 0.0L, q = 0.0L;
    for (std::size_t p = 0; p < parts; ++p) {
      a += s1[p * T + t];
      q += s2[p * T + t];
    }
    const long double mean_shifted = a / total_w;
    out_mean[t] = static_cast<double>(shift[t] + mean_shifted);
    out_std[t] = static_cast<double>(
        std::sqrt(std::max(q / total_w - mean_shifted * mean_shifted, 0.0L)));
  }
}

void copy_counts(const double* targets, std::size_t n_events, std::size_t n_targets,
                 const double* mean, const double* std, double threshold, std::int64_t max_copies,
                 std::int64_t* out_counts, int n_threads) {
  if (!(threshold > 0.0) || !std::isfinite(threshold)) {
    throw std::invalid_argument("threshold: expected a finite value > 0, got " +
                                std::to_string(threshold));
  }
  if (max_copies < 1) {
    throw std::invalid_argument("max_copies: expected >= 1, got " + std::to_string(max_copies));
  }
  // Band edges on either side of zero; an edge that does not reach past zero cannot be met by
  // splitting (|y|/n only shrinks towards 0), so such targets never ask for copies.
  std::vector<double> upper(n_targets), lower(n_targets);
  for (std::size_t t = 0; t < n_targets; ++t) {
    if (!std::isfinite(mean[t]) || !std::isfinite(std[t]) || std[t] < 0.0) {
      throw std::invalid_argument("target statistics: need finite mean and std >= 0 for target " +
                                  std::to_string(t));
    }
    // 1/B for the band edge on each side of zero; 0 where the edge does not reach past zero.
    const double up = mean[t] + threshold * std[t];
    const double lo = threshold * std[t] - mean[t];
    upper[t] = up > 0.0 ? 1.0 / up : 0.0;
    lower[t] = lo > 0.0 ? 1.0 / lo : 0.0;
  }
  const double cap = static_cast<double>(max_copies);
  switch (n_targets) {  // a compile-time target count lets the compiler unroll the inner loop
    case 1:
      count_copies<1>(targets, n_events, 1, upper.data(), lower.data(), cap, out_counts, n_threads);
      break;
    case 2:
      count_copies<2>(targets, n_events, 2, upper.data(), lower.data(), cap, out_counts, n_threads);
      break;
    case 3:
      count_copies<3>(targets, n_events, 3, upper.data(), lower.data(), cap, out_counts, n_threads);
      break;
    default:
      count_copies<0>(targets, n_events, n_targets, upper.data(), lower.data(), cap, out_counts,
                      n_threads);
  }
}

std::int64_t copy_offsets(const std::int64_t* counts, std::size_t n_events,
                          std::int64_t* offsets) {
  std::int64_t total = 0;
  offsets[0] = 0;
  for (std::size_t i = 0; i < n_events; ++i) {
    if (counts[i] < 1) {
      throw std::invalid_argument("counts: expected >= 1 copies, got " +
                                  std::to_string(counts[i]) + " at event " + std::to_string(i));
    }
    total += counts[i];
    offsets[i + 1] = total;
  }
  return total;
}

void fill_copies(const std::int64_t* counts, const std::int64_t* offsets, std::size_t n_events,
                 const std::int64_t* event_ids, std::uint64_t run_seed, std::int64_t* parent,
                 std::int32_t* copy_index, double* weight, std::uint64_t* seed, int n_threads) {
  const std::uint64_t run_hash = splitmix64(run_seed);
  parallel_for(n_events, n_threads, 1 << 15, [&](std::size_t b, std::size_t e, int) {
    const std::int64_t* cnt = counts;
    const std::int64_t* off = offsets;
    std::int64_t* par = parent;
    std::int32_t* idx = copy_index;
    double* w = weight;
    std::uint64_t* sd = seed;
    for (std::size_t i = b; i < e; ++i) {
      const std::int64_t n = cnt[i];
      const std::uint64_t id = event_ids == nullptr ? static_cast<std::uint64_t>(i)
                                                    : static_cast<std::uint64_t>(event_ids[i]);
      const std::uint64_t event_hash = splitmix64(run_hash ^ id);
      const std::size_t o = static_cast<std::size_t>(off[i]);
      if (n == 1) {  // the common case: no split
        par[o] = static_cast<std::int64_t>(i);
        idx[o] = 0;
        w[o] = 1.0;
        sd[o] = splitmix64(event_hash);
        continue;
      }
      const double wn = 1.0 / static_cast<double>(n);
      for (std::int64_t c = 0; c < n; ++c) {
        par[o + c] = static_cast<std::int64_t>(i);
        idx[o + c] = static_cast<std::int32_t>(c);
        w[o + c] = wn;
        sd[o + c] = splitmix64(event_hash ^ static_cast<std::uint64_t>(c));
      }
    }
  });
}

namespace {

// Counting sort for survivors in arbitrary order.
void group_unsorted(const std::int64_t* parent, std::size_t n_survivors, std::size_t n_parents,
                    std::int64_t* order, std::int64_t* offsets) {
  std::fill(offsets, offsets + n_parents + 1, std::int64_t{0});
  for (std::size_t i = 0; i < n_survivors; ++i) ++offsets[parent[i] + 1];
  for (std::size_t p = 0; p < n_parents; ++p) offsets[p + 1] += offsets[p];
  std::vector<std::int64_t> cursor(offsets, offsets + n_parents);
  for (std::size_t i = 0; i < n_survivors; ++i) {
    order[cursor[static_cast<std::size_t>(parent[i])]++] = static_cast<std::int64_t>(i);
  }
}

}  // namespace

void regroup_survivors(const std::int64_t* parent, std::size_t n_survivors, std::size_t n_parents,
                       const double* weights, std::int64_t* order, std::int64_t* offsets,
                       double* weight_sum, int n_threads) {
  // Survivors of a copy table that was only filtered are still in parent order. Assume so and
  // group in one parallel pass: order = identity, offsets[p] = first survivor with parent >= p
  // and the weight sums, each group handled by the thread in whose range it starts (reading
  // past the range end to finish it). An out-of-order parent switches to a counting sort.
  const bool with_weights = weights != nullptr && weight_sum != nullptr;
  const std::int64_t limit = static_cast<std::int64_t>(n_parents);
  const auto outside = [&](std::int64_t p, std::size_t i) {
    return "parent: index " + std::to_string(p) + " at survivor " + std::to_string(i) +
           " is outside [0, " + std::to_string(n_parents) + ")";
  };
  const std::size_t slots = static_cast<std::size_t>(n_threads <= 0 ? default_threads() : n_threads);
  std::vector<char> in_order(slots, 1);
  std::vector<std::string> bad(slots);
  parallel_for(n_survivors, n_threads, 1 << 16, [&](std::size_t b, std::size_t e, int t) {
    const std::int64_t* par = parent;
    const double* w = weights;
    std::int64_t* ord = order;
    std::int64_t* off = offsets;
    double* ws = weight_sum;
    std::size_t i = b;
    // A group continuing from the previous range belongs to that range's thread (whose own
    // check validated its parent); the first range starts with no group open.
    std::int64_t previous = -1;
    if (b > 0) {
      previous = par[b - 1];
      for (; i < e && par[i] == previous; ++i) ord[i] = static_cast<std::int64_t>(i);
    }
    bool open = false;
    double acc = 0.0;
    for (; i < e; ++i) {
      const std::int64_t p = par[i];
      if (p != previous || i == 0) {
        if (p < 0 || p >= limit) {
          bad[t] = outside(p, i);
          return;
        }
        if (p < previous) {
          in_order[t] = 0;
          return;
        }
        if (open && with_weights) ws[previous] = acc;
        for (std::int64_t q = previous + 1; q <= p; ++q) {
          off[q] = static_cast<std::int64_t>(i);
          if (with_weights && q < p) ws[q] = 0.0;
        }
        open = true;
        acc = 0.0;
        previous = p;
      }
      ord[i] = static_cast<std::int64_t>(i);
      if (with_weights) acc += w[i];
    }
    if (open && with_weights) {
      for (std::size_t j = e; j < n_survivors && par[j] == previous; ++j) acc += w[j];
      ws[previous] = acc;
    }
  });
  for (const auto& message : bad) {
    if (!message.empty()) throw std::invalid_argument(message);
  }
  const bool sorted = std::all_of(in_order.begin(), in_order.end(), [](char c) { return c != 0; });
  if (sorted) {
    const std::int64_t last = n_survivors == 0 ? -1 : parent[n_survivors - 1];
    for (std::int64_t q = last + 1; q <= limit; ++q) {
      offsets[q] = static_cast<std::int64_t>(n_survivors);
      if (with_weights && q < limit) weight_sum[q] = 0.0;
    }
    return;
  }
  for (std::size_t i = 0; i < n_survivors; ++i) {
    if (parent[i] < 0 || parent[i] >= limit) throw std::invalid_argument(outside(parent[i], i));
  }
  group_unsorted(parent, n_survivors, n_parents, order, offsets);
  if (with_weights) {
    parallel_for(n_parents, n_threads, 1 << 16, [&](std::size_t b, std::size_t e, int) {
      for (std::size_t p = b; p < e; ++p) {
        double acc = 0.0;
        for (std::int64_t k = offsets[p]; k < offsets[p + 1]; ++k) acc += weights[order[k]];
        weight_sum[p] = acc;
      }
    });
  }
}

}  // namespace madsbi
