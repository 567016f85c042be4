"""``run_jobs`` on fake futures: every state as_completed can hand back is reported by name.

A future whose result was lost with its worker (status "lost", recomputed by the scheduler)
has no exception: it must be waited for, not reported as a failure "NoneType: None" (seen once
on a loaded machine in tests/production/test_produce.py).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from madsbi.production import runner
from madsbi.production.jobs import JobError


class FakeFuture:
    def __init__(self, key: str, status: str, outcome: Any) -> None:
        self.key, self.status, self._outcome = key, status, outcome

    def result(self) -> Any:
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return self._outcome

    def exception(self) -> BaseException | None:
        if self.status == "error":
            assert isinstance(self._outcome, BaseException)
            return self._outcome
        return None  # what Dask gives for a future that is not (yet) in error

    def release(self) -> None:
        pass


class FakeClient:
    def __init__(self, states: dict[int, tuple[str, Any]]) -> None:
        self.states = states

    def submit(self, _fn: Any, spec: Any, _job: Any, *, key: str, **_: Any) -> FakeFuture:
        status, outcome = self.states[spec.index]
        return FakeFuture(key, status, outcome)


def test_lost_futures_are_waited_for_and_errors_named(monkeypatch: Any) -> None:
    specs = [SimpleNamespace(index=i, seed=100 + i, log=f"job{i}.log") for i in range(4)]
    states = {
        0: ("finished", SimpleNamespace(index=0)),
        1: ("lost", SimpleNamespace(index=1)),  # recomputed after its worker died: no exception
        2: ("error", JobError("job 2 (seed 102) failed: MadGraph exited with 1")),
        3: ("lost", RuntimeError("KilledWorker: worker died three times")),
    }
    fake = SimpleNamespace(as_completed=lambda futures: iter(futures))
    monkeypatch.setattr(runner, "import_distributed", lambda: fake)
    results, failures = runner.run_jobs(specs, lambda *_: None, FakeClient(states), progress=False)
    assert [r.index for r in results] == [0, 1]
    assert [(f.index, f.seed) for f in failures] == [(2, 102), (3, 103)]
    assert failures[0].error == "MadGraph exited with 1"
    assert "RuntimeError: KilledWorker: worker died three times" in failures[1].error
    assert all("NoneType" not in f.error for f in failures)
