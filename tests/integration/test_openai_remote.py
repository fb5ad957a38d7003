"""The remote chat client (official ``openai`` SDK) against the real llama.cpp OpenAI-compatible
server on 127.0.0.1 with the bundled SmolLM2 (no fake)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from industry_expert.config import RemoteSettings
from industry_expert.errors import ModelError
from industry_expert.models.generators import load_generator
from industry_expert.models.openai_compat import OpenAIChatGenerator
from industry_expert.testing.llama_server import llama_server

pytestmark = [pytest.mark.slow, pytest.mark.server]
KEY = "remote-key"
MESSAGES = [{"role": "user", "content": "Count from one to ten in words, separated by commas."}]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with llama_server(api_key=KEY) as base:
        yield base


def test_streams_piece_by_piece_within_max_tokens(url: str) -> None:
    remote = OpenAIChatGenerator("smollm2", url, api_key=KEY, remote=RemoteSettings(timeout_s=60))
    pieces = list(remote.stream(MESSAGES, max_tokens=24))
    assert len(pieces) > 3 and sum(c.isalnum() for c in "".join(pieces)) >= 5  # really streamed
    short = list(remote.stream(MESSAGES, max_tokens=4))
    assert 1 <= len(short) <= 4  # one piece per token: max_tokens reached the server
    assert "".join(pieces) == "".join(remote.stream(MESSAGES, max_tokens=24))  # temperature 0 reached it


def test_stop_sequences_and_settings_reach_the_server(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IE_API_KEY", KEY)
    gen = load_generator(f"openai:smollm2@{url}", remote=RemoteSettings(max_retries=0, timeout_s=60))
    assert isinstance(gen, OpenAIChatGenerator) and gen.remote.max_retries == 0
    full = "".join(gen.stream(MESSAGES, max_tokens=24))
    word = next(w for w in ("three", "Three", "3") if w in full)
    cut = "".join(gen.stream(MESSAGES, max_tokens=24, stop=[word]))
    assert word not in cut and full.startswith(cut.rstrip())


def test_wrong_key_is_one_line_without_retries(url: str) -> None:
    gen = OpenAIChatGenerator("smollm2", url, api_key="wrong", remote=RemoteSettings(max_retries=3))
    with pytest.raises(ModelError) as err:
        list(gen.stream(MESSAGES, max_tokens=4))
    assert str(err.value).startswith(f"{url}/chat/completions rejected the API key (HTTP 401)")
