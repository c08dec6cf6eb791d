"""SQLite storage: one writer thread fed by a queue, pooled readers, WAL.

Every write goes through :meth:`Store.write`, which runs a function on the writer
thread and waits until its transaction has committed. The writer drains whatever is
queued into one transaction (group commit), each job inside its own savepoint so a
failing job is rolled back alone. Readers use separate connections (WAL lets them run
beside the writer); an in-memory database has a single connection behind a lock.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .migrations import migrate

T = TypeVar("T")
MAX_JOBS_PER_TRANSACTION = 64


class StoreClosed(RuntimeError):
    """The store was closed before the write could run."""


class _Job(Generic[T]):
    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[sqlite3.Connection], T]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class Store:
    """The database of one dev server. ``path`` may be ``":memory:"``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.memory = path == ":memory:" or path.startswith("file::memory:")
        self._lock = threading.RLock()
        self._writer_conn = self._connect()
        self.schema_version = migrate(self._writer_conn, path)
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all_readers: list[sqlite3.Connection] = []
        self._jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._closed = False
        self.rollback_hooks: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._run, name="devserver-writer", daemon=True)
        self._thread.start()

    def _connect(self, readonly: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        if not self.memory:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if readonly:
            conn.execute("PRAGMA query_only = ON")
        return conn

    # -- writes ---------------------------------------------------------------------------

    def write(self, fn: Callable[[sqlite3.Connection], T], timeout: float = 60.0) -> T:
        """Run ``fn(conn)`` on the writer thread; return once its transaction committed."""
        job: _Job[T] = _Job(fn)
        if self._closed:
            raise StoreClosed("the store is closed")
        self._jobs.put(job)
        if not job.done.wait(timeout):
            raise TimeoutError("the database writer did not answer in time")
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _run(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_JOBS_PER_TRANSACTION:
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[_Job[Any]]) -> None:
        conn = self._writer_conn
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                for job in batch:
                    conn.execute("SAVEPOINT job")
                    try:
                        job.result = job.fn(conn)
                        conn.execute("RELEASE job")
                    except BaseException as exc:
                        job.error = exc
                        conn.execute("ROLLBACK TO job")
                        conn.execute("RELEASE job")
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                for hook in self.rollback_hooks:
                    hook()
                for job in batch:
                    job.error = job.error or exc
        for job in batch:
            job.done.set()

    # -- reads ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def reader(self) -> Iterator[sqlite3.Connection]:
        """A connection for reading; returned to the pool afterwards."""
        if self.memory:
            with self._lock:
                yield self._writer_conn
            return
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect(readonly=True)
            with self._lock:
                self._all_readers.append(conn)
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._readers.put(conn)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Finish queued writes, then close every connection. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        self._thread.join(timeout=60)
        with self._lock:
            for conn in self._all_readers:
                conn.close()
            if not self.memory:
                with contextlib.suppress(sqlite3.Error):
                    self._writer_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._writer_conn.close()
