"""`arsync report`: the collectors' worklist, the portfolio KPIs and the worst movers, as CSV
and as one self-contained HTML page with charts.

A leaf beside the run: only the CLI imports it, and it imports the run's load
(`jobs.load`), never the other way round (pyproject.toml's import contracts). Empty on
purpose, so that the CLI reads `jobs.report.options` without loading pandas and the charts.

- `build`: the `Report`, computed (pure); `history`: the score history it reads;
- `tiles`, `figures` and `page`: the HTML page (`charts` draws the SVG; `templates/`);
- `files`: the CSV files beside it; `run`: the job; `text`, `options`: wording, defaults.
"""
