"""The OpenAI-compatible endpoints through the official ``openai`` client, and the access matrix
generated from the app's own route table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.serve.conftest import Server, auth, free_port, make_keys, write_config

pytestmark = [pytest.mark.slow, pytest.mark.serve]

WARRANTY = "How long is the standard CareLine warranty on a Kestrel pump?"
UNANSWERABLE = "What is the airspeed velocity of an unladen swallow?"
ANSWER = {"k": 3, "max_tokens": 48}  # short prompts and answers: the 2 shared cores stay usable


@pytest.fixture(scope="module")
def main_server(
    tmp_path_factory: pytest.TempPathFactory, serve_kbs: dict[str, Path]
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("serve-main")
    state = root / "state"
    keys = make_keys(state)
    serve = {
        "port": free_port(),
        "state_dir": str(state),
        "kbs": {name: {"path": str(p)} for name, p in serve_kbs.items()},
    }
    config = write_config(root / "serve.json", serve, answer=ANSWER)
    server = Server(config, serve["port"], root / "server.log").start()
    yield {"server": server, "keys": keys, "config": config, "state": state, "kbs": serve_kbs}
    assert server.stop() in (0, -15)  # uvicorn re-raises SIGTERM after a graceful shutdown


def client(ctx: dict[str, Any], role: str = "reader") -> Any:
    from openai import OpenAI

    return OpenAI(base_url=ctx["server"].url + "/v1", api_key=ctx["keys"][role], max_retries=0, timeout=120)


def test_chat_matches_expert_ask_streaming_and_not(main_server: dict[str, Any]) -> None:
    from industry_expert.config import AnswerSettings
    from industry_expert.generate.grounded import ask

    expected = ask(WARRANTY, main_server["kbs"]["kestrel"], settings=AnswerSettings(**ANSWER))
    assert not expected.abstained and expected.citations
    c = client(main_server)
    msgs = [{"role": "user", "content": WARRANTY}]
    full = c.chat.completions.create(model="kestrel", messages=msgs)
    assert full.choices[0].message.content == expected.answer
    cites = full.model_extra["citations"]
    assert [(x["n"], x["source"], x["quote"]) for x in cites] == [  # sources: no server path
        (x.n, Path(x.source).name, x.quote) for x in expected.citations
    ]
    assert full.model_extra["abstained"] is False
    assert full.usage.completion_tokens > 0
    streamed, chunks = "", []
    for chunk in c.chat.completions.create(model="kestrel", messages=msgs, stream=True):
        chunks.append(chunk)
        if chunk.choices and chunk.choices[0].delta.content:
            streamed += chunk.choices[0].delta.content
    last = chunks[-1]
    assert streamed == expected.answer
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] == cites
    passages = last.model_extra["passages"]
    assert all(p["n"] == i for i, p in enumerate(passages, start=1))
    assert any(x["quote"] in passages[x["n"] - 1]["text"] for x in cites)


def test_unanswerable_abstains(main_server: dict[str, Any]) -> None:
    from industry_expert.generate.prompts import NOT_COVERED

    c = client(main_server)
    r = c.chat.completions.create(model="kestrel", messages=[{"role": "user", "content": UNANSWERABLE}])
    assert r.model_extra["abstained"] is True
    assert r.choices[0].message.content == NOT_COVERED
    assert r.model_extra["citations"] == []


def test_follow_up_is_rewritten_like_expert_chat(main_server: dict[str, Any]) -> None:
    from industry_expert.generate.conversation import ChatSession

    turns = [WARRANTY, "Can it be extended?"]
    session = ChatSession()
    want = [session.query_for(t) for t in turns][-1]
    assert want != turns[-1]  # the follow-up does get rewritten
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": turns[0]},
        {"role": "assistant", "content": "24 months [1]"},
        {"role": "user", "content": turns[1]},
    ]
    r = client(main_server).chat.completions.create(model="kestrel", messages=messages, max_tokens=16)
    assert r.model_extra["query"] == want


def test_models_and_embeddings_per_key(main_server: dict[str, Any]) -> None:
    ids = {m.id for m in client(main_server, "reader").models.list().data}
    assert "kestrel" in ids and "other" not in ids and "smollm2" in ids
    assert {m.id for m in client(main_server, "other").models.list().data} >= {"other", "smollm2"}
    assert "kestrel" not in {m.id for m in client(main_server, "other").models.list().data}
    texts = ["pump warranty", "safety shoes", "KF-340's re-greasing (every 2,000 h)"]
    e = client(main_server).embeddings.create(model="kestrel", input=texts)
    assert [len(d.embedding) for d in e.data] == [384, 384, 384]
    from tokenizers import Tokenizer

    from industry_expert.models.sentence_transformers import bundled_model_dir

    tok = Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json"))  # the KB's embedder's
    tok.no_padding()
    tokens = sum(len(tok.encode(t, add_special_tokens=False).ids) for t in texts)
    assert tokens > sum(len(t.split()) for t in texts)  # word pieces, not words
    assert e.usage.prompt_tokens == e.usage.total_tokens == tokens
    from industry_expert.kb import KnowledgeBase

    with KnowledgeBase.open(main_server["kbs"]["kestrel"]) as kb:
        local = kb.embed(["pump warranty"])[0]
    assert sum(a * b for a, b in zip(local, e.data[0].embedding, strict=True)) > 0.999


def test_search_same_hits_as_library(main_server: dict[str, Any]) -> None:
    from industry_expert.retrieve.hybrid import search

    url = main_server["server"].url + "/v1/kbs/kestrel/search"
    r = httpx.post(
        url, json={"query": "safety shoes class", "k": 3}, headers=auth(main_server["keys"]["reader"])
    )
    assert r.status_code == 200, r.text
    want = [h.to_dict() for h in search("safety shoes class", main_server["kbs"]["kestrel"], k=3)]
    # sources are shown relative to the KB's data folder (here: the file names)
    assert [(h["chunk_id"], h["source"]) for h in r.json()["data"]] == [
        (h["chunk_id"], Path(h["source"]).name) for h in want
    ]


def test_errors_have_openai_shape(main_server: dict[str, Any]) -> None:
    import openai

    with pytest.raises(openai.NotFoundError) as exc:
        client(main_server).chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "hi"}]
        )
    assert exc.value.body["code"] == "model_not_found"
    r = httpx.post(
        main_server["server"].url + "/v1/chat/completions",
        json={"model": "kestrel", "messages": []},
        headers=auth(main_server["keys"]["reader"]),
    )
    assert r.status_code == 400 and set(r.json()["error"]) == {"message", "type", "code"}
    huge = {"model": "kestrel", "messages": [{"role": "user", "content": "x" * (2 << 20)}]}
    r = httpx.post(
        main_server["server"].url + "/v1/chat/completions",
        json=huge,
        headers=auth(main_server["keys"]["reader"]),
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


# -- the access matrix ------------------------------------------------------------------------


def _route_table(config: Path) -> list[tuple[str, str]]:
    """(method, path) of every route of the app the server runs (built from the same settings)."""
    from industry_expert.config import Settings
    from industry_expert.serve.app import create_app, route_table

    settings = Settings.load(config)
    app = create_app(settings.merged({"serve": {"request_log": str(config.parent / "matrix.jsonl")}}))
    routes = route_table(app)
    app.state.runtime.close()
    return routes


OPEN = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/"),
    ("GET", "/favicon.ico"),
    ("GET", "/web/{name}"),
}


def _request(
    method: str, path: str, ids: dict[str, str], token: str | None, kb: str, base: str
) -> httpx.Response:
    """One request to ``path`` naming KB ``kb`` wherever a route names a KB."""
    filled = path.format(kb=kb, doc_id=ids["doc_id"], job_id=ids["job_id"], name="x", token="forged.token")
    headers = auth(token) if token else {}
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/v1/chat/completions"): {
            "json": {
                "model": kb,
                "messages": [{"role": "user", "content": "vault combination?"}],
                "max_tokens": 24,
            }
        },
        ("POST", "/v1/embeddings"): {"json": {"model": kb, "input": "vault"}},
        ("POST", "/v1/kbs/{kb}/search"): {"json": {"query": "vault combination Osprey"}},
        ("POST", "/v1/kbs/{kb}/documents"): {
            "files": {"files": ("note.md", b"# Note\n\nA harmless note.\n")}
        },
        ("POST", "/web/api/links"): {"json": {"kb": kb, "doc_id": ids["doc_id"]}},
    }
    if method == "POST" and (method, path) not in bodies:
        raise AssertionError(f"{method} {path}: a new route; add its request to the access matrix")
    return httpx.request(method, base + filled, headers=headers, timeout=60, **bodies.get((method, path), {}))


def _leaks(r: httpx.Response, ids: dict[str, str]) -> list[str]:
    """Text of KB ``other`` in a response (an id the client itself sent in the URL may be echoed)."""
    text, sent = r.text, str(r.request.url)
    marks = ("OMEGA-7731", "Osprey", "osprey", ids["doc_id"], ids["job_id"])
    return [s for s in marks if s in text and s not in sent]


def _ids_of_other(ctx: dict[str, Any]) -> dict[str, str]:
    """A document and a job of KB ``other`` (made with its own key)."""
    base, token = ctx["server"].url, ctx["keys"]["other"]
    docs = httpx.get(base + "/v1/kbs/other/documents", headers=auth(token)).json()["data"]
    job = httpx.post(
        base + "/v1/kbs/other/documents",
        headers=auth(token),
        files={"files": ("osprey-extra.md", b"# Osprey extra\n\nMore Osprey notes.\n")},
    ).json()
    return {"doc_id": docs[0]["doc_id"], "job_id": job["id"]}


def test_access_matrix(main_server: dict[str, Any]) -> None:
    routes = _route_table(main_server["config"])
    assert ("POST", "/v1/chat/completions") in routes and ("DELETE", "/v1/jobs/{job_id}") in routes
    ids, keys, base = _ids_of_other(main_server), main_server["keys"], main_server["server"].url
    failures = []
    for method, path in routes:
        if (method, path) in OPEN:
            continue
        if "{token}" in path:  # a signed link instead of a key: a forged one opens nothing
            r = _request(method, path, ids, None, "other", base)
            if r.status_code != 404 or _leaks(r, ids):
                failures.append(f"forged link {method} {path}: {r.status_code}")
            continue
        if path == "/metrics":
            for role in (None, "reader", "revoked"):
                r = _request(method, path, ids, keys[role] if role else None, "other", base)
                if r.status_code not in (401, 404):
                    failures.append(f"{role} {method} {path}: {r.status_code}")
            continue
        for role, want in ((None, 401), ("wrong", 401), ("revoked", 401), ("expired", 401)):
            token = "ie_" + "A" * 43 if role == "wrong" else keys[role] if role else None
            r = _request(method, path, ids, token, "kestrel", base)
            if r.status_code != want or (r.status_code == 401 and "error" not in r.json()):
                failures.append(f"{role} key {method} {path}: {r.status_code}")
        r = _request(method, path, ids, keys["reader"], "other", base)  # key for A naming B
        allowed_listing = path in ("/v1/models", "/v1/me", "/v1/kbs") or path.startswith("/web/api/session")
        if not allowed_listing and r.status_code not in (403, 404):
            failures.append(f"reader naming other: {method} {path}: {r.status_code}")
        if _leaks(r, ids):
            failures.append(f"reader naming other: {method} {path} leaks {_leaks(r, ids)}")
    assert not failures, "\n".join(failures)


def test_read_only_key_cannot_write(main_server: dict[str, Any]) -> None:
    base, reader = main_server["server"].url, main_server["keys"]["reader"]
    docs = httpx.get(base + "/v1/kbs/kestrel/documents", headers=auth(reader)).json()["data"]
    up = httpx.post(
        base + "/v1/kbs/kestrel/documents", headers=auth(reader), files={"files": ("x.md", b"# X\n\nx\n")}
    )
    rm = httpx.delete(base + f"/v1/kbs/kestrel/documents/{docs[0]['doc_id']}", headers=auth(reader))
    jobs = httpx.get(base + "/v1/kbs/kestrel/jobs", headers=auth(reader))
    assert (up.status_code, rm.status_code, jobs.status_code) == (403, 403, 403)
    after = httpx.get(base + "/v1/kbs/kestrel/documents", headers=auth(reader)).json()["data"]
    assert len(after) == len(docs)


def test_request_log_names_keys_never_tokens(main_server: dict[str, Any]) -> None:
    client(main_server).chat.completions.create(
        model="smollm2", messages=[{"role": "user", "content": "Hi"}], max_tokens=8
    )
    log = (main_server["state"] / "requests.jsonl").read_text(encoding="utf-8")
    lines = [json.loads(x) for x in log.splitlines()]
    assert {"time", "key", "route", "kb", "status", "latency_ms", "tokens"} <= set(lines[-1])
    assert any(x["key"] == "reader" and x["route"] == "/v1/chat/completions" and x["tokens"] for x in lines)
    assert not any(token in log for token in main_server["keys"].values())
    metrics = httpx.get(main_server["server"].url + "/metrics", headers=auth(main_server["keys"]["admin"]))
    assert metrics.status_code == 200
    assert 'ie_requests_total{method="POST",route="/v1/chat/completions",status="200"}' in metrics.text
    assert "ie_tokens_generated_total" in metrics.text and "ie_queue_depth" in metrics.text
