"""Test helpers: tolerances and LHE-file manipulation."""
