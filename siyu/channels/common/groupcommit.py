"""Group commit: the rows of many concurrent callers written by one thread, one transaction per batch.

A callback must be stored before it is acknowledged, and a commit per callback costs more than the verification and
decryption together (SQLite writes the WAL frames of every index; PostgreSQL flushes its WAL). So each caller hands
its row to one writer thread and waits; the writer takes everything that has queued up while it was busy, writes it
in one transaction and then answers every caller. An idle process pays no delay (a lone row is written at once);
a busy one pays one commit per batch instead of one per callback. Nothing is acknowledged before its commit.

Async callers (the ASGI callback endpoint) use `asubmit`: their rows gather per event loop while one batch is being
written on a single database thread, so thousands of in-flight callbacks cost one thread hop per batch, not one per
callback.

A caller that already holds a transaction (a test inside `atomic`, a caller batching its own work) is written in
its own thread and transaction instead, so it sees its own rows and rolls back with them.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, transaction

log = logging.getLogger(__name__)
_CLOSE = object()  # queued by release_connections(): the writer closes its connection

T = TypeVar("T")
R = TypeVar("R")


class GroupCommitter(Generic[T, R]):
    """`submit(item)` returns `flush([... item ...])`'s answer for that item once its batch has committed."""

    def __init__(
        self, name: str, flush: Callable[[Sequence[T]], Sequence[R]], *, max_batch: int = 500, timeout_s: float = 4.0
    ) -> None:
        self.name = name
        self.flush = flush
        self.max_batch = max_batch
        self.timeout_s = timeout_s
        self._queue: queue.SimpleQueue[tuple[Any, Future[Any]]] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self._db_thread: ThreadPoolExecutor | None = None
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopQueue[T, R]] = (
            weakref.WeakKeyDictionary()
        )
        self.batches = 0
        _ALL.add(self)

    def submit(self, item: T) -> R:
        if not getattr(settings, "SIYU_GROUP_COMMIT", True) or transaction.get_connection().in_atomic_block:
            return self._flush_one(item)
        future: Future[R] = Future()
        self._queue.put((item, future))
        self._ensure_writer()
        # A timeout raises: the platform gets no 200 and delivers again; the dedupe key makes that harmless.
        return future.result(timeout=self.timeout_s)

    async def asubmit(self, item: T) -> R:
        if not getattr(settings, "SIYU_GROUP_COMMIT", True):
            return await sync_to_async(self._flush_one, thread_sensitive=False)(item)
        loop = asyncio.get_running_loop()
        waiting = self._loops.get(loop)
        if waiting is None:
            waiting = self._loops[loop] = _LoopQueue()
        future: asyncio.Future[R] = loop.create_future()
        waiting.pending.append((item, future))
        if not waiting.writing:
            waiting.writing = True
            waiting.task = loop.create_task(self._drain(loop, waiting))
        return await future  # the batch write carries the timeout: one timer per batch, not one per caller

    async def _drain(self, loop: asyncio.AbstractEventLoop, waiting: _LoopQueue[T, R]) -> None:
        """Write what has gathered, then what gathered meanwhile, until nothing waits."""
        if self._db_thread is None:
            with self._lock:
                if self._db_thread is None:
                    self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"groupcommit-{self.name}")
        try:
            while waiting.pending:
                batch = waiting.pending[: self.max_batch]
                del waiting.pending[: self.max_batch]
                try:
                    results = await asyncio.wait_for(
                        loop.run_in_executor(self._db_thread, self._flush_or_reset, batch), timeout=self.timeout_s
                    )
                except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error
                    for _item, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self.batches += 1
                for (_item, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            waiting.writing = False

    def _flush_or_reset(self, batch: Sequence[tuple[T, object]]) -> Sequence[R]:
        """Write a batch on this thread's connection; on failure log it and drop the connection, so a broken one is
        not reused for the next batch, then re-raise for the callers."""
        try:
            return self.flush([item for item, _future in batch])
        except Exception:
            log.exception("group commit %s: a batch of %d failed", self.name, len(batch))
            connection.close()
            raise

    def _flush_one(self, item: T) -> R:
        results = self.flush([item])
        return results[0]

    def _ensure_writer(self) -> None:
        if self._writer is not None and self._writer.is_alive():
            return
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._run, name=f"groupcommit-{self.name}", daemon=True)
                self._writer.start()

    def release_connections(self) -> None:
        """Close the database connections the writer threads hold (shutdown; a test database about to be dropped)."""
        if self._writer is not None and self._writer.is_alive():
            done: Future[None] = Future()
            self._queue.put((_CLOSE, done))
            done.result(timeout=self.timeout_s)
        if self._db_thread is not None:
            self._db_thread.submit(_close_this_threads_connection).result(timeout=self.timeout_s)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first[0] is _CLOSE:
                connection.close()
                first[1].set_result(None)
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            closing = [entry for entry in batch if entry[0] is _CLOSE]
            self._write([entry for entry in batch if entry[0] is not _CLOSE])
            for _marker, future in closing:
                connection.close()
                future.set_result(None)

    def _write(self, batch: list[tuple[Any, Future[Any]]]) -> None:
        if not batch:
            return
        try:
            results = self._flush_or_reset(batch)
        except Exception as exc:  # noqa: BLE001 - every waiting caller gets the error; the writer lives on
            for _item, future in batch:
                future.set_exception(exc)
            return
        self.batches += 1
        for (_item, future), result in zip(batch, results, strict=True):
            future.set_result(result)


class _LoopQueue(Generic[T, R]):
    """What waits to be written on one event loop, and whether a writer task is running for it."""

    def __init__(self) -> None:
        self.pending: list[tuple[T, asyncio.Future[R]]] = []
        self.writing = False
        self.task: asyncio.Task[None] | None = None


_ALL: weakref.WeakSet[GroupCommitter[Any, Any]] = weakref.WeakSet()


def release_all_connections() -> None:
    for committer in list(_ALL):
        committer.release_connections()


def _close_this_threads_connection() -> None:
    connection.close()  # the proxy resolves to the connection of the thread this runs on
