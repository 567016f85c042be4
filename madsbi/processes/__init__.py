"""Process-specific physics: selections and observables of one process (W±Z → 3ℓν)."""
