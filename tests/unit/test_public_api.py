"""The public names of ``import industry_expert as ie`` resolve to what the README documents,
whatever was imported before (a subpackage import must not shadow ``ie.ingest``)."""

from __future__ import annotations

import importlib

import pytest

import industry_expert as ie


def test_api_names_resolve_after_the_subpackages_are_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    importlib.import_module("industry_expert.ingest.pipeline")  # binds industry_expert.ingest
    calls = []
    monkeypatch.setattr(
        "industry_expert.ingest.pipeline.ingest", lambda *a, **kw: calls.append((a, kw)) or "ok"
    )
    assert ie.ingest(["docs"], "kb/", progress=False) == "ok" and calls == [
        ((["docs"], "kb/"), {"progress": False})
    ]
    from industry_expert.generate.grounded import ask
    from industry_expert.retrieve.hybrid import search

    assert ie.search is search and ie.ask is ask
    assert ie.AnswerSettings().k == 5 and ie.Settings().answer == ie.AnswerSettings()
    for name in ie.__all__:
        assert getattr(ie, name) is not None, name
