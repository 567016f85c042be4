// Fractional-smearing bookkeeping (paper Sec. 2.3, docs/design.md): how many copies of each
// parton-level event go through the stochastic simulation, and how survivors regroup.
#pragma once

#include <cstddef>
#include <cstdint>

namespace madsbi {

// Weighted mean and standard deviation of each of T targets (one pass over shifted data;
// block sums in double, totals in long double).
// targets (N×T, row-major), weights (N) or null for unit weights; out_mean, out_std (T).
void target_statistics(const double* targets, std::size_t n_events, std::size_t n_targets,
                       const double* weights, double* out_mean, double* out_std, int n_threads);

// Copy count per event: n_e = max over targets of the smallest n >= 1 with |y|/n <= B, where
// B is the edge of the band [μ − t·s, μ + t·s] on the side of zero where y lies (no split
// when that edge does not reach past zero), capped at max_copies; computed as ceil(|y|·(1/B))
// exactly as the NumPy reference does. out_counts (N).
void copy_counts(const double* targets, std::size_t n_events, std::size_t n_targets,
                 const double* mean, const double* std, double threshold, std::int64_t max_copies,
                 std::int64_t* out_counts, int n_threads);

// Offsets of the copies: copy c of event e sits at row offsets[e] + c. offsets (N+1);
// returns the total number of copies M = offsets[N].
std::int64_t copy_offsets(const std::int64_t* counts, std::size_t n_events,
                          std::int64_t* offsets);

// Fills the copy table (M rows, allocated by the caller): parent event, copy number,
// weight 1/n_e and the counter-based seed f(run_seed, event id, copy id). event_ids (N) are
// the events' global ids (or null for 0..N−1).
void fill_copies(const std::int64_t* counts, const std::int64_t* offsets, std::size_t n_events,
                 const std::int64_t* event_ids, std::uint64_t run_seed, std::int64_t* parent,
                 std::int32_t* copy_index, double* weight, std::uint64_t* seed, int n_threads);

// Stable grouping of M surviving copies by parent: survivors of parent p are
// order[offsets[p] .. offsets[p+1]); weight_sum[p] sums their weights in that order (when
// weights and weight_sum are not null). order (M), offsets (n_parents + 1), weight_sum
// (n_parents) are allocated by the caller.
void regroup_survivors(const std::int64_t* parent, std::size_t n_survivors, std::size_t n_parents,
                       const double* weights, std::int64_t* order, std::int64_t* offsets,
                       double* weight_sum, int n_threads);

}  // namespace madsbi
