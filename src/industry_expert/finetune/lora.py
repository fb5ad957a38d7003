"""The fine-tuning recipe, top to bottom: setup -> train -> save. LoRA by default; QLoRA (4-bit
NF4 base) and full fine-tuning are options of the same recipe."""

from __future__ import annotations

import json
import math
import os
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.finetune import base as base_models
from industry_expert.finetune.data import DataError, check, dataset_hash, load_examples, split
from industry_expert.finetune.encode import IGNORE, Encoded, batches, encode
from industry_expert.finetune.settings import FinetuneSettings, target_modules
from industry_expert.kb import tool_version, write_json_atomic
from industry_expert.models.templates import FALLBACK_BY_ARCHITECTURE

MANIFEST = "expert_adapter.json"


@dataclass
class FinetuneReport:
    out: str
    method: str
    base: str
    steps: int
    epochs_done: int
    train_examples: int
    eval_examples: int
    trained_tokens: int
    seconds: float
    tokens_per_s: float
    peak_rss_mb: float
    base_weight_mb: float
    trainable_params: int
    losses: list[float] = field(default_factory=list)
    eval_losses: list[float] = field(default_factory=list)
    resumed_from_step: int = 0
    peak_gpu_mb: float = 0.0
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Distributed:
    """One process (CPU or one GPU), or several under ``accelerate launch`` / torchrun: then
    accelerate wraps the model for data parallelism, each process trains its share of the
    batches, and only the main process writes files."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.acc: Any = None
        if self.world > 1:
            from accelerate import Accelerator

            self.acc = Accelerator()
            self.device = str(self.acc.device)
        else:
            self.device = base_models.train_device(int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def prepare(self, model: Any, optim: Any) -> tuple[Any, Any]:
        return tuple(self.acc.prepare(model, optim)) if self.acc else (model, optim)  # type: ignore[return-value]

    def shard(self, items: Iterator[Any]) -> Iterator[Any]:
        return (b for i, b in enumerate(items) if i % self.world == self.rank)

    def backward(self, loss: Any) -> None:
        self.acc.backward(loss) if self.acc else loss.backward()

    def unwrap(self, model: Any) -> Any:
        return self.acc.unwrap_model(model) if self.acc else model


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def chat_template(tokenizer: Any, model_type: str) -> str:
    template = tokenizer.chat_template or FALLBACK_BY_ARCHITECTURE.get(model_type)
    if not template:
        raise DataError("the base model has no chat template; fine-tune an instruct/chat model")
    return str(template)


def _eval_loss(model: Any, data: list[Encoded], s: FinetuneSettings, pad: int, device: str) -> float:
    import torch

    if not data:
        return float("nan")
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for batch in batches(data, s.batch_size, "bucket", s.max_seq_len, pad, s.seed):
            batch = {k: v.to(device) for k, v in batch.items()}
            count = int((batch["labels"][:, 1:] != IGNORE).sum())
            total += float(model(**batch).loss) * count
            n += count
    model.train()
    return total / max(n, 1)


def _trainable_state(model: Any) -> dict[str, Any]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if v.requires_grad}


def _save_checkpoint(ckpt: Path, model: Any, optim: Any, sched: Any, state: dict[str, Any]) -> None:
    import torch
    from safetensors.torch import save_file

    tmp = ckpt.with_name(ckpt.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_file(_trainable_state(model), str(tmp / "trainable.safetensors"))
    torch.save(
        {"optim": optim.state_dict(), "sched": sched.state_dict(), "rng": torch.get_rng_state()},
        tmp / "optimizer.pt",
    )
    (tmp / "state.json").write_text(json.dumps(state), encoding="utf-8")
    if ckpt.exists():
        import shutil

        shutil.rmtree(ckpt)
    tmp.rename(ckpt)


def _load_checkpoint(ckpt: Path, model: Any, optim: Any, sched: Any) -> dict[str, Any]:
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(ckpt / "trainable.safetensors"))
    params = dict(model.named_parameters())
    with torch.no_grad():
        for k, v in weights.items():
            params[k].copy_(v)
    extra = torch.load(ckpt / "optimizer.pt", weights_only=True)
    optim.load_state_dict(extra["optim"])
    sched.load_state_dict(extra["sched"])
    torch.set_rng_state(extra["rng"])
    return json.loads((ckpt / "state.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def finetune(
    data: str | Path,
    out: str | Path,
    settings: FinetuneSettings | None = None,
    resume: bool = False,
    progress: bool = False,
    on_step: Callable[[int], None] | None = None,
) -> FinetuneReport:
    """Train an adapter (or a full model) on chat data; everything needed to reuse it is in ``out``."""
    import torch
    from tqdm import tqdm
    from transformers import AutoConfig, set_seed

    s = settings or FinetuneSettings()
    out = Path(out)
    t_start = time.perf_counter()
    # -- setup: every input is checked before any training starts -------------------------
    base = base_models.resolve_base(s.base)
    examples = load_examples(data)
    tokenizer = base_models.load_tokenizer(base)
    model_type = AutoConfig.from_pretrained(base).model_type
    template = chat_template(tokenizer, model_type)
    report = check(
        examples, lambda t: len(tokenizer(t, add_special_tokens=False)["input_ids"]), s.max_seq_len, str(data)
    )
    if report.empty_answers:
        raise DataError(f"{data}: empty assistant answers on line(s) {report.empty_answers[:10]}")
    train, evals = split(examples, s.eval_fraction, s.seed)
    enc_train = [encode(e, tokenizer, template) for e in train]
    enc_eval = [encode(e, tokenizer, template) for e in evals]
    too_long = [e.line for e, x in zip(train + evals, enc_train + enc_eval) if len(x.ids) > s.max_seq_len]
    if too_long:
        raise DataError(
            f"{data}: {len(too_long)} example(s) longer than max_seq_len={s.max_seq_len} "
            f"tokens (lines {too_long[:10]}); raise max_seq_len or shorten them"
        )
    set_seed(s.seed)
    dist = Distributed()
    model = base_models.load_model(base, s.method, dist.device)
    base_mb = base_models.weight_bytes(model) / 1048576
    if s.method != "full":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=s.lora_r,
                lora_alpha=s.lora_alpha,
                lora_dropout=s.lora_dropout,
                task_type="CAUSAL_LM",
                target_modules=target_modules(model_type, s.target_modules),
            ),
        )
    if s.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    model, optim = dist.prepare(model, optim)
    pad = tokenizer.pad_token_id
    n_all = sum(1 for _ in batches(enc_train, s.batch_size, s.batching, s.max_seq_len, pad, s.seed))
    n_batches = len(range(dist.rank, n_all, dist.world))  # this process's share
    per_epoch = math.ceil(n_batches / s.grad_accum)
    total = min(per_epoch * s.epochs, s.max_steps or per_epoch * s.epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda st: min(1.0, (st + 1) / max(1, s.warmup_steps)) * max(0.0, 1 - st / max(1, total))
    )
    state: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "losses": [], "eval_losses": [], "tokens": 0}
    ckpt = out / "checkpoint"
    resumed = 0
    if resume:
        if not (ckpt / "state.json").is_file():
            raise DataError(f"{out}: nothing to resume (no checkpoint)")
        state = _load_checkpoint(ckpt, model, optim, sched)
        resumed = state["step"]
    # -- train ----------------------------------------------------------------------------
    bar = tqdm(
        total=total,
        initial=state["step"],
        desc=f"{s.method} fine-tuning",
        unit="step",
        disable=None if progress else True,
    )
    t0, tokens0 = time.perf_counter(), state["tokens"]
    while state["step"] < total and state["epoch"] < s.epochs:
        epoch = state["epoch"]
        for i, batch in enumerate(
            dist.shard(batches(enc_train, s.batch_size, s.batching, s.max_seq_len, pad, s.seed + epoch))
        ):
            if i < state["batch"]:
                continue  # resumed mid-epoch: these batches were trained already
            batch = {k: v.to(dist.device) for k, v in batch.items()}
            loss = model(**batch).loss
            dist.backward(loss / s.grad_accum)
            state["tokens"] += int((batch["labels"] != IGNORE).sum())
            state["batch"] = i + 1
            if (i + 1) % s.grad_accum and i + 1 != n_batches:
                continue
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optim.step()
            sched.step()
            optim.zero_grad(set_to_none=True)
            state["step"] += 1
            state["losses"].append(round(float(loss.detach()), 5))
            rate = (state["tokens"] - tokens0) / (time.perf_counter() - t0)
            bar.set_postfix(loss=f"{state['losses'][-1]:.3f}", tok_s=f"{rate:.0f}", rss_mb=f"{_rss_mb():.0f}")
            bar.update(1)
            if s.save_every and state["step"] % s.save_every == 0 and dist.main:
                _save_checkpoint(ckpt, dist.unwrap(model), optim, sched, state)
            if on_step:
                on_step(state["step"])
            if state["step"] >= total:
                break
        if state["batch"] >= n_batches:  # the epoch is complete
            state["epoch"], state["batch"] = epoch + 1, 0
            state["eval_losses"].append(round(_eval_loss(model, enc_eval, s, pad, dist.device), 5))
        if dist.main:
            _save_checkpoint(ckpt, dist.unwrap(model), optim, sched, state)
    bar.close()
    seconds = time.perf_counter() - t0
    # -- save -----------------------------------------------------------------------------
    result = FinetuneReport(
        out=str(out),
        method=s.method,
        base=s.base,
        steps=state["step"],
        epochs_done=state["epoch"],
        train_examples=len(train),
        eval_examples=len(evals),
        trained_tokens=state["tokens"],
        seconds=round(time.perf_counter() - t_start, 2),
        tokens_per_s=round((state["tokens"] - tokens0) / seconds, 1) if seconds else 0.0,
        peak_rss_mb=round(_rss_mb(), 1),
        peak_gpu_mb=round(torch.cuda.max_memory_allocated() / 1048576, 1)
        if torch.cuda.is_available()
        else 0.0,
        device=dist.device,
        base_weight_mb=round(base_mb, 1),
        trainable_params=sum(p.numel() for p in params),
        losses=state["losses"],
        eval_losses=state["eval_losses"],
        resumed_from_step=resumed,
    )
    if not dist.main:
        return result
    _save_artifact(
        out,
        dist.unwrap(model),
        tokenizer,
        template,
        s,
        base,
        data,
        report.to_dict(),
        len(train),
        len(evals),
        result,
    )
    return result


def _save_artifact(
    out: Path,
    model: Any,
    tokenizer: Any,
    template: str,
    s: FinetuneSettings,
    base: str,
    data: str | Path,
    data_report: dict[str, Any],
    n_train: int,
    n_eval: int,
    result: FinetuneReport,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.chat_template = template
    tokenizer.save_pretrained(out)
    write_json_atomic(out / "training_config.json", {**s.to_dict(), "resolved_base": base})
    write_json_atomic(
        out / "data_manifest.json",
        {
            "path": str(data),
            "sha256": dataset_hash(data),
            "train_examples": n_train,
            "eval_examples": n_eval,
            "report": data_report,
        },
    )
    write_json_atomic(out / "metrics.json", result.to_dict())
    write_json_atomic(
        out / MANIFEST,
        {
            "kind": "full-model" if s.method == "full" else "peft-adapter",
            "tool_version": tool_version(),
            "base": s.base,
            "resolved_base": base,
            "method": s.method,
            "chat_template": template,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
