"""Racing spawned processes against one store, for the concurrency tests."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any


def race(target: Callable[..., None], args: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Start one process per ``args`` entry, release them at once, collect results.

    ``target(*args, start, results)`` waits on ``start`` and puts one result on
    ``results``; the results come back in the order they were put.
    """
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    workers = [
        context.Process(target=target, args=(*given, start, results)) for given in args
    ]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(60)
    return outcomes
