"""LoRA, QLoRA and full fine-tuning on a tiny random Phi3ForCausalLM, on the CPU, in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.integration.conftest import tiny_settings

from industry_expert.errors import ModelError
from industry_expert.finetune.data import DataError, load_examples
from industry_expert.finetune.encode import IGNORE, encode
from industry_expert.finetune.lora import MANIFEST, finetune
from industry_expert.models.templates import PHI3_CHAT_TEMPLATE

pytestmark = pytest.mark.slow


def test_answer_tokens_only_are_trained(tiny_phi3: Path, chat_data: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_phi3)
    ex = load_examples(chat_data)[0]
    enc = encode(ex, tok, PHI3_CHAT_TEMPLATE)
    trained = [i for i, lab in zip(enc.ids, enc.labels) if lab != IGNORE]
    answer = tok(ex.messages[-1]["content"], add_special_tokens=False)["input_ids"]
    assert trained == answer + [tok.convert_tokens_to_ids("<|end|>")]  # the answer and its end-of-turn
    prompt = tok.decode([i for i, lab in zip(enc.ids, enc.labels) if lab == IGNORE])
    assert prompt.startswith("<|user|>") and prompt.rstrip().endswith("<|endoftext|>")
    assert "<|assistant|>" in prompt and "rinse" not in prompt


@pytest.mark.parametrize("method", ["lora", "qlora", "full"])
def test_training_lowers_loss_and_saves(
    tiny_phi3: Path, chat_data: Path, tmp_path: Path, method: str
) -> None:
    out = tmp_path / method
    r = finetune(chat_data, out, tiny_settings(tiny_phi3, method))
    assert r.steps >= 8 and r.train_examples + r.eval_examples == 12
    first, last = sum(r.losses[:2]) / 2, sum(r.losses[-2:]) / 2
    assert last < first * 0.5, r.losses
    assert len(r.eval_losses) == 6 and r.tokens_per_s > 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["method"] == method and manifest["chat_template"] == PHI3_CHAT_TEMPLATE
    assert json.loads((out / "data_manifest.json").read_text())["train_examples"] == r.train_examples
    assert json.loads((out / "training_config.json").read_text())["lora_r"] == 16
    if method != "full":
        cfg = json.loads((out / "adapter_config.json").read_text())
        assert set(cfg["target_modules"]) == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}
        assert (out / "adapter_model.safetensors").is_file()


def test_fixed_seed_reproduces_and_resume_continues(tiny_phi3: Path, chat_data: Path, tmp_path: Path) -> None:
    a = finetune(chat_data, tmp_path / "a", tiny_settings(tiny_phi3, "lora", epochs=2))
    b = finetune(chat_data, tmp_path / "b", tiny_settings(tiny_phi3, "lora", epochs=2))
    assert a.losses == b.losses

    def crash(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt  # the process dies after step 3 was checkpointed

    with pytest.raises(KeyboardInterrupt):
        finetune(
            chat_data, tmp_path / "c", tiny_settings(tiny_phi3, "lora", epochs=2, save_every=1), on_step=crash
        )
    resumed = finetune(
        chat_data, tmp_path / "c", tiny_settings(tiny_phi3, "lora", epochs=2, save_every=1), resume=True
    )
    assert resumed.resumed_from_step == 3 and resumed.steps == a.steps
    assert resumed.losses == pytest.approx(a.losses, rel=1e-4)


def test_bad_data_fails_before_training(tiny_phi3: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:1: a conversation must end with an assistant"):
        finetune(bad, tmp_path / "o", tiny_settings(tiny_phi3, "lora"))
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:1: invalid JSON"):
        finetune(bad, tmp_path / "o", tiny_settings(tiny_phi3, "lora"))
    bad.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        finetune(bad, tmp_path / "o", tiny_settings(tiny_phi3, "lora"))
    long = tmp_path / "long.jsonl"
    long.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "pump " * 200},
                    {"role": "assistant", "content": "ok."},
                ]
            }
        )
        + "\n"
    )
    with pytest.raises(DataError, match="longer than max_seq_len=64"):
        finetune(long, tmp_path / "o", tiny_settings(tiny_phi3, "lora"))
    with pytest.raises(ModelError, match="does not exist"):
        finetune(long, tmp_path / "o", tiny_settings(tmp_path / "no-such-model", "lora"))
    assert not (tmp_path / "o").exists()


def test_merge_equals_adapter_and_ask_uses_the_adapter(
    tiny_phi3: Path, chat_data: Path, tmp_path: Path, sample_kb: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from industry_expert.finetune.merge import merge
    from industry_expert.generate.grounded import AskSettings, ask
    from industry_expert.models.generators import load_generator
    from industry_expert.models.hf import HFGenerator

    adapter = tmp_path / "adapter"
    finetune(chat_data, adapter, tiny_settings(tiny_phi3, "lora"))
    gen = load_generator(None, adapter=str(adapter))  # default model + adapter -> its HF base
    assert isinstance(gen, HFGenerator) and gen.id.endswith("+adapter:adapter")
    report = merge(adapter, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(report.merged)
    ids = gen.tokenizer(
        gen.render([{"role": "user", "content": "What is the Blue Flush?"}]),
        return_tensors="pt",
        add_special_tokens=False,
    )["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, gen.model(ids).logits, atol=1e-4, rtol=1e-4)
        base = AutoModelForCausalLM.from_pretrained(tiny_phi3)
        assert not torch.allclose(base(ids).logits, merged(ids).logits, atol=1e-3)
    alone = ask("What is the Blue Flush?", None, gen, settings=AskSettings(max_tokens=8))
    grounded = ask("What is the Blue Flush?", sample_kb, gen, settings=AskSettings(k=2, max_tokens=8))
    assert alone.model == grounded.model == gen.id and grounded.passages


def test_bf16_on_the_cpu_computes_in_bf16_and_learns_the_same(
    tiny_phi3: Path, chat_data: Path, tmp_path: Path
) -> None:
    import torch

    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        with pytest.raises(ModelError, match="AVX512-BF16"):
            finetune(chat_data, tmp_path / "bf16", tiny_settings(tiny_phi3, "lora", precision="bf16"))
        auto = finetune(
            chat_data, tmp_path / "auto", tiny_settings(tiny_phi3, "lora", epochs=1, precision="auto")
        )
        assert auto.precision == "fp32"
        return
    fp32 = finetune(chat_data, tmp_path / "fp32", tiny_settings(tiny_phi3, "lora"))
    bf16 = finetune(chat_data, tmp_path / "bf16", tiny_settings(tiny_phi3, "lora", precision="bf16"))
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    # bf16 rounding changes every loss a little (so autocast did run) and the run learns alike
    assert bf16.losses != fp32.losses
    assert bf16.losses[0] == pytest.approx(fp32.losses[0], rel=0.02)
    assert bf16.losses[-1] < bf16.losses[0] * 0.5
    from safetensors.torch import load_file

    weights = load_file(str(tmp_path / "bf16" / "adapter_model.safetensors"))
    assert {w.dtype for w in weights.values()} == {torch.float32}  # only the arithmetic was bf16
