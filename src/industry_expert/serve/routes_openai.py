"""OpenAI-compatible routes: ``/v1/models``, ``/v1/chat/completions``, ``/v1/embeddings``."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from industry_expert.serve.auth import Key
from industry_expert.serve.chat import Cancelled, ChatRequest, Generation, completion, new_ids, sse
from industry_expert.serve.errors import api_error, error_body

router = APIRouter()


def runtime(request: Request) -> Any:
    return request.app.state.runtime


@router.get("/v1/models")
def list_models(request: Request, principal: Key) -> dict[str, Any]:
    rt = runtime(request)
    data = [
        {
            "id": ex.id,
            "object": "model",
            "created": 0,
            "owned_by": "industry-expert",
            "kb": ex.kb,
            "adapter": ex.adapter,
        }
        for ex in rt.experts.values()
        if ex.kb is None or principal.can(ex.kb, "read")
    ]
    return {"object": "list", "data": data}


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatRequest, request: Request, principal: Key) -> Any:
    rt = runtime(request)
    expert = rt.expert_for(principal, body.model)
    request.state.kb = expert.kb
    gen = Generation(rt, expert, body)
    cid, created = new_ids()

    def done(answer: Any) -> None:
        tokens = int(answer.timings.get("completion_tokens", 0))
        request.state.tokens = tokens
        rt.metrics.tokens.labels(model=expert.worker.name).inc(tokens)

    def failed(status: int) -> None:  # an error event ends the stream: the log records its status
        request.state.error_status = status

    gen.start()
    if body.stream:
        return StreamingResponse(
            sse(gen, cid, created, done, failed),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        answer = await final_answer(gen, request)
    except Cancelled:  # nobody reads this: the request log records 499 (client closed request)
        return JSONResponse(error_body(499, "client_closed", "the client went away"), 499)
    done(answer)
    return JSONResponse(completion(gen, answer, cid, created))


async def final_answer(gen: Generation, request: Request) -> Any:
    """The checked answer of a non-streamed request. A client that goes away meanwhile stops the
    generation at its next token (or before it starts, when it is still queued), as a stream does."""

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gen.stop()

    watcher = asyncio.create_task(watch())
    try:
        answer = None
        async for event in gen.events():
            answer = getattr(event, "answer", answer)
        assert answer is not None
        return answer
    finally:
        watcher.cancel()
        gen.stop()


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    input: str | list[str] = Field(...)
    encoding_format: str = "float"


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingRequest, request: Request, principal: Key) -> dict[str, Any]:
    """The KB's own embedder (the model id is the KB's name, or one of its experts)."""
    rt = runtime(request)
    name = body.model.partition("+")[0]
    kb = rt.kb_for(principal, name) if name in rt.kbs else None
    if kb is None:
        raise api_error(404, "model_not_found", f"the model '{body.model}' does not exist (use a KB name)")
    request.state.kb = kb.name
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    if not texts or any(not isinstance(t, str) or not t for t in texts):
        raise api_error(400, "invalid_request", "input: one or more non-empty strings")

    def embed() -> tuple[Any, int]:
        with kb.borrow() as handle:
            return handle.embed(texts), input_tokens(handle.embedder, texts)

    vectors, tokens = await rt.run_search(embed)
    return {
        "object": "list",
        "model": body.model,
        "data": [
            {"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
            for i, v in enumerate(vectors)
        ],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def input_tokens(embedder: Any, texts: list[str]) -> int:
    """Input tokens by the embedder's own tokenizer (special tokens excluded, as OpenAI counts);
    a remote embedder, whose tokenizer is not known here, is estimated at 3.5 characters a token."""
    count = getattr(embedder, "count_tokens", None)
    if count is None:
        return sum(int(len(t) / 3.5) + 1 for t in texts)
    return sum(int(count(t)) for t in texts)


def _encode(vector: Any, fmt: str) -> Any:
    if fmt == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]
