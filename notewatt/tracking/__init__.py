"""MLflow: the experiment and searches in it (experiment.py), and one run per job with its parameters, metrics,
tags and artifacts (run_log.py)."""
