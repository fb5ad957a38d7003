"""The remote model client (official ``openai`` SDK) against failure modes scripted by a FAKE
HTTP server on 127.0.0.1 (``industry_expert.testing.fake_openai``; a real local server cannot be
made to rate-limit or hang on demand). The real llama.cpp server is exercised in
``tests/integration/test_openai_remote.py`` and ``test_openai_embeddings.py``."""

from __future__ import annotations

import time

import numpy as np
import pytest

from industry_expert.config import RemoteSettings
from industry_expert.errors import ConfigError, ModelError
from industry_expert.models.generators import generate
from industry_expert.models.openai_compat import OpenAIChatGenerator, OpenAIEmbedder
from industry_expert.testing.fake_openai import (
    Reply,
    azure_filter_chunk,
    chat_chunk,
    embeddings_body,
    fake_openai_server,
)

FAST = RemoteSettings(timeout_s=0.5, connect_timeout_s=0.5, max_retries=2)
MESSAGES = [{"role": "user", "content": "How long is the warranty?"}]
ANSWER = [chat_chunk("24 "), chat_chunk("months."), chat_chunk(None, "stop")]
ERROR = {"error": {"message": "slow down", "type": "rate_limit", "code": None}}


def chat(url: str, remote: RemoteSettings = FAST) -> OpenAIChatGenerator:
    return OpenAIChatGenerator("fake", url, api_key="k", remote=remote)


def test_429_waits_for_retry_after_then_succeeds() -> None:
    replies = [Reply(429, {"Retry-After": "1"}, ERROR), Reply(events=ANSWER)]
    with fake_openai_server(replies) as server:
        assert generate(chat(server.url), MESSAGES) == "24 months."
        assert len(server.requests) == 2 and server.gaps()[0] >= 0.95  # the server's 1 s, not 0.5 s
        path, body, _ = server.requests[1]
        assert path == "/v1/chat/completions" and body["stream"] is True and body["messages"] == MESSAGES


def test_429_until_retries_run_out_is_one_line() -> None:
    replies = [Reply(429, {"retry-after-ms": "10"}, ERROR)]
    with fake_openai_server(replies) as server, pytest.raises(ModelError) as err:
        generate(chat(server.url), MESSAGES)
    assert len(server.requests) == 3  # 1 + max_retries
    assert (
        str(err.value)
        == f"{server.url}/chat/completions is rate limiting (HTTP 429) (after 2 retries): slow down"
    )


def test_500_then_success_backs_off() -> None:
    replies = [Reply(500, body={"error": {"message": "boom"}}), Reply(events=ANSWER)]
    with fake_openai_server(replies) as server:
        assert generate(chat(server.url), MESSAGES) == "24 months."
        assert len(server.requests) == 2 and 0.3 <= server.gaps()[0] < 2.0  # exponential backoff, 1st step


def test_client_errors_are_not_retried() -> None:
    with fake_openai_server([Reply(400, body={"error": {"message": "context too long"}})]) as server:
        with pytest.raises(ModelError, match=r"answered HTTP 400: context too long$"):
            generate(chat(server.url), MESSAGES)
        assert len(server.requests) == 1
    rejected = pytest.raises(ModelError, match="rejected the API key .HTTP 401.; set IE_API_KEY")
    with fake_openai_server([Reply(401, body={"error": {"message": "bad key"}})]) as server, rejected:
        generate(chat(server.url), MESSAGES)


def test_azure_first_chunk_with_empty_choices() -> None:
    with fake_openai_server([Reply(events=[azure_filter_chunk(), *ANSWER])]) as server:
        assert list(chat(server.url).stream(MESSAGES)) == ["24 ", "months."]


def test_malformed_sse_is_one_line() -> None:
    events = [chat_chunk("24 "), '{"choices": [{"delta": {"content": "mo', chat_chunk("nths.")]
    with fake_openai_server([Reply(events=events)]) as server, pytest.raises(ModelError) as err:
        list(chat(server.url).stream(MESSAGES))
    assert str(err.value).startswith(f"{server.url}/chat/completions sent a malformed stream event:")
    assert "\n" not in str(err.value)


def test_hung_connection_times_out_after_retries() -> None:
    with fake_openai_server([Reply(hang_after=0)]) as server:
        started = time.monotonic()
        with pytest.raises(ModelError, match=r"did not answer in time \(after 1 retry\)$"):
            generate(chat(server.url, FAST.model_copy(update={"max_retries": 1})), MESSAGES)
        elapsed = time.monotonic() - started
        assert len(server.requests) == 2 and elapsed < 5.0


def test_stream_that_stalls_midway_is_reported_not_truncated() -> None:
    with fake_openai_server([Reply(events=ANSWER, hang_after=1)]) as server:
        pieces: list[str] = []
        with pytest.raises(ModelError, match="did not answer in time"):
            for piece in chat(server.url).stream(MESSAGES):
                pieces.append(piece)
        assert pieces == ["24 "]


def test_embeddings_retry_and_order() -> None:
    vectors = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    shuffled = embeddings_body(vectors)
    shuffled["data"].reverse()  # servers may answer out of order: ``index`` decides
    replies = [Reply(503, {"Retry-After": "0.05"}, {"error": {"message": "loading"}}), Reply(body=shuffled)]
    with fake_openai_server(replies) as server:
        emb = OpenAIEmbedder("fake", server.url, api_key="k", remote=FAST)
        out = emb.embed_batch(["a", "b"])
        np.testing.assert_array_equal(out, np.asarray(vectors, dtype=np.float32))
        assert len(server.requests) == 2 and server.requests[1][1]["input"] == ["a", "b"]
        assert server.requests[1][1]["encoding_format"] == "float"


def test_embeddings_count_mismatch_is_one_line() -> None:
    with fake_openai_server([Reply(body=embeddings_body([[1.0, 0.0]]))]) as server:
        emb = OpenAIEmbedder("fake", server.url, api_key="k", remote=FAST)
        with pytest.raises(ModelError, match="returned 1 vectors for 2 inputs"):
            emb.embed_batch(["a", "b"])


def test_remote_settings_are_validated() -> None:
    with pytest.raises(ConfigError, match="max_retries"):
        RemoteSettings(max_retries=-1)
    with pytest.raises(ConfigError, match="timeout_s"):
        RemoteSettings(timeout_s=0)
