"""Les Houches Event files: header parsing (Python) and chunked event reading (C++ core).

The compiled reader inflates gzip in a background thread and parses events with
``std::from_chars``; this module turns the header into typed objects and the chunks into
arrays named as in :mod:`madsbi.events.schema`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from madsbi._backend import core
from madsbi.errors import LheFormatError, MissingFileError

#: A param-card change: (block in lower case, integer key, new value).
ParamChange = tuple[str, tuple[int, ...], float]

_CDATA = re.compile(r"^\s*<!\[CDATA\[(.*)\]\]>\s*$", re.DOTALL)
_WEIGHTGROUP = re.compile(r"<weightgroup\b([^>]*)>(.*?)</weightgroup>", re.DOTALL)
_WEIGHT = re.compile(r"<weight\b[^>]*?\bid\s*=\s*(['\"])(.*?)\1[^>]*>(.*?)</weight>", re.DOTALL)
_NAME_ATTR = re.compile(r"\bname\s*=\s*(['\"])(.*?)\1")


@dataclass(frozen=True)
class WeightDefinition:
    """One ``<weight>`` of ``<initrwgt>``.

    Attributes
    ----------
    id : str
        The weight id used in every event's ``<rwgt>`` block.
    group : str
        Name of the enclosing ``<weightgroup>`` ("" if none).
    text : str
        The definition as written (MadGraph lists the param-card changes).
    changes : tuple of ParamChange, or None
        The param-card changes relative to the file's own card; ``None`` when the definition
        is not a pure param-card point (scale or PDF variations, other commands).
    """

    id: str
    group: str
    text: str
    changes: tuple[ParamChange, ...] | None


def _parse_changes(text: str) -> tuple[ParamChange, ...] | None:
    changes: list[ParamChange] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split()
        if tokens[0].lower() != "set":
            return None
        tokens = tokens[1:]
        if tokens and tokens[0].lower() == "param_card":
            tokens = tokens[1:]
        if len(tokens) < 3:
            return None
        try:
            key = tuple(int(t) for t in tokens[1:-1])
            value = float(tokens[-1].replace("d", "e").replace("D", "e"))
        except ValueError:
            return None
        changes.append((tokens[0].lower(), key, value))
    return tuple(changes)


def _section(text: str, tag: str) -> str:
    match = re.search(rf"<{tag}\b[^>]*>(.*?)</{tag}>", text, re.DOTALL)
    if not match:
        return ""
    body = match.group(1)
    cdata = _CDATA.match(body)
    return (cdata.group(1) if cdata else body).strip("\n")


@dataclass(frozen=True)
class LheHeader:
    """What madsbi reads from an LHE header (everything before the first event)."""

    text: str
    mg5_version: str
    proc_card: str
    run_card: str
    param_card: str
    weights: tuple[WeightDefinition, ...]
    n_events_declared: int | None
    init_cross_section: float | None

    @classmethod
    def parse(cls, text: str) -> LheHeader:
        """Parse the header and ``<init>`` text of an LHE file."""
        weights: list[WeightDefinition] = []
        initrwgt = _section(text, "initrwgt")
        grouped_spans: list[tuple[int, int]] = []
        for group in _WEIGHTGROUP.finditer(initrwgt):
            name_match = _NAME_ATTR.search(group.group(1))
            name = name_match.group(2) if name_match else ""
            grouped_spans.append(group.span())
            for w in _WEIGHT.finditer(group.group(2)):
                weights.append(
                    WeightDefinition(w.group(2), name, w.group(3), _parse_changes(w.group(3)))
                )
        for w in _WEIGHT.finditer(initrwgt):
            if not any(a <= w.start() < b for a, b in grouped_spans):
                weights.append(
                    WeightDefinition(w.group(2), "", w.group(3), _parse_changes(w.group(3)))
                )
        info = _section(text, "MGGenerationInfo")
        n_match = re.search(r"Number of Events\s*:\s*(\d+)", info)
        return cls(
            text=text,
            # gridpack runs write "#3.5.7"
            mg5_version=_section(text, "MGVersion").strip().lstrip("#").strip(),
            proc_card=_section(text, "MG5ProcCard"),
            run_card=_section(text, "MGRunCard"),
            param_card=_section(text, "slha"),
            weights=tuple(weights),
            n_events_declared=int(n_match.group(1)) if n_match else None,
            init_cross_section=_init_cross_section(text),
        )

    @property
    def weight_ids(self) -> list[str]:
        """All ``<rwgt>`` weight ids in header order."""
        return [w.id for w in self.weights]


def _init_cross_section(text: str) -> float | None:
    body = _section(text, "init")
    lines = [
        ln.split() for ln in body.splitlines() if ln.strip() and not ln.lstrip().startswith("<")
    ]
    if len(lines) < 2:
        return None
    try:
        return float(sum(float(ln[0]) for ln in lines[1:]))
    except (ValueError, IndexError):
        return None


@dataclass(frozen=True)
class LheChunk:
    """Events ``start .. start + n_events`` of an LHE file, as arrays.

    ``arrays`` holds ``weight``, ``process_id``, ``scale``, ``aqed``, ``aqcd``,
    ``n_particles``, the per-particle ``pdg_id``, ``status``, ``mothers``, ``colors``,
    ``momentum`` (E, px, py, pz), ``mass``, ``lifetime``, ``helicity``, and ``rwgt``
    (n_events, n_weight_ids) in the order of :attr:`LheHeader.weight_ids`.
    """

    start: int
    arrays: dict[str, np.ndarray[Any, Any]] = field(repr=False)
    bytes_consumed: int = 0

    @property
    def n_events(self) -> int:
        """Number of events in the chunk."""
        return int(self.arrays["weight"].shape[0])


class LheFile:
    """A streaming LHE reader; use as a context manager.

    Parameters
    ----------
    path : str or Path
        ``.lhe`` or ``.lhe.gz`` file.
    block_bytes : int
        Size of the decompressed blocks the background thread reads ahead.

    Raises
    ------
    MissingFileError
        If ``path`` does not exist.
    LheFormatError
        If the file is not LHE, is truncated or gzip-corrupt, holds a number that is not one
        whole decimal token, has anything but white space after ``</LesHouchesEvents>``
        (e.g. a second document: ``cat a.lhe.gz b.lhe.gz``), or holds another number of events
        than its ``<MGGenerationInfo>`` declares (also while iterating; the count is checked
        once the last chunk was read). Several gzip members are read as one stream.
        Memory stays bounded whatever the file holds: it must show ``<LesHouchesEvents>`` in
        its first 8 kB (a gzip bomb is refused there), white space is skipped as it streams
        by, and more than 64 MiB of text without the next tag (a header without ``</init>``,
        an event without ``</event>``, a huge line) is refused.
    """

    def __init__(self, path: str | Path, *, block_bytes: int = 4 << 20) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise MissingFileError(f"LHE file not found: {self.path}")
        try:
            self._reader = core().LheReader(str(self.path), block_bytes)
        except ValueError as exc:
            raise LheFormatError(str(exc)) from None
        self.header = LheHeader.parse(self._reader.header.decode("utf-8", errors="replace"))
        try:
            self._reader.set_weight_ids(self.header.weight_ids)
        except ValueError as exc:
            raise LheFormatError(f"LHE file '{self.path}': <initrwgt>: {exc}") from None

    def __enter__(self) -> LheFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the background reader."""
        self._reader = None

    @property
    def bytes_consumed(self) -> int:
        """Decompressed bytes parsed so far."""
        return int(self._reader.bytes_consumed) if self._reader is not None else 0

    def chunks(self, chunk_size: int = 50_000) -> Iterator[LheChunk]:
        """Yield the events in chunks of ``chunk_size``."""
        start = 0
        while self._reader is not None and not self._reader.finished:
            try:
                raw = self._reader.read(chunk_size)
            except ValueError as exc:
                raise LheFormatError(str(exc)) from None
            n = raw["weight"].shape[0]
            if n:
                yield LheChunk(start, _rename(raw), int(self._reader.bytes_consumed))
                start += n
            elif not self._reader.finished:
                break
        if self._reader is not None and self._reader.finished:
            self._check_count(int(self._reader.events_read))

    def _check_count(self, n_events: int) -> None:
        """Compare the number of events in the file with the count the header declares."""
        declared = self.header.n_events_declared
        if declared is not None and declared != n_events:
            raise LheFormatError(
                f"LHE file '{self.path}': the header declares {declared} events "
                f"(<MGGenerationInfo> 'Number of Events'), but the file holds {n_events}: "
                "events were cut out or added after MadGraph wrote it (a truncated or joined "
                "file?); if the edit is intended, correct the count in the header"
            )


def _rename(raw: dict[str, np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]]:
    """Map the core's columns to the schema's names and dtypes."""
    return {
        "weight": raw["weight"],
        "process_id": raw["process_id"],
        "scale": raw["scale"],
        "aqed": raw["aqed"],
        "aqcd": raw["aqcd"],
        "n_particles": raw["n_particles"].astype(np.int16),
        "pdg_id": raw["pdg_id"],
        "status": raw["status"].astype(np.int16),
        "mothers": np.stack([raw["mother1"], raw["mother2"]], axis=-1).astype(np.int16),
        "colors": np.stack([raw["color1"], raw["color2"]], axis=-1),
        "momentum": raw["momentum"],
        "mass": raw["mass"],
        "lifetime": raw["lifetime"].astype(np.float32),
        "helicity": raw["spin"].astype(np.float32),
        "rwgt": raw["rwgt"],
    }
