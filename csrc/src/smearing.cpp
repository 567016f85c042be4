#include "madsbi/smearing.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "madsbi/parallel.hpp"
#include "madsbi/seeds.hpp"

namespace madsbi {

namespace {

std::string event_target(std::size_t e, std::size_t t) {
  return "event " + std::to_string(e) + ", target " + std::to_string(t);
}

}  // namespace

void target_statistics(const double* targets, std::size_t n_events, std::size_t n_targets,
                       const double* weights, double* out_mean, double* out_std, int n_threads) {
  if (n_events == 0) throw std::invalid_argument("targets: need at least one event, got 0");
  if (n_threads <= 0) n_threads = default_threads();
  const std::size_t parts = static_cast<std::size_t>(n_threads);
  // One pass for Σw and Σw·y, a second for Σw·(y−μ)², each as per-thread partial sums.
  std::vector<long double> sw(parts, 0.0L), swy(parts * n_targets, 0.0L);
  parallel_for(n_events, n_threads, 1 << 16, [&](std::size_t b, std::size_t e, int p) {
    long double* acc = swy.data() + p * n_targets;
    long double s = 0.0L;
    for (std::size_t i = b; i < e; ++i) {
      const double w = weights == nullptr ? 1.0 : weights[i];
      if (!std::isfinite(w)) {
        throw std::invalid_argument("weights: non-finite value at event " + std::to_string(i));
      }
      s += w;
      for (std::size_t t = 0; t < n_targets; ++t) {
        const double y = targets[i * n_targets + t];
        if (!std::isfinite(y)) {
          throw std::invalid_argument("targets: non-finite value at " + event_target(i, t));
        }
        acc[t] += static_cast<long double>(w) * y;
      }
    }
    sw[p] = s;
  });
  long double total_w = 0.0L;
  for (auto v : sw) total_w += v;
  if (!(total_w > 0.0L)) {
    throw std::invalid_argument("weights: the sum of event weights must be positive");
  }
  std::vector<double> mean(n_targets);
  for (std::size_t t = 0; t < n_targets; ++t) {
    long double s = 0.0L;
    for (std::size_t p = 0; p < parts; ++p) s += swy[p * n_targets + t];
    mean[t] = static_cast<double>(s / total_w);
  }
  std::vector<long double> sq(parts * n_targets, 0.0L);
  parallel_for(n_events, n_threads, 1 << 16, [&](std::size_t b, std::size_t e, int p) {
    long double* acc = sq.data() + p * n_targets;
    for (std::size_t i = b; i < e; ++i) {
      const double w = weights == nullptr ? 1.0 : weights[i];
      for (std::size_t t = 0; t < n_targets; ++t) {
        const long double d = static_cast<long double>(targets[i * n_targets + t]) - mean[t];
        acc[t] += w * d * d;
      }
    }
  });
  for (std::size_t t = 0; t < n_targets; ++t) {
    long double s = 0.0L;
    for (std::size_t p = 0; p < parts; ++p) s += sq[p * n_targets + t];
    out_mean[t] = mean[t];
    out_std[t] = static_cast<double>(std::sqrt(std::max(s / total_w, 0.0L)));
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
    upper[t] = mean[t] + threshold * std[t];
    lower[t] = threshold * std[t] - mean[t];
  }
  const double cap = static_cast<double>(max_copies);
  parallel_for(n_events, n_threads, 1 << 15, [&](std::size_t b, std::size_t e, int) {
    for (std::size_t i = b; i < e; ++i) {
      double n = 1.0;
      for (std::size_t t = 0; t < n_targets; ++t) {
        const double y = targets[i * n_targets + t];
        if (!std::isfinite(y)) {
          throw std::invalid_argument("targets: non-finite value at " + event_target(i, t));
        }
        const double edge = y >= 0.0 ? upper[t] : lower[t];
        if (edge > 0.0) n = std::max(n, std::ceil(std::fabs(y) / edge));
      }
      out_counts[i] = static_cast<std::int64_t>(std::min(n, cap));
    }
  });
}

CopyTable expand_copies(const std::int64_t* counts, std::size_t n_events,
                        const std::int64_t* event_ids, std::uint64_t run_seed, int n_threads) {
  CopyTable table;
  table.offsets.resize(n_events + 1);
  std::int64_t total = 0;
  table.offsets[0] = 0;
  for (std::size_t i = 0; i < n_events; ++i) {
    if (counts[i] < 1) {
      throw std::invalid_argument("counts: expected >= 1 copies, got " +
                                  std::to_string(counts[i]) + " at event " + std::to_string(i));
    }
    total += counts[i];
    table.offsets[i + 1] = total;
  }
  const std::size_t m = static_cast<std::size_t>(total);
  table.parent.resize(m);
  table.copy_index.resize(m);
  table.weight.resize(m);
  table.seed.resize(m);
  parallel_for(n_events, n_threads, 1 << 15, [&](std::size_t b, std::size_t e, int) {
    for (std::size_t i = b; i < e; ++i) {
      const std::int64_t n = counts[i];
      const std::uint64_t id =
          event_ids == nullptr ? static_cast<std::uint64_t>(i) : static_cast<std::uint64_t>(event_ids[i]);
      const double w = 1.0 / static_cast<double>(n);
      const std::size_t o = static_cast<std::size_t>(table.offsets[i]);
      for (std::int64_t c = 0; c < n; ++c) {
        table.parent[o + c] = static_cast<std::int64_t>(i);
        table.copy_index[o + c] = static_cast<std::int32_t>(c);
        table.weight[o + c] = w;
        table.seed[o + c] = copy_seed(run_seed, id, static_cast<std::uint64_t>(c));
      }
    }
  });
  return table;
}

SurvivorGroups regroup_survivors(const std::int64_t* parent, std::size_t n_survivors,
                                 std::size_t n_parents, const double* weights) {
  SurvivorGroups groups;
  groups.offsets.assign(n_parents + 1, 0);
  for (std::size_t i = 0; i < n_survivors; ++i) {
    const std::int64_t p = parent[i];
    if (p < 0 || static_cast<std::size_t>(p) >= n_parents) {
      throw std::invalid_argument("parent: index " + std::to_string(p) + " at survivor " +
                                  std::to_string(i) + " is outside [0, " +
                                  std::to_string(n_parents) + ")");
    }
    ++groups.offsets[static_cast<std::size_t>(p) + 1];
  }
  for (std::size_t p = 0; p < n_parents; ++p) groups.offsets[p + 1] += groups.offsets[p];
  groups.order.resize(n_survivors);
  std::vector<std::int64_t> cursor(groups.offsets.begin(), groups.offsets.end() - 1);
  for (std::size_t i = 0; i < n_survivors; ++i) {
    groups.order[static_cast<std::size_t>(cursor[static_cast<std::size_t>(parent[i])]++)] =
        static_cast<std::int64_t>(i);
  }
  if (weights != nullptr) {
    groups.weight_sum.assign(n_parents, 0.0);
    for (std::size_t p = 0; p < n_parents; ++p) {
      double s = 0.0;
      for (std::int64_t k = groups.offsets[p]; k < groups.offsets[p + 1]; ++k) {
        s += weights[groups.order[static_cast<std::size_t>(k)]];
      }
      groups.weight_sum[p] = s;
    }
  }
  return groups;
}

}  // namespace madsbi
