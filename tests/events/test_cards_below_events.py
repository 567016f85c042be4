"""Card parsing lives below events and madgraph (issue 15, layering).

``events`` read MadGraph cards through ``madsbi.madgraph.cards``, so importing the event
store pulled in the plugin package. The parsing is ``madsbi.cards`` now, and the old path is
gone (issue 24).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import madsbi.events


def test_importing_every_events_module_imports_no_madgraph() -> None:
    modules = sorted(
        f"madsbi.events.{m.name}" for m in pkgutil.iter_modules(madsbi.events.__path__)
    )
    assert "madsbi.events.convert" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('madsbi.madgraph')))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_cards_parse_from_their_one_home() -> None:
    import madsbi.cards

    card = madsbi.cards.ParamCard.parse("BLOCK SMEFT\n  9 1.5e0 # cHWB\n")
    assert card.find("chwb").value == 1.5
    assert madsbi.cards.parse_run_card(" average = event_norm ! x\n") == {"event_norm": "average"}
