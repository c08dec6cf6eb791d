"""SQLite storage: one writer thread fed by a queue, pooled readers, WAL.

Every write runs on the writer thread: :meth:`Store.write` waits until its transaction
has committed, :meth:`Store.submit` returns once the job is queued (ingestion uses it,
so parsing the next request overlaps with committing this one). The queue is bounded,
so a writer that falls behind slows clients down instead of growing memory. The writer
runs whatever is queued, and on a file database whatever arrives within a short commit
window, in one transaction (group commit), each job inside its own savepoint so a
failing job is rolled back alone. Fewer, larger commits matter: a commit writes every
index page it touched to the WAL, and random uuids touch a new page per event.

Reads are consistent with everything submitted before them: :meth:`Store.reader`
first waits until the writer has committed those jobs (read-your-writes for clients
that post a batch and then query). Readers use separate connections (WAL lets them run
beside the writer); an in-memory database has a single connection behind a lock.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from .migrations import SchemaError, migrate

T = TypeVar("T")
MAX_JOBS_PER_TRANSACTION = 256
MAX_QUEUED_JOBS = 256
COMMIT_WINDOW = 0.2
CHECKPOINT_INTERVAL = 0.5
log = logging.getLogger("posthog_devserver")


class StoreClosed(RuntimeError):
    """The store was closed before the write could run."""


class _Job(Generic[T]):
    __slots__ = ("detached", "done", "error", "fn", "result", "seq")

    def __init__(self, fn: Callable[[sqlite3.Connection], T], detached: bool) -> None:
        self.fn = fn
        self.detached = detached
        self.seq = 0
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


def _nothing(conn: sqlite3.Connection) -> None:
    return None


class Store:
    """The database of one dev server. ``path`` may be ``":memory:"``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.memory = path == ":memory:" or path.startswith("file::memory:")
        self._lock = threading.RLock()
        try:
            self._writer_conn = self._connect()
        except sqlite3.DatabaseError as exc:
            raise SchemaError(f"cannot open {path} as a SQLite database: {exc}") from exc
        try:
            self.schema_version = migrate(self._writer_conn, path)
        except BaseException:
            self._writer_conn.close()
            raise
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all_readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._jobs: queue.Queue[_Job[Any] | None] = queue.Queue(MAX_QUEUED_JOBS)
        self._submit_lock = threading.Lock()
        self._progress = threading.Condition()
        self._submitted = 0
        self._committed = 0
        self._closed = False
        self._closing = threading.Event()
        self._stopping = False
        # A file database keeps a transaction open this long for the writes that follow
        # (seconds): fewer commits, each writing the index pages it touched once.
        self.commit_window = 0.0 if self.memory else COMMIT_WINDOW
        self.rollback_hooks: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._run, name="devserver-writer", daemon=True)
        self._thread.start()
        self._commits = threading.Event()
        self._checkpointer: threading.Thread | None = None
        if not self.memory:
            # Checkpoints (copying the WAL into the database, with fsyncs) run on their own
            # thread and connection, so the writer only ever appends to the WAL.
            self._writer_conn.execute("PRAGMA wal_autocheckpoint = 0")
            self._writer_conn.execute("PRAGMA cache_size = -65536")  # 64 MiB of index pages
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="devserver-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _connect(self, readonly: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        try:
            if not self.memory:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            if readonly:
                conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    # -- writes ---------------------------------------------------------------------------

    def submit(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        """Queue ``fn(conn)`` for the writer; return without waiting for the commit."""
        self._enqueue(_Job(fn, detached=True))

    def write(self, fn: Callable[[sqlite3.Connection], T], timeout: float = 60.0) -> T:
        """Run ``fn(conn)`` on the writer thread; return once its transaction committed."""
        job: _Job[T] = _Job(fn, detached=False)
        self._enqueue(job)
        if not job.done.wait(timeout):
            raise TimeoutError("the database writer did not answer in time")
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _enqueue(self, job: _Job[Any]) -> None:
        with self._submit_lock:
            if self._closed:
                raise StoreClosed("the store is closed")
            self._submitted += 1
            job.seq = self._submitted
            self._jobs.put(job)

    def sync(self, timeout: float = 60.0) -> None:
        """Wait until every job submitted before this call has been committed."""
        target = self._submitted
        if self._committed < target and self.commit_window:
            # end an open commit window now instead of waiting it out
            with contextlib.suppress(StoreClosed):
                self._enqueue(_Job(_nothing, detached=False))
        with self._progress:
            if not self._progress.wait_for(lambda: self._committed >= target, timeout):
                raise TimeoutError("the database writer did not catch up in time")

    def _run(self) -> None:
        while not self._stopping:
            first = self._jobs.get()
            if first is None:
                return
            self._transaction(first)

    def _next_job(self, deadline: float) -> _Job[Any] | None:
        """The next queued job, waiting until ``deadline`` at most; None when there is none."""
        try:
            job = self._jobs.get_nowait()
        except queue.Empty:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                job = self._jobs.get(timeout=remaining)
            except queue.Empty:
                return None
        if job is None:
            self._stopping = True
        return job

    def _transaction(self, first: _Job[Any]) -> None:
        """Run ``first`` and the jobs that follow it within the commit window, then commit.

        The transaction ends early for a job someone waits on (``write``, and the marker
        ``sync`` queues), at ``MAX_JOBS_PER_TRANSACTION``, and when the store closes.
        """
        conn = self._writer_conn
        batch = [first]
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                self._run_job(conn, first)
                deadline = time.monotonic() + self.commit_window
                job: _Job[Any] | None = first
                while job is not None and job.detached and len(batch) < MAX_JOBS_PER_TRANSACTION:
                    job = self._next_job(deadline)
                    if job is not None:
                        batch.append(job)
                        self._run_job(conn, job)
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
            if job.detached and job.error is not None:
                log.error("a queued write failed", exc_info=job.error)
        with self._progress:
            self._committed = batch[-1].seq
            self._progress.notify_all()
        self._commits.set()

    @staticmethod
    def _run_job(conn: sqlite3.Connection, job: _Job[Any]) -> None:
        """Run one job in its own savepoint, so a failing job is rolled back alone."""
        conn.execute("SAVEPOINT job")
        try:
            job.result = job.fn(conn)
            conn.execute("RELEASE job")
        except BaseException as exc:
            job.error = exc
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")

    def _checkpoint_loop(self) -> None:
        conn = self._connect()
        try:
            while not self._closed:
                if not self._commits.wait(CHECKPOINT_INTERVAL):
                    continue
                self._commits.clear()
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                # at most one checkpoint per interval; the WAL absorbs the writes between
                self._closing.wait(CHECKPOINT_INTERVAL)
        finally:
            conn.close()

    # -- reads ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def reader(self, sync: bool = True) -> Iterator[sqlite3.Connection]:
        """A connection for reading (after :meth:`sync`); returned to the pool afterwards."""
        if sync:
            self.sync()
        if self.memory:
            with self._lock:
                yield self._writer_conn
            return
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect(readonly=True)
            with self._readers_lock:
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
        with self._submit_lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(None)
        self._thread.join(timeout=60)
        self._closing.set()
        self._commits.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=60)
        with self._lock, self._readers_lock:
            for conn in self._all_readers:
                conn.close()
            if not self.memory:
                with contextlib.suppress(sqlite3.Error):
                    self._writer_conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._writer_conn.close()
