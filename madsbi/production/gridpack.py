"""The gridpack job: unpack a MadGraph gridpack, run ``run.sh <n_events> <seed>``, convert.

The job turns the ``<rwgt>`` weights of the events into a shard with
:func:`madsbi.events.convert.convert_lhe`. MadGraph's gridpack ``run.sh`` never reweights
(``GridPackCmd.launch`` runs no ``reweight``, and a gridpack launch skips it as well), so when
the events come back without weights and the gridpack holds ``madevent/Cards/reweight_card.dat``
(built with ``reweight=madsbi``), the job reweights them itself with the gridpack's
``madevent``: ``reweight GridRun_<seed> --plugin=madsbi -from_cards``. The madsbi settings
need ``lhe_weights on``; MadGraph must be reachable (the gridpack's ``mg5_path``) and the
Python running the job must import madsbi.

A θ-independent production (``[production] reweighting = false``, e.g. Z+jets for a SM
background) skips both: its events carry no weights and are converted with
``reweighting = False`` (``store convert --no-reweighting``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

from madsbi.errors import MissingFileError
from madsbi.production.jobs import JobError, JobSpec

#: Where MadGraph gridpacks leave their events, first match wins.
LHE_CANDIDATES = ("events.lhe.gz", "events.lhe", "Events/*/events.lhe.gz", "Events/*/*.lhe.gz")


def unpack_gridpack(gridpack: Path, target: Path) -> Path:
    """Unpack a gridpack tarball (or copy an unpacked one) into ``target``.

    Returns the folder that holds ``run.sh``.

    Raises
    ------
    MissingFileError
        If the gridpack does not exist.
    JobError
        If it is not a tar archive or holds no ``run.sh``.
    """
    if not gridpack.exists():
        raise MissingFileError(f"gridpack: {gridpack} does not exist")
    if target.exists():
        # Left over from a job that died: start again from a clean copy.
        shutil.rmtree(target)
    if gridpack.is_dir():
        shutil.copytree(gridpack, target, symlinks=True)
    else:
        target.mkdir(parents=True)
        try:
            with tarfile.open(gridpack) as archive:
                # The "data" filter refuses absolute paths, links out of the folder and devices.
                archive.extractall(target, filter="data")
        except tarfile.TarError as exc:
            raise JobError(f"gridpack {gridpack}: not a readable tar archive ({exc})") from None
    scripts = sorted(target.glob("run.sh")) or sorted(target.glob("*/run.sh"))
    if not scripts:
        raise JobError(f"gridpack {gridpack}: no run.sh at its top level")
    return scripts[0].parent


def find_lhe(folder: Path) -> Path | None:
    """The LHE file a gridpack run left in ``folder`` (see :data:`LHE_CANDIDATES`)."""
    for pattern in LHE_CANDIDATES:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    return None


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Stop ``process`` and everything it started (its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _run_logged(spec: JobSpec, command: list[str], cwd: Path, what: str) -> None:
    """Run ``command`` in ``cwd``, its output appended to ``spec.log``.

    Raises
    ------
    JobError
        If it exits with a non-zero status or runs past ``spec.timeout``; the message names
        the job, the seed and the log.
    """
    label = f"job {spec.index} (seed {spec.seed})"
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    with spec.log.open("a") as log:
        log.write(f"$ {' '.join(command)}  (in {cwd})\n")
        log.flush()
        # A list of arguments, no shell: the seed and event count are passed verbatim. A
        # session of its own, so that a timeout stops the programs it started as well.
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            status = process.wait(timeout=spec.timeout or None)
        except subprocess.TimeoutExpired:
            _kill(process)
            raise JobError(
                f"{label}: {what} ran past the timeout of {spec.timeout:g} s (log: {spec.log})"
            ) from None
        except BaseException:  # interrupted: leave no generator running behind us
            _kill(process)
            raise
    if status != 0:
        raise JobError(f"{label}: {what} exited with status {status} (log: {spec.log})")


def run_gridpack(spec: JobSpec, folder: Path) -> Path:
    """Run ``run.sh <n_events> <seed>`` in ``folder``, its output appended to ``spec.log``.

    Returns the LHE file it produced.

    Raises
    ------
    JobError
        If ``run.sh`` exits with a non-zero status, runs past ``spec.timeout`` or leaves no
        LHE file; the message names the job, the seed and the log.
    """
    label = f"job {spec.index} (seed {spec.seed})"
    bash = shutil.which("bash")
    if bash is None:
        raise JobError(f"{label}: bash not found on PATH; gridpacks need it to run run.sh")
    _run_logged(spec, [bash, "run.sh", str(spec.n_events), str(spec.seed)], folder, "run.sh")
    lhe = find_lhe(folder)
    if lhe is None:
        raise JobError(
            f"{label}: run.sh finished but left no events.lhe.gz in {folder} (log: {spec.log})"
        )
    return lhe


def reweight_in_gridpack(spec: JobSpec, folder: Path, lhe: Path) -> Path | None:
    """Reweight ``lhe`` with the gridpack's ``madevent`` and ``reweight=madsbi``.

    For gridpacks built with a reweight card (MadGraph's ``run.sh`` does not reweight).
    Returns the reweighted LHE file, or None if the gridpack has no reweight card.

    Raises
    ------
    JobError
        If ``madevent`` fails or leaves no events.
    """
    me_dir = folder / "madevent"
    madevent = me_dir / "bin" / "madevent"
    if not ((me_dir / "Cards" / "reweight_card.dat").is_file() and madevent.is_file()):
        return None
    run_name = f"GridRun_{spec.seed}"  # where run.sh took the events from
    run_dir = me_dir / "Events" / run_name
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.move(lhe, run_dir / "unweighted_events.lhe.gz")
    script = folder / "madsbi_reweight.me"
    script.write_text(f"reweight {run_name} --plugin=madsbi -from_cards\n")
    command = [sys.executable, str(madevent), str(script)]
    _run_logged(spec, command, me_dir, "madevent reweight (reweight=madsbi)")
    found = sorted(run_dir.glob("unweighted_events.lhe*"))
    if not found:
        raise JobError(
            f"job {spec.index} (seed {spec.seed}): madevent reweight left no events in "
            f"{run_dir} (log: {spec.log})"
        )
    return found[0]


def gridpack_job(spec: JobSpec) -> None:
    """Produce one shard from a MadGraph gridpack.

    Unpacks ``spec.gridpack`` into ``spec.scratch``, runs ``run.sh <n_events> <seed>``
    there, and converts the resulting LHE file (with its ``<rwgt>`` weights) into the store
    ``spec.output``. The scratch folder is removed after success unless
    ``spec.keep_scratch``; after a failure it stays for inspection.

    Raises
    ------
    JobError
        If the gridpack cannot be run, or its events carry no ``<rwgt>`` weights (unless
        ``spec.convert.reweighting`` is False: a θ-independent store).
    MissingFileError
        If the gridpack does not exist.
    LheFormatError, WeightError, InputError
        From the conversion (see :func:`madsbi.events.convert.convert_lhe`).
    """
    from madsbi.events.convert import convert_lhe
    from madsbi.events.lhe import LheFile

    if spec.gridpack is None:
        raise JobError(f"job {spec.index}: no gridpack given ([production] gridpack)")
    folder = unpack_gridpack(spec.gridpack, spec.scratch)
    lhe = run_gridpack(spec, folder)
    with LheFile(lhe) as reader:
        weighted = bool(reader.header.weight_ids)
    if not spec.convert.reweighting:
        weighted = True  # θ-independent: no weights needed (module docstring)
    elif not weighted:
        lhe = reweight_in_gridpack(spec, folder, lhe) or lhe
        with LheFile(lhe) as reader:
            weighted = bool(reader.header.weight_ids)
    if not weighted:
        raise JobError(
            f"job {spec.index} (seed {spec.seed}): {lhe} has no <rwgt> weights; build the "
            "gridpack with reweighting on (reweight=madsbi, a reweight card and "
            "'lhe_weights on' in the madsbi settings), or, for a process that does not "
            "depend on the parameters, produce a θ-independent store: [production] "
            "reweighting = false"
        )
    convert_lhe(
        lhe,
        spec.output,
        spec.convert,
        sample_id=spec.sample_id,
        shard_id=spec.shard_id,
        overwrite=True,
    )
    if not spec.keep_scratch:
        shutil.rmtree(spec.scratch, ignore_errors=True)
