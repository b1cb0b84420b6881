"""Xero: contacts, sales invoices, payments, prepayments, overpayments and credit notes."""

from __future__ import annotations

from connector.erp.xero.settings import XeroSettings as Settings
from connector.erp.xero.source import XeroSource, build, make_client

__all__ = ["Settings", "XeroSource", "build", "make_client"]
