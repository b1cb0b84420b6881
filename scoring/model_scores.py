"""The late-payment model's word on the Account, where its gate let it stand in for the rules.

For each customer the model scored (one with an invoice due in the horizon), the health score
becomes 100 x (1 - probability), the tier the probability's band (`model.bands`), and the
reasons the model's own reason codes, worded as the rule score words the same codes, so a rep
reads one vocabulary whatever the basis. `score_basis` says "model" for those customers; every
other customer keeps the rule score and its basis ("history", or "provisional" when new).
`late_payment_chance` is the probability in percent, and empty where the rule score stands: a
figure the gate did not trust is not shown.

Pure: frames in, frames out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.health import COMPONENTS, NEW_CUSTOMER, TIERS, risk_tier
from scoring.settings import HealthSettings

MODEL = "model"
"""`score_basis` of a customer scored by the late-payment model."""
MODEL_COLUMNS = ("health_score", "risk_tier", "score_basis", "late_payment_chance")
REASON_COLUMNS = ("reason_1", "reason_2", "reason_3", "reason_codes")
_COMPONENT_OF = {component.code: component for component in COMPONENTS}


def model_health(probability: np.ndarray) -> np.ndarray:
    """100 x (1 - probability), rounded half up as the rule score is, 0 to 100."""
    return np.floor(100 * (1 - probability) + 0.5).clip(0, 100).astype("int64")


def band_tier(probability: np.ndarray, bands: tuple[float, ...]) -> np.ndarray:
    """The tier whose band holds each probability: at a band's upper edge, the next tier."""
    return np.asarray(TIERS)[np.searchsorted(np.asarray(bands), probability, side="right")]


def apply_late_risk(
    features: pd.DataFrame, risk: pd.DataFrame | None, bands: tuple[float, ...]
) -> pd.DataFrame:
    """Score, tier, basis, chance and reasons of every customer of `features` (indexed by
    customer id, after `scoring.health.health`): the model's where `risk` (the gated model's
    `customer_risk`) scored the customer, the rule score's otherwise."""
    result = features[[*MODEL_COLUMNS[:3], *REASON_COLUMNS]].copy()
    result["late_payment_chance"] = np.nan
    if risk is None or risk.empty:
        return result
    scored = risk.drop_duplicates("customer_id").set_index("customer_id")
    scored = scored[scored.index.isin(result.index)]
    if scored.empty:
        return result
    probability = scored["late_probability"].to_numpy(dtype="float64")
    rows = scored.index
    result.loc[rows, "health_score"] = model_health(probability)
    result.loc[rows, "risk_tier"] = band_tier(probability, bands)
    result.loc[rows, "score_basis"] = MODEL
    result.loc[rows, "late_payment_chance"] = np.round(100 * probability, 1)
    given = scored[["reason_1", "reason_2", "reason_3"]].fillna("").astype(str)
    codes = [[code for code in row if code] for row in given.to_numpy().tolist()]
    texts = _worded(features.loc[rows], codes)
    for n in (1, 2, 3):
        result.loc[rows, f"reason_{n}"] = np.asarray(
            [row[n - 1] if len(row) >= n else None for row in texts], dtype=object
        )
    result.loc[rows, "reason_codes"] = [",".join(row) for row in codes]
    return result


def tier_by_score(
    score: pd.Series, basis: pd.Series, health: HealthSettings, bands: tuple[float, ...]
) -> pd.Series:
    """Each score's tier on its own basis: the model's scores by the probability bands they
    stand for, the rule scores by the rule thresholds (a broken promise moves either)."""
    by_rules = risk_tier(score, health)
    model = (basis == MODEL).to_numpy(dtype=bool)
    if not model.any():
        return by_rules
    by_bands = band_tier(1 - score.to_numpy(dtype="float64") / 100, bands)
    return pd.Series(np.where(model, by_bands, by_rules.to_numpy()), index=score.index)


def _worded(features: pd.DataFrame, codes: list[list[str]]) -> list[list[str]]:
    """Each code as "CODE: text", in the words the rule score uses for the same code."""
    words: dict[str, list[str]] = {}
    for code in sorted({code for row in codes for code in row}):
        if code == NEW_CUSTOMER:
            paid = features["paid_invoices_12m"].fillna(0).astype("int64")
            words[code] = [
                f"only {n} paid invoice{'s' if n != 1 else ''} in 12 months" for n in paid
            ]
        else:
            words[code] = _COMPONENT_OF[code].reason(features)
    return [[f"{code}: {words[code][i]}" for code in row] for i, row in enumerate(codes)]
