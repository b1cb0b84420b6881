"""What `arsync report` takes by default, apart from the report's own code so that the CLI
can show it in --help without loading pandas and the charts."""

from __future__ import annotations

DEFAULT_COMPARE_DAYS = 30  # worst movers: scores compared with those of this many days ago
