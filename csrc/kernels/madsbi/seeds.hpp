// Counter-based seeds: a pure function of (run seed, event id, copy id), so every copy of an
// event draws the same random stream whichever machine or shard simulates it.
#pragma once

#include <cstdint>

#include "madsbi/hd.hpp"

namespace madsbi {

// SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijective 64-bit mixer.
MADSBI_HD std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

MADSBI_HD std::uint64_t copy_seed(std::uint64_t run_seed, std::uint64_t event_id,
                                  std::uint64_t copy_id) {
  return splitmix64(splitmix64(splitmix64(run_seed) ^ event_id) ^ copy_id);
}

}  // namespace madsbi
