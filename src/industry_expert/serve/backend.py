"""Choose the server-state backend (keys, jobs, rate limits) from the settings."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from industry_expert.errors import ConfigError
from industry_expert.serve.state import State


def open_state(state_dir: Path, url: str | None = None) -> State:
    """SQLite in ``state_dir``, or the backend ``url`` names (``postgresql://...``: the module
    ``industry_expert.serve.postgres_state`` when installed)."""
    if not url:
        from industry_expert.serve.sqlite_state import SQLiteState

        return SQLiteState(state_dir)
    if url.startswith(("postgres://", "postgresql://")):
        name = "industry_expert.serve.postgres_state"
        if importlib.util.find_spec(name) is None:
            raise ConfigError("serve.state_url: a PostgreSQL state backend is not available in this version")
        return importlib.import_module(name).PostgresState(url)  # type: ignore[no-any-return]
    raise ConfigError(
        f"serve.state_url: '{url.split(':', 1)[0]}' is not a supported state backend (postgresql://...)"
    )
