#include <cstdint>
#include <optional>

#include "arrays.hpp"
#include "madsbi/seeds.hpp"
#include "madsbi/smearing.hpp"

namespace py = pybind11;
using madsbi::bindings::carray;
using madsbi::bindings::require_shape;
using madsbi::bindings::to_numpy;

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
        madsbi::CopyTable table;
        {
          py::gil_scoped_release release;
          table = madsbi::expand_copies(counts.data(), static_cast<std::size_t>(N),
                                        event_ids ? event_ids->data() : nullptr, run_seed,
                                        n_threads);
        }
        const py::ssize_t M = static_cast<py::ssize_t>(table.parent.size());
        py::dict out;
        out["offsets"] = to_numpy(std::move(table.offsets), {N + 1});
        out["parent"] = to_numpy(std::move(table.parent), {M});
        out["copy_index"] = to_numpy(std::move(table.copy_index), {M});
        out["weight"] = to_numpy(std::move(table.weight), {M});
        out["seed"] = to_numpy(std::move(table.seed), {M});
        return out;
      },
      py::arg("counts"), py::arg("event_ids"), py::arg("run_seed"), py::arg("n_threads") = 0);

  m.def(
      "regroup_survivors",
      [](const carray<std::int64_t>& parent, std::int64_t n_parents,
         std::optional<carray<double>> weights) {
        require_shape(parent, "parent", {-1});
        const py::ssize_t M = parent.shape(0);
        if (weights) require_shape(*weights, "weights", {M});
        if (n_parents < 0) throw std::invalid_argument("n_parents: expected >= 0");
        madsbi::SurvivorGroups groups;
        {
          py::gil_scoped_release release;
          groups = madsbi::regroup_survivors(parent.data(), static_cast<std::size_t>(M),
                                             static_cast<std::size_t>(n_parents),
                                             weights ? weights->data() : nullptr);
        }
        py::object weight_sum = py::none();
        if (weights) weight_sum = to_numpy(std::move(groups.weight_sum), {n_parents});
        return py::make_tuple(to_numpy(std::move(groups.order), {M}),
                              to_numpy(std::move(groups.offsets), {n_parents + 1}), weight_sum);
      },
      py::arg("parent"), py::arg("n_parents"), py::arg("weights"));
}
