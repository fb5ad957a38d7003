"""``expert data ...`` and ``expert finetune ...``."""

from __future__ import annotations

import sys

import click

from industry_expert.cli.output import DefaultCommandGroup, print_json


@click.group("data")
def data_group() -> None:
    """Check, split and generate fine-tuning data (chat, instruction or ShareGPT JSONL)."""


@data_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--base", default="smollm2", show_default=True, help="Tokenizer to count tokens with.")
@click.option("--max-seq-len", default=512, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def check_cmd(path: str, base: str, max_seq_len: int, as_json: bool) -> None:
    """Validate a dataset; report lengths, duplicates, empty/truncated answers."""
    from industry_expert.finetune.base import load_tokenizer, resolve_base
    from industry_expert.finetune.data import check, load_examples

    examples = load_examples(path)
    tok = load_tokenizer(resolve_base(base))
    report = check(examples, lambda t: len(tok(t, add_special_tokens=False)["input_ids"]), max_seq_len, path)
    if as_json:
        print_json(report.to_dict())
    else:
        t = report.tokens
        click.echo(
            f"{path}: {report.examples} examples, {t['total']:.0f} tokens "
            f"(min {t['min']:.0f}, median {t['median']:.0f}, p95 {t['p95']:.0f}, max {t['max']:.0f})"
        )
        for label, lines in (
            ("exact duplicates", report.exact_duplicates),
            ("near duplicates (same question)", report.near_duplicates),
            ("empty answers", report.empty_answers),
            ("possibly truncated answers", report.truncated_answers),
            (f"longer than {max_seq_len} tokens", report.over_length),
        ):
            click.echo(f"  {label}: {len(lines)}" + (f" (lines {lines[:8]})" if lines else ""))
    if not report.ok:
        sys.exit(1)


@data_group.command("split")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--eval-fraction", default=0.1, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def split_cmd(path: str, out: str, eval_fraction: float, seed: int, as_json: bool) -> None:
    """Reproducible train/eval split (train.jsonl, eval.jsonl)."""
    import json
    from pathlib import Path

    from industry_expert.finetune.data import load_examples, split

    train, evals = split(load_examples(path), eval_fraction, seed)
    Path(out).mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.jsonl", train), ("eval.jsonl", evals)):
        Path(out, name).write_text(
            "".join(json.dumps({"messages": e.messages, **e.meta}, ensure_ascii=False) + "\n" for e in rows),
            encoding="utf-8",
        )
    result = {"train": len(train), "eval": len(evals), "out": out}
    print_json(result) if as_json else click.echo(f"train {len(train)}, eval {len(evals)} -> {out}")


@data_group.command("from-kb")
@click.option("--kb", "kb_path", required=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option("--raft", is_flag=True, help="RAFT examples: oracle passage + distractors -> cited answer.")
@click.option("--phrasings", default=3, show_default=True, type=click.IntRange(1, 4))
@click.option("--model", help="Write prose questions with this model (default: section templates).")
@click.option("--limit", type=int, help="At most this many examples.")
@click.option("--seed", default=0, type=int)
@click.option("--json", "as_json", is_flag=True)
def from_kb_cmd(
    kb_path: str,
    out: str,
    raft: bool,
    phrasings: int,
    model: str | None,
    limit: int | None,
    seed: int,
    as_json: bool,
) -> None:
    """Question/answer pairs from a knowledge base, with the source of every pair."""
    from industry_expert.finetune.synth import write_from_kb

    r = write_from_kb(kb_path, out, raft=raft, phrasings=phrasings, model=model, seed=seed, limit=limit)
    print_json(r) if as_json else click.echo(
        f"{r['examples']} examples from {r['sources']} sources -> {r['out']} ({r['kinds']})"
    )


class _TrainByDefault(DefaultCommandGroup):
    default_command = "train"


@click.group("finetune", cls=_TrainByDefault)
def finetune_group() -> None:
    """Fine-tune (LoRA, QLoRA, full): 'expert finetune DATA --out DIR'; 'expert finetune merge ...'."""


@finetune_group.command("train")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--method", type=click.Choice(["lora", "qlora", "full"]))
@click.option(
    "--base",
    help="smollm2 (bundled, default) or a Hugging Face id/path, e.g. microsoft/Phi-3-mini-4k-instruct",
)
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False), help="YAML settings (configs/*.yaml)."
)
@click.option("--epochs", type=int)
@click.option("--max-steps", type=int)
@click.option("--lr", type=float)
@click.option("--batch-size", type=int)
@click.option("--target-modules", help="Comma-separated LoRA target modules (overrides the default).")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in --out.")
@click.option("--json", "as_json", is_flag=True)
def train_cmd(
    data: str,
    out: str,
    method: str | None,
    base: str | None,
    config_file: str | None,
    epochs: int | None,
    max_steps: int | None,
    lr: float | None,
    batch_size: int | None,
    target_modules: str | None,
    resume: bool,
    as_json: bool,
) -> None:
    """Train an adapter on chat data; the output directory is a self-describing artifact."""
    from industry_expert.finetune.lora import finetune
    from industry_expert.finetune.settings import FinetuneSettings

    targets = [t.strip() for t in target_modules.split(",")] if target_modules else None
    s = FinetuneSettings.load(
        config_file,
        method=method,
        base=base,
        epochs=epochs,
        max_steps=max_steps,
        lr=lr,
        batch_size=batch_size,
        target_modules=targets,
    )
    r = finetune(data, out, s, resume=resume, progress=sys.stderr.isatty())
    if as_json:
        print_json(r.to_dict())
        return
    click.echo(
        f"{r.method} on {r.base}: {r.steps} steps, {r.epochs_done} epochs, {r.trained_tokens} trained "
        f"tokens in {r.seconds:.0f} s ({r.tokens_per_s:.0f} tokens/s)\n"
        f"loss {r.losses[0]:.3f} -> {r.losses[-1]:.3f}; eval loss per epoch {r.eval_losses}\n"
        f"peak RSS {r.peak_rss_mb:.0f} MB, frozen base weights {r.base_weight_mb:.0f} MB, "
        f"{r.trainable_params:,} trainable parameters\nadapter: {r.out}"
    )


@finetune_group.command("merge")
@click.argument("adapter", type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--gguf", is_flag=True, help="Also write GGUF files (f16 and quantized) for llama.cpp.")
@click.option("--quant", default="q4_k_m", show_default=True, type=click.Choice(["q4_k_m", "q8_0", "q4_0"]))
@click.option("--json", "as_json", is_flag=True)
def merge_cmd(adapter: str, out: str, gguf: bool, quant: str, as_json: bool) -> None:
    """Merge an adapter into its base (and export GGUF)."""
    from industry_expert.finetune.merge import merge

    r = merge(adapter, out, gguf=gguf, quant=quant)
    print_json(r.to_dict()) if as_json else click.echo(
        f"merged model: {r.merged}" + "".join(f"\nGGUF: {g}" for g in r.gguf)
    )
