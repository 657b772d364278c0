"""The driver's side of energy: the vocabulary every report uses, window energy from device rows, and the
energy of discarded task attempts. The executors' side (meters, windows, ledger) is in udfs/."""
