"""``expert data ...`` and ``expert finetune ...``."""

from __future__ import annotations

import sys

import click

from industry_expert.cli.config import config_option, load_settings, setting_options
from industry_expert.cli.output import DefaultCommandGroup, print_json
from industry_expert.outputs import check_out_binary_file, check_out_dir, check_out_file


@click.group("data")
def data_group() -> None:
    """Check, split and generate fine-tuning data (chat, instruction or ShareGPT JSONL)."""


@data_group.command("check")
@click.argument("path", type=click.Path(dir_okay=False))
@setting_options("finetune", ["base", "max_seq_len"])
@config_option
@click.option("--json", "as_json", is_flag=True)
def check_cmd(path: str, config_file: str | None, as_json: bool, **flags: object) -> None:
    """Validate a dataset; report lengths (with the base model's tokenizer), duplicates,
    empty/truncated answers."""
    from industry_expert.finetune.base import load_tokenizer, resolve_base
    from industry_expert.finetune.data import check, load_examples

    s = load_settings(config_file, flags).finetune
    base, max_seq_len = s.base, s.max_seq_len

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
@setting_options("finetune", ["eval_fraction", "seed"])
@config_option
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out that is not a split.")
@click.option("--json", "as_json", is_flag=True)
def split_cmd(
    path: str, out: str, config_file: str | None, overwrite: bool, as_json: bool, **flags: object
) -> None:
    """Reproducible train/eval split (train.jsonl, eval.jsonl)."""
    import json
    from pathlib import Path

    from industry_expert.finetune.data import load_examples, split

    s = load_settings(config_file, flags).finetune
    train, evals = split(load_examples(path), s.eval_fraction, s.seed)
    check_out_dir(out, "data split", overwrite)
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
@click.option("--overwrite", is_flag=True, help="Replace an existing --out that is not JSON Lines.")
@click.option("--json", "as_json", is_flag=True)
def from_kb_cmd(
    kb_path: str,
    out: str,
    raft: bool,
    phrasings: int,
    model: str | None,
    limit: int | None,
    seed: int,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Question/answer pairs from a knowledge base, with the source of every pair."""
    from industry_expert.finetune.synth import write_from_kb

    check_out_file(out, overwrite)

    r = write_from_kb(kb_path, out, raft=raft, phrasings=phrasings, model=model, seed=seed, limit=limit)
    print_json(r) if as_json else click.echo(
        f"{r['examples']} examples from {r['sources']} sources -> {r['out']} ({r['kinds']})"
    )


@data_group.command("mix")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@click.option(
    "--general", type=click.Path(exists=True, dir_okay=False), help="General examples (default: bundled set)."
)
@click.option("--share", default=0.2, show_default=True, type=click.FloatRange(0, 1, max_open=True))
@click.option(
    "--answers",
    type=click.Choice(["given", "model"]),
    default="given",
    show_default=True,
    help="model: answer the replayed questions with the base model itself (self-replay).",
)
@click.option(
    "--base", default="smollm2", show_default=True, help="With --answers model: the model to be tuned."
)
@click.option("--seed", default=0, type=int)
@click.option("--json", "as_json", is_flag=True)
def mix_cmd(
    path: str, out: str, general: str | None, share: float, answers: str, base: str, seed: int, as_json: bool
) -> None:
    """Mix general-purpose examples into training data (replay), so tuning keeps what the model knew."""
    from industry_expert.finetune.replay import mix_files

    r = mix_files(path, out, general, share, seed, answers, base)
    print_json(r.to_dict()) if as_json else click.echo(
        f"{r.examples} examples + {r.replay} general ({r.share:.0%}, from {r.general}) -> {r.out}"
    )


class _TrainByDefault(DefaultCommandGroup):
    default_command = "train"


@click.group("finetune", cls=_TrainByDefault)
def finetune_group() -> None:
    """Fine-tune (LoRA, QLoRA, full): 'expert finetune DATA --out DIR'; 'expert finetune merge ...'."""


@finetune_group.command("train")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@setting_options(
    "finetune",
    [
        "method",
        "base",
        "epochs",
        "max_steps",
        "lr",
        "batch_size",
        "grad_accum",
        "lora_r",
        "lora_alpha",
        "max_seq_len",
        "batching",
        "precision",
        "seed",
    ],
)
@config_option
@click.option("--target-modules", help="Comma-separated LoRA target modules (overrides the default).")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in --out.")
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out that is not an adapter.")
@click.option("--json", "as_json", is_flag=True)
def train_cmd(
    data: str,
    out: str,
    config_file: str | None,
    target_modules: str | None,
    resume: bool,
    overwrite: bool,
    as_json: bool,
    **flags: object,
) -> None:
    """Train an adapter on chat data; the output directory is a self-describing artifact
    (configs/*.yaml hold ready 'finetune:' sections)."""
    from industry_expert.finetune.lora import finetune

    if target_modules:
        flags["finetune__target_modules"] = [t.strip() for t in target_modules.split(",")]
    s = load_settings(config_file, flags).finetune
    check_out_dir(out, "adapter", overwrite or resume)

    def notes(lines: list[str]) -> None:  # before the long part, not after it
        for n in lines:
            click.echo(f"note: {n}", err=True)

    r = finetune(data, out, s, resume=resume, progress=sys.stderr.isatty(), on_notes=notes)
    if as_json:
        print_json(r.to_dict())
        return
    click.echo(
        f"{r.method} on {r.base}: {r.steps} steps, {r.epochs_done} epochs, {r.trained_tokens} trained "
        f"tokens in {r.seconds:.0f} s ({r.tokens_per_s:.0f} tokens/s, {r.precision})\n"
        f"schedule: {r.schedule['reason']}"
        + (
            f"; stopped early, weights of epoch {r.schedule['best_epoch']} kept"
            if r.schedule["stopped_early"]
            else ""
        )
        + (
            f"\n{r.base}'s own defaults: "
            + ", ".join(f"{k} {v}" for k, v in r.base_defaults.items())
            + " (set any of them to override)"
            if r.base_defaults
            else ""
        )
        + f"\nloss {r.losses[0]:.3f} -> {r.losses[-1]:.3f}; eval loss per epoch {r.eval_losses}\n"
        f"peak RSS {r.peak_rss_mb:.0f} MB, frozen base weights {r.base_weight_mb:.0f} MB, "
        f"{r.trainable_params:,} trainable parameters\nadapter: {r.out}"
    )


@finetune_group.command("export")
@click.argument("adapter", type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The adapter GGUF to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out.")
@click.option("--json", "as_json", is_flag=True)
def export_cmd(adapter: str, out: str, overwrite: bool, as_json: bool) -> None:
    """Write a LoRA adapter as a GGUF adapter (f16, a few MB) that llama.cpp applies at run time
    to the quantized GGUF of its base: 'expert ask --model BASE --adapter FILE.gguf' (BASE: the
    catalogue name it was trained on, e.g. qwen2.5-0.5b, recorded in the file)."""
    from industry_expert.finetune.merge import adapter_manifest, export_lora_gguf

    if not out.lower().endswith(".gguf"):
        raise click.BadParameter("must end in .gguf", param_hint="--out")
    check_out_binary_file(out, overwrite)
    path = export_lora_gguf(adapter, out)
    size_mb = path.stat().st_size / 1048576
    base = adapter_manifest(adapter)["base"]
    if as_json:
        print_json({"adapter": adapter, "gguf": str(path), "base": base, "size_mb": round(size_mb, 2)})
    else:
        model = "" if base in ("smollm2", "default") else f"--model {base} "
        click.echo(
            f"GGUF adapter: {path} ({size_mb:.1f} MB, base {base})\nuse: expert ask {model}--adapter {path} ..."
        )


@finetune_group.command("merge")
@click.argument("adapter", type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--gguf", is_flag=True, help="Also write GGUF files (f16 and quantized) for llama.cpp.")
@click.option("--quant", default="q4_k_m", show_default=True, type=click.Choice(["q4_k_m", "q8_0", "q4_0"]))
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --out that is not a model.")
@click.option("--json", "as_json", is_flag=True)
def merge_cmd(adapter: str, out: str, gguf: bool, quant: str, overwrite: bool, as_json: bool) -> None:
    """Merge an adapter into its base (and export GGUF)."""
    from industry_expert.finetune.merge import adapter_manifest, merge

    check_out_dir(out, "adapter", overwrite)
    r = merge(adapter, out, gguf=gguf, quant=quant)
    print_json(r.to_dict()) if as_json else click.echo(
        f"merged model: {r.merged}"
        + "".join(f"\nGGUF: {g}" for g in r.gguf)
        + (f"\nOllama Modelfile: {r.modelfile}" if r.modelfile else "")
        + "".join(f"\nserve: {c}" for c in r.serve)
        + (
            "\nnote: 4-bit weights can round a small LoRA update away (bench/results/merge_washout.md); "
            f"'expert finetune export {adapter} --out FILE.gguf' keeps it whole for llama.cpp"
            if gguf and quant.startswith("q4") and adapter_manifest(adapter)["kind"] == "peft-adapter"
            else ""
        )
    )
