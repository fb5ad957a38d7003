"""A question measured in the generator's own tokens: a 3,990-character Chinese question (under
``answer.max_question_chars``, yet more tokens than the model's whole window) is refused as
"question too long" in one line by ``expert ask``, ``expert chat`` and ``expert serve``, instead of
being answered "does not cover". Real bundled SmolLM2, real CLI processes, a real server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hostile import corpus

pytestmark = pytest.mark.slow  # the bundled generator, model-loading CLI runs

ZH = ("泽弗泵的保修期是多长时间，从交货之日起计算还是从安装之日起计算？" * 200)[:3_990]
TOO_LONG = re.compile(
    # the model's profile caps the prompt at 768 tokens: half of it is the question's limit
    r"^error: question too long \(([\d,]+) tokens; at most 384, half the prompt budget: "
    r"settings answer\.context_tokens, answer\.max_tokens\)$"
)


@pytest.fixture(scope="module")
def gen():  # type: ignore[no-untyped-def]
    from industry_expert.models.generators import load_generator

    return load_generator("smollm2")


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory, settings) -> Path:  # type: ignore[no-untyped-def]
    from industry_expert import ingest

    root = tmp_path_factory.mktemp("question-tokens")
    (root / "data").mkdir()
    (root / "data" / "good.md").write_text(corpus.GOOD, encoding="utf-8")
    assert ingest([str(root / "data")], root / "kb", settings=settings).ok
    return root / "kb"


def _expert(*args: str, stdin: str = "", cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IE_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "IE_LOG_FILE": str(cwd / "expert.log")}
    return subprocess.run(
        [sys.executable, "-m", "industry_expert", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_the_token_limit_is_the_setting_or_half_the_prompt_budget(gen) -> None:  # type: ignore[no-untyped-def]
    from industry_expert.config import AnswerSettings
    from industry_expert.generate.stream import QuestionTooLong, check_question_tokens, question_token_limit

    s = AnswerSettings()
    assert len(ZH) < s.max_question_chars and gen.count_tokens(ZH) > gen.context_window  # chars let it in
    assert question_token_limit(gen, s) == (1024, "setting answer.max_question_tokens")
    with pytest.raises(QuestionTooLong, match=r"question too long \([\d,]+ tokens; at most 1,024"):
        check_question_tokens(ZH, gen, s)
    check_question_tokens(ZH[:300], gen, s)  # ~580 tokens: under the limit
    small = AnswerSettings(context_tokens=600)
    assert question_token_limit(gen, small)[0] == 300
    with pytest.raises(
        QuestionTooLong, match=r"at most 300, half the prompt budget: settings answer.context_tokens"
    ):
        check_question_tokens(ZH[:300], gen, small)


def test_expert_ask_and_chat_refuse_a_long_cjk_question_in_one_line(
    kb: Path, config: Path, gen, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    n = gen.count_tokens(ZH)
    ask = _expert("--config", str(config), "ask", ZH, "--kb", str(kb), cwd=tmp_path)
    assert ask.returncode == 2 and ask.stdout == "", ask.stdout
    m = TOO_LONG.match(_one_error_line(ask))
    assert m and int(m.group(1).replace(",", "")) == n, ask.stderr
    alone = _expert("ask", ZH, cwd=tmp_path)  # the model alone, no KB: the same limit
    assert alone.returncode == 2 and TOO_LONG.match(_one_error_line(alone))
    # chat refuses the question in one line and goes on with the next one
    chat = _expert("--config", str(config), "chat", "--kb", str(kb), stdin=ZH + "\n/sources\n", cwd=tmp_path)
    assert chat.returncode == 0 and TOO_LONG.match(_one_error_line(chat)), chat.stdout + chat.stderr
    assert chat.stdout.strip() == "no answer yet", chat.stdout
    assert "does not cover" not in ask.stdout + chat.stdout


@pytest.mark.serve
def test_serve_refuses_it_with_a_client_error(tmp_path: Path) -> None:
    from tests.serve.conftest import Server, free_port, write_config

    port = free_port()
    config = write_config(tmp_path / "serve.json", {"port": port, "state_dir": str(tmp_path / "state")})
    server = Server(config, port, tmp_path / "server.log").start()
    try:
        url = server.url + "/v1/chat/completions"
        body = {"model": "smollm2", "messages": [{"role": "user", "content": ZH}]}
        r = httpx.post(url, json=body, timeout=120)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "question_too_long"
        assert re.match(r"question too long \([\d,]+ tokens; at most 384, half", error["message"]), error
        stream = httpx.post(url, json={**body, "stream": True}, timeout=120)
        events = [json.loads(x[6:]) for x in stream.text.splitlines() if x.startswith("data: {")]
        errors = [e["error"] for e in events if "error" in e]
        assert len(errors) == 1 and errors[0]["code"] == "question_too_long", stream.text
        assert errors[0]["type"] == "invalid_request_error" and "[DONE]" not in stream.text
        assert not any(e.get("choices", [{}])[0].get("delta", {}).get("content") for e in events)
    finally:
        assert server.stop() == 0, server.log.read_text()[-2000:]
    assert "Traceback" not in server.log.read_text()
