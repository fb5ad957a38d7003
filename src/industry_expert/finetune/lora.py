"""The fine-tuning recipe, top to bottom: :func:`setup` -> :func:`fit` -> :func:`save` (litgpt's
split). LoRA by default; QLoRA (4-bit NF4 base) and full fine-tuning are options of the same recipe.
The loop runs on accelerate (``loop.py``): one process, or several under ``accelerate launch``."""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from industry_expert.artifacts import ADAPTER_MANIFEST as MANIFEST
from industry_expert.artifacts import tool_version
from industry_expert.errors import ConfigError
from industry_expert.finetune import base as base_models
from industry_expert.finetune import loop, profiles, schedule
from industry_expert.finetune.data import DataError, check, dataset_hash, load_examples, split
from industry_expert.finetune.encode import Encoded, batches, encode
from industry_expert.finetune.settings import FinetuneSettings, target_modules
from industry_expert.io import write_json_atomic
from industry_expert.models.templates import FALLBACK_BY_ARCHITECTURE


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
    precision: str = "fp32"
    """Compute precision: ``fp32``, ``bf16`` (CPU autocast) or ``bf16 weights`` (GPU (Q)LoRA)."""
    processes: int = 1
    """Training processes (``accelerate launch --num_processes``); tokens/s counts all of them."""
    schedule: dict[str, Any] = field(default_factory=dict)
    """What ``schedule: auto`` chose (epochs, steps, why) and whether it stopped early."""
    base_defaults: dict[str, Any] = field(default_factory=dict)
    """The base's own defaults that applied (finetune/profiles.py: settings the user did not set)."""
    notes: list[str] = field(default_factory=list)
    """Advice about the run (profiles.replay_note: this base forgets without replayed examples)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def chat_template(tokenizer: Any, model_type: str) -> str:
    template = tokenizer.chat_template or FALLBACK_BY_ARCHITECTURE.get(model_type)
    if not template:
        raise DataError("the base model has no chat template; fine-tune an instruct/chat model")
    return str(template)


@dataclass
class Run:
    """What :func:`setup` prepared: :func:`fit` trains it, :func:`save` writes it."""

    s: FinetuneSettings
    data: Path
    out: Path
    base: str
    tokenizer: Any
    template: str
    data_report: dict[str, Any]
    train: list[Encoded]
    evals: list[Encoded]
    acc: Any
    model: Any
    optim: Any
    sched: Any
    base_mb: float
    trainable: int
    per_epoch: int
    """Micro-batches in one epoch (all processes together)."""
    total: int
    """Optimizer steps of the whole run."""
    state: dict[str, Any]
    resumed: int = 0
    t_start: float = 0.0
    seconds: float = 0.0
    tokens_this_run: int = 0
    epochs: int = 0
    """Epochs of the run (``schedule: auto`` may raise ``s.epochs``)."""
    plan: schedule.Plan | None = None
    best: dict[str, Any] | None = None
    """``schedule: auto``: the trainable weights at the best held-out loss so far."""
    base_defaults: dict[str, Any] = field(default_factory=dict)
    """The base's own values that applied (profiles.apply_profile)."""
    notes: list[str] = field(default_factory=list)
    bf16: bool = False
    """Forward passes under CPU bf16 autocast (``precision``; loop.cpu_bf16)."""

    @property
    def per_step(self) -> int:
        """Micro-batches per optimizer step: ``grad_accum`` on each process."""
        return int(self.s.grad_accum * self.acc.num_processes)

    def batches(self, data: list[Encoded], seed: int, mode: str | None = None) -> Iterator[dict[str, Any]]:
        s = self.s
        return batches(
            data, s.batch_size, mode or s.batching, s.max_seq_len, self.tokenizer.pad_token_id, seed
        )


def _encode_data(
    examples: list[Any], data: Path, s: FinetuneSettings, tokenizer: Any, template: str
) -> tuple[list[Encoded], list[Encoded], dict[str, Any]]:
    """Check and encode the loaded chat data; every problem is reported before training starts."""
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
    return enc_train, enc_eval, report.to_dict()


def _model(base: str, s: FinetuneSettings, model_type: str, device: str) -> tuple[Any, float]:
    """The base model with LoRA adapters (or all weights trainable), and its frozen weight MB."""
    model = base_models.load_model(base, s.method, device)
    base_mb = base_models.weight_bytes(model) / 1048576
    if s.method != "full":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=s.lora_r,
            lora_alpha=s.lora_alpha,
            lora_dropout=s.lora_dropout,
            task_type="CAUSAL_LM",
            target_modules=target_modules(model_type, s.target_modules),
        )
        try:
            model = get_peft_model(model, config)
        except ValueError as exc:  # peft: "Target modules {...} not found in the base model"
            linear = sorted(
                {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if type(m).__name__ == "Linear"}
            )
            raise ConfigError(
                f"finetune.target_modules {config.target_modules} name no module of {base} "
                f"(its linear layers: {', '.join(linear[:12])}): {str(exc).splitlines()[0]}"
            ) from None
    if s.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    model.train()
    return model, base_mb


def setup(data: str | Path, out: str | Path, s: FinetuneSettings, resume: bool = False) -> Run:
    """Check every input, build the model and optimizer on accelerate, restore a checkpoint."""
    import torch
    from accelerate.utils import set_seed
    from transformers import AutoConfig

    t_start = time.perf_counter()
    data, out = Path(data), Path(out)
    s, base_defaults = profiles.apply_profile(s)
    examples = load_examples(data)  # a bad file is refused before the base model loads
    base = base_models.resolve_base(s.base)
    tokenizer = base_models.load_tokenizer(base)
    model_type = AutoConfig.from_pretrained(base).model_type
    template = chat_template(tokenizer, model_type)
    train, evals, data_report = _encode_data(examples, data, s, tokenizer, template)
    acc = loop.accelerator()
    set_seed(s.seed)
    device = "cpu" if acc.device.type == "cpu" else str(acc.device)
    bf16 = loop.cpu_bf16(s.precision, device)  # refused before the model loads
    model, base_mb = _model(base, s, model_type, device)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
    model, optim = acc.prepare(model, optim)
    pad = tokenizer.pad_token_id
    per_epoch = sum(1 for _ in batches(train, s.batch_size, s.batching, s.max_seq_len, pad, s.seed))
    steps_per_epoch = math.ceil(per_epoch / (s.grad_accum * acc.num_processes))
    plan = None
    if s.schedule == "auto":
        plan = schedule.plan(steps_per_epoch, s.epochs, s.max_steps, s.min_steps, s.max_epochs, s.patience)
    epochs = plan.epochs if plan else s.epochs
    total = min(steps_per_epoch * epochs, s.max_steps or steps_per_epoch * epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        optim, lambda st: min(1.0, (st + 1) / max(1, s.warmup_steps)) * max(0.0, 1 - st / max(1, total))
    )  # stepped once per optimizer step on every process (accelerate's wrapper would step it P times)
    acc.register_for_checkpointing(sched)
    loop.trainable_only(acc)
    state: dict[str, Any] = {"step": 0, "epoch": 0, "batch": 0, "losses": [], "eval_losses": [], "tokens": 0}
    run = Run(s, data, out, base, tokenizer, template, data_report, train, evals, acc, model, optim, sched,
              base_mb, sum(p.numel() for p in params), per_epoch, total, state, t_start=t_start,
              epochs=epochs, plan=plan, bf16=bf16, base_defaults=base_defaults,
              notes=[n for n in [profiles.replay_note(s.base, examples)] if n])  # fmt: skip
    if resume:
        restored = loop.load_checkpoint(acc, out / "checkpoint")
        if restored is None:
            raise DataError(f"{out}: nothing to resume (no checkpoint)")
        run.state, run.resumed = restored, restored["step"]
    return run


def fit(run: Run, progress: bool = False, on_step: Callable[[int], None] | None = None) -> None:
    """Train until ``epochs`` or ``max_steps``; checkpoint every ``save_every`` steps and each epoch."""
    from tqdm import tqdm

    s, acc, state = run.s, run.acc, run.state
    ckpt = run.out / "checkpoint"
    show = progress and acc.is_main_process
    bar = tqdm(
        total=run.total,
        initial=state["step"],
        desc=f"{s.method} fine-tuning",
        unit="step",
        disable=None if show else True,
    )
    t0, tokens0 = time.perf_counter(), state["tokens"]
    while state["step"] < run.total and state["epoch"] < run.epochs:
        micro = run.batches(run.train, s.seed + state["epoch"])
        for group in loop.steps(micro, run.per_step, state["batch"]):
            loss, tokens = loop.train_step(acc, run.model, run.optim, group, run.bf16)
            run.sched.step()
            state["batch"] += len(group)
            state["step"] += 1
            state["tokens"] += tokens
            state["losses"].append(round(loss, 5))
            rate = (state["tokens"] - tokens0) / (time.perf_counter() - t0)
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{rate:.0f}", rss_mb=f"{_rss_mb():.0f}")
            bar.update(1)
            if s.save_every and state["step"] % s.save_every == 0:
                loop.save_checkpoint(acc, ckpt, state)
            if on_step:
                on_step(state["step"])
            if state["step"] >= run.total:
                break
        if state["batch"] >= run.per_epoch:  # the epoch is complete
            state["epoch"], state["batch"] = state["epoch"] + 1, 0
            evals = list(run.batches(run.evals, s.seed, "bucket"))
            state["eval_losses"].append(round(loop.eval_loss(acc, run.model, evals, run.bf16), 5))
            _early_stop(run)
        loop.save_checkpoint(acc, ckpt, state)
        if state.get("stopped_early"):
            break
    bar.close()
    run.seconds = time.perf_counter() - t0
    run.tokens_this_run = state["tokens"] - tokens0


def _early_stop(run: Run) -> None:
    """``schedule: auto``: keep the best epoch's trainable weights; once ``patience`` epochs bring
    no better held-out loss, put them back and mark the run stopped."""
    losses = run.state["eval_losses"]
    if run.plan is None or not run.evals:
        return
    trainable = [(n, p) for n, p in run.model.named_parameters() if p.requires_grad]
    if losses[-1] <= min(losses):
        run.best = {n: p.detach().clone() for n, p in trainable}
        run.state["best_epoch"] = run.state["epoch"]
    elif schedule.should_stop(losses, run.plan.patience) and run.best is not None:
        for n, p in trainable:
            p.data.copy_(run.best[n])
        run.state["stopped_early"] = True


def _precision(run: Run) -> str:
    """What the run computed in (FinetuneReport.precision)."""
    import torch

    if run.acc.device.type != "cpu":
        gpu_bf16 = base_models.compute_dtype(str(run.acc.device), run.s.method) == torch.bfloat16
        return "bf16 weights" if gpu_bf16 else "fp32"
    return "bf16" if run.bf16 else "fp32"


def save(run: Run) -> FinetuneReport:
    """Write the adapter (or model), its tokenizer, settings, data manifest and metrics to ``out``."""
    import torch

    s, acc, state = run.s, run.acc, run.state
    result = FinetuneReport(
        out=str(run.out),
        method=s.method,
        base=s.base,
        steps=state["step"],
        epochs_done=state["epoch"],
        train_examples=len(run.train),
        eval_examples=len(run.evals),
        trained_tokens=state["tokens"],
        seconds=round(time.perf_counter() - run.t_start, 2),
        tokens_per_s=round(run.tokens_this_run / run.seconds, 1) if run.seconds else 0.0,
        peak_rss_mb=round(_rss_mb(), 1),
        peak_gpu_mb=round(torch.cuda.max_memory_allocated() / 1048576, 1)
        if torch.cuda.is_available()
        else 0.0,
        device=acc.device.type if acc.device.type == "cpu" else str(acc.device),
        base_weight_mb=round(run.base_mb, 1),
        trainable_params=run.trainable,
        losses=state["losses"],
        eval_losses=state["eval_losses"],
        resumed_from_step=run.resumed,
        processes=acc.num_processes,
        precision=_precision(run),
        schedule={
            **(run.plan.to_dict() if run.plan else {"reason": "schedule: fixed"}),
            "stopped_early": bool(state.get("stopped_early")),
            "best_epoch": state.get("best_epoch"),
        },
        base_defaults=run.base_defaults,
        notes=run.notes,
    )
    weights = acc.get_state_dict(run.model)  # every process takes part (FSDP gathers the shards)
    if acc.is_main_process:
        _save_artifact(run, acc.unwrap_model(run.model), weights, result)
    acc.wait_for_everyone()
    return result


def finetune(
    data: str | Path,
    out: str | Path,
    settings: FinetuneSettings | None = None,
    resume: bool = False,
    progress: bool = False,
    on_step: Callable[[int], None] | None = None,
    on_notes: Callable[[list[str]], None] | None = None,
) -> FinetuneReport:
    """Train an adapter (or a full model) on chat data; everything needed to reuse it is in ``out``.
    Runs in one process or under ``accelerate launch`` (then only the main process writes files).
    ``on_notes`` gets the run's advice (``FinetuneReport.notes``) before training starts."""
    run = setup(data, out, settings or FinetuneSettings(), resume)
    if on_notes and run.notes and run.acc.is_main_process:
        on_notes(run.notes)
    fit(run, progress, on_step)
    return save(run)


def _base_gguf(base: str) -> dict[str, str] | None:
    """A catalogue base's GGUF (file name, SHA-256): the quantized file an exported adapter runs on."""
    from industry_expert.models.catalog import get_model
    from industry_expert.models.checkpoints import catalogue_name

    name = catalogue_name(base)
    if not name:
        return None
    entry = get_model(name)
    return {"name": name, "file": entry.filename, "sha256": entry.sha256}


def _save_artifact(run: Run, model: Any, weights: dict[str, Any], result: FinetuneReport) -> None:
    s, out = run.s, run.out
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, state_dict=weights)
    run.tokenizer.chat_template = run.template
    run.tokenizer.save_pretrained(out)
    write_json_atomic(out / "training_config.json", {**s.to_dict(), "resolved_base": run.base})
    write_json_atomic(
        out / "data_manifest.json",
        {
            "path": str(run.data),
            "sha256": dataset_hash(run.data),
            "train_examples": len(run.train),
            "eval_examples": len(run.evals),
            "report": run.data_report,
        },
    )
    write_json_atomic(out / "metrics.json", result.to_dict())
    write_json_atomic(
        out / MANIFEST,
        {
            "kind": "full-model" if s.method == "full" else "peft-adapter",
            "tool_version": tool_version(),
            "base": s.base,
            "resolved_base": run.base,
            "base_gguf": _base_gguf(s.base),
            "method": s.method,
            "chat_template": run.template,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "settings": {"finetune": s.to_dict()},
        },
    )
