"""Fine-tuning the Qwen2 architecture (the bundled qwen2.5-0.5b / 1.5b bases): a tiny random
Qwen2ForCausalLM with the real Qwen2.5 tokenizer goes through LoRA, QLoRA, `expert finetune export`
and llama.cpp, where the GGUF adapter must answer like the PEFT adapter; and the real 0.5B base
(dequantized once from its pulled GGUF) trains for a step."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.integration.conftest import FACTS as ALL_FACTS
from tests.integration.conftest import tiny_settings, write_chat

from industry_expert.cli import main
from industry_expert.errors import ConfigError, ModelNotInstalledError
from industry_expert.finetune.lora import finetune
from industry_expert.finetune.merge import export_lora_gguf
from industry_expert.finetune.profiles import PROFILES
from industry_expert.finetune.settings import FinetuneSettings
from industry_expert.models.generators import generate

pytestmark = pytest.mark.slow
FACTS = ALL_FACTS[:2]
PROMPTS = [q for q, _ in FACTS] + ["Who approves Stage Gate 2?"]


def _greedy(gen: object, prompt: str) -> str:
    return generate(gen, [{"role": "user", "content": prompt}], max_tokens=6, temperature=0.0)  # type: ignore[arg-type]


def _tiny_gguf(model: Path, out: Path) -> Path:
    """The tiny base as an f32 GGUF (llama.cpp's own converter, as `merge --gguf` uses it)."""
    from industry_expert.finetune.merge import _convert

    _convert("convert_hf_to_gguf.py", [str(model), "--outfile", str(out), "--outtype", "f32"])
    return out


def test_tiny_qwen2_lora_qlora_export_and_llamacpp(tiny_qwen2: Path, tmp_path: Path) -> None:
    from industry_expert.models.checkpoints import adapter_base, check_adapter_base
    from industry_expert.models.hf import HFGenerator
    from industry_expert.models.llamacpp import LlamaCppGenerator

    data = write_chat(tmp_path / "train.jsonl", FACTS, 4)
    for method in ("lora", "qlora"):
        r = finetune(
            data,
            tmp_path / method,
            tiny_settings(tiny_qwen2, method, epochs=4, eval_fraction=0.0, max_seq_len=96),
        )
        assert r.steps == 8 and math.isfinite(r.losses[-1]), r.losses
        assert sum(r.losses[-2:]) < 0.8 * sum(r.losses[:2]), (method, r.losses)
        cfg = json.loads((tmp_path / method / "adapter_config.json").read_text())
        assert set(cfg["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    out = tmp_path / "lora.gguf"
    res = CliRunner().invoke(
        main, ["finetune", "export", str(tmp_path / "lora"), "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:4] == b"GGUF" and adapter_base(out) == str(tiny_qwen2)
    base_gguf = _tiny_gguf(tiny_qwen2, tmp_path / "tiny-f32.gguf")
    hf_base, peft = HFGenerator(str(tiny_qwen2)), HFGenerator.from_adapter(str(tmp_path / "lora"))
    cpp_base = LlamaCppGenerator(base_gguf, n_ctx=256)
    cpp = LlamaCppGenerator(base_gguf, n_ctx=256, lora_path=str(out))
    messages = [{"role": "user", "content": PROMPTS[0]}]
    assert cpp.render(messages) == peft.render(messages)  # the same ChatML prompt on both sides
    for prompt in PROMPTS:  # the adapter changes the greedy answer, the same way in both runtimes
        before, after = _greedy(hf_base, prompt), _greedy(peft, prompt)
        assert after != before, prompt
        assert (_greedy(cpp_base, prompt), _greedy(cpp, prompt)) == (before, after), prompt
    qlora = export_lora_gguf(tmp_path / "qlora", tmp_path / "qlora.gguf")  # trained on the NF4 base
    cpp_q = LlamaCppGenerator(base_gguf, n_ctx=256, lora_path=str(qlora))
    assert _greedy(cpp_q, PROMPTS[0]) != _greedy(cpp_base, PROMPTS[0])
    check_adapter_base(base_gguf, out)
    with pytest.raises(ConfigError, match="made for another base") as refused:  # llama.cpp would crash
        check_adapter_base("qwen2.5-0.5b", out)
    assert "\n" not in str(refused.value)
    with pytest.raises(
        ConfigError, match="an adapter for a qwen2 model; SmolLM2-135M-Instruct.Q4_1.gguf is llama"
    ):
        check_adapter_base("smollm2", out)


def test_a_gguf_adapter_is_paired_with_its_catalogue_base(tmp_path: Path) -> None:
    """The exported adapter records its base by catalogue name; another base is refused in one line."""
    from industry_expert.finetune.merge import stamp_base
    from industry_expert.models.catalog import model_path
    from industry_expert.models.checkpoints import adapter_base, check_adapter_base

    try:
        qwen = model_path("qwen2.5-0.5b")
    except ModelNotInstalledError as exc:
        pytest.skip(str(exc))
    src = tmp_path / "any.gguf"
    src.write_bytes(_minimal_gguf())
    stamp_base(src, tmp_path / "a.gguf", "qwen2.5-0.5b")
    adapter = tmp_path / "a.gguf"
    assert adapter_base(adapter) == "qwen2.5-0.5b"
    check_adapter_base("qwen2.5-0.5b", adapter)
    check_adapter_base(qwen, adapter)  # the same model by its file
    with pytest.raises(
        ConfigError, match=r"trained on qwen2.5-0.5b, not qwen2.5-1.5b: use --model qwen2.5-0.5b"
    ):
        check_adapter_base("qwen2.5-1.5b", adapter)
    with pytest.raises(ConfigError, match="not smollm2"):
        check_adapter_base("smollm2", adapter)


def _minimal_gguf() -> bytes:
    """A GGUF adapter with one small tensor, written with the gguf package."""
    import tempfile

    import gguf
    import numpy as np

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.gguf"
        w = gguf.GGUFWriter(path, arch="qwen2")
        w.add_type(gguf.GGUFType.ADAPTER)
        w.add_string(gguf.Keys.Adapter.TYPE, "lora")
        w.add_tensor(
            "blk.0.attn_q.weight.lora_a", np.zeros((4, 896), dtype=np.float32)
        )  # (rank, width of the 0.5B)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path.read_bytes()


def test_the_bundled_qwen_base_trains(tmp_path: Path) -> None:
    """qwen2.5-0.5b resolves to its pulled GGUF, dequantized once (~2 GB fp32 checkpoint), and
    LoRA makes two finite optimizer steps on two short chat examples."""
    data = write_chat(tmp_path / "train.jsonl", FACTS, 1)
    s = FinetuneSettings(
        base="qwen2.5-0.5b",
        max_steps=2,
        batch_size=1,
        eval_fraction=0.0,
        max_seq_len=64,
        schedule="fixed",
        epochs=1,
    )
    told: list[str] = []
    try:
        r = finetune(data, tmp_path / "adapter", s, on_notes=told.extend)
    except ModelNotInstalledError as exc:
        pytest.skip(str(exc))
    assert told == r.notes and "expert data mix" in told[0]  # the data has no replayed examples
    assert r.steps == 2 and all(math.isfinite(x) for x in r.losses), r.losses
    manifest = json.loads((tmp_path / "adapter" / "expert_adapter.json").read_text())
    assert manifest["base"] == "qwen2.5-0.5b"
    assert manifest["base_gguf"]["file"] == "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"
    own = PROFILES["qwen2.5-0.5b"]  # the base's own defaults: applied, recorded, saved with the adapter
    assert r.base_defaults == own
    saved = json.loads((tmp_path / "adapter" / "training_config.json").read_text())
    assert all(saved[k] == v for k, v in own.items()), saved
    print(f"qwen2.5-0.5b LoRA: {r.seconds:.1f} s, peak RSS {r.peak_rss_mb:.0f} MB, losses {r.losses}")


def test_a_base_not_pulled_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from industry_expert.models.checkpoints import resolve_base

    monkeypatch.setenv("IE_MODELS_DIR", str(tmp_path / "empty"))
    with pytest.raises(ModelNotInstalledError, match=r"not installed: run expert models pull qwen2.5-1.5b$"):
        resolve_base("qwen2.5-1.5b")
    data = write_chat(tmp_path / "train.jsonl", FACTS, 1)
    r = CliRunner().invoke(
        main, ["finetune", str(data), "--out", str(tmp_path / "a"), "--base", "qwen2.5-1.5b"]
    )
    assert r.exit_code != 0 and "run expert models pull qwen2.5-1.5b" in r.output, r.output
    assert not (tmp_path / "a").exists()
