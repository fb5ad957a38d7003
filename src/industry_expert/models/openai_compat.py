"""OpenAI-compatible ``/v1/embeddings`` client (OpenAI, Jina, vLLM, llama.cpp server, ...)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import numpy as np

from industry_expert.errors import ModelError

DEFAULT_BASE_URL = "https://api.openai.com/v1"
KEY_VARS = ("IE_API_KEY", "OPENAI_API_KEY")


def api_key_from_env() -> str | None:
    return next((os.environ[v] for v in KEY_VARS if os.environ.get(v)), None)


def post_error(url: str, resp: Any) -> NoReturn:
    """Raise a one-line ModelError for an HTTP error response."""
    if resp.status_code in (401, 403):
        raise ModelError(
            f"{url} rejected the API key (HTTP {resp.status_code}); set {KEY_VARS[0]} or {KEY_VARS[1]}"
        )
    raise ModelError(f"{url} answered HTTP {resp.status_code}: {resp.text[:300]}")


def post_json(url: str, payload: dict, api_key: str | None, timeout: float) -> dict:
    """POST JSON and return the decoded body, with one-line errors for the usual failures."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        resp = httpx.post(url, json=payload, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ModelError(f"cannot reach {url}: {exc.__class__.__name__}: {exc}") from exc
    if resp.status_code >= 400:
        post_error(url, resp)
    try:
        return resp.json()  # type: ignore[no-any-return]
    except ValueError as exc:
        raise ModelError(f"{url} did not answer JSON: {resp.text[:200]}") from exc


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
        timeout: float = 60.0,
        batch_size: int | None = None,
    ) -> None:
        self.batch_size = batch_size or int(os.environ.get("IE_EMBED_BATCH_SIZE", "64"))
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else api_key_from_env()
        self.timeout = timeout
        self.id = f"openai:{model}"
        self._dim: int | None = None

    @classmethod
    def from_spec(cls, arg: str) -> OpenAIEmbedder:
        model, _, url = arg.partition("@")
        return cls(model, url or os.environ.get("IE_EMBED_BASE_URL", DEFAULT_BASE_URL))

    @property
    def dim(self) -> int:  # type: ignore[override]
        if self._dim is None:
            self._dim = int(self.embed_batch(["dimension probe"]).shape[1])
        return self._dim

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            body = post_json(
                f"{self.base_url}/embeddings",
                {"model": self.model, "input": batch},
                self.api_key,
                self.timeout,
            )
            try:
                items = sorted(body["data"], key=lambda d: d["index"])
                vectors = [_pooled(item["embedding"]) for item in items]
            except (KeyError, TypeError) as exc:
                raise ModelError(f"{self.base_url}/embeddings: unexpected response shape") from exc
            if len(vectors) != len(batch):
                raise ModelError(
                    f"{self.base_url}/embeddings returned {len(vectors)} vectors for {len(batch)} inputs"
                )
            out.extend(vectors)
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
        timeout: float = 120.0,
        context_window: int | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else api_key_from_env()
        self.timeout = timeout
        self.context_window = context_window or int(os.environ.get("IE_CONTEXT_WINDOW", "4096"))
        self.id = f"openai:{model}"

    @classmethod
    def from_spec(cls, arg: str) -> OpenAIChatGenerator:
        model, _, url = arg.partition("@")
        return cls(model, url or os.environ.get("IE_BASE_URL", DEFAULT_BASE_URL))

    def render(self, messages: list[dict[str, str]]) -> str:
        import json

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
        import json

        import httpx

        url = f"{self.base_url}/chat/completions"
        payload = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        if stop:
            payload["stop"] = stop
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            with httpx.stream("POST", url, json=payload, headers=headers, timeout=self.timeout) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    post_error(url, resp)
                for line in resp.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
        except httpx.HTTPError as exc:
            raise ModelError(f"cannot reach {url}: {exc.__class__.__name__}: {exc}") from exc
