"""Columns of generated rows, kept as numpy arrays until a writer turns them into SQL parameters or COPY text.

A chunk of a table is a `Batch`: the table name and one column object per database column. Writers never see model
instances, so a million rows cost a few arrays, not a million Python objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

# Marks SQL NULL in integer-coded columns (ids, epoch seconds, epoch days).
NULL = -(2**62)


@dataclass(frozen=True)
class Ints:
    """Integers (ids, counters); NULL where the value is `NULL`."""

    values: IntArray


@dataclass(frozen=True)
class Bools:
    values: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Codes:
    """A categorical text column: `labels[codes[i]]`."""

    codes: IntArray
    labels: Sequence[str]


@dataclass(frozen=True)
class Stamps:
    """Aware instants as UTC epoch seconds; NULL where `NULL`."""

    values: IntArray


@dataclass(frozen=True)
class Days:
    """Dates as days since 1970-01-01; NULL where `NULL`."""

    values: IntArray


@dataclass(frozen=True)
class Texts:
    """Free text, one Python string per row (names, phones, identity values)."""

    values: list[str]


@dataclass(frozen=True)
class Keys:
    """`prefix` followed by the number zero-padded to `width` digits (idempotency keys)."""

    prefix: str
    numbers: IntArray
    width: int = 10


@dataclass(frozen=True)
class Const:
    """The same value on every row."""

    value: Any


Column = Ints | Bools | Codes | Stamps | Days | Texts | Keys | Const


@dataclass(frozen=True)
class Batch:
    table: str
    columns: dict[str, Column]

    def __len__(self) -> int:
        for column in self.columns.values():
            if isinstance(column, Texts):
                return len(column.values)
            if isinstance(column, Codes):
                return len(column.codes)
            if isinstance(column, Keys):
                return len(column.numbers)
            if not isinstance(column, Const):
                return len(column.values)
        raise ValueError("a batch needs at least one non-constant column")

    def slice(self, start: int, stop: int) -> Batch:
        return Batch(self.table, {name: _slice(col, start, stop) for name, col in self.columns.items()})


def _slice(column: Column, start: int, stop: int) -> Column:
    if isinstance(column, Const):
        return column
    if isinstance(column, Codes):
        return Codes(column.codes[start:stop], column.labels)
    if isinstance(column, Keys):
        return Keys(column.prefix, column.numbers[start:stop], column.width)
    if isinstance(column, Texts):
        return Texts(column.values[start:stop])
    return type(column)(column.values[start:stop])  # type: ignore[arg-type]
