"""Scope and expiry parsing, and the ``expert keys`` / ``expert serve`` commands' checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from industry_expert.errors import ConfigError
from industry_expert.serve.auth import (
    Principal,
    parse_expires,
    parse_scopes,
)


def test_scope_and_expiry_parsing() -> None:
    assert parse_scopes(["kestrel:read", "manuals:write", "kestrel:write"]) == {
        "kestrel": "write",
        "manuals": "write",
    }
    assert parse_scopes(["a:b:write"]) == {"a:b": "write"}
    for bad in ("kestrel", "kestrel:admin", ":read"):
        with pytest.raises(ConfigError):
            parse_scopes([bad])
    assert parse_expires("90d", now=0) == 90 * 86400 and parse_expires(None) is None
    with pytest.raises(ConfigError, match="90d"):
        parse_expires("soon")
    admin = Principal("root", admin=True)
    assert admin.can("anything", "write")


def test_keys_cli_and_serve_refuses_open_public_bind(tmp_path: Path, serve_kbs: dict[str, Path]) -> None:
    from industry_expert.cli.main import main

    r = CliRunner()
    sd = str(tmp_path / "state")
    created = r.invoke(
        main, ["keys", "create", "ci", "--kb", "kestrel:read", "--expires", "30d", "--state-dir", sd]
    )
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[0]
    assert token.startswith("ie_")
    listed = r.invoke(main, ["keys", "list", "--state-dir", sd])
    assert "ci" in listed.output and "active" in listed.output and token not in listed.output
    assert r.invoke(main, ["keys", "revoke", "ci", "--state-dir", sd]).exit_code == 0
    assert "revoked" in r.invoke(main, ["keys", "list", "--state-dir", sd]).output
    bad = r.invoke(main, ["keys", "create", "x", "--kb", "kestrel:own", "--state-dir", sd])
    assert bad.exit_code != 0 and "KB:read or KB:write" in bad.output
    empty = str(tmp_path / "empty-state")
    refused = r.invoke(
        main, ["serve", "--kb", f"k={serve_kbs['kestrel']}", "--host", "0.0.0.0", "--state-dir", empty]
    )
    assert refused.exit_code != 0 and "refusing to bind 0.0.0.0 with no API keys" in refused.output
    missing = r.invoke(main, ["serve", "--kb", f"k={tmp_path}", "--state-dir", empty])
    assert missing.exit_code != 0 and "is not a knowledge base" in missing.output
