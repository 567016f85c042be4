"""Parsing of MadGraph cards: the SLHA param card and the run card.

Only what madsbi needs: param-card entries by (block, key) with the name MadGraph writes in
the comment, and run-card settings by name. Plain text in, typed values out: the LHE
conversion (:mod:`madsbi.events`) and the MadGraph plugin (:mod:`madsbi.madgraph`) both read
cards, so the parsing sits below both.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from madsbi.errors import InputError, UnknownParameterError

_BLOCK = re.compile(r"^\s*(block|decay)\s+(\S+)(.*)$", re.IGNORECASE)


@dataclass(frozen=True)
class ParamEntry:
    """One param-card value: ``block`` (lower case), integer ``key``, value and comment name."""

    block: str
    key: tuple[int, ...]
    value: float
    name: str


@dataclass(frozen=True)
class ParamCard:
    """A parsed SLHA param card; keeps the original text."""

    text: str
    entries: tuple[ParamEntry, ...]

    @classmethod
    def parse(cls, text: str) -> ParamCard:
        """Parse SLHA text; ``DECAY pdg width`` lines become block ``decay`` key ``(pdg,)``.

        Raises
        ------
        InputError
            If a line inside a block cannot be read as integers followed by a number.
        """
        entries: list[ParamEntry] = []
        block: str | None = None
        for lineno, raw in enumerate(text.splitlines(), start=1):
            body, _, comment = raw.partition("#")
            if not body.strip():
                continue
            match = _BLOCK.match(body)
            if match:
                kind, label, rest = match.group(1).lower(), match.group(2), match.group(3)
                if kind == "decay":
                    tokens = rest.split()
                    value = _number(tokens[0] if tokens else "", lineno, raw)
                    entries.append(ParamEntry("decay", (int(label),), value, comment.strip()))
                    block = None
                else:
                    block = label.lower()
                continue
            if block is None:
                continue
            tokens = body.split()
            try:
                key = tuple(int(t) for t in tokens[:-1])
            except ValueError:
                raise InputError(
                    f"param card line {lineno}: expected integer indices and a value, got {raw!r}"
                ) from None
            entries.append(
                ParamEntry(block, key, _number(tokens[-1], lineno, raw), comment.strip())
            )
        return cls(text, tuple(entries))

    def get(self, block: str, key: tuple[int, ...]) -> ParamEntry:
        """The entry at (block, key); block names are case-insensitive.

        Raises
        ------
        UnknownParameterError
            If the card has no such entry.
        """
        for entry in self.entries:
            if entry.block == block.lower() and entry.key == key:
                return entry
        raise UnknownParameterError(
            f"param card has no entry {block.upper()} {' '.join(map(str, key))}"
        )

    def find(self, name: str) -> ParamEntry:
        """The entry whose comment name is ``name`` (case-insensitive).

        Raises
        ------
        UnknownParameterError
            If no entry, or more than one, carries that name.
        """
        hits = [e for e in self.entries if e.name.lower() == name.lower() and e.block != "decay"]
        if len(hits) != 1:
            what = "no" if not hits else "more than one"
            raise UnknownParameterError(f"param card has {what} parameter named {name!r}")
        return hits[0]


def _number(token: str, lineno: int, raw: str) -> float:
    try:
        value = float(token.replace("d", "e").replace("D", "e"))
    except ValueError:
        raise InputError(f"param card line {lineno}: cannot read a number in {raw!r}") from None
    if not math.isfinite(value):
        raise InputError(f"param card line {lineno}: non-finite value in {raw!r}")
    return value


def parse_run_card(text: str) -> dict[str, str]:
    """Settings of a MadGraph run card (``value = name ! comment``), keyed by lower-case name."""
    settings: dict[str, str] = {}
    for raw in text.splitlines():
        body = raw.split("!", 1)[0]
        if body.lstrip().startswith("#") or "=" not in body:
            continue
        value, _, name = body.partition("=")
        if name.strip():
            settings[name.strip().lower()] = value.strip()
    return settings


def process_key(process: str) -> str:
    """What decides a MadGraph process: its ``generate``/``add process`` statements, normalised.

    Productions of one process may differ in their ``define`` lines (their order, or a
    multiparticle label listing a particle no diagram uses) and in white space or case; the
    statements (lower case, single spaces, joined by "; ") decide the process. A text without
    such statements (an empty string, real data) is only normalised.
    """
    parts = [" ".join(p.split()) for p in process.lower().replace("\n", ";").split(";")]
    statements = [p for p in parts if p.startswith(("generate", "add process"))]
    return "; ".join(statements) if statements else " ".join(process.lower().split())


def channel_names(processes: Iterable[str]) -> dict[str, str]:
    """Each :func:`process_key` of ``processes`` → the text of its first process.

    The name a channel is shown under, wherever channels are listed.
    """
    named: dict[str, str] = {}
    for process in processes:
        named.setdefault(process_key(process), process)
    return named
