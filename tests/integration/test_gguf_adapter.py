"""A LoRA adapter exported to GGUF (`expert finetune export`) and applied by llama.cpp at run time
on the bundled model: it says what the PEFT adapter says, where the base model does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.conftest import FACT_QUESTION

from industry_expert.cli import main
from industry_expert.errors import ConfigError, ModelError
from industry_expert.models.generators import generate, load_generator

pytestmark = pytest.mark.slow


def _answer(model: str | None, adapter: str | None) -> str:
    gen = load_generator(model, adapter)
    return generate(gen, [{"role": "user", "content": FACT_QUESTION}], max_tokens=24, temperature=0.0)


def test_the_gguf_adapter_answers_like_the_peft_adapter(smollm2_fact_adapter: Path) -> None:
    adapter = smollm2_fact_adapter
    out = adapter.parent / "exported.gguf"
    r = CliRunner().invoke(main, ["finetune", "export", str(adapter), "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert 0.5 < info["size_mb"] < 20 and out.read_bytes()[:4] == b"GGUF"
    assert "KB-7" not in _answer(None, None)  # the base model does not know the fact
    assert "25 minute" in _answer(None, str(adapter))  # the PEFT adapter on the HF checkpoint
    assert "25 minute" in _answer(None, str(out))  # the same adapter, applied by llama.cpp
    again = CliRunner().invoke(main, ["finetune", "export", str(adapter), "--out", str(out)])
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_adapter_mismatches_are_one_line_errors(smollm2_fact_adapter: Path, tmp_path: Path) -> None:
    from industry_expert.models.llamacpp import bundled_gguf

    with pytest.raises(ConfigError, match="finetune export"):
        load_generator(str(bundled_gguf()), str(smollm2_fact_adapter))  # a PEFT folder on a GGUF model
    with pytest.raises(ConfigError, match="llama.cpp"):
        load_generator(f"hf:{smollm2_fact_adapter}", str(tmp_path / "x.gguf"))
    from industry_expert.models.checkpoints import adapter_base, check_adapter_base

    exported = smollm2_fact_adapter.parent / "adapter.gguf"  # the fixture's export
    assert adapter_base(exported) == "smollm2"
    check_adapter_base("smollm2", exported)
    with pytest.raises(ConfigError, match="trained on smollm2, not qwen2.5-0.5b: use --model smollm2"):
        check_adapter_base("qwen2.5-0.5b", exported)  # llama.cpp would crash or refuse
    from industry_expert.models.catalog import CATALOG, installed_path

    if installed_path(CATALOG["qwen2.5-0.5b"]) is not None:  # pulled by the bundled-models tests
        with pytest.raises(ConfigError, match="trained on smollm2"):  # refused before llama.cpp loads it
            load_generator("qwen2.5-0.5b", str(exported))
    fake = tmp_path / "fake.gguf"
    fake.write_text("not a model")
    with pytest.raises(ModelError, match="not a GGUF"):
        load_generator(None, str(fake))
