"""The gate in front of the model and the one stream bridge behind it (service.py builds on both).

Gate: one model thread, one call at a time, at most ``max_waiting`` calls queued, a deadline per call.
Stream: the items a call produces on the model thread, read by a thread (``for``) or an event loop
(``async for``) alike.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Callable, Iterable, Iterator

from .errors import BusyError, RagError, TimeoutError_

log = logging.getLogger("rag.service")


class InternalError(RagError):
    """An unexpected failure: the details go to the server's log, never to the user."""

    http_status = 500


def as_rag_error(exc: BaseException | None) -> BaseException | None:
    """RagErrors (one-line messages meant for users) pass; anything else is logged and becomes an
    InternalError, so no front end ever shows a traceback or an internal detail."""
    if exc is None or isinstance(exc, RagError) or not isinstance(exc, Exception):
        return exc
    log.error("unexpected error while answering", exc_info=exc)
    return InternalError("internal server error (logged on the server)")


class Gate:
    """One model thread, one call at a time, at most ``max_waiting`` calls queued behind it.

    Admission is decided at once (BusyError when the queue is full); an admitted call has until its
    deadline. One thread for every model call keeps torch's per-thread state and the allocator's arenas
    from multiplying. A call that outlives its request keeps the model until it really ends; one that
    never started by its deadline is dropped.
    """

    def __init__(self, max_waiting: int = 4, timeout: float = 60.0):
        self.max_waiting, self.timeout = max_waiting, timeout
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-model")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = False
        self._service = 2.0  # moving average of call durations, for Retry-After

    def stats(self) -> dict:
        with self._lock:
            return {"running": int(self._running), "waiting": self._admitted - int(self._running),
                    "max_waiting": self.max_waiting}

    def retry_after(self) -> int:
        """Seconds a refused client should wait: the queue's expected drain time, 1..60."""
        with self._lock:
            return max(1, min(60, round(self._service * max(1, self._admitted))))

    def timeout_error(self, note: str = "") -> TimeoutError_:
        return TimeoutError_(f"no answer within {self.timeout:g} s{note}; try again later")

    def submit(self, fn, *args) -> Future:
        """Admit (or raise BusyError) and queue fn(*args) for the model thread."""
        with self._lock:
            if self._admitted >= 1 + self.max_waiting:
                raise BusyError(f"the server is busy ({self.max_waiting} requests already waiting); retry later")
            self._admitted += 1
        try:
            future = self.executor.submit(self._run, time.monotonic() + self.timeout, fn, args)
        except BaseException:
            self._leave(None)
            raise
        future.add_done_callback(self._leave)  # on completion and on cancellation alike
        return future

    def run(self, fn, *args):
        """fn(*args) on the model thread, waiting at most until the deadline."""
        future = self.submit(fn, *args)
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout:
            future.cancel()
            raise self.timeout_error() from None

    async def call(self, fn, *args):
        """fn(*args) on the model thread; the event loop keeps serving meanwhile."""
        future = self.submit(fn, *args)
        try:  # on timeout wait_for cancels the call if it has not started yet
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError:
            raise self.timeout_error() from None

    def _run(self, deadline: float, fn, args):
        if time.monotonic() > deadline:  # its caller has already been told 504
            raise self.timeout_error(" (waited in the queue)")
        t0 = time.monotonic()
        with self._lock:
            self._running = True
        try:
            return fn(*args)
        finally:
            with self._lock:
                self._running = False
                self._service = 0.8 * self._service + 0.2 * (time.monotonic() - t0)

    def _leave(self, _future) -> None:
        with self._lock:
            self._admitted -= 1


class Stream:
    """The one bridge from the model thread to a consumer: iterate it (a chat worker thread) or
    ``async for`` over it (an HTTP route); each yields the producer's items and then raises its error,
    or TimeoutError_ past the deadline.

    Admission happens in the constructor (BusyError at once), so a refusal can still become a status
    code. When the consumer stops early the producer stops at its next item and the queue place is
    given back.
    """

    def __init__(self, gate: Gate, make_items: Callable[[], Iterable]):
        self._gate = gate
        self._cond = threading.Condition()
        self._items: deque = deque()
        self._finished = False
        self._error: BaseException | None = None
        self._wake: Callable[[], None] | None = None  # set by an async consumer
        self._stop = threading.Event()
        self.deadline = time.monotonic() + gate.timeout
        self._future = gate.submit(self._produce, make_items)
        self._future.add_done_callback(self._done)

    def close(self) -> None:
        self._stop.set()
        self._future.cancel()  # only succeeds while it still waits in the queue

    def __iter__(self) -> Iterator:
        try:
            while True:
                with self._cond:
                    while not (self._items or self._finished):
                        remaining = self.deadline - time.monotonic()
                        if remaining <= 0:
                            raise self._gate.timeout_error()
                        self._cond.wait(remaining)
                    item = self._next()
                if item is _END:
                    return
                yield item
        finally:
            self.close()

    async def __aiter__(self):
        loop, ready = asyncio.get_running_loop(), asyncio.Event()

        def wake() -> None:  # called by the producer, under self._cond
            try:
                loop.call_soon_threadsafe(ready.set)
            except RuntimeError:  # the loop is gone (server shutting down)
                self._stop.set()

        with self._cond:
            self._wake = wake
        try:
            while True:
                with self._cond:
                    item = self._next() if self._items or self._finished else None
                    if item is None:
                        ready.clear()
                if item is _END:
                    return
                if item is not None:
                    yield item
                    continue
                remaining = self.deadline - time.monotonic()
                try:
                    if remaining <= 0:
                        raise TimeoutError
                    await asyncio.wait_for(ready.wait(), remaining)
                except TimeoutError:
                    raise self._gate.timeout_error() from None
        finally:
            self.close()

    def _next(self):
        """The next item, _END, or the producer's error (call under self._cond, with something there)."""
        if self._items:
            return self._items.popleft()
        if self._error is not None:
            raise self._error
        return _END

    def _produce(self, make_items) -> None:
        if self._stop.is_set():  # the consumer left while this call waited in the queue
            return
        items = make_items()
        try:
            for item in items:
                if self._stop.is_set():
                    break
                with self._cond:
                    self._items.append(item)
                    self._notify()
        finally:
            getattr(items, "close", lambda: None)()

    def _done(self, future: Future) -> None:
        with self._cond:
            self._finished = True
            if not future.cancelled():
                self._error = as_rag_error(future.exception())
            self._notify()

    def _notify(self) -> None:
        self._cond.notify_all()
        if self._wake is not None:
            self._wake()


_END = object()
