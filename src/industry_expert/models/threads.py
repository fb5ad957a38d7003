"""CPU thread pinning for torch, faiss, numpy's BLAS and llama.cpp (IE_NUM_THREADS; tests pin 1)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any


def num_threads() -> int | None:
    value = os.environ.get("IE_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def pin_torch() -> None:
    n = num_threads()
    if n:
        import torch

        if torch.get_num_threads() != n:
            torch.set_num_threads(n)


def batch_threads() -> int:
    """Threads for batch work (ingest embedding): IE_NUM_THREADS, else the cores this process may
    use. A single query runs on one thread instead (see models/onnx_embedder.py)."""
    n = num_threads()
    if n:
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_NATIVE = ("faiss", "torch", "onnxruntime", "scipy", "llama_cpp", "sklearn")
"""Modules that load their own BLAS/OpenMP libraries (scipy bundles a second OpenBLAS)."""


@cache
def _native_pools(loaded: tuple[bool, ...]) -> Any:
    """The native thread pools loaded so far (rebuilt when a module of ``_NATIVE`` is imported later)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def query_threads() -> Iterator[None]:
    """Run one query's native work (numpy's BLAS, faiss' OpenMP) on one thread.

    A matrix-vector product spread over every core saves nothing at query sizes and, when the
    cores are busy (other requests, an ingest), waits for a descheduled helper thread: measured
    on 20k x 384, p95 12 ms with the default 2 BLAS threads under load, 5 ms with one. The
    controller is built once; entering the limit costs about 11 us.
    """
    loaded = tuple(name in sys.modules for name in _NATIVE)
    with _native_pools(loaded).limit(limits=1):
        yield
