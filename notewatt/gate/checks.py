"""The gate's checks: a run's energy roll-up and quality metrics against targets, and against a baseline run
(pure Python; the targets and tolerances are notewatt/gate/criteria.py)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from notewatt.gate.criteria import Targets, Tolerances
from udfs.energy.vocabulary import INCOMPLETE

EnergyMetric = Literal["wh_per_1000_notes", "tokens_per_wh"]
_EXACT_MAX_PAIRS = 2500  # exact Mann-Whitney distribution up to this many (current, baseline) pairs


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    observed: float | None
    limit: float | None
    detail: str


def _value(mapping: Mapping, key: str) -> float | None:
    """A reported number, or None when it is absent, null or NaN."""
    value = mapping.get(key)
    return None if value is None or math.isnan(value) else float(value)


NO_QUALITY = "not reported: the run was not scored (set quality.gold_path or quality.reference_run_id)"
NO_CORRECT_ITEMS = "not reported: the run was not scored, or the scorer found no correct item"


def _bound(name: str, observed: float | None, limit: float, at_least: bool, missing: str = "not reported") -> Check:
    if observed is None:
        return Check(name, False, None, limit, missing)
    passed = observed >= limit if at_least else observed <= limit
    return Check(name, passed, observed, limit, f"{'>=' if at_least else '<='} {limit:g} required")


ENERGY_TARGETS = ("tokens_per_wh_p5", "wh_per_1000_notes", "wh_per_1000_correct_items")


def check_targets(rollup: Mapping, quality: Mapping, targets: Targets) -> list[Check]:
    """One check per set target: `rollup` is a run_rollup row as a dict, `quality` the scoring metrics.
    A target whose figure is missing (or NaN) fails; so do the energy targets of a run whose energy is incomplete
    (its figures are lower bounds, which would pass a ceiling too easily)."""
    bounds = [
        ("tokens_per_wh_p5", rollup, targets.min_tokens_per_wh_p5, True, "not reported"),
        ("wh_per_1000_notes", rollup, targets.max_wh_per_1000_notes, False, "not reported"),
        ("wh_per_1000_correct_items", rollup, targets.max_wh_per_1000_correct_items, False, NO_CORRECT_ITEMS),
        ("f1_overall", quality, targets.min_f1_overall, True, NO_QUALITY),
        ("json_valid_rate", quality, targets.min_json_valid_rate, True, "not reported"),
    ]
    checks = [
        _bound(key, _value(source, key), limit, at_least, missing)
        for key, source, limit, at_least, missing in bounds
        if limit is not None
    ]
    if rollup.get("energy_status") != INCOMPLETE.name:
        return checks
    why = f"the run's energy is incomplete, a lower bound ({rollup.get('energy_status_reason') or 'see the run'})"
    return [Check(c.name, False, c.observed, c.limit, why) if c.name in ENERGY_TARGETS else c for c in checks]


def comparable_energy(current: Mapping, baseline: Mapping) -> str | None:
    """Why a run's energy does not compare with its baseline's (another status or other sources), or None."""
    pair = lambda run: (run.get("energy_status"), run.get("energy_sources"))  # noqa: E731
    if pair(current) == pair(baseline) and current.get("energy_status") != INCOMPLETE.name:
        return None
    return (f"not comparable: the run's energy is {current.get('energy_status')} ({current.get('energy_sources')}), "
            f"the baseline's {baseline.get('energy_status')} ({baseline.get('energy_sources')})")


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _exact_u_counts(m: int, n: int) -> list[int]:
    """Arrangements of m vs n distinct values with U = 0..mn: the Gaussian binomial [m+n choose m]_q."""
    counts = [1] + [0] * (m * n)
    for k in range(1, m + 1):
        for u in range(m * n, n + k - 1, -1):  # times (1 - q^(n+k))
            counts[u] -= counts[u - n - k]
        for u in range(k, m * n + 1):  # divided by (1 - q^k)
            counts[u] += counts[u - k]
    return counts


def mann_whitney_greater(x: Sequence[float], y: Sequence[float]) -> float:
    """One-sided p-value that `x` tends to be larger than `y` (Mann-Whitney U). Exact without ties and for
    at most _EXACT_MAX_PAIRS pairs; otherwise the normal approximation with tie and continuity corrections."""
    m, n = len(x), len(y)
    u = sum((a > b) + 0.5 * (a == b) for a in x for b in y)
    ties = [t for t in Counter([*x, *y]).values() if t > 1]
    if not ties and m * n <= _EXACT_MAX_PAIRS:
        counts = _exact_u_counts(m, n)
        return sum(counts[int(u):]) / sum(counts)
    total = m + n
    variance = m * n / 12 * (total + 1 - sum(t**3 - t for t in ties) / (total * (total - 1)))
    if variance == 0:
        return 1.0
    return _normal_sf((u - m * n / 2 - 0.5) / math.sqrt(variance))


def _energy_check(current: Sequence[float], baseline: Sequence[float], metric: EnergyMetric, tol: Tolerances) -> Check:
    name = f"{metric} vs baseline"
    if not current or not baseline:
        return Check(name, False, None, tol.max_energy_regression, "no partitions to compare")
    sign = 1.0 if metric == "wh_per_1000_notes" else -1.0  # oriented so that larger is worse
    cur, base = [sign * v for v in current], [sign * v for v in baseline]
    base_median = statistics.median(base)
    if base_median == 0:
        return Check(name, False, None, tol.max_energy_regression, "baseline median is 0")
    worse = (statistics.median(cur) - base_median) / abs(base_median)
    medians = f"median {sign * statistics.median(cur):g} vs {sign * base_median:g}"
    if worse <= tol.max_energy_regression:
        return Check(name, True, worse, tol.max_energy_regression, f"{medians}: within tolerance")
    if 1 / math.comb(len(cur) + len(base), len(cur)) > tol.alpha:
        beyond = statistics.median(cur) > max(base)
        verdict = "beyond" if beyond else "within"
        return Check(name, not beyond, worse, tol.max_energy_regression,
                     f"{medians}; too few partitions for a rank test ({len(cur)} vs {len(base)}): "
                     f"{verdict} the baseline's worst partition {sign * max(base):g}")
    p = mann_whitney_greater(cur, base)
    return Check(name, p > tol.alpha, worse, tol.max_energy_regression,
                 f"{medians}; Mann-Whitney one-sided p={p:.3g} (alpha {tol.alpha:g}, {len(cur)} vs {len(base)})")


def _drop_check(key: str, current: Mapping, baseline: Mapping, max_drop: float) -> Check:
    name = f"{key} vs baseline"
    now, before = _value(current, key), _value(baseline, key)
    if now is None or before is None:
        return Check(name, False, None, max_drop, NO_QUALITY if key == "f1_overall" else "not reported")
    drop = before - now
    return Check(name, drop <= max_drop, drop, max_drop, f"{now:.4f} vs {before:.4f} (drop <= {max_drop:g})")


def check_against_baseline(
    current_partitions: Sequence[float],
    baseline_partitions: Sequence[float],
    current_quality: Mapping,
    baseline_quality: Mapping,
    tolerances: Tolerances,
    energy_metric: EnergyMetric = "wh_per_1000_notes",
) -> list[Check]:
    """Regression checks against a baseline run.

    Energy (per-partition figures of `energy_metric`; for tokens_per_wh lower is worse) regresses only when
    both hold:
      1. the current median is worse than the baseline median by more than `max_energy_regression`
         (relative), and
      2. the shift is beyond noise: a one-sided Mann-Whitney U test gives p <= `alpha`; or, when the samples
         are too small for any outcome to reach `alpha` (1 / C(m+n, m) > alpha, e.g. 2 vs 2 partitions),
         the current median is worse than the baseline's worst partition.
    Energy compares only like with like: a run and a baseline of another energy status or other sources (an
    estimate against NVML), or an incomplete run, fail the energy check as "not comparable".
    Quality regresses when f1_overall or json_valid_rate drops by more than its absolute tolerance. Both
    quality mappings must come from the same scoring mode (gold vs gold); a missing figure fails.
    """
    unlike = comparable_energy(current_quality, baseline_quality)
    energy = (Check(f"{energy_metric} vs baseline", False, None, tolerances.max_energy_regression, unlike) if unlike
              else _energy_check(current_partitions, baseline_partitions, energy_metric, tolerances))
    return [
        energy,
        _drop_check("f1_overall", current_quality, baseline_quality, tolerances.max_f1_drop),
        _drop_check("json_valid_rate", current_quality, baseline_quality, tolerances.max_json_valid_rate_drop),
    ]


def gate_passed(checks: Sequence[Check]) -> bool:
    """True when every check passed (also when there are none)."""
    return all(c.passed for c in checks)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def gate_report(checks: Sequence[Check]) -> str:
    """The checks as a plain-text table, then the verdict."""
    rows = [("check", "result", "observed", "limit", "detail")] + [
        (c.name, "pass" if c.passed else "FAIL", _number(c.observed), _number(c.limit), c.detail) for c in checks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[4]]).rstrip() for row in rows]
    return "\n".join([*lines, f"gate: {'PASSED' if gate_passed(checks) else 'FAILED'}"])
