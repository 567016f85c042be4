#include <cstdint>
#include <optional>

#include "arrays.hpp"
#include "madsbi/seeds.hpp"
#include "madsbi/smearing.hpp"

namespace py = pybind11;
using madsbi::bindings::carray;
using madsbi::bindings::require_shape;

void bind_smearing(py::module_& m) {
  m.def(
      "target_statistics",
      [](const carray<double>& targets, std::optional<carray<double>> weights, int n_threads) {
        require_shape(targets, "targets", {-1, -1});
        const py::ssize_t N = targets.shape(0), T = targets.shape(1);
        if (weights) require_shape(*weights, "weights", {N});
        carray<double> mean({T}), std({T});
        {
          py::gil_scoped_release release;
          madsbi::target_statistics(targets.data(), static_cast<std::size_t>(N),
                                    static_cast<std::size_t>(T),
                                    weights ? weights->data() : nullptr, mean.mutable_data(),
                                    std.mutable_data(), n_threads);
        }
        return py::make_tuple(mean, std);
      },
      py::arg("targets"), py::arg("weights"), py::arg("n_threads") = 0);

  m.def(
      "copy_counts",
      [](const carray<double>& targets, const carray<double>& mean, const carray<double>& std,
         double threshold, std::int64_t max_copies, int n_threads) {
        require_shape(targets, "targets", {-1, -1});
        const py::ssize_t N = targets.shape(0), T = targets.shape(1);
        require_shape(mean, "mean", {T});
        require_shape(std, "std", {T});
        carray<std::int64_t> counts({N});
        {
          py::gil_scoped_release release;
          madsbi::copy_counts(targets.data(), static_cast<std::size_t>(N),
                              static_cast<std::size_t>(T), mean.data(), std.data(), threshold,
                              max_copies, counts.mutable_data(), n_threads);
        }
        return counts;
      },
      py::arg("targets"), py::arg("mean"), py::arg("std"), py::arg("threshold"),
      py::arg("max_copies"), py::arg("n_threads") = 0);

  m.def("copy_seed", &madsbi::copy_seed, py::arg("run_seed"), py::arg("event_id"),
        py::arg("copy_id"));

  m.def(
      "expand_copies",
      [](const carray<std::int64_t>& counts, std::optional<carray<std::int64_t>> event_ids,
         std::uint64_t run_seed, int n_threads) {
        require_shape(counts, "counts", {-1});
        const py::ssize_t N = counts.shape(0);
        if (event_ids) require_shape(*event_ids, "event_ids", {N});
        carray<std::int64_t> offsets({N + 1});
        std::int64_t M = 0;
        {
          py::gil_scoped_release release;
          M = madsbi::copy_offsets(counts.data(), static_cast<std::size_t>(N),
                                   offsets.mutable_data());
        }
        // Outputs come uninitialised from NumPy: the fill writes every element once.
        carray<std::int64_t> parent({M});
        carray<std::int32_t> copy_index({M});
        carray<double> weight({M});
        carray<std::uint64_t> seed({M});
        {
          py::gil_scoped_release release;
          madsbi::fill_copies(counts.data(), offsets.data(), static_cast<std::size_t>(N),
                              event_ids ? event_ids->data() : nullptr, run_seed,
                              parent.mutable_data(), copy_index.mutable_data(),
                              weight.mutable_data(), seed.mutable_data(), n_threads);
        }
        py::dict out;
        out["offsets"] = offsets;
        out["parent"] = parent;
        out["copy_index"] = copy_index;
        out["weight"] = weight;
        out["seed"] = seed;
        return out;
      },
      py::arg("counts"), py::arg("event_ids"), py::arg("run_seed"), py::arg("n_threads") = 0);

  m.def(
      "regroup_survivors",
      [](const carray<std::int64_t>& parent, std::int64_t n_parents,
         std::optional<carray<double>> weights, int n_threads) {
        require_shape(parent, "parent", {-1});
        const py::ssize_t M = parent.shape(0);
        if (weights) require_shape(*weights, "weights", {M});
        if (n_parents < 0) throw std::invalid_argument("n_parents: expected >= 0");
        carray<std::int64_t> order({M});
        carray<std::int64_t> offsets({static_cast<py::ssize_t>(n_parents) + 1});
        std::optional<carray<double>> weight_sum;
        if (weights) weight_sum.emplace(std::vector<py::ssize_t>{n_parents});
        {
          py::gil_scoped_release release;
          madsbi::regroup_survivors(parent.data(), static_cast<std::size_t>(M),
                                    static_cast<std::size_t>(n_parents),
                                    weights ? weights->data() : nullptr, order.mutable_data(),
                                    offsets.mutable_data(),
                                    weight_sum ? weight_sum->mutable_data() : nullptr, n_threads);
        }
        return py::make_tuple(order, offsets, weight_sum ? py::object(*weight_sum) : py::none());
      },
      py::arg("parent"), py::arg("n_parents"), py::arg("weights"), py::arg("n_threads") = 0);
}
