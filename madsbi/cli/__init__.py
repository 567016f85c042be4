"""The ``madsbi`` command line (click), one sub-group per stage."""
