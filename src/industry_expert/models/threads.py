"""CPU thread pinning for torch, faiss and llama.cpp (IE_NUM_THREADS; tests pin 1)."""

from __future__ import annotations

import os


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
