"""What `arsync validate` checks beyond the schema: the things a run would fail on first.

Loading the settings proves the YAML is well formed; a run can still stop at once on an unset
`${VAR}`, a folder or key file that is not there, or an export whose dates or numbers do not fit
the mapping's formats. These checks read the environment and the disk, so they run here, when an
admin asks, and not on every load.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from arsync.yamlfile import ConfigProblem, YamlDocument, read_yaml
from connector.crm.salesforce.settings import JwtAuth
from connector.erp import quickbooks, sql, xero
from connector.erp.files.probe import probe_export
from jobs.settings import FileSourceSettings, RunSettings

_REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def preflight(
    settings: RunSettings, environ: Mapping[str, str] | None = None
) -> list[ConfigProblem]:
    """Every problem found, each at the YAML line to change; never a secret's value."""
    environ = os.environ if environ is None else environ
    document = read_yaml(settings.config_path)
    problems = [*_unset_variables(document, settings, environ), *_missing_paths(document, settings)]
    source = settings.app.source
    if (
        isinstance(source, FileSourceSettings)
        and settings.source_mapping is not None
        and source.path.is_dir()
    ):
        problems += probe_export(source.path, settings.source_mapping, source.mapping)
    return problems


def _unset_variables(
    document: YamlDocument, settings: RunSettings, environ: Mapping[str, str]
) -> Iterator[ConfigProblem]:
    """Each `${VAR}` in arsync.yaml whose variable is unset or empty, as the run would find."""
    kept_token = _kept_refresh_token(settings)
    for loc, text in _scalars(document.root, []):
        if loc == kept_token:
            continue
        for name in _REFERENCE.findall(text):
            if not environ.get(name):
                message = f"environment variable {name} is not set (set it where arsync runs)"
                yield document.problem(loc, message)


def _kept_refresh_token(settings: RunSettings) -> list[int | str] | None:
    """A rotating refresh token already kept in its file: the variable is no longer read."""
    source = settings.app.source
    if isinstance(source, quickbooks.Settings | xero.Settings) and source.refresh_token_file:
        try:
            kept = source.refresh_token_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return ["source", "refresh_token"] if kept else None
    return None


def _scalars(node: yaml.Node | None, loc: list[int | str]) -> Iterator[tuple[list[int | str], str]]:
    if isinstance(node, yaml.ScalarNode):
        yield loc, str(node.value)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            yield from _scalars(child, [*loc, index])
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _scalars(value, [*loc, str(key.value)])


def _missing_paths(document: YamlDocument, settings: RunSettings) -> Iterator[ConfigProblem]:
    """Paths arsync.yaml names that a run reads before it gets anywhere. (The scoring and
    mapping files are checked when the settings load; output and state folders are created.)"""
    source = settings.app.source
    if isinstance(source, FileSourceSettings) and not source.path.is_dir():
        yield document.problem(["source", "path"], f"folder not found: {source.path}")
    if isinstance(source, sql.Settings):
        database = _sqlite_file(source.url)
        if database is not None and not database.is_file():
            yield document.problem(["source", "url"], f"SQLite file not found: {database}")
    salesforce = settings.app.salesforce
    if salesforce is not None and isinstance(salesforce.auth, JwtAuth):
        key_file = salesforce.auth.private_key_file
        if key_file is not None and not key_file.is_file():
            # Read from the folder arsync runs in, unlike the other paths: say which one.
            where = f" (relative to {Path.cwd()})" if not key_file.is_absolute() else ""
            loc = ["salesforce", "auth", "private_key_file"]
            yield document.problem(loc, f"file not found: {key_file}{where}")


def _sqlite_file(url: str) -> Path | None:
    """The database file of a plain `sqlite:///path` URL; None for any other URL."""
    if _REFERENCE.fullmatch(url):
        return None
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    return None if database.startswith("file:") else Path(database)
