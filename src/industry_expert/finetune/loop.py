"""The training loop's distributed parts, on accelerate's primitives only (no process-group code).

One process (CPU or one GPU) or several under ``accelerate launch`` (DDP, FSDP, DeepSpeed configs in
``configs/accelerate-*.yaml``). Every process builds the same list of micro-batches per epoch; an
optimizer step takes ``grad_accum x processes`` consecutive micro-batches and process ``r`` trains
the ``r``-th, ``r+P``-th... of them, so a run with P processes and ``grad_accum = A`` sees the same
global batches as one process with ``grad_accum = A x P``. Each micro-batch's summed token loss is
divided by the number of answer tokens of the whole step (all micro-batches, all processes), so
the gradient is the mean over the step's answer tokens whatever the split; gradients are
all-reduced once per step (``no_sync`` on the other micro-batches). A process with fewer
micro-batches in the last step runs a zero-weighted one, so uneven shards never hang.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import nullcontext
from itertools import islice
from pathlib import Path
from typing import Any

from industry_expert.errors import ModelError
from industry_expert.finetune.encode import IGNORE

STATE = "state.json"
"""The loop's own counters and loss history, next to accelerate's state files in a checkpoint."""


def accelerator() -> Any:
    """The Accelerator for this process (launch settings come from ``accelerate launch``/env)."""
    from accelerate import Accelerator

    return Accelerator()


def cpu_bf16(precision: str, device: str) -> bool:
    """Whether forward passes run under bf16 autocast: ``precision`` bf16 or auto, on the CPU, where
    the CPU does bf16 arithmetic itself (AVX512-BF16 or AMX). Elsewhere oneDNN emulates it, slower
    than fp32, so ``bf16`` is refused there and ``auto`` stays fp32. (Our own autocast, not
    accelerate's ``mixed_precision``: that one is fixed once per process.) On a GPU the base
    weights already are bf16 (finetune.base.compute_dtype)."""
    import torch

    if precision == "fp32" or device != "cpu":
        return False
    ok = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if precision == "bf16" and not ok:
        raise ModelError(
            "precision: bf16 needs a CPU with AVX512-BF16 or AMX; this one has neither: use fp32"
        )
    return ok


def forward(model: Any, batch: dict[str, Any], bf16: bool) -> Any:
    """``model(**batch)``, under CPU bf16 autocast when ``bf16`` (the backward follows its dtypes)."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        return model(**batch)


def answer_tokens(batch: dict[str, Any]) -> int:
    """Tokens the loss is averaged over: labels after the shift, outside the prompt."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())


def steps(micro: Iterator[dict[str, Any]], per_step: int, skip: int) -> Iterator[list[dict[str, Any]]]:
    """Groups of ``per_step`` consecutive micro-batches (the last may be shorter), after ``skip``
    micro-batches already trained (a resumed epoch)."""
    micro = islice(micro, skip, None)
    while group := list(islice(micro, per_step)):
        yield group


def train_step(
    acc: Any, model: Any, optim: Any, group: list[dict[str, Any]], bf16: bool = False
) -> tuple[float, int]:
    """One optimizer step over ``group`` (every process passes the same group). Returns the mean
    token loss over the whole step (reduced across processes) and the step's trained tokens."""
    import torch

    rank, world = acc.process_index, acc.num_processes
    mine = group[rank::world]
    slots = -(-len(group) // world)  # the same on every process
    total = sum(answer_tokens(b) for b in group)
    loss_sum = torch.zeros((), device=acc.device)
    for j in range(slots):
        real = j < len(mine)
        batch = {k: v.to(acc.device) for k, v in (mine[j] if real else group[0]).items()}
        n = answer_tokens(batch)
        with nullcontext() if j == slots - 1 else acc.no_sync(model):
            out = forward(model, batch, bf16)
            summed = out.loss * n if n else out.logits.sum() * 0.0
            weight = world / max(total, 1) if real else 0.0  # DDP averages over processes
            acc.backward(summed * weight)
        if real:
            loss_sum += summed.detach()
    acc.clip_grad_norm_(model.parameters(), 1.0)
    optim.step()
    optim.zero_grad(set_to_none=True)
    step_loss = float(acc.reduce(loss_sum, reduction="sum")) / max(total, 1)
    return step_loss, sum(int((b["labels"] != IGNORE).sum()) for b in group)


def eval_loss(acc: Any, model: Any, micro: list[dict[str, Any]], bf16: bool = False) -> float:
    """Mean token loss over the eval batches, shared out between processes and reduced."""
    import torch

    if not micro:
        return float("nan")
    inner = acc.unwrap_model(model)
    inner.eval()
    sums = torch.zeros(2, device=acc.device, dtype=torch.float64)
    with torch.no_grad():
        for batch in micro[acc.process_index :: acc.num_processes]:
            batch = {k: v.to(acc.device) for k, v in batch.items()}
            n = answer_tokens(batch)
            if n:
                sums += torch.tensor(
                    [float(forward(inner, batch, bf16).loss) * n, n], device=acc.device, dtype=torch.float64
                )
    inner.train()
    total = acc.reduce(sums, reduction="sum")
    return float(total[0] / total[1]) if total[1] else float("nan")


# -- checkpoints: accelerate's save_state/load_state (optimizer, every RNG, scheduler) ------------
def trainable_only(acc: Any) -> None:
    """Checkpoint only the trainable weights (LoRA: megabytes, not the frozen base) through
    accelerate's state hooks; FSDP keeps accelerate's own sharded model files."""
    from accelerate.utils import DistributedType

    if acc.distributed_type == DistributedType.FSDP:
        return

    def save_hook(models: list[Any], weights: list[Any], out: str) -> None:
        from safetensors.torch import save_file

        for i, model in enumerate(models):
            params = acc.unwrap_model(model).named_parameters()
            state = {k: v.detach().contiguous().cpu() for k, v in params if v.requires_grad}
            if acc.is_main_process:
                save_file(state, str(Path(out) / f"trainable_{i}.safetensors"))
        weights.clear()

    def load_hook(models: list[Any], src: str) -> None:
        import torch
        from safetensors.torch import load_file

        for i, model in enumerate(models):
            params = dict(acc.unwrap_model(model).named_parameters())
            with torch.no_grad():
                for k, v in load_file(str(Path(src) / f"trainable_{i}.safetensors")).items():
                    params[k].copy_(v)
        models.clear()

    acc.register_save_state_pre_hook(save_hook)
    acc.register_load_state_pre_hook(load_hook)


def save_checkpoint(acc: Any, ckpt: Path, state: dict[str, Any]) -> None:
    """Write the checkpoint beside the old one, then swap: a crash leaves one complete checkpoint."""
    tmp, old = ckpt.with_name(ckpt.name + ".tmp"), ckpt.with_name(ckpt.name + ".old")
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    acc.wait_for_everyone()
    acc.save_state(str(tmp))
    acc.wait_for_everyone()
    if acc.is_main_process:
        (tmp / STATE).write_text(json.dumps({**state, "processes": acc.num_processes}), encoding="utf-8")
        if ckpt.exists():
            shutil.rmtree(old, ignore_errors=True)
            ckpt.rename(old)
        tmp.rename(ckpt)
        shutil.rmtree(old, ignore_errors=True)
    acc.wait_for_everyone()


def load_checkpoint(acc: Any, ckpt: Path) -> dict[str, Any] | None:
    """Restore model, optimizer, scheduler and RNG states; the loop's counters, or None."""
    for path in (ckpt, ckpt.with_name(ckpt.name + ".old")):
        if (path / STATE).is_file():
            acc.load_state(str(path))
            return json.loads((path / STATE).read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    return None
