// madsbi._core: wiring only; each domain binds in its own bind_<domain>.cpp.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_morphing(py::module_& m);
void bind_smearing(py::module_& m);
void bind_lhe(py::module_& m);
void bind_gridscan(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "madsbi compiled core (private; use the madsbi Python API)";
  bind_morphing(m);
  bind_smearing(m);
  bind_lhe(m);
  bind_gridscan(m);
}
