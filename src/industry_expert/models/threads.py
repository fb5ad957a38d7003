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
