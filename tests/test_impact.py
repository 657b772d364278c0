import pytest

from notewatt.config import FacilityConfig
from notewatt.impact import impact_factors


def test_configured_intensity_wins_over_the_region():
    factors = impact_factors(FacilityConfig(pue=1.3, carbon_intensity_g_per_kwh=200.0, grid_region="USA"))
    assert (factors.pue, factors.carbon_intensity_g_per_kwh, factors.carbon_intensity_source) == (1.3, 200.0, "config")


def test_region_is_looked_up_in_codecarbons_table():
    factors = impact_factors(FacilityConfig(grid_region="fra"))
    assert 0 < factors.carbon_intensity_g_per_kwh < 200  # France's grid is mostly nuclear
    assert factors.carbon_intensity_source.startswith("codecarbon:FRA")


def test_unknown_region_is_a_clear_error():
    with pytest.raises(ValueError, match="ISO 3166-1 alpha-3"):
        impact_factors(FacilityConfig(grid_region="Atlantis"))


def test_no_factors_by_default():
    factors = impact_factors(FacilityConfig())
    assert (factors.pue, factors.carbon_intensity_g_per_kwh, factors.price_per_kwh) == (1.0, None, None)


def test_pue_below_one_is_rejected():
    with pytest.raises(ValueError):
        FacilityConfig(pue=0.9)
