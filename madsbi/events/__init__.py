"""Event store (versioned HDF5), LHE reading and conversion, shard merging."""

from __future__ import annotations

from madsbi.events.convert import ConversionReport, ConvertSettings, convert_lhe
from madsbi.events.lhe import LheFile, LheHeader
from madsbi.events.merge import merge_stores
from madsbi.events.meta import ShardInfo, StoreMeta
from madsbi.events.store import EventChunk, EventStore, open_store
from madsbi.events.writer import StoreWriter

__all__ = [
    "ConversionReport",
    "ConvertSettings",
    "EventChunk",
    "EventStore",
    "LheFile",
    "LheHeader",
    "ShardInfo",
    "StoreMeta",
    "StoreWriter",
    "convert_lhe",
    "merge_stores",
    "open_store",
]
