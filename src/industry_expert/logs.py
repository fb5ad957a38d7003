"""Where log lines go: the terminal shows only the tool's own output; libraries log to a file.

``configure()`` (the CLI calls it once per process) sends every log record and Python warning to
a rotating log file (``$IE_LOG_FILE``, else ``$IE_CACHE/logs/expert.log``, default
``~/.cache/industry-expert/logs/expert.log``); with ``verbose`` they are also shown on stderr.
Without it, the last-resort handler that prints a library's warnings in front of our one-line
errors never runs.

transformers and huggingface_hub attach their own stderr handler when their ``utils.logging``
module is imported. The CLI imports them lazily, long after ``configure()``, so an import hook
hands those loggers to ours the moment the module is loaded.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import logging.handlers
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

MARK = "_industry_expert"
# a library's own logging module -> how to detach the stderr handler it installs
_OWN_HANDLERS = ("transformers.utils.logging", "huggingface_hub.utils.logging")


def log_file() -> Path:
    """The log file: ``$IE_LOG_FILE``, else ``$IE_CACHE/logs/expert.log``."""
    if os.environ.get("IE_LOG_FILE"):
        return Path(os.environ["IE_LOG_FILE"]).expanduser()
    cache = os.environ.get("IE_CACHE") or Path.home() / ".cache" / "industry-expert"
    return Path(cache).expanduser() / "logs" / "expert.log"


def _file_handler(path: Path) -> logging.Handler:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=5_000_000, backupCount=2, encoding="utf-8", delay=True
        )
    except OSError:  # a read-only home: logging must never stop the tool
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    return handler


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record arrives (the CLI wraps it; tests capture
    it), as logging's own last-resort handler does."""

    def __init__(self, level: int, fmt: str) -> None:
        logging.Handler.__init__(self, level)
        self.setFormatter(logging.Formatter(fmt))

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr


def _install(logger: logging.Logger, handlers: list[logging.Handler]) -> None:
    for handler in [h for h in logger.handlers if getattr(h, MARK, False)]:
        logger.removeHandler(handler)
        handler.close()
    for handler in handlers:
        setattr(handler, MARK, True)
        logger.addHandler(handler)


def configure(verbose: bool = False, path: Path | None = None) -> None:
    """Route all logging (and ``warnings``) to the log file; also to stderr when ``verbose``.

    The tool's own warnings and errors (loggers under ``industry_expert``, e.g. the server's) are
    its output: they reach stderr either way."""
    root = logging.getLogger()
    handlers = [_file_handler(path or log_file())]
    if verbose:
        handlers.append(_Stderr(logging.DEBUG, "%(levelname)s %(name)s: %(message)s"))
    _install(root, handlers)
    _install(
        logging.getLogger("industry_expert"), [] if verbose else [_Stderr(logging.WARNING, "%(message)s")]
    )
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.captureWarnings(True)
    for name in _OWN_HANDLERS:
        if name in sys.modules:
            _adopt(sys.modules[name])
    if not any(isinstance(f, _AdoptOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AdoptOnImport())


def _adopt(module: ModuleType) -> None:
    """Detach the stderr handler a library installed on its root logger; its records propagate."""
    if hasattr(module, "disable_default_handler"):  # transformers installs it lazily: its own API
        module.disable_default_handler()
        module.enable_propagation()
        return
    library = logging.getLogger(module.__name__.split(".")[0])
    for handler in list(library.handlers):
        if type(handler) is logging.StreamHandler:
            library.removeHandler(handler)
    library.propagate = True


class _AdoptOnImport(importlib.abc.MetaPathFinder):
    """Runs :func:`_adopt` right after a library's own logging module is executed."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _OWN_HANDLERS:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = spec.loader if spec else None
        if spec is None or loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            _adopt(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
