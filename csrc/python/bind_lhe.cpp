#include <pybind11/stl.h>

#include "arrays.hpp"
#include "madsbi/lhe_reader.hpp"

namespace py = pybind11;
using madsbi::bindings::to_numpy;

namespace {

py::dict chunk_to_dict(madsbi::LheEventChunk&& c) {
  const py::ssize_t N = static_cast<py::ssize_t>(c.n_events);
  const py::ssize_t P = static_cast<py::ssize_t>(c.max_particles);
  const py::ssize_t W = static_cast<py::ssize_t>(c.n_weights);
  if (c.rwgt.empty()) c.rwgt.assign(static_cast<std::size_t>(N * W), 0.0);
  py::dict d;
  d["n_particles"] = to_numpy(std::move(c.n_particles), {N});
  d["process_id"] = to_numpy(std::move(c.process_id), {N});
  d["weight"] = to_numpy(std::move(c.weight), {N});
  d["scale"] = to_numpy(std::move(c.scale), {N});
  d["aqed"] = to_numpy(std::move(c.aqed), {N});
  d["aqcd"] = to_numpy(std::move(c.aqcd), {N});
  d["pdg_id"] = to_numpy(std::move(c.pdg), {N, P});
  d["status"] = to_numpy(std::move(c.status), {N, P});
  d["mother1"] = to_numpy(std::move(c.mother1), {N, P});
  d["mother2"] = to_numpy(std::move(c.mother2), {N, P});
  d["color1"] = to_numpy(std::move(c.color1), {N, P});
  d["color2"] = to_numpy(std::move(c.color2), {N, P});
  d["momentum"] = to_numpy(std::move(c.momentum), {N, P, 4});
  d["mass"] = to_numpy(std::move(c.mass), {N, P});
  d["lifetime"] = to_numpy(std::move(c.lifetime), {N, P});
  d["spin"] = to_numpy(std::move(c.spin), {N, P});
  d["rwgt"] = to_numpy(std::move(c.rwgt), {N, W});
  return d;
}

}  // namespace

void bind_lhe(py::module_& m) {
  py::register_exception<madsbi::LheError>(m, "LheError", PyExc_ValueError);
  py::class_<madsbi::LheReader>(m, "LheReader")
      .def(py::init<const std::string&, std::size_t>(), py::arg("path"),
           py::arg("block_bytes") = std::size_t{4} << 20,
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("header",
                             [](const madsbi::LheReader& r) { return py::bytes(r.header()); })
      .def("set_weight_ids", &madsbi::LheReader::set_weight_ids, py::arg("ids"))
      .def(
          "read",
          [](madsbi::LheReader& r, std::size_t max_events) {
            madsbi::LheEventChunk chunk;
            {
              py::gil_scoped_release release;
              chunk = r.read(max_events);
            }
            return chunk_to_dict(std::move(chunk));
          },
          py::arg("max_events"))
      .def_property_readonly("finished", &madsbi::LheReader::finished)
      .def_property_readonly("events_read", &madsbi::LheReader::events_read)
      .def_property_readonly("bytes_consumed", &madsbi::LheReader::bytes_consumed);
}
