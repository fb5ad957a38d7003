"""The web page for people who are not engineers (issue 13): static assets from
``industry_expert/web`` at ``/``, the Content-Security-Policy on every response, and the few routes
the page needs beyond the OpenAI-style API: evaluation runs and the advisor for a KB ("Choose"),
and short-lived links to original files (a plain ``<a href>`` cannot send the key).

Every route here uses the same Bearer key and scopes as the API (``require_key``/``served_kb``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel

from industry_expert.serve.auth import Key, Principal
from industry_expert.serve.errors import api_error, not_found

if TYPE_CHECKING:
    from fastapi import FastAPI

ASSETS = {  # the only files served under /web/ (name -> media type)
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "ask.js": "text/javascript; charset=utf-8",
    "docs.js": "text/javascript; charset=utf-8",
    "choose.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
TEXT_SUFFIXES = {".html", ".htm", ".md", ".markdown", ".txt", ".text"}  # shown as their source text
LINK_TTL_S = 600
RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
WRONG_SHOWN = 100  # wrong answers listed per system in a run's view

router = APIRouter()


def add_web(app: FastAPI) -> None:
    """Serve the page. The app's own middleware sets the Content-Security-Policy (``script-src
    'self'``: no inline script) on every response that sets none itself."""
    app.include_router(router)


def _asset(name: str) -> Response:
    if name not in ASSETS:
        raise not_found(f"/web/{name}")
    body = resources.files("industry_expert").joinpath("web", name).read_bytes()
    return Response(body, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
def index() -> Response:
    return _asset("index.html")


@router.get("/favicon.ico", include_in_schema=False)
def favicon() -> Response:
    return _asset("icon.svg")


@router.get("/web/{name}", include_in_schema=False)
def asset(name: str) -> Response:
    return _asset(name)


# --- short-lived links to original files -------------------------------------------------------


class LinkRequest(BaseModel):
    kb: str
    doc_id: str


def _link_secret(request: Request) -> bytes:
    """One secret per state folder, so that every worker of the server accepts the same links."""
    app_state = request.app.state
    if getattr(app_state, "web_link_secret", None) is None:
        folder = Path(request.app.state.runtime.settings.state_dir)
        path = folder / "web-links.secret"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(secrets.token_bytes(32))
            tmp.chmod(0o600)
            tmp.replace(path)
        app_state.web_link_secret = path.read_bytes()
    return bytes(app_state.web_link_secret)


def _sign(secret: bytes, payload: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _verify(secret: bytes, token: str) -> dict[str, Any]:
    body, _, mac = token.partition(".")
    want = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    if not mac or not hmac.compare_digest(mac, want):
        raise not_found("link")
    try:
        payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        expired = float(payload["exp"]) < time.time()
    except (ValueError, KeyError, TypeError):
        raise not_found("link") from None
    if expired:
        raise api_error(404, "link_expired", "this link has expired: open the passage again for a new one")
    return payload


@router.post("/web/api/links")
def make_link(body: LinkRequest, request: Request, principal: Key) -> dict[str, Any]:
    """A link valid for ten minutes to one original file the key may read; it carries the key's
    id (never its name or token), and is checked again against that key's current scopes when it
    is opened: a revoked key's links stay dead even when a new key gets the same name."""
    _document(_served(request, principal, body.kb), body.doc_id)  # 404 now, not a dead link later
    payload = {"kb": body.kb, "doc": body.doc_id, "kid": principal.id, "exp": time.time() + LINK_TTL_S}
    return {"url": f"/web/files/{_sign(_link_secret(request), payload)}", "expires_in": LINK_TTL_S}


@router.get("/web/files/{token}", include_in_schema=False)
def open_link(token: str, request: Request) -> Response:
    p = _verify(_link_secret(request), token)
    principal = _principal_of_link(request, str(p.get("kid", "")))
    served = _served(request, principal, p["kb"])
    record = _document(served, p["doc"])
    path = Path(record.abs_path)
    if not path.is_file():
        raise not_found(f"the original file of '{served.public_source(record.source)}'")
    return _file_response(path)


def _file_response(path: Path) -> Response:
    """Inline, with a policy that lets a PDF open in the browser's viewer but runs nothing; any
    other file is sandboxed (no script, opaque origin) and markup is shown as text."""
    pdf = path.suffix.lower() == ".pdf"  # a sandboxed document may not run the browser's PDF viewer
    csp = (
        "default-src 'none'; object-src 'self'; frame-ancestors 'none'"
        if pdf
        else "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    )
    headers = {"Content-Security-Policy": csp, "Cache-Control": "private, no-store"}
    media = "text/plain; charset=utf-8" if path.suffix.lower() in TEXT_SUFFIXES else None
    return FileResponse(
        path, media_type=media, filename=path.name, content_disposition_type="inline", headers=headers
    )


def _principal_of_link(request: Request, kid: str) -> Principal:
    """The key with id ``kid`` while it is usable (anonymous: while no key exists), else 401."""
    from industry_expert.serve.auth import ANONYMOUS, key_id, principal_of, usable

    store = request.app.state.runtime.state
    if not store.any_keys():
        if kid == ANONYMOUS.id:
            return ANONYMOUS
    else:
        for record in store.list_keys():
            if key_id(record) == kid and usable(record):
                return principal_of(record)
    raise api_error(401, "invalid_api_key", "the key that made this link is no longer valid")


def _served(request: Request, principal: Principal, kb: str) -> Any:
    from industry_expert.serve.deps import served_kb

    return served_kb(request, principal, kb, need="read")


def _document(served: Any, doc_id: str) -> Any:
    with served.borrow() as opened:
        record = opened.store.get_document(doc_id)
    if record is None:
        raise not_found(f"document '{doc_id}'")
    return record


# --- Choose: evaluation runs and the advisor -----------------------------------------------------


def _runs_folder(request: Request, principal: Principal, kb: str) -> Path | None:
    served = _served(request, principal, kb)
    return Path(served.evals) if served.evals else None


def _run_dirs(folder: Path | None) -> dict[str, Path]:
    """The folder itself when it is one run, else its subfolders that hold a summary.json."""
    if folder is None or not folder.is_dir():
        return {}
    if (folder / "summary.json").is_file():
        return {folder.name: folder}
    runs = [
        d
        for d in folder.iterdir()
        if d.is_dir() and (d / "summary.json").is_file() and RUN_NAME.match(d.name)
    ]
    return {d.name: d for d in sorted(runs, key=lambda d: -(d / "summary.json").stat().st_mtime)}


def _run(request: Request, principal: Principal, kb: str, name: str) -> Path:
    runs = _run_dirs(_runs_folder(request, principal, kb))
    if name not in runs:
        raise not_found(f"evaluation run '{name}'")
    return runs[name]


def _summary(run: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    return data


@router.get("/web/api/kbs/{kb}/evals")
def list_runs(kb: str, request: Request, principal: Key) -> dict[str, Any]:
    runs = []
    for name, run in _run_dirs(_runs_folder(request, principal, kb)).items():
        s = _summary(run)
        created = (run / "summary.json").stat().st_mtime
        runs.append(
            {
                "name": name,
                "questions": s.get("questions"),
                "systems": s.get("systems", []),
                "created": created,
            }
        )
    return {"runs": runs}


@router.get("/web/api/kbs/{kb}/evals/{name}")
def show_run(kb: str, name: str, request: Request, principal: Key) -> dict[str, Any]:
    run = _run(request, principal, kb, name)
    wrong: dict[str, list[dict[str, str]]] = {}
    per_question = run / "per_question.jsonl"
    if per_question.is_file():
        for line in per_question.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            if row and not row.get("correct"):
                items = wrong.setdefault(str(row.get("system")), [])
                if len(items) < WRONG_SHOWN:
                    items.append(
                        {
                            "id": str(row.get("id")),
                            "question": str(row.get("question")),
                            "answer": str(row.get("answer"))[:400],
                        }
                    )
    return {"name": name, "summary": _summary(run), "wrong": wrong}


@router.get("/web/api/kbs/{kb}/evals/{name}/report")
def run_report(kb: str, name: str, request: Request, principal: Key) -> Response:
    """The run's self-contained HTML report, as a download (its charts are inline script, which
    this origin never runs)."""
    path = _run(request, principal, kb, name) / "report.html"
    if not path.is_file():
        raise not_found(f"the report of evaluation run '{name}'")
    return FileResponse(
        path, media_type="text/html", filename=f"{name}-report.html", content_disposition_type="attachment"
    )


@router.get("/web/api/kbs/{kb}/advice")
def advice(kb: str, request: Request, principal: Key, run: str | None = None) -> JSONResponse:
    """``expert advise --json`` for the KB, with its configured training data and the given (or
    newest) evaluation run."""
    from industry_expert.advise.profile import Profile, profile_data, profile_kb
    from industry_expert.advise.rules import advise

    served = _served(request, principal, kb)
    runs = _run_dirs(Path(served.evals) if served.evals else None)
    eval_dir = _run(request, principal, kb, run) if run else next(iter(runs.values()), None)
    data = profile_data(served.train_data) if served.train_data else None
    result = advise(Profile(profile_kb(served.path), data), eval_dir=eval_dir).to_dict()
    result["run"] = eval_dir.name if eval_dir else None
    return JSONResponse(_public(result, served.path))


def _public(value: Any, kb_path: Path) -> Any:
    """The KB's directory on the server is not the caller's business: its path becomes its name."""
    text = json.dumps(value).replace(json.dumps(str(kb_path))[1:-1], "<kb>")
    return json.loads(text)
