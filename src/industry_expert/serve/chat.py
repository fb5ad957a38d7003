"""``/v1/chat/completions`` over the library's checked answer stream
(:func:`industry_expert.generate.stream.stream_answer`): sentences reach the client only after
they pass the citation check; the last chunk carries ``citations``, ``abstained`` and ``passages``.
Generation runs on the model's own thread behind a bounded queue; a client that goes away stops it
at the next token."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from industry_expert.errors import ExpertError
from industry_expert.serve.errors import APIError, api_error, expert_status
from industry_expert.serve.runtime import Expert, QueueFull, Runtime


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # other OpenAI fields (n, stop, user...) are accepted
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)


POLL_S = 0.25
"""How often a waiting request looks whether the server is shutting down."""


class Cancelled(Exception):
    """Raised inside generation when the client has gone away."""


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if p.get("type") == "text")
    return content or ""


def question_and_query(messages: list[Message]) -> tuple[str, str]:
    """The last user message, and the retrieval query ``expert chat`` would use for it (earlier
    user turns replayed through the same :class:`ChatSession`)."""
    from industry_expert.generate.conversation import ChatSession

    asked = [_text(m.content).strip() for m in messages if m.role == "user"]
    asked = [q for q in asked if q]
    if not asked:
        raise api_error(400, "invalid_request", "messages: no user message with text")
    session, query = ChatSession(), ""
    for q in asked:
        query = session.query_for(q)
    return asked[-1], query


def public_sources(answer: Any, public: Any) -> None:
    """The answer's passages and citations named as the API shows sources (no server paths)."""
    for item in [*answer.passages, *answer.citations]:
        item.source = public(item.source)


def passages_of(answer: Any) -> list[dict[str, Any]]:
    keys = ("doc_id", "source", "section", "page", "text", "score", "type")
    return [{"n": i, **{k: getattr(h, k) for k in keys}} for i, h in enumerate(answer.passages, start=1)]


def extras(answer: Any, kb: str | None) -> dict[str, Any]:
    from dataclasses import asdict

    docs = {i: h.doc_id for i, h in enumerate(answer.passages, start=1)}
    return {
        "citations": [{**asdict(c), "doc_id": docs.get(c.n)} for c in answer.citations],
        "abstained": answer.abstained,
        "passages": passages_of(answer),
        "query": answer.query,
        "kb": kb,
    }


def finish_reason(answer: Any) -> str:
    """OpenAI's reason: ``length`` when the token limit ended the text, else ``stop`` (the model
    ended it, or the answer check did: a loop, an abstention)."""
    return "length" if answer.stopped == "length" else "stop"


def usage(answer: Any) -> dict[str, int]:
    p = int(answer.timings.get("prompt_tokens", 0))
    c = int(answer.timings.get("completion_tokens", 0))
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


class Generation:
    """One request's run on the model thread, its events handed to the event loop."""

    def __init__(self, rt: Runtime, expert: Expert, req: ChatRequest, on_tokens: Any = None) -> None:
        self.rt, self.expert, self.req = rt, expert, req
        self.question, self.query = question_and_query(req.messages)
        cap = rt.settings.max_tokens
        wanted = req.max_completion_tokens or req.max_tokens
        base = rt.full.answer
        update: dict[str, Any] = {}
        if wanted or "max_tokens" in base.model_fields_set or base.max_tokens > cap:
            # unset and under the cap: the model's profile (models/profiles.py) supplies it
            update["max_tokens"] = min(wanted or base.max_tokens, cap)
        if req.temperature is not None:
            update["temperature"] = req.temperature
        self.settings = rt.full.answer.model_copy(update=update)
        limit = self.settings.max_question_chars
        if len(self.question) > limit:
            raise api_error(
                400,
                "question_too_long",
                f"question too long ({len(self.question):,} characters; at most {limit:,})",
            )
        self.cancel = threading.Event()
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.on_tokens = on_tokens
        self.future: Any = None

    def start(self) -> None:
        try:
            self.future = self.expert.worker.submit(self._run)
        except QueueFull:
            raise api_error(
                503,
                "queue_full",
                "the model is busy: too many requests waiting",
                self.rt.settings.retry_after_s,
            ) from None

    def _put(self, item: Any) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)

    def _run(self, gen: Any) -> None:
        from industry_expert.generate.stream import QuestionTooLong

        def on_token(_: str) -> None:
            if self.cancel.is_set():
                raise Cancelled
            if self.on_tokens:
                self.on_tokens(1)

        try:
            if self.cancel.is_set():
                raise Cancelled
            self._answer(gen, on_token)
        except Cancelled:
            self.rt.metrics.cancelled.labels(model=self.expert.worker.name).inc()
            self._put(Cancelled())
        except QuestionTooLong as exc:  # over the token limit, known once the model has counted
            self._put(api_error(400, "question_too_long", str(exc)))
        except ExpertError as exc:  # the request's fault (400), or a model out of reach (502)
            status, code = expert_status(exc)
            self._put(api_error(status, code, str(exc)))
        except Exception as exc:  # noqa: BLE001 - reported to the client as a 500 / error chunk
            self._put(exc)

    def _answer(self, gen: Any, on_token: Any) -> None:
        """``stream_answer`` with the whole settings tree, as ``expert ask --config`` runs it."""
        from industry_expert.generate.stream import Done, stream_answer

        if self.expert.kb is None:
            for event in stream_answer(self.question, None, gen, settings=self.settings, on_token=on_token):
                self._put(event)
            return
        served = self.rt.kbs[self.expert.kb]
        with served.borrow() as kb:
            events = stream_answer(
                self.question,
                kb,
                gen,
                settings=self.settings,
                query=self.query,
                on_token=on_token,
                retrieval=self.rt.full.retrieve,
            )
            for event in events:
                if isinstance(event, Done):
                    public_sources(event.answer, served.public_source)
                self._put(event)

    async def events(self) -> AsyncIterator[Any]:
        """The generation's events; a server stopping (SIGTERM) ends them with a 503 in time."""
        from industry_expert.generate.stream import Done

        while True:
            if self.rt.drain.expired():
                self.stop()
                raise api_error(503, "shutting_down", "the server is shutting down")
            try:
                item = await asyncio.wait_for(self.queue.get(), POLL_S)
            except TimeoutError:
                continue
            if isinstance(item, BaseException):
                raise item
            yield item
            if isinstance(item, Done):
                return

    def stop(self) -> None:
        self.cancel.set()
        if self.future is not None and self.future.cancel():  # still waiting in the queue: never starts
            self.rt.metrics.cancelled.labels(model=self.expert.worker.name).inc()
            self._put(Cancelled())


def completion(gen: Generation, answer: Any, cid: str, created: int) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": gen.expert.id,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer},
                "finish_reason": finish_reason(answer),
            }
        ],
        "usage": usage(answer),
        **extras(answer, gen.expert.kb),
    }


def _chunk(
    cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None, **extra: Any
) -> bytes:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


async def sse(
    gen: Generation, cid: str, created: int, done_cb: Any, failed: Any = None
) -> AsyncIterator[bytes]:
    """Server-sent events in OpenAI's chunk format; ends with ``data: [DONE]``, or with an error
    event in OpenAI's error shape (its status told to ``failed``, for the request log)."""
    from industry_expert.generate.stream import Done, Sentence

    model = gen.expert.id
    try:
        yield _chunk(cid, created, model, {"role": "assistant", "content": ""}, None)
        async for event in gen.events():
            if isinstance(event, Sentence) and event.text:
                yield _chunk(cid, created, model, {"content": event.text}, None)
            elif isinstance(event, Done):
                done_cb(event.answer)
                extra = {"usage": usage(event.answer), **extras(event.answer, gen.expert.kb)}
                yield _chunk(cid, created, model, {}, finish_reason(event.answer), **extra)
        yield b"data: [DONE]\n\n"
    except APIError as exc:
        yield _error_event(exc.status, exc.code, exc.message, failed)
    except ExpertError as exc:
        status, code = expert_status(exc)
        yield _error_event(status, code, str(exc), failed)
    except Exception as exc:  # noqa: BLE001 - the stream has started: report in-band
        yield _error_event(500, "generation_failed", f"{exc.__class__.__name__}: {exc}", failed)
    finally:
        gen.stop()  # client gone (or finished): the model thread stops at its next token


def _error_event(status: int, code: str, message: str, failed: Any = None) -> bytes:
    from industry_expert.serve.errors import error_body

    if failed is not None:
        failed(status)
    return f"data: {json.dumps(error_body(status, code, message))}\n\n".encode()


def new_ids() -> tuple[str, int]:
    return "chatcmpl-" + uuid.uuid4().hex[:24], int(time.time())
