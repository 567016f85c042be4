// Fractional-smearing bookkeeping (paper Sec. 2.3, DESIGN.md): how many copies of each
// parton-level event go through the stochastic simulation, and how survivors regroup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace madsbi {

// Weighted mean and standard deviation of each of T targets, accumulated in long double.
// targets (N×T, row-major), weights (N) or null for unit weights; out_mean, out_std (T).
void target_statistics(const double* targets, std::size_t n_events, std::size_t n_targets,
                       const double* weights, double* out_mean, double* out_std, int n_threads);

// Copy count per event: n_e = max over targets of the smallest n >= 1 with |y|/n <= B, where
// B is the edge of the band [μ − t·s, μ + t·s] on the side of zero where y lies (no split
// when that edge does not reach past zero), capped at max_copies. out_counts (N).
void copy_counts(const double* targets, std::size_t n_events, std::size_t n_targets,
                 const double* mean, const double* std, double threshold, std::int64_t max_copies,
                 std::int64_t* out_counts, int n_threads);

// The copies of all events: copy c of event e sits at offsets[e] + c.
// offsets (N+1), parent (M), copy_index (M), weight = 1/n_e (M), seed (M).
struct CopyTable {
  std::vector<std::int64_t> offsets;
  std::vector<std::int64_t> parent;
  std::vector<std::int32_t> copy_index;
  std::vector<double> weight;
  std::vector<std::uint64_t> seed;
};

// event_ids (N) are the events' global ids (or null for 0..N−1) that enter the seeds.
CopyTable expand_copies(const std::int64_t* counts, std::size_t n_events,
                        const std::int64_t* event_ids, std::uint64_t run_seed, int n_threads);

// Stable grouping of surviving copies by parent: survivors of parent p are
// order[offsets[p] .. offsets[p+1]); weight_sum[p] sums their weights (if weights not null).
struct SurvivorGroups {
  std::vector<std::int64_t> order;
  std::vector<std::int64_t> offsets;
  std::vector<double> weight_sum;
};

SurvivorGroups regroup_survivors(const std::int64_t* parent, std::size_t n_survivors,
                                 std::size_t n_parents, const double* weights);

}  // namespace madsbi
