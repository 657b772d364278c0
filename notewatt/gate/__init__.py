"""The regression gate: targets and tolerances, the checks (checks.py, pure), and a run's figures read back from
its Delta tables (run_checks.py)."""
