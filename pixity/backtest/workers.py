"""Run a backtest's stretches of days in worker processes, handing the results back in order.

A backtest's days are independent (each warms fresh runners on the lake's previous days), so a
long one splits into contiguous stretches that worker processes run side by side; the caller
merges what each returns in day order, which gives what one process gives.

On Linux the workers are forked: they start at once and have every strategy the caller's
process has registered. Elsewhere (Windows, macOS) they are spawned and import ``pixity``
again, so they know the built-in strategies and those of modules imported on the way.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext
from typing import TypeVar

Task = TypeVar("Task")
Result = TypeVar("Result")

# Below this many days per process, starting the processes costs more than they save.
DAYS_PER_PROCESS = 10
# Stretches per process: two, so that a process that had less of the CPUs takes less of the
# days, and progress is reported along the way; not more, as each stretch reads (not runs)
# its warm-up days again.
STRETCHES_PER_PROCESS = 2


def process_count(workers: int | None, days: int) -> int:
    """Return how many processes to run ``days`` days in.

    ``workers`` None: the CPUs this process may use, but no more than one per
    ``DAYS_PER_PROCESS`` days; a number: that many, but no more than one per day.
    """
    if workers is None:
        return max(1, min(available_cpus(), days // DAYS_PER_PROCESS))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers {workers!r} must be an int >= 1")
    return max(1, min(workers, days))


def available_cpus() -> int:
    """Return the number of CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def stretches(days: Sequence[Task], processes: int) -> list[list[Task]]:
    """Split ``days`` into contiguous stretches for ``processes`` processes, in order."""
    count = max(processes, min(processes * STRETCHES_PER_PROCESS, len(days) // DAYS_PER_PROCESS))
    count = max(1, min(count, len(days)))
    size, extra = divmod(len(days), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (i < extra)
        out.append(list(days[start:end]))
        start = end
    return out


def in_processes(
    fn: Callable[[Task], Result], tasks: Sequence[Task], processes: int
) -> Generator[Result, None, None]:
    """Yield ``fn(task)`` of each task, in the order of ``tasks``, run by worker processes.

    ``fn`` must be a module-level function and the tasks and results picklable. What a task
    raises is raised here (the tasks not started are cancelled); a worker that dies raises
    ``BrokenProcessPool``, so no wait outlasts the work itself.
    """
    pool = ProcessPoolExecutor(max_workers=processes, mp_context=_context())
    try:
        futures = [pool.submit(fn, task) for task in tasks]
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _context() -> BaseContext:
    method = "fork" if sys.platform.startswith("linux") else None  # None: the platform's own
    return multiprocessing.get_context(method)
