"""Two writers racing to one new path, SIGTERM during a write, and stale temporaries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from madsbi.errors import StoreExistsError
from madsbi.events.store import EventStore
from madsbi.events.tempfiles import publish, remove_stale_temporaries, temporary_path
from madsbi.events.writer import StoreWriter

from helpers.stores import make_meta, random_parton

TESTS = Path(__file__).parents[1]

#: A writer in its own process: opens the store, writes 10 events, says "ready" and waits for
#: "go" before publishing (or, with go = "never", waits to be killed).
_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from helpers.stores import make_meta, random_parton
    from madsbi.errors import StoreExistsError
    from madsbi.events.writer import StoreWriter

    target, ready, go, seed = Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5]
    writer = StoreWriter(target, make_meta())
    writer.append("parton", random_parton(np.random.default_rng(int(seed)), 10),
                  names={"rwgt": ["w0", "w1"]})
    ready.touch()
    for _ in range(20000):  # at most ~200 s; the parent normally answers within a second
        if go.exists():
            break
        time.sleep(0.01)
    try:
        writer.close()
    except StoreExistsError as exc:
        print("LOST", exc)
        sys.exit(3)
    print("WON", seed)
    """
)


def _start(target: Path, tag: str, go: Path, seed: int) -> tuple[subprocess.Popen[str], Path]:
    ready = target.parent.parent / f"ready-{tag}"
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(TESTS), str(target), str(ready), str(go), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=target.parent.parent,
    )
    return process, ready


def _wait_ready(process: subprocess.Popen[str], ready: Path) -> None:
    for _ in range(30000):  # polls, not a time limit: at most ~5 min on a loaded machine
        if ready.exists():
            return
        if process.poll() is not None:
            raise AssertionError(f"child exited early: {process.communicate()}")
        time.sleep(0.01)
    process.kill()
    raise AssertionError("child never got ready")


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_two_processes_racing_to_one_path(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target, go = out / "s.h5", tmp_path / "go"
    children = [_start(target, tag, go, seed) for tag, seed in (("a", 11), ("b", 22))]
    for process, ready in children:
        _wait_ready(process, ready)  # both writers are open and passed the existence check
    assert not target.exists()
    go.touch()
    results = [process.communicate(timeout=120) for process, _ in children]
    codes = sorted(process.returncode for process, _ in children)
    assert codes == [0, 3], results
    won = next(out for out, _ in results if out.startswith("WON"))
    lost = next(out for out, _ in results if out.startswith("LOST"))
    assert str(target) in lost
    assert "appeared while this run was writing it" in lost
    # the file on disk is the winner's, untouched by the loser
    seed = int(won.split()[1])
    expected = random_parton(np.random.default_rng(seed), 10)["weight"]
    with EventStore(target) as store:
        np.testing.assert_array_equal(store.read()["weight"], expected)
    assert sorted(p.name for p in out.iterdir()) == ["s.h5"]


def test_publish_refuses_an_existing_target_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "t.h5"
    target.write_bytes(b"first")
    tmp = temporary_path(target)
    tmp.write_bytes(b"second")
    with pytest.raises(StoreExistsError, match="appeared while") as info:
        publish(tmp, target, overwrite=False)
    assert isinstance(info.value, FileExistsError)
    assert target.read_bytes() == b"first"
    assert not tmp.exists()
    tmp.write_bytes(b"second")
    publish(tmp, target, overwrite=True)
    assert target.read_bytes() == b"second"
    assert not tmp.exists()


def test_overwrite_replaces_a_store_written_meanwhile(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    target = tmp_path / "s.h5"
    names = {"rwgt": ["w0", "w1"]}
    late = StoreWriter(target, make_meta(), overwrite=True)
    late.append("parton", random_parton(rng, 4), names=names)
    with StoreWriter(target, make_meta()) as first:
        first.append("parton", random_parton(rng, 3), names=names)
    late.close()
    with EventStore(target) as store:
        assert store.n_events() == 4
    assert _hidden(tmp_path) == []


def test_sigterm_during_a_write_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    target = out / "s.h5"
    process, ready = _start(target, "a", tmp_path / "never", 5)
    _wait_ready(process, ready)
    assert len(_hidden(out)) == 1  # the open temporary
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM
    assert "received SIGTERM" in err
    assert str(target) in err
    assert "Traceback" not in err
    assert list(out.iterdir()) == []


def _dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(done.stdout)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    return pid


def test_stale_temporaries_of_dead_processes_are_removed(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    dead, live = _dead_pid(), os.getppid()
    own = temporary_path(tmp_path / "x.h5").name  # this host, this (live) process
    host = own.split(".tmp-")[1].rsplit("-", 2)[0]
    stale = [
        f".a.h5.tmp-{host}-{dead}-0123abcd",  # this host, dead
        f".b.h5.tmp-{dead}-89abcdef",  # older name without host
        f".madsbi.h5.tmp-{dead}",  # first plugin versions
        f".events.lhe.gz.tmp-{host}-{dead}-00ff00ff",
    ]
    kept = [
        f".c.h5.tmp-{host}-{live}-0123abcd",  # live process
        f".d.h5.tmp-{live}-0123abcd",
        f".e.h5.tmp-{host}x-{dead}-0123abcd",  # another host: its PID means nothing here
        f".f.h5.tmp-{dead}-notahex1",  # not a madsbi name
        "notes.txt",
        f".plan.json.tmp-{dead}",  # digits that need not be a PID (not a store)
        f"g.h5.tmp-{dead}-0123abcd",  # not hidden
    ]
    for name in stale + kept:
        (tmp_path / name).write_text("x")
    with StoreWriter(tmp_path / "s.h5", make_meta()) as writer:
        writer.append("parton", random_parton(rng, 3), names={"rwgt": ["w0", "w1"]})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "s.h5"])
    assert remove_stale_temporaries(tmp_path) == []
    assert remove_stale_temporaries(tmp_path / "missing") == []


def test_two_store_convert_commands_to_one_new_path(tmp_path: Path, data_dir: Path) -> None:
    """The issue's case: exactly one of two concurrent conversions writes; the other refuses."""
    out = tmp_path / "out"
    out.mkdir()
    target = out / "s.h5"
    command = [sys.executable, "-c", "from madsbi.cli.main import main; main()"]
    args = ["store", "convert", str(data_dir / "wz_parton_1k.lhe.gz"), str(target), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = [
        # cwd outside the checkout: `python -c` puts the cwd first on sys.path, and the
        # source tree's madsbi/ has no compiled core when the package is installed non-editable
        subprocess.Popen(
            [*command, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in processes]
    codes = sorted(p.returncode for p in processes)
    assert codes == [0, 1], results
    outputs = [o + e for o, e in results]
    assert sum(text.startswith(f"wrote {target}") for text in outputs) == 1
    loser = next(text for text in outputs if not text.startswith("wrote"))
    assert "StoreExistsError" in loser
    assert str(target) in loser
    assert sorted(p.name for p in out.iterdir()) == ["s.h5"]
    with EventStore(target) as store:
        assert store.n_events() == 1000
