"""Store backends by validated name: the one place that turns ``manifest.json``'s ``store`` entry
into a :class:`~industry_expert.store.base.Store`.

A backend is one module with one class. Its constructor is ``Backend(directory: Path, dim: int,
**options)`` where ``directory`` is the KB directory (it holds ``manifest.json``; a backend may keep
its files there or ignore it), ``dim`` the embedding size, and ``options`` JSON scalars from the
manifest / settings (``dsn``, ``schema``...). Register it with :func:`register` (the built-in ones
are listed in ``_BACKENDS``); it is imported only when a KB uses it. ``KnowledgeBase.create`` records
``{"backend": NAME, **options}`` in the manifest with secrets removed (see :func:`recordable`);
``KnowledgeBase.open`` opens by that name, with secrets coming from the open call or the environment.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from industry_expert.errors import ConfigError, KBError
from industry_expert.store.base import Store

DEFAULT_BACKEND = "sqlite-faiss"
NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
"""A backend name: lower-case letters, digits and '-', starting with a letter."""
_SECRET_KEY = re.compile(r"pass(word|wd)?|secret|token|api[_-]?key|credential", re.IGNORECASE)

_EXTRAS = {"postgresql": "postgres"}  # the pyproject extra that brings a backend's packages
_BACKENDS: dict[str, str] = {
    "sqlite-faiss": "industry_expert.store.sqlite_faiss:SQLiteFaissStore",
    "postgresql": "industry_expert.store.postgres:PostgresStore",
}
"""name -> ``module:Class``, imported lazily."""


def register(name: str, target: str) -> None:
    """Make ``name`` open ``target`` (``"package.module:Class"``). Re-registering the same target is
    a no-op; another target under a taken name is refused."""
    check_name(name)
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr.isidentifier():
        raise ConfigError(f"store backend '{name}': target must be 'module:Class', got '{target}'")
    if _BACKENDS.get(name, target) != target:
        raise ConfigError(f"store backend '{name}' is already registered to {_BACKENDS[name]}")
    _BACKENDS[name] = target


def names() -> list[str]:
    return sorted(_BACKENDS)


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(
            f"store backend name {name!r} is invalid (lower-case letters, digits and '-', "
            "starting with a letter)"
        )
    return name


def backend_class(name: str) -> type[Any]:
    """The class registered as ``name``, imported now."""
    check_name(name)
    if name not in _BACKENDS:
        raise ConfigError(f"unknown store backend '{name}' (known: {', '.join(names())})")
    module, _, attr = _BACKENDS[name].partition(":")
    try:
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    except ImportError as exc:
        raise ConfigError(
            f"store backend '{name}' needs a package that is not installed ({exc.name}); "
            f"install the project's extra for it (pip install 'industry-expert[{_EXTRAS.get(name, name)}]')"
        ) from exc


def open_store(directory: Path, dim: int, backend: str, options: Mapping[str, Any] | None = None) -> Store:
    """Construct backend ``backend`` for the KB in ``directory``; a wrong option is a one-line error."""
    cls = backend_class(backend)
    options = dict(options or {})
    try:
        inspect.signature(cls).bind(directory, dim, **options)
    except TypeError as exc:
        raise ConfigError(f"store backend '{backend}': {exc} (options given: {sorted(options)})") from None
    return cls(directory, dim, **options)  # type: ignore[no-any-return]


def from_manifest(entry: object, where: str = "manifest.json") -> tuple[str, dict[str, Any]]:
    """``(backend, options)`` from a manifest's ``store`` entry: a name (KBs made before backends
    had options) or ``{"backend": NAME, **options}``."""
    if isinstance(entry, str):
        return check_name(entry), {}
    if not isinstance(entry, dict) or "backend" not in entry:
        raise KBError(f"{where}: field 'store' must be a backend name or an object with 'backend'")
    options = {k: v for k, v in entry.items() if k != "backend"}
    try:
        return check_name(entry["backend"]), options
    except ConfigError as exc:
        raise KBError(f"{where}: field 'store.backend': {exc}") from None


def recordable(backend: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's ``store`` entry: the backend name and its options minus secrets (keys such as
    ``password``/``token`` are dropped, a password inside a URL is removed). Secrets come back at
    open time from the caller's options or the environment (libpq reads ``PGPASSWORD``)."""
    entry: dict[str, Any] = {"backend": check_name(backend)}
    for key, value in options.items():
        if not isinstance(value, str | int | float | bool) and value is not None:
            raise ConfigError(f"store option '{key}' must be a string, number or boolean")
        if _SECRET_KEY.search(key):
            continue
        entry[key] = _without_password(value) if isinstance(value, str) else value
    return entry


def _without_password(value: str) -> str:
    if "://" not in value:
        return re.sub(r"(?i)\bpassword\s*=\s*('[^']*'|\S+)\s*", "", value).strip()
    parts = urlsplit(value)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = user.partition(":")[0] + "@" + host
    query = "&".join(q for q in parts.query.split("&") if q and not _SECRET_KEY.match(q.partition("=")[0]))
    return urlunsplit(parts._replace(netloc=netloc, query=query))
