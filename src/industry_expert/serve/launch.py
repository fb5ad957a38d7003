"""Settings for ``expert serve`` from the config file and flags, the bind check, and running it."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from industry_expert.config import Settings
from industry_expert.errors import ConfigError


def pairs(items: tuple[str, ...] | list[str], flag: str) -> dict[str, str]:
    """``("kestrel=kb/",)`` -> ``{"kestrel": "kb/"}``."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ConfigError(f"{flag} '{item}': expected NAME=DIR")
        out[name] = value
    return out


def serve_settings(
    settings: Settings,
    kbs: tuple[str, ...] = (),
    adapters: tuple[str, ...] = (),
    **flags: Any,
) -> Settings:
    """``settings`` (a config file's) with the flags on top (``--kb``/``--adapter`` add entries)."""
    serve: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    if kbs:
        serve["kbs"] = {
            **settings.serve.model_dump()["kbs"],
            **{n: {"path": p} for n, p in pairs(kbs, "--kb").items()},
        }
    if adapters:
        serve["adapters"] = {**settings.serve.model_dump()["adapters"], **pairs(adapters, "--adapter")}
    settings = settings.merged({"serve": serve}, "command line") if serve else settings
    for name, kb in settings.serve.kbs.items():
        if not (Path(kb.path) / "manifest.json").is_file():
            raise ConfigError(f"serve.kbs.{name}: {kb.path} is not a knowledge base (run 'expert ingest')")
    check_workers(settings)
    return settings


EMBEDDED_STORES = frozenset({"sqlite-faiss"})
"""Stores that live in one process's memory: their index is loaded per process."""


def check_workers(settings: Settings) -> None:
    """Several workers only over stores that processes share: with an embedded store each worker
    would search its own in-memory index and miss what another worker's upload added."""
    from industry_expert.io import read_json_object
    from industry_expert.store.registry import DEFAULT_BACKEND, from_manifest

    s = settings.serve
    if s.workers < 2:
        return
    for name, kb in s.kbs.items():
        manifest = Path(kb.path) / "manifest.json"
        entry = read_json_object(manifest, ConfigError).get("store", DEFAULT_BACKEND)
        backend = from_manifest(entry, str(manifest))[0]
        if backend in EMBEDDED_STORES:
            raise ConfigError(
                f"serve.workers {s.workers}: knowledge base '{name}' uses the embedded store "
                f"({backend}), which one process at a time can serve; use --workers 1, or copy it "
                "to PostgreSQL ('expert kb copy SRC DST --store postgresql://...') and serve the copy"
            )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, has_keys: bool) -> None:
    s = settings.serve
    if not is_loopback(s.host) and not has_keys and not s.insecure_no_auth:
        raise ConfigError(
            f"refusing to bind {s.host} with no API keys: create one with 'expert keys create NAME --kb KB:read' "
            "or pass --insecure-no-auth"
        )


def metrics_dir(state_dir: Path) -> Path:
    """``STATE_DIR/metrics`` for prometheus-client's multiprocess mode (the workers' metric values,
    merged by ``/metrics``), emptied: values of an earlier run must not count in this one."""
    import shutil

    path = state_dir / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path.resolve()


SETTINGS_ENV = "IE_SERVE_SETTINGS"
"""With several workers, each process reads the effective settings from the JSON file named here."""


def app_from_env() -> Any:
    """The app of one worker process (``uvicorn --factory``): settings from ``IE_SERVE_SETTINGS``."""
    import json

    from industry_expert.serve.app import create_app

    path = Path(os.environ[SETTINGS_ENV])
    return create_app(Settings.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path)))


def run(settings: Settings) -> None:
    """Serve until SIGTERM/SIGINT; in-flight streams get ``serve.grace_s`` to finish."""
    import uvicorn

    from industry_expert.serve.app import create_app
    from industry_expert.serve.backend import open_state

    s = settings.serve
    os.environ.setdefault("IE_NUM_THREADS", "1")  # one thread per request: requests run side by side
    state = open_state(s.state_dir, s.state_url)
    check_bind(settings, state.any_keys())
    common: dict[str, Any] = {
        "host": s.host,
        "port": s.port,
        "timeout_graceful_shutdown": int(s.grace_s) or None,
        "log_level": "warning",
        "access_log": False,
    }
    if s.workers == 1:
        app = create_app(settings, state)
        _quiet_sigterm()
        try:
            uvicorn.run(app, **common)
        except SystemExit as exc:
            _exit_now(exc.code if isinstance(exc.code, int) else 0)
        _exit_now(0)
    state.close()
    path = s.state_dir / "effective-settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)  # with a PostgreSQL state nothing else creates it
    # only what was set: each worker's model profile fills the rest, as with one worker
    path.write_text(settings.model_dump_json(indent=2, exclude_unset=True), encoding="utf-8")
    os.environ[SETTINGS_ENV] = str(path.resolve())
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir(s.state_dir))  # read by observe.Metrics
    uvicorn.run("industry_expert.serve.launch:app_from_env", factory=True, workers=s.workers, **common)


def _exit_now(code: int) -> None:
    """End the process once uvicorn has stopped (the app's shutdown has closed the state and the
    KBs): a generation still reading its prompt in llama.cpp stops only at its next token, and
    the interpreter would wait for that thread at exit (measured: more than 45 s for a 1.5B
    model's prompt on a busy machine, after a 10 s grace period)."""
    import logging
    import sys

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _quiet_sigterm() -> None:
    """A SIGTERM ends the server gracefully, and then the process with status 0: uvicorn raises
    the signal again once it has stopped, which, without a handler of ours, would kill it (143)."""
    import signal
    import sys

    def stop(*_: Any) -> None:
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
