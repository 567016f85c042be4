"""The gridpack job: unpack a MadGraph gridpack, run ``run.sh <n_events> <seed>``, convert.

The gridpack must reweight its events itself (built with ``reweight=madsbi`` and a
reweight card), so that its ``events.lhe.gz`` carries ``<rwgt>`` weights; the job turns
them into a shard with :func:`madsbi.events.convert.convert_lhe`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
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
    command = [bash, "run.sh", str(spec.n_events), str(spec.seed)]
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    with spec.log.open("a") as log:
        log.write(f"$ {' '.join(command)}  (in {folder})\n")
        log.flush()
        # A list of arguments, no shell: the seed and event count are passed verbatim. A
        # session of its own, so that a timeout stops the programs run.sh started as well.
        process = subprocess.Popen(  # noqa: S603
            command,
            cwd=folder,
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
                f"{label}: run.sh ran past the timeout of {spec.timeout:g} s (log: {spec.log})"
            ) from None
        except BaseException:  # interrupted: leave no generator running behind us
            _kill(process)
            raise
    if status != 0:
        raise JobError(f"{label}: run.sh exited with status {status} (log: {spec.log})")
    lhe = find_lhe(folder)
    if lhe is None:
        raise JobError(
            f"{label}: run.sh finished but left no events.lhe.gz in {folder} (log: {spec.log})"
        )
    return lhe


def gridpack_job(spec: JobSpec) -> None:
    """Produce one shard from a MadGraph gridpack.

    Unpacks ``spec.gridpack`` into ``spec.scratch``, runs ``run.sh <n_events> <seed>``
    there, and converts the resulting LHE file (with its ``<rwgt>`` weights) into the store
    ``spec.output``. The scratch folder is removed after success unless
    ``spec.keep_scratch``; after a failure it stays for inspection.

    Raises
    ------
    JobError
        If the gridpack cannot be run, or its events carry no ``<rwgt>`` weights.
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
        if not reader.header.weight_ids:
            raise JobError(
                f"job {spec.index} (seed {spec.seed}): {lhe} has no <rwgt> weights; build the "
                "gridpack with reweighting on (reweight=madsbi and a reweight card)"
            )
    settings = spec.convert
    convert_lhe(
        lhe,
        spec.output,
        parameters=settings.parameters,
        basis_ids=settings.basis_ids,
        sample_id=spec.sample_id,
        shard_id=spec.shard_id,
        holdout_tolerance=settings.holdout_tolerance,
        keep_rwgt=settings.keep_rwgt,
        compression=settings.h5_compression,
        overwrite=True,
    )
    if not spec.keep_scratch:
        shutil.rmtree(spec.scratch, ignore_errors=True)
