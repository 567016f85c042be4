"""The ``reweight=madsbi`` interface: a subclass of MadGraph's ``ReweightInterface``.

MadGraph is imported only when the class is first asked for (:func:`interface_class`), so
``import madsbi.madgraph.interface`` works without MadGraph. The plugin shim in
``<MG5>/PLUGIN/madsbi`` calls :func:`create` with MadGraph's arguments.

What the subclass changes:

- the reweight card (or ``Cards/madsbi_card.dat``) is parsed as a whole by
  :mod:`madsbi.madgraph.settings`, so every bad line is an error that names its number;
- MadGraph's machinery builds and compiles the standalone matrix element once; then one pass
  over the events evaluates it at every point (:mod:`madsbi.madgraph.reweight`);
- the event store ``Events/<run>/madsbi.h5`` is written atomically; the LHE file is only
  replaced (atomically) after the store is complete, and only with ``lhe_weights on``;
- multicore runs: the library is built by the ``create`` job and the ``wait`` jobs wait for a
  marker in the same directory, wherever ``rwgt_dir`` points (MadGraph's own jobs wait in the
  process directory and deadlock with ``change rwgt_dir``); each job writes a shard and the
  ``create`` job merges them.
"""

from __future__ import annotations

import logging
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

from madsbi.cards import ParamCard
from madsbi.errors import BackendError, StoreExistsError
from madsbi.madgraph.settings import COMMANDS, SbiSettings, SettingsBuilder, parse_settings

#: Name of the event store written next to the run's events.
STORE_NAME = "madsbi.h5"
#: Settings file read when the reweight card has no madsbi commands (MadGraph never deletes it).
MADSBI_CARD = "madsbi_card.dat"
#: Marker written once the compiled library is ready (multicore jobs wait for it).
READY_MARKER = "madsbi_ready"
#: Seconds a multicore job waits for the library or the other shards.
WAIT_SECONDS = float(os.environ.get("MADSBI_MG5_WAIT_S", "7200"))

logger = logging.getLogger("madgraph.madsbi")


def _settings_for(card_path: Path, me_dir: Path) -> SbiSettings:
    """Settings from the reweight card, or from ``Cards/madsbi_card.dat`` if it has none."""
    text = card_path.read_text() if card_path.is_file() else ""
    builder = parse_settings(text, source=str(card_path))
    if builder.n_commands == 0:
        alt = me_dir / "Cards" / MADSBI_CARD
        if alt.is_file():
            builder = parse_settings(alt.read_text(), source=str(alt))
            # MadGraph-level options (rwgt_dir) may stay in the reweight card
            if builder.rwgt_dir is None:
                builder.rwgt_dir = parse_settings(text, source=str(card_path)).rwgt_dir
    return builder.finish()


def _wait_for(path: Path, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    pause = 1.0
    while not path.exists():
        if time.monotonic() > deadline:
            raise BackendError(f"waited {WAIT_SECONDS:.0f} s for {what} ({path}); giving up")
        time.sleep(pause)
        pause = min(pause * 1.5, 30.0)


def _split_base(events: Path) -> tuple[Path, int] | None:
    """For a multicore split file ``X_<i>.lhe``: the original ``X`` and ``i``."""
    stem, _, index = events.name.removesuffix(".lhe").rpartition("_")
    if not index.isdigit() or not stem:
        return None
    return events.with_name(stem), int(index)


@cache
def interface_class() -> type:
    """The ``ReweightInterface`` subclass (imports MadGraph on first call).

    Raises
    ------
    BackendError
        If MadGraph's modules cannot be imported (run inside MadGraph, or put its
        directory on ``sys.path``).
    """
    try:
        from madgraph.interface.reweight_interface import (  # type: ignore[import-not-found]
            ReweightInterface,
        )
    except ImportError as exc:
        raise BackendError(
            f"reweight=madsbi runs inside MadGraph5_aMC@NLO; its modules cannot be imported "
            f"here ({exc})"
        ) from exc

    class MadSBIReweightInterface(ReweightInterface):  # type: ignore[misc]
        """MadGraph reweighting that writes the madsbi event store in one pass."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._madsbi = SettingsBuilder(source="reweight card")
            self._madsbi_done = False
            self.helicity_reweighting = False
            # MadGraph's do_quit pickles these even when the run failed early
            self.id_to_path: dict[Any, Any] = getattr(self, "id_to_path", {})
            self.id_to_path_second: dict[Any, Any] = getattr(self, "id_to_path_second", {})

        # -- card commands (also usable interactively) -----------------------------------
        def _madsbi_line(self, command: str, line: str) -> None:
            self._madsbi.apply(f"{command} {line}")

        def do_parameter(self, line: str) -> None:
            """Define a parameter: parameter NAME BLOCK ID [LOW HIGH]: a component of θ."""
            self._madsbi_line("parameter", line)

        def do_theta0(self, line: str) -> None:
            """Set theta0 v1 ... vn: the reference point (default: the param-card values)."""
            self._madsbi_line("theta0", line)

        def do_basis(self, line: str) -> None:
            """Choose the basis: basis auto|explicit: how the K basis points are chosen."""
            self._madsbi_line("basis", line)

        def do_basis_point(self, line: str) -> None:
            """Add basis_point NAME v1 ... vn: an explicit basis point."""
            self._madsbi_line("basis_point", line)

        def do_point(self, line: str) -> None:
            """Add point NAME v1 ... vn: an extra point (weight and held-out check)."""
            self._madsbi_line("point", line)

        def do_lhe_weights(self, line: str) -> None:
            """Set lhe_weights on|off: also write <rwgt> weights into the LHE file."""
            self._madsbi_line("lhe_weights", line)

        def do_sample_id(self, line: str) -> None:
            """Set sample_id NAME: recorded in the store."""
            self._madsbi_line("sample_id", line)

        def do_change(self, line: str) -> None:
            """Apply change helicity|rwgt_dir|multicore VALUE."""
            self._madsbi_line("change", line)

        def do_set(self, line: str) -> None:
            """Refused: points are given with 'point'."""
            self._madsbi_line("set", line)

        def do_launch(self, line: str) -> None:
            """Run the reweighting with the settings given so far."""
            self._madsbi_line("launch", line)
            self._madsbi_run(self._madsbi.finish())

        # -- MadGraph entry point --------------------------------------------------------
        def import_command_file(self, filepath: Any) -> None:
            """Read the whole card (line numbers in errors), then reweight once."""
            if not isinstance(filepath, str | os.PathLike):
                for raw in filepath:
                    self._madsbi.apply(str(raw).rstrip("\n"))
                self._madsbi_run(self._madsbi.finish())
                return
            settings = _settings_for(Path(filepath), Path(self.me_dir))
            self._madsbi_run(settings)

        def _library_dir(self, settings: SbiSettings) -> Path:
            if settings.rwgt_dir is None:
                return Path(self.me_dir)
            path = Path(settings.rwgt_dir)
            return path if path.is_absolute() else Path(self.me_dir) / path

        def _build_library(self, lib_dir: Path, explicit_dir: bool) -> None:
            rw_me = lib_dir / "rw_me"
            lib_dir.mkdir(parents=True, exist_ok=True)
            if explicit_dir or self.multicore:
                self.rwgt_dir = str(lib_dir)
            if self.multicore == "wait":
                _wait_for(rw_me / READY_MARKER, "the compiled matrix element")
            if (rw_me / READY_MARKER).exists() and (rw_me / "rwgt.pkl").exists():
                self.rwgt_dir = str(lib_dir)
                self.load_from_pickle()
                self.load_module()
            else:
                self.create_standalone_directory()
                self.compile()
                self.load_module()
                if self.rwgt_dir:
                    self.save_to_pickle()
                    (rw_me / READY_MARKER).write_text("ready\n")
            self.has_standalone_dir = True

        def _madsbi_run(self, settings: SbiSettings) -> None:
            from madsbi.madgraph.matrix_element import CompiledMatrixElement
            from madsbi.madgraph.plan import make_plan
            from madsbi.madgraph.reweight import run_reweighting

            if self._madsbi_done:
                return
            self._madsbi_done = True
            events = Path(self.lhe_input.name)
            split = _split_base(events) if self.multicore else None
            final_store = events.parent / STORE_NAME
            if final_store.exists():
                raise StoreExistsError(
                    f"{final_store} exists: this run was already reweighted by madsbi; move "
                    "the store away first (nothing was changed)"
                )
            store = final_store
            if split is not None:
                store = events.parent / ".madsbi_shards" / f"part{split[1]:04d}.h5"
            card = ParamCard.parse(self.banner["slha"])
            plan = make_plan(settings, card)
            lib_dir = self._library_dir(settings)
            self._build_library(lib_dir, settings.rwgt_dir is not None)
            rw_me = lib_dir / "rw_me"
            (rw_me / "Cards" / "param_card.dat").write_text(self.banner["slha"])
            module = self.f2pylib[("rw_me", 2)]
            me = CompiledMatrixElement(module, self.id_to_path, card, "../Cards/param_card.dat")
            cards = {"reweight_card": settings.text}
            madsbi_card = Path(self.me_dir) / "Cards" / MADSBI_CARD
            if madsbi_card.is_file():
                cards["madsbi_card"] = madsbi_card.read_text()
            logger.info("madsbi: reweighting %s at %d points", events, len(plan.point_ids))
            report = run_reweighting(
                events,
                store,
                plan,
                me,
                cards=cards,
                sample_id=settings.sample_id,
                lhe_weights=settings.lhe_weights,
            )
            for check in report.holdouts:
                logger.info(
                    "madsbi: held-out point %s: max relative deviation %.3g",
                    check["weight_id"],
                    check["max_rel_to_largest"],
                )
            if split is not None and split[1] == 0:
                self._merge_shards(split[0], final_store)
            logger.info(
                "madsbi: wrote %s (%d events, %d points, %.3g s matrix element)",
                final_store if split is None else store,
                report.n_events,
                report.n_matrix_element_points,
                report.seconds_matrix_element,
            )

        def _merge_shards(self, base: Path, final_store: Path) -> None:
            from madsbi.events.merge import merge_stores

            n_parts = len(list(base.parent.glob(f"{base.name}_*.lhe")))
            shard_dir = base.parent / ".madsbi_shards"
            parts = [shard_dir / f"part{i:04d}.h5" for i in range(n_parts)]
            for part in parts:
                _wait_for(part, "the store of another multicore job")
            merge_stores(final_store, parts)
            for part in parts:
                part.unlink()
            shard_dir.rmdir()

    return MadSBIReweightInterface


def create(*args: Any, **kwargs: Any) -> Any:
    """Instantiate the interface with MadGraph's arguments (what the shim calls)."""
    return interface_class()(*args, **kwargs)


__all__ = ["COMMANDS", "MADSBI_CARD", "STORE_NAME", "create", "interface_class"]
