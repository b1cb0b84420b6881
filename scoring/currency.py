"""Conversion of minor-unit amounts into the reporting currency, rounded once per document."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pandas as pd

from arsync.money import exponent


@dataclass(frozen=True)
class CurrencyTable:
    """The reporting currency and, per other currency, the reporting units for one unit."""

    reporting: str
    rates: Mapping[str, Decimal] = field(default_factory=dict)

    def factor(self, currency: str) -> float:
        """Multiplier from `currency` minor units to reporting minor units."""
        rate = Decimal(1) if currency == self.reporting else self.rates[currency]
        return float(rate.scaleb(exponent(self.reporting) - exponent(currency)))

    def to_reporting(self, minor: pd.Series, currency: pd.Series) -> pd.Series:
        """Each amount converted and rounded half away from zero to a whole minor unit."""
        if minor.empty:
            return minor.astype("int64")
        codes, uniques = pd.factorize(currency)
        factors = np.asarray([self.factor(str(c)) for c in uniques], dtype="float64")[codes]
        scaled = minor.to_numpy(dtype="float64") * factors
        rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
        return pd.Series(rounded.astype("int64"), index=minor.index)

    def to_major(self, minor: pd.Series) -> pd.Series:
        """Reporting minor units as major-unit floats (exact to the cent for display)."""
        places = exponent(self.reporting)
        major: pd.Series = (minor / 10**places).round(places)
        return major
