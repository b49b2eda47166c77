"""Evaluating a rule on the columnar engine: parse, check and resolve it once, then count or list its members within
scopes (the segment owner's and the viewer's), with the answer's freshness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from siyu.analytics.engine import Engine, get_engine
from siyu.audiences import rules as r
from siyu.audiences import sql
from siyu.audiences.context import Context, resolve
from siyu.org.scope import Scope


@dataclass(frozen=True)
class Compiled:
    rule: r.Rule
    ctx: Context


@dataclass(frozen=True)
class Evaluation:
    count: int
    ids: list[int]
    as_of: datetime | None
    elapsed_ms: float


def compile_rule(data: Any, *, enterprise_id: int, now: datetime | None = None,
                 segment_id: int | None = None) -> Compiled:
    rule = r.parse_rule(data)
    return Compiled(rule, resolve(rule, enterprise_id=enterprise_id, now=now or timezone.now(),
                                  segment_id=segment_id))


def count(compiled: Compiled, scopes: list[Scope], *, engine: Engine | None = None) -> Evaluation:
    members = sql.members_sql(compiled.rule, compiled.ctx, scopes=scopes)
    answer = (engine or get_engine()).query(f"SELECT count(*) FROM ({members.text}) m", members.params)  # noqa: S608
    return Evaluation(count=int(answer.scalar() or 0), ids=[], as_of=answer.as_of, elapsed_ms=answer.elapsed_ms)


def member_ids(compiled: Compiled, scopes: list[Scope], *, engine: Engine | None = None, limit: int | None = None,
               offset: int = 0, with_count: bool = False) -> Evaluation:
    """Members newest first (highest id first); with_count adds the total in the same query."""
    members = sql.members_sql(compiled.rule, compiled.ctx, scopes=scopes)
    text = f"SELECT id{', count(*) OVER ()' if with_count else ''} FROM ({members.text}) m ORDER BY id DESC"  # noqa: S608
    params = list(members.params)
    if limit is not None:
        text += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    answer = (engine or get_engine()).query(text, params)
    ids = [int(row[0]) for row in answer.rows]
    total = int(answer.rows[0][1]) if with_count and answer.rows else len(ids)
    return Evaluation(count=total, ids=ids, as_of=answer.as_of, elapsed_ms=answer.elapsed_ms)
