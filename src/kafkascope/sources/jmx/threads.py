"""Threads for calls that may hang: one per call in flight, reused, none shared by a queue.

A fixed pool is the wrong tool for JMX calls: a call abandoned at its timeout keeps its
thread until the Java side gives up, and once every thread of a shared pool is held by dead
targets, calls to healthy ones wait in its queue and time out too. :class:`CachedThreads`
never queues: a call takes an idle thread or starts a new one, so a stuck call delays
nobody else. Callers bound how many calls they have in flight (the connection allows one
per target), which bounds the threads; idle threads exit after ``idle`` seconds.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Task = tuple["cf.Future[Any]", Callable[[], Any]]


class CachedThreads:
    """Run each callable on an idle thread, or on a new one when none is idle."""

    def __init__(self, name: str, idle: float = 60.0) -> None:
        self.name = name
        self.idle = idle
        self._lock = threading.Lock()
        self._idle: list[queue.SimpleQueue[_Task | None]] = []  # last in, first out
        self._count = 0
        self._made = 0
        self._closed = False

    @property
    def threads(self) -> int:
        """Threads alive now, busy or idle."""
        with self._lock:
            return self._count

    def submit(self, fn: Callable[[], T]) -> cf.Future[T]:
        fut: cf.Future[T] = cf.Future()
        new = False
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self.name} threads are closed")
            if self._idle:
                inbox = self._idle.pop()
            else:
                inbox, new = queue.SimpleQueue(), True
                self._count += 1
                self._made += 1
                n = self._made
        inbox.put((fut, fn))
        if new:
            threading.Thread(
                target=self._work, args=(inbox,), name=f"{self.name}-{n}", daemon=True
            ).start()
        return fut

    def _work(self, inbox: queue.SimpleQueue[_Task | None]) -> None:
        try:
            while True:
                try:
                    task = inbox.get(timeout=self.idle)
                except queue.Empty:
                    with self._lock:
                        if inbox in self._idle:  # nobody handed it work meanwhile: leave
                            self._idle.remove(inbox)
                            return
                    task = inbox.get()  # handed a task just as the wait ended
                if task is None:
                    return
                fut, fn = task
                if fut.set_running_or_notify_cancel():
                    try:
                        fut.set_result(fn())
                    except BaseException as e:  # noqa: BLE001 - handed to the caller
                        fut.set_exception(e)
                del task, fut, fn
                with self._lock:
                    if self._closed:
                        return
                    self._idle.append(inbox)
        finally:
            with self._lock:
                self._count -= 1
            _detach_from_java()

    def close(self) -> None:
        """Idle threads exit now, busy ones when their call returns."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for inbox in idle:
            inbox.put(None)


def _detach_from_java() -> None:
    """A thread that called Java is attached to the JVM; detach it before it exits, or the
    JVM keeps its record."""
    import sys

    jpype = sys.modules.get("jpype")
    if jpype is None or not jpype.isJVMStarted():
        return
    try:
        if jpype.java.lang.Thread.isAttached():
            jpype.java.lang.Thread.detach()
    except Exception:  # noqa: BLE001 - nothing to do about a failed detach at exit
        pass
