"""MadGraph5_aMC@NLO interface: card parsing (and, later, the reweighting plugin)."""
