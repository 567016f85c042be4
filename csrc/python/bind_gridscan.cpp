#include <cstdint>
#include <optional>

#include "arrays.hpp"
#include "madsbi/gridscan.hpp"
#include "madsbi/toysums.hpp"

namespace py = pybind11;
using madsbi::bindings::carray;
using madsbi::bindings::require_shape;

namespace {

carray<double> log_elementwise(const carray<double>& x, bool log1p) {
  require_shape(x, "x", {-1});
  carray<double> out({x.shape(0)});
  {
    py::gil_scoped_release release;
    madsbi::log_kernel_batch(x.data(), static_cast<std::size_t>(x.shape(0)), log1p,
                             out.mutable_data());
  }
  return out;
}

}  // namespace

void bind_gridscan(py::module_& m) {
  m.def(
      "log_ratio_sums",
      [](const carray<double>& coefficients, const carray<double>& features,
         std::optional<carray<double>> weights, bool log1p, double floor, int n_threads) {
        require_shape(coefficients, "coefficients", {-1, -1, -1});
        const py::ssize_t M = coefficients.shape(0), N = coefficients.shape(1),
                          K = coefficients.shape(2);
        require_shape(features, "features", {-1, K});
        const py::ssize_t G = features.shape(0);
        if (weights) require_shape(*weights, "weights", {N});
        carray<double> sums({M, G});
        carray<std::int64_t> n_clamped({M, G});
        {
          py::gil_scoped_release release;
          madsbi::log_ratio_sums(coefficients.data(), static_cast<std::size_t>(M),
                                 static_cast<std::size_t>(N), static_cast<int>(K),
                                 features.data(), static_cast<std::size_t>(G),
                                 weights ? weights->data() : nullptr, log1p, floor,
                                 sums.mutable_data(), n_clamped.mutable_data(), n_threads);
        }
        return py::make_tuple(sums, n_clamped);
      },
      py::arg("coefficients"), py::arg("features"), py::arg("weights"), py::arg("log1p"),
      py::arg("floor"), py::arg("n_threads") = 0,
      "S[m, g] = sum_e w_e log(c_me . phi_g) and the count of clamped pairs: (M, N, K), "
      "(G, K), (N,) or None -> (M, G) float64, (M, G) int64.");

  m.def(
      "toy_log_sums",
      [](const carray<double>& coefficients, const carray<double>& features,
         const carray<std::int64_t>& row_starts, const carray<std::int64_t>& event_index,
         const carray<double>& counts, bool log1p, double floor, int n_threads) {
        require_shape(coefficients, "coefficients", {-1, -1});
        const py::ssize_t N = coefficients.shape(0), K = coefficients.shape(1);
        require_shape(features, "features", {-1, K});
        const py::ssize_t G = features.shape(0);
        require_shape(row_starts, "row_starts", {-1});
        if (row_starts.shape(0) < 1) {
          throw std::invalid_argument("row_starts: expected at least one entry (T + 1)");
        }
        const py::ssize_t T = row_starts.shape(0) - 1;
        require_shape(event_index, "event_index", {-1});
        const py::ssize_t nnz = event_index.shape(0);
        require_shape(counts, "counts", {nnz});
        if (row_starts.at(T) != nnz) {
          throw std::invalid_argument("row_starts: expected row_starts[T] == " +
                                      std::to_string(nnz) + " (the entries), got " +
                                      std::to_string(row_starts.at(T)));
        }
        carray<double> sums({T, G});
        std::int64_t clamped = 0;
        {
          py::gil_scoped_release release;
          clamped = madsbi::toy_log_sums(
              coefficients.data(), static_cast<std::size_t>(N), static_cast<int>(K),
              features.data(), static_cast<std::size_t>(G), row_starts.data(),
              static_cast<std::size_t>(T), event_index.data(), counts.data(), log1p, floor,
              sums.mutable_data(), n_threads);
        }
        return py::make_tuple(sums, clamped);
      },
      py::arg("coefficients"), py::arg("features"), py::arg("row_starts"),
      py::arg("event_index"), py::arg("counts"), py::arg("log1p"), py::arg("floor"),
      py::arg("n_threads") = 0,
      "S[t, g] = sum_e n_te log(c_e . phi_g) for toys whose counts are compressed sparse rows "
      "(row_starts (T + 1,), event_index (nnz,), counts (nnz,)): (N, K), (G, K) -> "
      "(T, G) float64 and the number of clamped (event, grid point) pairs.");

  // For the tests only: the scan's vectorised log / log1p, element-wise, without clamping.
  m.def(
      "_log_kernel", [](const carray<double>& x) { return log_elementwise(x, false); },
      py::arg("x"));
  m.def(
      "_log1p_kernel", [](const carray<double>& x) { return log_elementwise(x, true); },
      py::arg("x"));
}
