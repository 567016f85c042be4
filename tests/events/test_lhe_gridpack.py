"""Headers as MadGraph's gridpack run (``run.sh``) writes them."""

from __future__ import annotations

from pathlib import Path

from madsbi.events.convert import convert_lhe
from madsbi.events.lhe import LheFile
from madsbi.events.store import EventStore

from helpers.lhe import edited


def test_gridpack_version_line_reads_without_the_hash(data_dir: Path, tmp_path: Path) -> None:
    # MadGraph 3.5.7's gridrun writes <MGVersion>#3.5.7</MGVersion>; the stores of
    # `madsbi produce` recorded "#3.5.7" before.
    def gridpack_header(text: str) -> str:
        assert "<MGVersion>\n3.5.7\n" in text
        return text.replace("<MGVersion>\n3.5.7\n", "<MGVersion>\n#3.5.7\n", 1)

    src = edited(data_dir / "wz_parton_1k.lhe.gz", tmp_path / "gp.lhe.gz", gridpack_header)
    with LheFile(src) as lhe:
        assert lhe.header.mg5_version == "3.5.7"
    convert_lhe(src, tmp_path / "gp.h5", parameters=["cHWB", "cW", "cHq3"])
    with EventStore(tmp_path / "gp.h5") as store:
        assert store.meta.mg5_version == "3.5.7"
