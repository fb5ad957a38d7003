"""Shared CLI plumbing: JSON printing, one-line errors, and a terminal that documents cannot drive.

Text from documents (passages, titles, file names) may hold terminal control sequences: clear the
screen, set the window title, hide text, move the cursor. Everything a command prints goes through
:class:`SafeText`, which shows control characters as visible escapes (``\x1b``); only the styles the
CLI itself uses (SGR ``ESC[...m``) and, on stderr, progress-bar motion (``\r``, ``ESC[A``) pass.
"""

from __future__ import annotations

import io
import json
import re
import sys
from typing import Any

import click

from industry_expert.errors import ExpertError

# C0 except tab/newline, DEL, C1 (0x9b is a one-byte CSI), and bidi overrides that reorder text
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[{_CONTROL}]")
_STDOUT_ALLOWED = re.compile(f"(\x1b\\[[0-9;]*m)|([{_CONTROL}])")
_STDERR_ALLOWED = re.compile(f"(\x1b\\[[0-9;]*[mA]|\r)|([{_CONTROL}])")


def _visible(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """Every control character shown as a visible escape (for text that came from documents)."""
    return _UNSAFE.sub(lambda m: _visible(m.group()), text)


class SafeText(io.TextIOBase):
    """A text stream that escapes control characters except the ``allowed`` sequences."""

    def __init__(self, inner: Any, allowed: re.Pattern[str]) -> None:
        self.inner, self.allowed = inner, allowed

    def write(self, s: str) -> int:
        self.inner.write(self.allowed.sub(lambda m: m.group(1) or _visible(m.group(2)), s))
        return len(s)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return bool(getattr(self.inner, "isatty", lambda: False)())

    def fileno(self) -> int:
        return int(self.inner.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.inner, "encoding", "utf-8"))

    @property
    def buffer(self) -> Any:
        return self.inner.buffer


def print_json(data: Any) -> None:
    """JSON escapes C0 controls itself; DEL, C1 and bidi controls are escaped here (still valid JSON)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    click.echo(_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


class ExpertGroup(click.Group):
    """Prints ExpertError as one line (exit 2) unless --debug asks for the traceback; all output
    goes through :class:`SafeText`."""

    def invoke(self, ctx: click.Context) -> Any:
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = SafeText(out, _STDOUT_ALLOWED), SafeText(err, _STDERR_ALLOWED)  # type: ignore[assignment]
        try:
            return super().invoke(ctx)
        except ExpertError as exc:
            if ctx.find_root().params.get("debug"):
                raise
            click.echo(f"error: {' '.join(str(exc).splitlines())}", err=True)
            sys.exit(2)
        except click.UsageError as exc:  # a bad flag or argument: one line too, with where to look
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"error: {' '.join(exc.format_message().splitlines())}{hint}", err=True)
            sys.exit(exc.exit_code)
        finally:
            sys.stdout, sys.stderr = out, err


def parse_filters(values: tuple[str, ...]) -> dict[str, str]:
    filters = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got '{item}'", param_hint="--filter")
        filters[key.strip()] = value.strip()
    return filters


class DefaultCommandGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, goes to ``default_command``
    (``expert finetune DATA`` trains; ``expert finetune merge ...`` merges)."""

    default_command = ""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)
