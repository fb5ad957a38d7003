"""Knowledge-base routes: stats, search, documents (list, upload, delete, original file), jobs.
Each calls the library function the CLI calls (``kb_stats``, ``search``, ``ingest``)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from industry_expert.serve.auth import Key
from industry_expert.serve.deps import served_kb
from industry_expert.serve.errors import api_error, not_found
from industry_expert.serve.jobs import new_job
from industry_expert.serve.runtime import ServedKB

router = APIRouter()


def _rt(request: Request) -> Any:
    return request.app.state.runtime


async def in_pool(request: Request, fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_rt(request).pool, fn, *args)


@router.get("/v1/me")
def me(principal: Key) -> dict[str, Any]:
    return principal.public()


@router.get("/v1/kbs")
async def list_kbs(request: Request, principal: Key) -> dict[str, Any]:
    rt = _rt(request)
    data = []
    for name, kb in rt.kbs.items():
        if principal.can(name):
            stats = await in_pool(request, _stats, kb)
            scope = "write" if principal.can(name, "write") else "read"
            data.append(
                {"name": name, "scope": scope, "documents": stats["documents"], "chunks": stats["chunks"]}
            )
    return {"object": "list", "data": data}


def _stats(kb: ServedKB) -> dict[str, Any]:
    with kb.borrow() as handle:
        stats = dict(handle.stats())
    stats["kb"] = kb.name
    return stats


@router.get("/v1/kbs/{kb}")
async def kb_stats(kb: str, request: Request, principal: Key) -> dict[str, Any]:
    return await in_pool(request, _stats, served_kb(request, principal, kb))  # type: ignore[no-any-return]


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=4000)
    k: int | None = Field(None, ge=1, le=100)
    filters: dict[str, str] | None = None
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"


@router.post("/v1/kbs/{kb}/search")
async def search(kb: str, body: SearchRequest, request: Request, principal: Key) -> dict[str, Any]:
    """The same hits as ``expert search --json``."""
    from industry_expert.retrieve.hybrid import search as lib_search

    served = served_kb(request, principal, kb)
    r = _rt(request).full.retrieve

    def run() -> list[dict[str, Any]]:
        with served.borrow() as handle:
            hits = lib_search(
                body.query, handle, k=body.k or r.k, filters=body.filters, mode=body.mode, settings=r
            )
        return [{**h.to_dict(), "source": served.public_source(h.source)} for h in hits]

    return {"object": "list", "data": await _rt(request).run_search(run)}


def _doc(d: Any, served: ServedKB) -> dict[str, Any]:
    return {
        "doc_id": d.doc_id,
        "source": served.public_source(d.source),
        "title": d.title,
        "type": d.type,
        "n_chunks": d.n_chunks,
        "ingested_at": d.ingested_at,
        "metadata": d.metadata,
    }


@router.get("/v1/kbs/{kb}/documents")
async def documents(kb: str, request: Request, principal: Key) -> dict[str, Any]:
    served = served_kb(request, principal, kb)

    def run() -> list[dict[str, Any]]:
        with served.borrow() as handle:
            docs = list(handle.store.documents())
        return [_doc(d, served) for d in docs]

    return {"object": "list", "data": await in_pool(request, run)}


def _document(served: ServedKB, doc_id: str) -> Any:
    with served.borrow() as handle:
        record = handle.store.get_document(doc_id)
    if record is None:
        raise not_found(f"document '{doc_id}'")
    return record


@router.get("/v1/kbs/{kb}/documents/{doc_id}/file", response_model=None)
async def original_file(kb: str, doc_id: str, request: Request, principal: Key) -> FileResponse:
    """The original file of a document (a source link); served sandboxed, never as active content."""
    served = served_kb(request, principal, kb)
    record = await in_pool(request, _document, served, doc_id)
    path = Path(record.abs_path)
    if not path.is_file():
        shown = served.public_source(record.source)
        raise api_error(410, "file_gone", f"the original file of '{shown}' is no longer on disk")
    name = path.name
    media = "text/plain; charset=utf-8" if record.type in ("html", "markdown", "text") else None
    return FileResponse(
        path,
        media_type=media,
        filename=name,
        content_disposition_type="inline",
        headers={
            "Content-Security-Policy": "sandbox; default-src 'none'",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.delete("/v1/kbs/{kb}/documents/{doc_id}")
async def delete_document(kb: str, doc_id: str, request: Request, principal: Key) -> dict[str, Any]:
    from industry_expert.serve.uploads import remove_stored

    rt = _rt(request)
    served = served_kb(request, principal, kb, "write")

    def run() -> dict[str, Any]:
        with served.borrow() as handle:
            record = handle.store.get_document(doc_id)
            if record is None:
                raise not_found(f"document '{doc_id}'")
            removed = handle.delete_documents([doc_id])
            handle.store.sync()
            still = any(d.abs_path == record.abs_path for d in handle.store.documents())
        if not still:
            remove_stored(Path(record.abs_path), rt.uploads / served.name)
        shown = served.public_source(record.source)
        return {"removed_documents": 1, "removed_chunks": removed, "sources": [shown]}

    return await in_pool(request, run)  # type: ignore[no-any-return]


@router.post("/v1/kbs/{kb}/documents", status_code=202)
async def upload(kb: str, request: Request, principal: Key) -> JSONResponse:
    """Multipart upload (field ``files``, repeated): stored by content hash, ingested by a job."""
    from industry_expert.serve.uploads import Receiver, boundary_of, store

    rt = _rt(request)
    served = served_kb(request, principal, kb, "write")
    limit = int(rt.settings.max_upload_mb * 1024 * 1024)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise api_error(
            413,
            "payload_too_large",
            f"upload is larger than serve.max_upload_mb ({rt.settings.max_upload_mb:g} MB)",
        )
    home = rt.uploads / served.name
    incoming = home / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    receiver = Receiver(
        boundary_of(request.headers.get("content-type", "")), incoming, limit, rt.settings.max_upload_mb
    )
    received = await receiver.consume(request.stream())
    files = []
    for r in received:
        path = store(r, home)
        files.append(
            {
                "name": r.name,
                "path": str(path),
                "sha256": r.sha256,
                "size": r.size,
                "status": "pending",
                "reason": None,
                "chunks": 0,
            }
        )
    job = new_job(served.name, principal.name, files)
    rt.jobs.submit(job)
    return JSONResponse(job.public(), status_code=202)


def _job_for(request: Request, principal: Key, job_id: str) -> Any:
    job = _rt(request).state.job(job_id)
    if job is None or not principal.can(job.kb, "write"):
        raise not_found(f"job '{job_id}'")
    request.state.kb = job.kb
    return job


@router.get("/v1/kbs/{kb}/jobs")
def kb_jobs(kb: str, request: Request, principal: Key) -> dict[str, Any]:
    served = served_kb(request, principal, kb, "write")
    return {"object": "list", "data": [j.public() for j in _rt(request).state.jobs(served.name)]}


@router.get("/v1/jobs/{job_id}")
def get_job(job_id: str, request: Request, principal: Key) -> dict[str, Any]:
    return _job_for(request, principal, job_id).public()  # type: ignore[no-any-return]


@router.delete("/v1/jobs/{job_id}")
def cancel_job(job_id: str, request: Request, principal: Key) -> dict[str, Any]:
    job = _job_for(request, principal, job_id)
    return _rt(request).jobs.cancel(job).public()  # type: ignore[no-any-return]
