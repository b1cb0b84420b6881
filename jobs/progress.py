"""Progress bars for the long steps, shown only to a person at a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol, TypeVar

from rich import filesize
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from jobs.console_safety import clean

T = TypeVar("T")


class Reporter(Protocol):
    def track(
        self,
        items: Iterable[T],
        description: str,
        *,
        unit: str = "records",
        total: Callable[[], int | None] | None = None,
        done: Callable[[], int | None] | None = None,
    ) -> Iterator[T]:
        """Each item, on a bar of `unit`s: `total()` and `done()` are asked after each item
        (a total may become known during the pull); without `done`, or when it says None,
        each item counts one; without a total, the bar counts without an end."""
        ...

    def step(self, description: str) -> AbstractContextManager[object]: ...


class Silent:
    """For logs, pipes and tests: no bars at all."""

    def track(
        self,
        items: Iterable[T],
        description: str,
        *,
        unit: str = "records",
        total: Callable[[], int | None] | None = None,
        done: Callable[[], int | None] | None = None,
    ) -> Iterator[T]:
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
            AmountColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            redirect_stderr=True,  # log lines print above the bars, never through them
        )

    def __enter__(self) -> Bars:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def track(
        self,
        items: Iterable[T],
        description: str,
        *,
        unit: str = "records",
        total: Callable[[], int | None] | None = None,
        done: Callable[[], int | None] | None = None,
    ) -> Iterator[T]:
        task = self._progress.add_task(clean(description), total=None, unit=unit)
        for count, item in enumerate(items, start=1):
            yield item
            measured = done() if done is not None else None
            self._progress.update(
                task,
                total=total() if total is not None else None,
                completed=count if measured is None else measured,
            )
        self._progress.update(task, visible=False)

    def step(self, description: str) -> AbstractContextManager[object]:
        return _Step(self._progress, description)


class AmountColumn(ProgressColumn):
    """How much is done, in the task's unit: `12.3/45.6 MB` for bytes, `1,234/5,678 records`
    with a total, `1,234 records` without one."""

    def render(self, task: Task) -> Text:
        unit = str(task.fields.get("unit", ""))
        done = int(task.completed)
        if unit == "bytes":
            shown = filesize.decimal(done)
            if task.total is not None:
                shown += f"/{filesize.decimal(int(task.total))}"
        elif task.total is not None:
            shown = f"{done:,}/{int(task.total):,} {unit}"
        else:
            shown = f"{done:,} {unit}" if unit else f"{done:,}"
        return Text(shown.strip(), style="progress.download")


class _Step:
    def __init__(self, progress: Progress, description: str) -> None:
        self._progress = progress
        self._description = description

    def __enter__(self) -> object:
        self._task = self._progress.add_task(clean(self._description), total=None)
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.update(self._task, visible=False)
