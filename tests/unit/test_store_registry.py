"""The store selection point: backends by validated name, recorded in the manifest without secrets,
opened by that name; KBs from before (``"store": "sqlite-faiss"``) keep opening."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from industry_expert.config import Settings
from industry_expert.errors import ConfigError, KBError
from industry_expert.kb import MANIFEST, KnowledgeBase
from industry_expert.store import registry
from industry_expert.store.sqlite_faiss import SQLiteFaissStore
from industry_expert.testing.store_contract import DIM, doc


class TaggedStore(SQLiteFaissStore):
    """A second, real backend for these tests: the SQLite store with constructor options, one of
    them a secret, the way a server-backed store takes a DSN and a password."""

    name = "tagged-sqlite"
    opened: list[dict[str, Any]] = []

    def __init__(self, directory: Path, dim: int, tag: str, dsn: str = "", password: str = "") -> None:
        super().__init__(directory, dim)
        TaggedStore.opened.append({"tag": tag, "dsn": dsn, "password": password})


@pytest.fixture
def tagged() -> Any:
    registry.register("tagged-sqlite", f"{__name__}:TaggedStore")
    TaggedStore.opened.clear()
    yield TaggedStore
    registry._BACKENDS.pop("tagged-sqlite", None)


def _manifest(path: Path, store: object) -> Path:
    path.mkdir(parents=True)
    manifest = {
        "format_version": 1,
        "tool_version": "0.1.0",
        "created": "2026-11-01T00:00:00Z",
        "embedder": {"spec": "minilm", "id": "sentence-transformers/all-MiniLM-L6-v2", "dim": DIM},
        "chunking": Settings().chunking.model_dump(),
        "store": store,
    }
    (path / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return path


def test_kb_from_before_backend_options_still_opens(tmp_path: Path) -> None:
    kb_dir = _manifest(tmp_path / "old", "sqlite-faiss")
    with KnowledgeBase.open(kb_dir) as kb:
        assert isinstance(kb.store, SQLiteFaissStore) and kb.store_backend == "sqlite-faiss"
        kb.store.upsert(*doc("a", "a.md", ["impeller nut torque 55 Nm"], seed=3))
        assert kb.stats()["store"] == "sqlite-faiss" and kb.stats()["chunks"] == 1
    with KnowledgeBase.open(kb_dir) as again:  # what was written is read back through the same backend
        assert [d.doc_id for d in again.store.documents()] == ["a"]


def test_kb_opens_the_backend_its_manifest_names(tmp_path: Path, tagged: Any) -> None:
    entry = {"backend": "tagged-sqlite", "tag": "blue", "dsn": "postgresql://ops@db:5432/kb"}
    with KnowledgeBase.open(_manifest(tmp_path / "kb", entry), store_options={"password": "s3cret"}) as kb:
        assert type(kb.store) is TaggedStore and kb.store_backend == "tagged-sqlite"
        vec = np.eye(DIM, dtype=np.float32)[:1]
        kb.store.upsert(*doc("d", "d.md", ["grease every 3000 h"], seed=1)[:2], vec, vec[0])
        assert kb.store.dense(vec[0], 1)[0][1] == pytest.approx(1.0)
    assert tagged.opened == [{"tag": "blue", "dsn": "postgresql://ops@db:5432/kb", "password": "s3cret"}]


def test_settings_store_options_apply_only_to_the_same_backend(tmp_path: Path, tagged: Any) -> None:
    kb_dir = _manifest(tmp_path / "kb", {"backend": "tagged-sqlite", "tag": "blue"})
    settings = Settings.from_dict(
        {"store": {"backend": "tagged-sqlite", "url": "postgresql://ops:pw@db/kb", "options": {"tag": "red"}}}
    )
    KnowledgeBase.open(kb_dir, settings=settings).close()
    other = Settings.from_dict({"store": {"backend": "sqlite-faiss", "options": {"colour": "x"}}})
    KnowledgeBase.open(kb_dir, settings=other).close()
    assert tagged.opened == [
        {"tag": "red", "dsn": "postgresql://ops:pw@db/kb", "password": ""},
        {"tag": "blue", "dsn": "", "password": ""},
    ]


@pytest.mark.parametrize(
    ("store", "message"),
    [
        (5, "field 'store' must be a backend name or an object with 'backend'"),
        ({"tag": "x"}, "field 'store' must be a backend name or an object with 'backend'"),
        ({"backend": "Not A Name"}, "field 'store.backend': store backend name 'Not A Name' is invalid"),
        ("no-such-store", r"store: unknown store backend 'no-such-store' \(known: .*sqlite-faiss"),
        ({"backend": "sqlite-faiss", "colour": "red"}, "store: store backend 'sqlite-faiss': .*'colour'"),
    ],
)
def test_bad_store_entry_is_one_line(tmp_path: Path, store: object, message: str) -> None:
    kb_dir = _manifest(tmp_path / "kb", store)
    with pytest.raises(KBError, match=message) as err:
        KnowledgeBase.open(kb_dir)
    assert str(err.value).startswith(str(kb_dir / MANIFEST)) and "\n" not in str(err.value)


def test_secrets_never_reach_the_manifest() -> None:
    entry = registry.recordable(
        "postgresql",
        {
            "dsn": "postgresql://ops:pw%40x@db.example:5432/kb?sslmode=require&password=y",
            "password": "s3cret",
            "api_key": "k",
            "schema": "kb_demo",
            "hnsw_m": 16,
        },
    )
    assert entry == {
        "backend": "postgresql",
        "dsn": "postgresql://ops@db.example:5432/kb?sslmode=require",
        "schema": "kb_demo",
        "hnsw_m": 16,
    }
    conninfo = registry.recordable("postgresql", {"dsn": "host=db user=ops password='a b' dbname=kb"})
    assert conninfo["dsn"] == "host=db user=ops dbname=kb"
    with pytest.raises(ConfigError, match="store option 'nested' must be a string, number or boolean"):
        registry.recordable("postgresql", {"nested": {"a": 1}})


def test_registration_is_validated() -> None:
    with pytest.raises(ConfigError, match="name 'Bad_Name' is invalid"):
        registry.register("Bad_Name", "x.y:Z")
    with pytest.raises(ConfigError, match="target must be 'module:Class'"):
        registry.register("good-name", "no_colon")
    with pytest.raises(ConfigError, match="already registered"):
        registry.register("sqlite-faiss", "elsewhere:Store")
    registry.register("sqlite-faiss", registry._BACKENDS["sqlite-faiss"])  # same target: a no-op
    registry.register("not-installed", "industry_expert_missing_module:Store")
    try:
        with pytest.raises(ConfigError, match="needs a package that is not installed"):
            registry.backend_class("not-installed")
    finally:
        registry._BACKENDS.pop("not-installed")
    with pytest.raises(ConfigError, match="backend"):
        Settings.from_dict({"store": {"backend": "Not Valid"}})


@pytest.mark.slow
def test_create_records_the_backend_and_open_reuses_it(tmp_path: Path, tagged: Any) -> None:
    """Loads the bundled embedder (the manifest records its dimension)."""
    default = KnowledgeBase.create(tmp_path / "default")
    assert default.manifest["store"] == {"backend": "sqlite-faiss"}
    default.close()
    dsn = "postgresql://ops:pw@db/kb"
    kb = KnowledgeBase.create(
        tmp_path / "tagged", store="tagged-sqlite", store_options={"tag": "t1", "dsn": dsn, "password": "pw2"}
    )
    kb.close()
    on_disk = json.loads((tmp_path / "tagged" / MANIFEST).read_text(encoding="utf-8"))
    assert on_disk["store"] == {"backend": "tagged-sqlite", "tag": "t1", "dsn": "postgresql://ops@db/kb"}
    assert "pw" not in (tmp_path / "tagged" / MANIFEST).read_text(encoding="utf-8")
    with KnowledgeBase.open(tmp_path / "tagged") as reopened:
        assert type(reopened.store) is TaggedStore
    assert tagged.opened[-1] == {"tag": "t1", "dsn": "postgresql://ops@db/kb", "password": ""}
    with pytest.raises(KBError, match="built with store 'tagged-sqlite', not 'sqlite-faiss'"):
        KnowledgeBase.create(tmp_path / "tagged", store="sqlite-faiss")
    with pytest.raises(ConfigError, match="unknown store backend 'nope'"):
        KnowledgeBase.create(tmp_path / "never", store="nope")
    assert not (tmp_path / "never").exists()
