"""Derived impact factors: facility overhead (PUE), grid carbon intensity and electricity price.

These turn measured (or estimated) device energy into facility energy, emissions and cost. They are
configured or looked up, never measured: the roll-up names its figures accordingly and records where
each factor came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from notewatt.config import ConfigError, FacilityConfig


@dataclass(frozen=True)
class ImpactFactors:
    pue: float
    carbon_intensity_g_per_kwh: float | None
    carbon_intensity_source: str | None  # "config" | "codecarbon:<ISO3> <year>"
    price_per_kwh: float | None
    currency: str


def grid_carbon_intensity(region: str) -> tuple[float, str]:
    """A country's yearly average grid intensity (gCO2e/kWh) from CodeCarbon's energy-mix table."""
    from codecarbon.input import DataSource

    mix = DataSource().get_global_energy_mix_data()
    code = region.strip().upper()
    if code not in mix:
        raise ConfigError(f"facility.grid_region {region!r} is not an ISO 3166-1 alpha-3 code in CodeCarbon's table")
    return float(mix[code]["carbon_intensity"]), f"codecarbon:{code} {mix[code].get('year', '')}".strip()


def impact_factors(facility: FacilityConfig) -> ImpactFactors:
    """The run's factors: an explicit carbon intensity wins over a grid region lookup."""
    if facility.carbon_intensity_g_per_kwh is not None:
        carbon, source = facility.carbon_intensity_g_per_kwh, "config"
    elif facility.grid_region:
        carbon, source = grid_carbon_intensity(facility.grid_region)
    else:
        carbon, source = None, None
    return ImpactFactors(facility.pue, carbon, source, facility.price_per_kwh, facility.currency)
