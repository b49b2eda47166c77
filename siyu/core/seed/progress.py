"""Progress of a long load, printed as rows written and rows per second."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Task:
    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    last_print: float = field(default_factory=time.monotonic)


def _silent(line: str) -> None:
    return None


@dataclass
class Progress:
    """`start(label, total)`, `advance(label, rows)` (a line at most every `every` seconds), `finish(label)`."""

    write: Callable[[str], None] = _silent
    every: float = 2.0
    tasks: dict[str, _Task] = field(default_factory=dict)

    def start(self, label: str, total: int = 0) -> None:
        self.tasks[label] = _Task(total=total)

    def advance(self, label: str, rows: int) -> None:
        task = self.tasks.setdefault(label, _Task(total=0))
        task.done += rows
        now = time.monotonic()
        if now - task.last_print >= self.every:
            task.last_print = now
            self.write(self._line(label, task, now))

    def finish(self, label: str) -> float:
        """Print the closing line of a task; returns its rows per second."""
        task = self.tasks[label]
        now = time.monotonic()
        self.write(self._line(label, task, now))
        return task.done / max(now - task.started, 1e-9)

    def note(self, message: str) -> None:
        self.write(message)

    @staticmethod
    def _line(label: str, task: _Task, now: float) -> str:
        elapsed = max(now - task.started, 1e-9)
        of = f" / {task.total:,} ({100 * task.done / task.total:.0f}%)" if task.total else ""
        return f"  {label:<14} {task.done:>12,}{of}  {task.done / elapsed:,.0f} rows/s  {elapsed:.1f}s"
