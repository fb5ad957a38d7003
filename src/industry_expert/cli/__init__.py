"""The ``expert`` command: thin shells over library functions."""

from __future__ import annotations

from industry_expert.cli.main import main

__all__ = ["main"]
