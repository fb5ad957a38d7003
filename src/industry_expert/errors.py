"""Exceptions with messages meant for people."""

from __future__ import annotations


class ExpertError(Exception):
    """Base class: the CLI prints these as one line, without a traceback."""


class ConfigError(ExpertError):
    """A setting is missing or invalid."""


class KBError(ExpertError):
    """The knowledge base cannot be opened or used as asked."""


class EmbedderMismatchError(KBError):
    """The KB was built with another embedder or other chunking settings."""


class LoadError(ExpertError):
    """A source file could not be read; the message names the reason (the path is kept apart)."""

    def __init__(self, reason: str, path: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


class UnsupportedFormatError(LoadError):
    """No loader handles this file type."""


class ModelError(ExpertError):
    """A model or model endpoint cannot be loaded or reached."""


class ModelNotInstalledError(ModelError):
    """A catalogue model (``--model NAME``) has not been pulled (``expert models pull NAME``)."""


class ModelIntegrityError(ModelError):
    """A model file is not the one the catalogue pins (size, SHA-256 or GGUF metadata differ)."""


class ModelDownloadError(ModelError):
    """A model's pinned packages could not be downloaded (no index, no network, no such version)."""
