"""OpenAI-compatible chat and embeddings (OpenAI, Azure, vLLM, Ollama, llama.cpp server, Jina...)
through the official ``openai`` SDK: timeouts, retries with backoff on 408/409/429/5xx and dropped
connections (honouring ``Retry-After``), typed errors mapped to one-line :class:`ModelError`\\s."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from industry_expert.config import RemoteSettings
from industry_expert.errors import ModelError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_VARS = ("IE_API_KEY", "OPENAI_API_KEY")
NO_KEY = "no-key"
"""Sent when no key is set (local servers accept anything; the SDK needs a value)."""


def api_key_from_env() -> str | None:
    return next((os.environ[v] for v in KEY_VARS if os.environ.get(v)), None)


def make_client(base_url: str, api_key: str | None, remote: RemoteSettings) -> Any:
    """An ``openai.OpenAI`` client with our timeouts and retry budget."""
    import httpx2
    import openai

    return openai.OpenAI(
        base_url=base_url,
        api_key=api_key or NO_KEY,
        timeout=httpx2.Timeout(remote.timeout_s, connect=remote.connect_timeout_s),
        max_retries=remote.max_retries,
    )


def one_line(url: str, exc: Exception, retries: int) -> ModelError:
    """The SDK's typed errors (and a broken stream) as one line naming the endpoint."""
    import openai

    retried = isinstance(exc, openai.APIConnectionError | openai.RateLimitError | openai.InternalServerError)
    tried = f" (after {retries} retr{'y' if retries == 1 else 'ies'})" if retries and retried else ""
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelError(
            f"{url} rejected the API key (HTTP {exc.status_code}); set {KEY_VARS[0]} or {KEY_VARS[1]}"
        )
    if isinstance(exc, openai.RateLimitError):
        return ModelError(f"{url} is rate limiting (HTTP 429){tried}: {_detail(exc)}")
    if isinstance(exc, openai.APIStatusError):
        return ModelError(f"{url} answered HTTP {exc.status_code}{tried}: {_detail(exc)}")
    if isinstance(exc, openai.APITimeoutError):
        return ModelError(f"{url} did not answer in time{tried}")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return ModelError(f"cannot reach {url}{tried}: {cause.__class__.__name__}: {cause}")
    if isinstance(exc, openai.APIError):
        return ModelError(f"{url} reported an error: {_detail(exc)}")
    if isinstance(exc, ValueError):  # a data: line that is not JSON
        return ModelError(f"{url} sent a malformed stream event: {str(exc)[:200]}")
    return ModelError(f"{url}: {exc.__class__.__name__}: {exc}")


def _detail(exc: Any) -> str:
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    if message is None and isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
    return " ".join(str(message or exc.message).split())[:300]


def _pooled(embedding: list) -> list[float]:
    """One vector per input. Servers running a model without a pooling layer (llama.cpp with a
    causal LM) return one vector per token: those are mean-pooled here."""
    if embedding and isinstance(embedding[0], list):
        return np.asarray(embedding, dtype=np.float32).mean(axis=0).tolist()  # type: ignore[no-any-return]
    return embedding


class OpenAIEmbedder:
    """Inputs per request: ``batch_size`` (default 64, or ``IE_EMBED_BATCH_SIZE``)."""

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        remote: RemoteSettings | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.batch_size = batch_size or int(os.environ.get("IE_EMBED_BATCH_SIZE", "64"))
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.remote = remote or RemoteSettings()
        self.client = make_client(self.base_url, api_key or api_key_from_env(), self.remote)
        self.id = f"openai:{model}"
        self._dim: int | None = None

    @classmethod
    def from_spec(cls, arg: str, remote: RemoteSettings | None = None) -> OpenAIEmbedder:
        model, _, url = arg.partition("@")
        return cls(model, url or os.environ.get("IE_EMBED_BASE_URL", DEFAULT_BASE_URL), remote=remote)

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._dim is None:
            self._dim = int(self.embed_batch(["dimension probe"]).shape[1])
        return self._dim

    def _request(self, batch: list[str]) -> list[list[float]]:
        url = f"{self.base_url}/embeddings"
        try:
            body = self.client.embeddings.create(model=self.model, input=batch, encoding_format="float")
            vectors = [_pooled(item.embedding) for item in sorted(body.data, key=lambda d: d.index)]
        except (AttributeError, TypeError) as exc:
            raise ModelError(f"{url}: unexpected response shape") from exc
        except Exception as exc:  # noqa: BLE001 - the SDK's typed errors become one line
            raise one_line(url, exc, self.remote.max_retries) from exc
        if len(vectors) != len(batch):
            raise ModelError(f"{url} returned {len(vectors)} vectors for {len(batch)} inputs")
        return vectors

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(self._request(list(texts[start : start + self.batch_size])))
        if len({len(v) for v in out}) > 1:
            raise ModelError(f"{self.base_url}/embeddings returned vectors of varying length")
        arr = np.asarray(out, dtype=np.float32)
        if self._dim is None and len(arr):
            self._dim = arr.shape[1]
        return arr


class OpenAIChatGenerator:
    """Any OpenAI-compatible ``/v1/chat/completions`` server (vLLM, Ollama, llama.cpp, Azure/OpenAI).
    The server applies the model's chat template; ``render`` returns the exact JSON messages sent."""

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        remote: RemoteSettings | None = None,
        context_window: int | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.remote = remote or RemoteSettings()
        self.client = make_client(self.base_url, api_key or api_key_from_env(), self.remote)
        self.context_window = context_window or int(os.environ.get("IE_CONTEXT_WINDOW", "4096"))
        self.id = f"openai:{model}"

    @classmethod
    def from_spec(cls, arg: str, remote: RemoteSettings | None = None) -> OpenAIChatGenerator:
        model, _, url = arg.partition("@")
        return cls(model, url or os.environ.get("IE_BASE_URL", DEFAULT_BASE_URL), remote=remote)

    def render(self, messages: list[dict[str, str]]) -> str:
        return json.dumps(messages, ensure_ascii=False, indent=1)

    def count_tokens(self, text: str) -> int:
        """Servers do not expose their tokenizer: a conservative estimate (about 3.5 chars/token)."""
        return int(len(text) / 3.5) + 1

    def stream(
        self,
        messages: list[dict[str, str]],
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str]:
        """Text pieces as they arrive. Chunks without choices (Azure's first chunk carries only
        content-filter results; usage chunks) are skipped. A failure before the first piece is
        retried by the SDK; one in the middle of a stream is reported (never silently truncated)."""
        url = f"{self.base_url}/chat/completions"
        kwargs: dict[str, Any] = {"stop": stop} if stop else {}
        try:
            chunks = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
                **kwargs,
            )
            with chunks:
                for chunk in chunks:
                    piece = _delta_text(chunk)
                    if piece:
                        yield piece
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - the SDK's typed errors become one line
            raise one_line(url, exc, self.remote.max_retries) from exc


def _delta_text(chunk: Any) -> str | None:
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return None
    delta = getattr(choices[0], "delta", None)
    return getattr(delta, "content", None) if delta is not None else None
