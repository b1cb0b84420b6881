"""QuickBooks Online: customers, invoices, payments and credit memos from the Accounting API."""

from __future__ import annotations

from connector.erp.quickbooks.settings import QuickBooksSettings as Settings
from connector.erp.quickbooks.source import QuickBooksSource, build, make_client

__all__ = ["QuickBooksSource", "Settings", "build", "make_client"]
