"""Issue 29: Ctrl-C in every command, ``simulate reco IN IN`` (#4), unwritable outputs (#9).

Checked against a8482b3, where every test here fails: click turned a KeyboardInterrupt into
"Aborted!" and exit status 1, ``simulate reco IN IN --overwrite`` went on to simulate into
its own input, and ``store convert`` below a file ended in a raw ``FileExistsError``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import click
import pytest
from click.testing import CliRunner, Result

from madsbi.cli.main import cli
from madsbi.simulate.toy import generate_toy_store

WZ_LHE = Path(__file__).parents[1] / "data" / "wz_parton_1k.lhe.gz"


def run(*args: str | Path, **env: str) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, env=env)


def _leaf_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[Any]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _leaf_commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


LEAVES = list(_leaf_commands(cli))


def _interrupt(*args: Any, **kwargs: Any) -> NoReturn:
    raise KeyboardInterrupt


@pytest.mark.parametrize(("words", "command"), LEAVES, ids=[" ".join(w) for w, _ in LEAVES])
def test_every_command_exits_130_on_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, words: tuple[str, ...], command: click.Command
) -> None:
    """Ctrl-C anywhere in a command: one line on stderr, exit status 130, no traceback."""
    monkeypatch.setattr(command, "callback", _interrupt)
    for param in command.params:
        monkeypatch.setattr(param, "required", False)
    monkeypatch.delenv("MADSBI_DEBUG", raising=False)
    result = run(*words)
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.stderr
    assert "Aborted" not in result.output
    assert "Traceback" not in result.output


def test_ctrl_c_traceback_with_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    command = dict(LEAVES)[("store", "inspect")]
    monkeypatch.setattr(command, "callback", _interrupt)
    result = CliRunner().invoke(cli, ["--debug", "store", "inspect", "x.h5"])
    assert result.exit_code == 130
    assert "Traceback" in result.stderr
    assert "KeyboardInterrupt" in result.stderr


def test_madsbi_error_traceback_only_with_debug(tmp_path: Path) -> None:
    missing = tmp_path / "missing.h5"
    plain = run("store", "inspect", missing)
    assert plain.exit_code == 1
    assert "Traceback" not in plain.output
    assert "MissingFileError" in plain.stderr
    assert "MissingFileError" in run("store", "inspect", missing, MADSBI_DEBUG="0").stderr
    with pytest.raises(Exception, match="not found"):
        run("--debug", "store", "inspect", missing)
    with pytest.raises(Exception, match="not found"):
        run("store", "inspect", missing, MADSBI_DEBUG="1")


_SLOW_INSPECT = (
    "import sys, time; from pathlib import Path\n"
    "import madsbi.cli.store as s\n"
    "def slow(*a, **k):\n"
    "    Path(sys.argv[-1] + '.started').touch(); time.sleep(300)\n"
    "s.describe_store = slow\n"
    "from madsbi.cli.main import main; main()\n"
)


@pytest.mark.parametrize("debug", [False, True])
def test_real_sigint_exits_130(tmp_path: Path, debug: bool) -> None:
    """A real SIGINT to a command that does not handle it itself (here: store inspect)."""
    target = tmp_path / "x.h5"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MADSBI_DEBUG": "1" if debug else ""}
    process = subprocess.Popen(
        [sys.executable, "-c", _SLOW_INSPECT, "store", "inspect", str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=env,
        # SIGINT as in a terminal: a shell that runs the suite in the background without job
        # control ignores it, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    started = Path(f"{target}.started")
    for _ in range(60000):  # polls, not a time limit
        if started.exists() or process.poll() is not None:
            break
        time.sleep(0.01)
    assert started.exists(), process.communicate()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "interrupted (SIGINT" in err
    assert ("Traceback" in err) is debug, err
    assert "Aborted" not in err


# -- #4: simulate reco IN IN --------------------------------------------------------------
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("alias", ["same", "symlink", "hardlink"])
def test_simulate_reco_refuses_its_input_as_output(tmp_path: Path, alias: str) -> None:
    store = tmp_path / "in.h5"
    generate_toy_store(store, alpha=1.0, theta=0.0, n_events=100, seed=1)
    before = _digest(store)
    out = store
    if alias == "symlink":
        out = tmp_path / "link.h5"
        out.symlink_to(store)
    elif alias == "hardlink":
        out = tmp_path / "hard.h5"
        os.link(store, out)
    for extra in ([], ["--overwrite"], ["--jobs", "2", "--overwrite"]):
        result = run("simulate", "reco", store, out, *extra)
        assert result.exit_code == 1, result.output
        assert "InputError" in result.stderr
        assert "is the input" in result.stderr
        assert _digest(store) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {"in.h5", out.name} if alias != "same" else {"in.h5"}
    )


# -- #9: output paths of store convert (and the other single-file writers) ----------------
def test_store_convert_below_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    for output in (blocker / "out.h5", blocker / "sub" / "out.h5"):
        result = run("store", "convert", WZ_LHE, output, "--quiet")
        assert result.exit_code == 1, result.output
        assert "OutputError" in result.stderr
        assert str(output) in result.stderr
        assert "is a file, not a directory" in result.stderr
    assert blocker.read_text() == "not a directory"


def test_store_convert_into_a_dangling_link(tmp_path: Path) -> None:
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    result = run("store", "convert", WZ_LHE, tmp_path / "gone" / "out.h5", "--quiet")
    assert result.exit_code == 1, result.output
    assert "OutputError" in result.stderr
    assert "dangling" in result.stderr


def test_store_convert_output_is_a_directory(tmp_path: Path) -> None:
    """A directory as OUTPUT is refused by click's path check already, by name."""
    result = CliRunner().invoke(cli, ["store", "convert", str(WZ_LHE), str(tmp_path)])
    assert result.exit_code == 2
    assert "OUTPUT" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any directory")
def test_store_convert_into_an_unwritable_directory(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = run("store", "convert", WZ_LHE, folder / "out.h5", "--quiet")
    finally:
        folder.chmod(0o700)
    assert result.exit_code == 1, result.output
    assert "OutputError" in result.stderr
    assert "no permission" in result.stderr


def test_unwritable_directory_checked_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root a mode-0500 directory is writable, so ``os.access`` says no here instead."""
    folder = tmp_path / "ro"
    folder.mkdir()
    real = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        if Path(path) == folder and mode & os.W_OK:
            return False
        return real(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    commands = [
        ("store", "convert", WZ_LHE, folder / "out.h5", "--quiet"),
        ("toy", "generate", "--alpha", "1", "--theta", "0", "-n", "10", folder / "t.h5"),
        ("store", "merge", folder / "m.h5", tmp_path / "x.h5"),
        ("store", "recentre", tmp_path / "x.h5", folder / "r.h5", "--theta0", "0"),
    ]
    generate_toy_store(tmp_path / "x.h5", alpha=1.0, theta=0.0, n_events=10, seed=1)
    for words in commands:
        result = run(*words)
        assert result.exit_code == 1, (words, result.output)
        assert "OutputError" in result.stderr, words
        assert "no permission" in result.stderr, words
    assert list(folder.iterdir()) == []
