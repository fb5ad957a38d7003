"""LoRA, QLoRA and full fine-tuning on a tiny random Phi3ForCausalLM, on the CPU, in seconds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from industry_expert.errors import ModelError
from industry_expert.finetune.data import DataError, load_examples
from industry_expert.finetune.encode import IGNORE, encode
from industry_expert.finetune.lora import MANIFEST, finetune
from industry_expert.finetune.settings import FinetuneSettings
from industry_expert.models.templates import PHI3_CHAT_TEMPLATE

pytestmark = pytest.mark.slow
FACTS = [
    ("What is the Blue Flush?", "The Blue Flush is a 25 minute rinse."),
    ("Which tag locks out a pump?", "The Kestrel Green Tag locks out a pump."),
    ("What is the T-check?", "The T-check is a torque verification step."),
    ("Who approves Stage Gate 2?", "Stage Gate 2 is approved by Service Engineering."),
]


@pytest.fixture
def chat_data(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    lines = [
        json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]})
        for q, a in FACTS * 3
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _settings(tiny_phi3: Path, method: str, **kw: object) -> FinetuneSettings:
    base = dict(
        base=str(tiny_phi3),
        method=method,
        epochs=4,
        batch_size=4,
        lr=5e-3,
        eval_fraction=0.2,
        max_seq_len=64,
        seed=1,
    )
    base.update(kw)
    return FinetuneSettings(**base)  # type: ignore[arg-type]


def test_answer_tokens_only_are_trained(tiny_phi3: Path, chat_data: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_phi3)
    ex = load_examples(chat_data)[0]
    enc = encode(ex, tok, PHI3_CHAT_TEMPLATE)
    trained = tok.decode([i for i, lab in zip(enc.ids, enc.labels) if lab != IGNORE])
    prompt = tok.decode([i for i, lab in zip(enc.ids, enc.labels) if lab == IGNORE])
    assert "Blue Flush" in trained and "rinse" in trained and "<|end|>" in trained
    assert "What" in prompt and "<|assistant|>" in prompt and "<|user|>" in prompt
    assert "What" not in trained


@pytest.mark.parametrize("method", ["lora", "qlora", "full"])
def test_training_lowers_loss_and_saves(
    tiny_phi3: Path, chat_data: Path, tmp_path: Path, method: str
) -> None:
    out = tmp_path / method
    r = finetune(chat_data, out, _settings(tiny_phi3, method))
    assert r.steps >= 8 and r.train_examples + r.eval_examples == 12
    first, last = sum(r.losses[:2]) / 2, sum(r.losses[-2:]) / 2
    assert last < first * 0.8, r.losses
    assert len(r.eval_losses) == 4 and r.tokens_per_s > 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["method"] == method and manifest["chat_template"] == PHI3_CHAT_TEMPLATE
    assert json.loads((out / "data_manifest.json").read_text())["train_examples"] == r.train_examples
    assert json.loads((out / "training_config.json").read_text())["lora_r"] == 16
    if method != "full":
        cfg = json.loads((out / "adapter_config.json").read_text())
        assert set(cfg["target_modules"]) == {"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}
        assert (out / "adapter_model.safetensors").is_file()


def test_fixed_seed_reproduces_and_resume_continues(tiny_phi3: Path, chat_data: Path, tmp_path: Path) -> None:
    a = finetune(chat_data, tmp_path / "a", _settings(tiny_phi3, "lora", epochs=2))
    b = finetune(chat_data, tmp_path / "b", _settings(tiny_phi3, "lora", epochs=2))
    assert a.losses == b.losses
    part = finetune(chat_data, tmp_path / "c", _settings(tiny_phi3, "lora", epochs=2, max_steps=3))
    assert part.steps == 3
    resumed = finetune(chat_data, tmp_path / "c", _settings(tiny_phi3, "lora", epochs=2), resume=True)
    assert resumed.resumed_from_step == 3 and resumed.steps == a.steps
    assert resumed.losses == pytest.approx(a.losses, rel=1e-4)


def test_bad_data_fails_before_training(tiny_phi3: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:1: a conversation must end with an assistant"):
        finetune(bad, tmp_path / "o", _settings(tiny_phi3, "lora"))
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant"', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.jsonl:1: invalid JSON"):
        finetune(bad, tmp_path / "o", _settings(tiny_phi3, "lora"))
    bad.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        finetune(bad, tmp_path / "o", _settings(tiny_phi3, "lora"))
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
        finetune(long, tmp_path / "o", _settings(tiny_phi3, "lora"))
    with pytest.raises(ModelError, match="does not exist"):
        finetune(long, tmp_path / "o", _settings(tmp_path / "no-such-model", "lora"))
    assert not (tmp_path / "o").exists()
