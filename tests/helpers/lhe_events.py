"""Event-level editing and a plain-Python parse of LHE text, for the LHE and conversion tests.

The parse is deliberately naive (split on ``<event>`` and whitespace) so that it is an
independent check of the compiled reader, not a copy of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

_EVENT = re.compile(r"<event>.*?</event>", re.DOTALL)
_WGT = re.compile(r"<wgt id='([^']*)'>\s*(\S+)\s*</wgt>")


@dataclass
class ParsedEvent:
    """One event as written in the text."""

    nup: int
    idprup: int
    weight: float
    scale: float
    aqed: float
    aqcd: float
    particles: list[list[float]]
    rwgt: dict[str, float] = field(default_factory=dict)


def parse_event_text(block: str) -> ParsedEvent:
    """Parse ``<event> ... </event>`` by hand."""
    body = block.split(">", 1)[1]
    lines = [ln for ln in body.splitlines() if ln.strip()]
    head = lines[0].split()
    nup = int(head[0])
    particles = [[float(v) for v in ln.split()] for ln in lines[1 : 1 + nup]]
    rwgt = {m.group(1): float(m.group(2)) for m in _WGT.finditer(block)}
    return ParsedEvent(
        nup,
        int(head[1]),
        float(head[2]),
        float(head[3]),
        float(head[4]),
        float(head[5]),
        particles,
        rwgt,
    )


def event_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of every ``<event>...</event>`` block."""
    return [m.span() for m in _EVENT.finditer(text)]


def parse_events(text: str) -> list[ParsedEvent]:
    """All events of an LHE text."""
    return [parse_event_text(m.group(0)) for m in _EVENT.finditer(text)]


def edit_event(text: str, index: int, edit: Callable[[str], str]) -> str:
    """Replace event ``index`` (0-based) by ``edit(event_text)``."""
    start, stop = event_spans(text)[index]
    return text[:start] + edit(text[start:stop]) + text[stop:]


def edit_all_events(text: str, edit: Callable[[str], str]) -> str:
    """Apply ``edit`` to every event block."""
    return _EVENT.sub(lambda m: edit(m.group(0)), text)


def set_weight(block: str, weight_id: str, value: str) -> str:
    """Set the text of ``<wgt id='weight_id'>`` in one event block."""
    new, n = re.subn(
        rf"(<wgt id='{re.escape(weight_id)}'>)\s*\S+\s*(</wgt>)", rf"\g<1> {value} \g<2>", block
    )
    if n != 1:
        raise ValueError(f"weight {weight_id!r} not found exactly once")
    return new


def scale_weight(block: str, weight_id: str, factor: float) -> str:
    """Multiply one ``<wgt>`` value of an event block by ``factor`` (printed as %+.7e)."""
    match = re.search(rf"<wgt id='{re.escape(weight_id)}'>\s*(\S+)\s*</wgt>", block)
    if match is None:
        raise ValueError(f"weight {weight_id!r} not found")
    return set_weight(block, weight_id, f"{float(match.group(1)) * factor:+.7e}")


def set_event_weight(block: str, value: str) -> str:
    """Replace XWGTUP (third number of the event's first line)."""
    tag, rest = block.split("\n", 1)
    first, others = rest.split("\n", 1)
    tokens = first.split()
    tokens[2] = value
    return f"{tag}\n {' '.join(tokens)}\n{others}"


def drop_event_weight(block: str, weight_id: str) -> str:
    """Remove the ``<wgt id='weight_id'>`` line of one event."""
    new, n = re.subn(rf"<wgt id='{re.escape(weight_id)}'>[^<]*</wgt>\n", "", block)
    if n != 1:
        raise ValueError(f"weight {weight_id!r} not found exactly once")
    return new


def drop_weight_ids(text: str, ids: Sequence[str]) -> str:
    """Remove weight ids from ``<initrwgt>`` and from every event's ``<rwgt>``."""
    for wid in ids:
        text, n = re.subn(rf"<weight id='{re.escape(wid)}'>.*?</weight>\n", "", text, flags=re.S)
        if n != 1:
            raise ValueError(f"<initrwgt> has no weight {wid!r}")
        text = re.sub(rf"<wgt id='{re.escape(wid)}'>[^<]*</wgt>\n", "", text)
    return text


def scale_all_weights(text: str, factor: float) -> str:
    """Multiply every event weight and every ``<wgt>`` value by ``factor`` (%+.7e)."""

    def one(block: str) -> str:
        parsed = parse_event_text(block)
        block = set_event_weight(block, f"{parsed.weight * factor:+.7e}")
        for wid, value in parsed.rwgt.items():
            block = set_weight(block, wid, f"{value * factor:+.7e}")
        return block

    return edit_all_events(text, one)
