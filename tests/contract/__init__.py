"""The connector contract: every ERP source, fed the same ledger, yields the same records."""
