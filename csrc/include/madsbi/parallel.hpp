// Split [0, n) into contiguous ranges and run them on std::threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace madsbi {

// Number of worker threads to use when the caller passes n_threads <= 0.
inline int default_threads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Calls body(begin, end, thread_index) on up to n_threads ranges; ranges smaller than
// min_chunk are not split further. Rethrows the first exception of any worker.
template <typename Body>
void parallel_for(std::size_t n, int n_threads, std::size_t min_chunk, Body&& body) {
  if (n_threads <= 0) n_threads = default_threads();
  const std::size_t max_parts = std::max<std::size_t>(1, n / std::max<std::size_t>(1, min_chunk));
  const std::size_t parts = std::min<std::size_t>(static_cast<std::size_t>(n_threads), max_parts);
  if (parts <= 1) {
    body(std::size_t{0}, n, 0);
    return;
  }
  std::vector<std::thread> workers;
  std::vector<std::exception_ptr> errors(parts);
  workers.reserve(parts);
  for (std::size_t p = 0; p < parts; ++p) {
    const std::size_t begin = n * p / parts;
    const std::size_t end = n * (p + 1) / parts;
    workers.emplace_back([&, begin, end, p]() {
      try {
        body(begin, end, static_cast<int>(p));
      } catch (...) {
        errors[p] = std::current_exception();
      }
    });
  }
  for (auto& w : workers) w.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace madsbi
