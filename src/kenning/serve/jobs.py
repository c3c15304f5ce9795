"""Indexing jobs: uploads become index runs on a background thread, one collection at a time, with progress.

Each collection has one worker thread, so its index runs never overlap (the Engine's writer lock and the
collection's file lock guard against other processes too). Uploads that arrive while a job is still queued join
it instead of queuing another run over the same folder.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import KenningError
from ..types import IndexReport

__all__ = ["Job", "Jobs"]

log = logging.getLogger("kenning.serve")

JobState = Literal["queued", "running", "done", "failed"]


@dataclass
class Job:
    """One index run: what it was asked to index and how far it got. Read it through :meth:`Jobs.view`."""

    id: str
    collection: str
    files: list[str]
    state: JobState = "queued"
    stage: str = ""
    done: int = 0
    total: int | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    report: dict[str, Any] | None = None
    error: str | None = None


class Jobs:
    """Runs ``index(collection, folder, progress)`` for each job, serially per collection."""

    def __init__(self, index: Callable[[str, Path, Callable[[str, int, int | None], None]], IndexReport]) -> None:
        self._index = index
        self._jobs: dict[str, Job] = {}
        self._queues: dict[str, queue.Queue[tuple[Job, Path] | None]] = {}
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def submit(self, collection: str, folder: Path, files: list[str]) -> Job:
        with self._lock:
            for job in self._jobs.values():
                if job.collection == collection and job.state == "queued":
                    job.files.extend(f for f in files if f not in job.files)
                    return dataclasses.replace(job, files=list(job.files))
            job = Job(uuid.uuid4().hex[:12], collection, list(files))
            self._jobs[job.id] = job
            q = self._queues.get(collection)
            if q is None:
                q = self._queues[collection] = queue.Queue()
                worker = threading.Thread(target=self._work, args=(q,), name=f"kenning-index-{collection}", daemon=True)
                worker.start()
                self._workers.append(worker)
            q.put((job, folder))
            self._changed.notify_all()
            return dataclasses.replace(job, files=list(job.files))

    def view(self, job_id: str) -> Job | None:
        """A copy of the job as it is now."""
        with self._lock:
            job = self._jobs.get(job_id)
            return dataclasses.replace(job, files=list(job.files)) if job else None

    def list(self, collection: str | None = None) -> list[Job]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if collection is None or j.collection == collection]
            return [dataclasses.replace(j, files=list(j.files)) for j in sorted(jobs, key=lambda j: j.created)]

    def wait_change(self, job_id: str, seen: tuple, timeout: float) -> Job | None:
        """Block until the job differs from ``seen`` (a :func:`progress_key`) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                job = self._jobs.get(job_id)
                if job is None or progress_key(job) != seen:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return dataclasses.replace(job, files=list(job.files)) if job else None

    def _set(self, job: Job, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(job, name, value)
            self._changed.notify_all()

    def _work(self, q: queue.Queue[tuple[Job, Path] | None]) -> None:
        while (item := q.get()) is not None:
            job, folder = item
            self._set(job, state="running", started=time.time())

            def progress(stage: str, done: int, total: int | None, job: Job = job) -> None:
                self._set(job, stage=stage, done=done, total=total)

            try:
                report = self._index(job.collection, folder, progress)
            except KenningError as exc:
                self._set(job, state="failed", error=str(exc), finished=time.time())
            except Exception as exc:  # a job must end with a state, whatever went wrong
                log.exception("index job %s failed", job.id)
                self._set(
                    job, state="failed", error=f"internal error: {type(exc).__name__}: {exc}", finished=time.time()
                )
            else:
                self._set(job, state="done", report=dataclasses.asdict(report), finished=time.time())

    def close(self) -> None:
        with self._lock:
            queues = list(self._queues.values())
        for q in queues:
            q.put(None)


def progress_key(job: Job) -> tuple:
    return (job.state, job.stage, job.done, job.total, len(job.files))
