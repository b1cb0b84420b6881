"""Load a YAML settings file into a pydantic model, with errors a finance admin can act on.

Every problem names the file, the line, the key path and what was expected, because the people
editing these files are not the people who wrote the schema.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from arsync.errors import FatalError
from arsync.located import error_loc

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class ConfigProblem:
    file: Path
    line: int | None
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        key = f" {self.key_path}:" if self.key_path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(FatalError):
    """One or more problems in the settings; the run must not start."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class YamlDocument:
    """The parsed data and the node tree it came from, kept to point at lines."""

    path: Path
    data: Any
    root: yaml.Node | None

    def line_of(self, loc: Sequence[int | str]) -> int | None:
        """1-based line of the deepest node that the key path reaches."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for part in loc:
            node = _child(node, part)
            if node is None:
                break
            line = node.start_mark.line + 1
        return line

    def key_path(self, loc: Sequence[int | str]) -> list[int | str]:
        """`loc` without the tags pydantic inserts for a discriminated union member.

        For `source: {kind: sql, ...}` pydantic reports `source.sql.url`; the YAML has no key
        `sql` there, but a `kind: sql`, so that part is dropped.
        """
        node = self.root
        kept: list[int | str] = []
        for part in loc:
            child = _child(node, part)
            if child is None and isinstance(part, str) and _kind_of(node) == part:
                continue
            kept.append(part)
            node = child
        return kept

    def problem(self, loc: Sequence[int | str], message: str) -> ConfigProblem:
        return ConfigProblem(self.path, self.line_of(loc), format_key_path(loc), message)


def _child(node: yaml.Node | None, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                found: yaml.Node = value
                return found
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None


def _kind_of(node: yaml.Node | None) -> str | None:
    kind = _child(node, "kind")
    return kind.value if isinstance(kind, yaml.ScalarNode) else None


def format_key_path(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def read_yaml(path: Path) -> YamlDocument:
    """Parse a file, turning a syntax error into a ConfigProblem with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        problem = ConfigProblem(path, None, "", f"cannot read file: {error.strerror}")
        raise ConfigError([problem]) from None
    try:
        root: yaml.Node | None = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark is not None else None
        detail = f"{error.problem} {error.context or ''}".strip()
        start = error.context_mark
        if start is not None and mark is not None and start.line != mark.line:
            detail += f" (that started on line {start.line + 1})"
        raise ConfigError([ConfigProblem(path, line, "", f"invalid YAML: {detail}")]) from None
    duplicates = _duplicate_keys(path, root)
    if duplicates:
        raise ConfigError(duplicates)
    return YamlDocument(path, data, root)


def _duplicate_keys(path: Path, root: yaml.Node | None) -> list[ConfigProblem]:
    """A key written twice in one mapping: YAML keeps the last silently, so an admin who adds a
    key near the top of a file would see no effect, and no error, while an older one wins."""
    problems: list[ConfigProblem] = []
    seen_nodes: set[int] = set()  # an anchor's node is reached again through each alias
    pending: list[tuple[yaml.Node, list[int | str]]] = [(root, [])] if root is not None else []
    while pending:
        node, loc = pending.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            pending.extend((child, [*loc, n]) for n, child in enumerate(node.value))
        if not isinstance(node, yaml.MappingNode):
            continue
        first_lines: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                line = key.start_mark.line + 1
                first = first_lines.get((key.tag, key.value))
                if first is None:
                    first_lines[(key.tag, key.value)] = line
                else:
                    message = f"duplicate key {key.value!r}: already set on line {first}"
                    key_path = format_key_path([*loc, key.value])
                    problems.append(ConfigProblem(path, line, key_path, message))
                pending.append((value, [*loc, key.value]))
    return sorted(problems, key=lambda p: p.line or 0)


def load_model(model: type[ModelT], path: Path, context: dict[str, Any] | None = None) -> ModelT:
    """Read and validate one settings file; raise ConfigError naming every problem.

    `context` reaches the model's validators, for checks against facts known only at run time
    (the columns scoring produces, say).
    """
    document = read_yaml(path)
    data = document.data if document.data is not None else {}
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        problems = [_problem(document, model, e) for e in error.errors(include_url=False)]
        raise ConfigError(problems) from None


def _problem(document: YamlDocument, model: type[BaseModel], error: ErrorDetails) -> ConfigProblem:
    loc = document.key_path([p for p in error["loc"] if not _is_union_tag(p)])
    loc += list(error_loc(error))
    if error["type"] == "extra_forbidden":
        return document.problem(loc, _unknown_key_message(document, model, loc))
    if error["type"] == "missing":
        return document.problem(loc[:-1], f"missing required key {str(loc[-1])!r}")
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    got = error.get("input")
    if error["type"] not in {"value_error", "assertion_error"} and not isinstance(got, dict | list):
        message += f" (got {got!r})"
    return document.problem(loc, message)


def _is_union_tag(part: int | str) -> bool:
    """Pydantic puts the chosen union member or a discriminator value into the location."""
    return isinstance(part, str) and ("[" in part or part.startswith("function-"))


def _unknown_key_message(
    document: YamlDocument, model: type[BaseModel], loc: Sequence[int | str]
) -> str:
    key = str(loc[-1])
    expected = _expected_keys(document, model, loc[:-1])
    if not expected:
        return f"unknown key {key!r}"
    hint = difflib.get_close_matches(key, expected, n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    return f"unknown key {key!r}{suggestion}; expected one of: {', '.join(expected)}"


def _expected_keys(
    document: YamlDocument, model: type[BaseModel], loc: Sequence[int | str]
) -> list[str]:
    """The keys allowed at a location, found by walking the model's field annotations
    beside the YAML (whose `kind` picks the member of a union)."""
    current: Any = model
    node = document.root
    for part in loc:
        node = _child(node, part)
        current = _pick(_step(current, part), node)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [field.alias or name for name, field in current.model_fields.items()]
    return []


def _step(annotation: Any, part: int | str) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        if field is None:
            field = next((f for f in annotation.model_fields.values() if f.alias == part), None)
        return field.annotation if field is not None else None
    annotation = _strip(annotation)
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in {list, tuple} and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _pick(annotation: Any, node: yaml.Node | None) -> Any:
    """The model an annotation stands for here: the only one, or the union member whose
    `kind` literal is the YAML's `kind`; other annotations pass through unchanged."""
    models = _models_in(annotation)
    if len(models) == 1:
        return models[0]
    if len(models) > 1:
        kind = _kind_of(node)
        for candidate in models:
            field = candidate.model_fields.get("kind")
            if field is not None and kind in get_args(field.annotation):
                return candidate
        return None
    return _strip(annotation)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if get_origin(annotation) in {list, tuple, dict}:
        return []
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def _strip(annotation: Any) -> Any:
    """`Annotated[X, ...]` and `X | None` reduced to X."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in {Union, types.UnionType} and len(args) == 1:
        return _strip(args[0])
    return annotation
