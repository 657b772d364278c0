"""Clinical quality of a run's abstractions: scoring against gold labels or a reference run (scoring.py, pure),
and the driver's scoring of a run and its routes (run_quality.py)."""
