"""Energy, in one package the executors import: the meters (NVML, RAPL, the labelled estimate), the monitor's
windows and their Measurements, the ledger every window writes (the only record of a run's energy), apportioning
devices that overlapping windows shared, a task's metering, and the vocabulary of sources and statuses. The
driver turns closed ledger entries into Spark frames (notewatt/energy_frames.py)."""
