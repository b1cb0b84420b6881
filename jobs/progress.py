"""Progress bars for the long steps, shown only to a person at a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from jobs.console_safety import clean

T = TypeVar("T")


class Reporter(Protocol):
    def track(self, items: Iterable[T], description: str) -> Iterator[T]: ...

    def step(self, description: str) -> AbstractContextManager[object]: ...


class Silent:
    """For logs, pipes and tests: no bars at all."""

    def track(self, items: Iterable[T], description: str) -> Iterator[T]:
        return iter(items)

    def step(self, description: str) -> AbstractContextManager[object]:
        return nullcontext()


class Bars:
    """rich bars on stderr; a step without a known size shows a spinner and a count."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),  # may name a source or a file
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )

    def __enter__(self) -> Bars:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def track(self, items: Iterable[T], description: str) -> Iterator[T]:
        task = self._progress.add_task(clean(description), total=None)
        for item in items:
            yield item
            self._progress.advance(task)
        self._progress.update(task, visible=False)

    def step(self, description: str) -> AbstractContextManager[object]:
        return _Step(self._progress, description)


class _Step:
    def __init__(self, progress: Progress, description: str) -> None:
        self._progress = progress
        self._description = description

    def __enter__(self) -> object:
        self._task = self._progress.add_task(clean(self._description), total=None)
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.update(self._task, visible=False)
