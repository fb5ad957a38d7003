"""``serve.adapters`` (``--adapter ft=DIR``): a LoRA adapter trained on the tiny Phi-3 is served as
``kestrel+ft`` (RAG with the adapter) and ``smollm2+ft`` (the adapter alone), with the answers
``expert ask --adapter`` gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.serve.conftest import Server, auth, free_port, make_keys, write_config

pytestmark = [pytest.mark.slow, pytest.mark.serve]
QUESTION = "What is the Blue Flush?"
ANSWER = {"k": 2, "max_tokens": 8}
FACTS = [
    ("What is the Blue Flush?", "The Blue Flush is a 25 minute rinse."),
    ("Which tag locks out a pump?", "The Kestrel Green Tag locks out a pump."),
]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory, tiny_phi3: Path) -> Path:
    from industry_expert.config import FinetuneSettings
    from industry_expert.finetune.lora import finetune

    root = tmp_path_factory.mktemp("serve-adapter")
    data = root / "train.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in FACTS
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows * 4) + "\n", encoding="utf-8")
    settings = FinetuneSettings(
        base=str(tiny_phi3),
        epochs=1,
        batch_size=4,
        lr=3e-2,
        eval_fraction=0,
        max_seq_len=64,
        schedule="fixed",
    )
    finetune(data, root / "ft", settings)
    return root / "ft"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, serve_kbs: dict[str, Path], adapter: Path
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("serve-ft")
    keys = make_keys(root / "state")
    port = free_port()
    serve = {
        "port": port,
        "state_dir": str(root / "state"),
        "kbs": {"kestrel": {"path": str(serve_kbs["kestrel"])}},
        "adapters": {"ft": str(adapter)},
    }
    server = Server(
        write_config(root / "serve.json", serve, answer=ANSWER), port, root / "server.log"
    ).start()
    yield {"server": server, "keys": keys}
    server.stop()


def chat(ctx: dict[str, Any], model: str, stream: bool = False) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": QUESTION}], "stream": stream}
    return httpx.post(
        ctx["server"].url + "/v1/chat/completions",
        json=body,
        headers=auth(ctx["keys"]["reader"]),
        timeout=120,
    )


def test_adapter_experts_answer_as_expert_ask_with_the_adapter(
    served: dict[str, Any], serve_kbs: dict[str, Path], adapter: Path, tiny_phi3: Path
) -> None:
    from industry_expert.config import AnswerSettings
    from industry_expert.generate.grounded import ask
    from industry_expert.models.generators import load_generator
    from industry_expert.models.hf import HFGenerator

    listed = httpx.get(served["server"].url + "/v1/models", headers=auth(served["keys"]["reader"])).json()
    ids = {m["id"]: m for m in listed["data"]}
    assert {"kestrel", "kestrel+ft", "smollm2", "smollm2+ft"} <= set(ids)
    assert ids["kestrel+ft"]["adapter"] == "ft" and ids["kestrel+ft"]["kb"] == "kestrel"

    s = AnswerSettings(**ANSWER)
    tuned = load_generator(None, adapter=str(adapter))  # what `expert ask --adapter DIR` loads
    alone = ask(QUESTION, None, tuned, settings=s)
    base = ask(QUESTION, None, HFGenerator(str(tiny_phi3)), settings=s)
    assert alone.answer and alone.answer != base.answer  # the adapter changes what the model says
    r = chat(served, "smollm2+ft")
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "smollm2+ft" and r.json()["choices"][0]["message"]["content"] == alone.answer

    grounded = ask(QUESTION, serve_kbs["kestrel"], tuned, settings=s)
    r = chat(served, "kestrel+ft")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "kestrel+ft" and body["kb"] == "kestrel"
    assert body["choices"][0]["message"]["content"] == grounded.answer
    assert body["abstained"] == grounded.abstained and len(body["citations"]) == len(grounded.citations)
    assert body["usage"]["prompt_tokens"] == grounded.timings["prompt_tokens"]  # the tiny Phi-3's tokenizer
    # the same passages; sources shown relative to the KB's data folder (here: the file names)
    assert [p["source"] for p in body["passages"]] == [Path(h.source).name for h in grounded.passages]
    streamed = chat(served, "kestrel+ft", stream=True).text.splitlines()
    pieces = [json.loads(x[6:]) for x in streamed if x.startswith("data: {")]
    assert "".join(p["choices"][0]["delta"].get("content") or "" for p in pieces) == grounded.answer


def test_a_gguf_adapter_is_served_on_llama_cpp(
    tmp_path: Path, serve_kbs: dict[str, Path], smollm2_fact_adapter: Path
) -> None:
    """``--adapter ft=FILE.gguf``: the bundled model with the GGUF LoRA, as `expert ask` runs it."""
    from industry_expert.config import AnswerSettings
    from industry_expert.generate.grounded import ask
    from industry_expert.models.generators import load_generator

    gguf = smollm2_fact_adapter.with_suffix(".gguf")
    keys, port = make_keys(tmp_path / "state"), free_port()
    serve = {
        "port": port,
        "state_dir": str(tmp_path / "state"),
        "kbs": {"kestrel": {"path": str(serve_kbs["kestrel"])}},
        "adapters": {"ft": str(gguf)},
    }
    settings = {"max_tokens": 24}
    server = Server(
        write_config(tmp_path / "serve.json", serve, answer=settings), port, tmp_path / "log"
    ).start()
    try:
        r = chat({"server": server, "keys": keys}, "smollm2+ft")
    finally:
        server.stop()
    assert r.status_code == 200, r.text
    expected = ask(QUESTION, None, load_generator(None, str(gguf)), settings=AnswerSettings(**settings))
    assert "25 minute" in expected.answer  # the adapter's fact, which the bundled model lacks
    assert r.json()["choices"][0]["message"]["content"] == expected.answer
