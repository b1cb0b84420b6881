"""Customer traits: one array per attribute, indexed by customer position.

Traits are drawn once here; invoice and payment behaviour later index into them, which keeps
the whole generator vectorised.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from arsync.money import exponent
from jobs.sample_data.archetypes import ARCHETYPE_SHARES, Archetype
from jobs.sample_data.common import (
    FloatArray,
    IntArray,
    ObjArray,
    allocate,
    choose,
    constant_codes,
    join_codes,
    labels,
)

TERMS_DAYS = (0, 15, 30, 45, 60, 90)
_TERMS_WEIGHTS = (0.05, 0.10, 0.50, 0.15, 0.15, 0.05)

DELIVERY = ("paper", "email", "portal", "edi", None)
_DELIVERY_WEIGHTS = (0.18, 0.45, 0.17, 0.15, 0.05)

METHODS = ("check", "ach", "card", "wire", "other", None)
_METHOD_WEIGHTS = (0.25, 0.42, 0.10, 0.15, 0.04, 0.04)
CHECK = METHODS.index("check")
WIRE = METHODS.index("wire")
NO_METHOD = METHODS.index(None)

INDUSTRIES = (
    "Manufacturing",
    "Wholesale",
    "Retail",
    "Construction",
    "Healthcare",
    "Technology",
    "Logistics",
    "Food & Beverage",
    "Professional Services",
    "Energy",
    None,
)
_INDUSTRY_WEIGHTS = (0.18, 0.14, 0.10, 0.10, 0.08, 0.10, 0.08, 0.08, 0.06, 0.02, 0.06)

_NAME_FIRST = (
    "Acme",
    "Allied",
    "Apex",
    "Atlas",
    "Beacon",
    "Blue Ridge",
    "Cascade",
    "Cedar",
    "Summit",
    "Crescent",
    "Delta",
    "Eagle",
    "Evergreen",
    "Falcon",
    "Frontier",
    "Granite",
    "Harbor",
    "Horizon",
    "Iron",
    "Keystone",
    "Lakeside",
    "Liberty",
    "Meridian",
    "Northwind",
    "Oakridge",
    "Pacific",
    "Pinnacle",
    "Pioneer",
    "Prairie",
    "Redwood",
    "Riverbend",
    "Sterling",
    "Silver",
    "Sunrise",
    "Titan",
    "Trident",
    "Union",
    "Vanguard",
    "Westfield",
    "Zenith",
)
_NAME_SECOND = (
    "Industrial",
    "Logistics",
    "Foods",
    "Systems",
    "Supply",
    "Medical",
    "Builders",
    "Metals",
    "Plastics",
    "Electric",
    "Analytics",
    "Packaging",
    "Components",
    "Distribution",
    "Labs",
    "Materials",
    "Energy",
    "Textiles",
    "Robotics",
    "Equipment",
)
_SUFFIX_HOME = ("Inc.", "LLC", "Corp.", "Co.")
_SUFFIX_ABROAD = ("GmbH", "SAS", "B.V.", "S.p.A.")

_HOME_SHARE = 0.8
_CRM_SHARE = 0.6
_CREDIT_LIMIT_SHARE = 0.92
_LATE_START_SHARE = 0.2
_CHURNED_SHARE = 0.05
_PARENT_EVERY = 100  # one hierarchy per hundred customers
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SF_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SF_ACCOUNT_PREFIX = "001Dn0000"  # key prefix of Account, an instance, then record number


@dataclass(frozen=True)
class CustomerPlan:
    """Per-customer traits as parallel arrays (index = customer position)."""

    archetype: IntArray
    currency: IntArray  # index into the currencies tuple
    exponent: IntArray  # minor-unit digits of that currency
    terms: IntArray
    delivery: IntArray  # index into DELIVERY
    method: IntArray  # index into METHODS
    industry: IntArray  # index into INDUSTRIES
    typical_minor: FloatArray  # median invoice amount in minor units
    invoice_count: IntArray
    first_day: IntArray  # active window, as offsets from the ledger's first day
    last_day: IntArray
    slip_day: IntArray  # day number from which a slipper pays late
    run_weekday: IntArray  # weekday of the customer's payment run; -1 pays any business day
    parent: IntArray  # position of the parent customer; -1 for none
    credit_limit_minor: IntArray  # -1 for none
    crm_account_id: ObjArray  # Salesforce id or None
    name: ObjArray

    @property
    def size(self) -> int:
        return len(self.archetype)


def plan_customers(
    rng: np.random.Generator,
    *,
    count: int,
    currencies: tuple[str, ...],
    window_days: int,
    end_day: int,
    invoices_per_customer: float,
) -> CustomerPlan:
    """Draw every customer trait; the order of draws is fixed so a seed means one ledger."""
    archetype = allocate(rng, count, [ARCHETYPE_SHARES[kind] for kind in Archetype])
    currency = allocate(rng, count, _currency_shares(len(currencies)))
    exponents = np.array([exponent(code) for code in currencies], dtype=np.int64)[currency]
    terms = np.array(TERMS_DAYS, dtype=np.int64)[choose(rng, count, _TERMS_WEIGHTS)]
    method = draw_methods(rng, currency, _METHOD_WEIGHTS)
    typical = np.exp(rng.normal(np.log(2500.0), 0.9, count)) * 10.0**exponents
    invoice_count = _invoice_counts(rng, count, invoices_per_customer)
    first_day, last_day = _active_windows(rng, archetype, window_days)
    return CustomerPlan(
        archetype=archetype,
        currency=currency,
        exponent=exponents,
        terms=terms,
        delivery=choose(rng, count, _DELIVERY_WEIGHTS),
        method=method,
        industry=choose(rng, count, _INDUSTRY_WEIGHTS),
        typical_minor=np.clip(typical, 50.0 * 10.0**exponents, 250_000.0 * 10.0**exponents),
        invoice_count=invoice_count,
        first_day=first_day,
        last_day=last_day,
        slip_day=end_day - rng.integers(100, 131, count),
        run_weekday=_payment_runs(rng, method),
        parent=_hierarchies(rng, count),
        credit_limit_minor=_credit_limits(
            rng,
            typical=typical,
            invoice_count=invoice_count,
            active_days=last_day - first_day + 1,
            terms=terms,
            exponents=exponents,
        ),
        crm_account_id=_crm_account_ids(rng, count),
        name=_names(rng, currency),
    )


def _currency_shares(count: int) -> list[float]:
    """Most customers bill in the first (home) currency; the rest share the others evenly."""
    if count == 1:
        return [1.0]
    return [_HOME_SHARE] + [(1 - _HOME_SHARE) / (count - 1)] * (count - 1)


def draw_methods(
    rng: np.random.Generator, currency: IntArray, weights: Sequence[float] = _METHOD_WEIGHTS
) -> IntArray:
    """Checks are a home-market habit: customers abroad who would mail one wire instead."""
    method = choose(rng, len(currency), weights)
    return np.where((currency > 0) & (method == CHECK), WIRE, method).astype(np.int64)


KNOWN_METHOD_WEIGHTS = (*_METHOD_WEIGHTS[:NO_METHOD], 0.0)
"""The usual mix without the 'not recorded' case, for a single payment's method."""


def _invoice_counts(rng: np.random.Generator, count: int, mean: float) -> IntArray:
    """Poisson around a per-customer rate with a long right tail (a few big accounts)."""
    sigma = 0.5
    rate = mean * np.exp(rng.normal(-sigma * sigma / 2, sigma, count))
    return np.maximum(rng.poisson(rate), 1).astype(np.int64)


def _active_windows(
    rng: np.random.Generator, archetype: IntArray, window_days: int
) -> tuple[IntArray, IntArray]:
    """Some customers start mid-window, a few stop buying; slippers stay active to the end."""
    count = len(archetype)
    late_start = rng.random(count) < _LATE_START_SHARE
    start = np.floor(rng.random(count) * max(window_days - 90, 0)).astype(np.int64)
    first = np.where(late_start, start, 0)
    churned = (rng.random(count) < _CHURNED_SHARE) & (archetype != Archetype.SLIPPER)
    span = window_days - first
    stop = first + span // 3 + np.floor(rng.random(count) * (span // 3)).astype(np.int64)
    last = np.where(churned & (span >= 180), stop, window_days)
    return first, last.astype(np.int64)


def _payment_runs(rng: np.random.Generator, method: IntArray) -> IntArray:
    """Check writers batch invoices into a weekly run; others do so less often."""
    count = len(method)
    batches = rng.random(count) < np.where(method == CHECK, 0.8, 0.35)
    return np.where(batches, rng.integers(0, 5, count), -1).astype(np.int64)


def _hierarchies(rng: np.random.Generator, count: int) -> IntArray:
    """A few parents with three or four children each, drawn from distinct customers."""
    parent = np.full(count, -1, dtype=np.int64)
    parents = count // _PARENT_EVERY if count >= _PARENT_EVERY else int(count >= 5)
    if parents == 0:
        return parent
    order = rng.permutation(count)
    children = rng.integers(3, 5, parents)
    heads = order[:parents]
    members = order[parents:][: int(children.sum())]
    parent[members] = np.repeat(heads, children)[: len(members)]
    return parent


def _credit_limits(
    rng: np.random.Generator,
    *,
    typical: FloatArray,
    invoice_count: IntArray,
    active_days: IntArray,
    terms: IntArray,
    exponents: IntArray,
) -> IntArray:
    """About 1.2-2.5 times the balance the terms imply, in round thousands; a few have none."""
    monthly = typical * invoice_count / np.maximum(active_days / 30.0, 1.0)
    exposure = monthly * (terms + 30) / 30.0 * rng.uniform(1.2, 2.5, len(typical))
    thousand = 1000.0 * 10.0**exponents
    limit = (np.ceil(exposure / thousand) * thousand).astype(np.int64)
    has_limit = rng.random(len(typical)) < _CREDIT_LIMIT_SHARE
    return np.where(has_limit, limit, -1).astype(np.int64)


def _crm_account_ids(rng: np.random.Generator, count: int) -> ObjArray:
    """18-character Salesforce Account ids (with the case checksum) for a share of customers."""
    ids = np.full(count, None, dtype=object)
    known = np.flatnonzero(rng.random(count) < _CRM_SHARE)
    record = rng.choice(62**6, size=len(known), replace=False).astype(np.int64)
    powers = 62 ** np.arange(5, -1, -1, dtype=np.int64)
    alphabet = np.array([ord(char) for char in _BASE62], dtype=np.uint32)
    record_codes = alphabet[(record[:, None] // powers) % 62]
    body = np.concatenate([constant_codes(_SF_ACCOUNT_PREFIX, len(known)), record_codes], axis=1)
    upper = ((body >= ord("A")) & (body <= ord("Z"))).reshape(len(known), 3, 5)
    flags = (upper * (1 << np.arange(5))).sum(axis=2)
    checksum = np.array([ord(char) for char in _SF_CHECKSUM], dtype=np.uint32)[flags]
    ids[known] = join_codes([body, checksum])
    return ids


def _names(rng: np.random.Generator, currency: IntArray) -> ObjArray:
    """Plausible company names; the legal-form suffix follows the customer's market."""
    count = len(currency)
    first = labels(_NAME_FIRST, rng.integers(0, len(_NAME_FIRST), count))
    second = labels(_NAME_SECOND, rng.integers(0, len(_NAME_SECOND), count))
    suffix_index = rng.integers(0, 4, count)
    suffix = np.where(
        currency == 0, labels(_SUFFIX_HOME, suffix_index), labels(_SUFFIX_ABROAD, suffix_index)
    )
    names: ObjArray = first + " " + second + " " + suffix
    return names


def sf_checksum_ok(account_id: str) -> bool:
    """True when an 18-character id's last three characters match its case checksum."""
    if len(account_id) != 18:
        return False
    suffix = ""
    for chunk in (account_id[0:5], account_id[5:10], account_id[10:15]):
        flags = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _SF_CHECKSUM[flags]
    return suffix == account_id[15:]
