"""``expert keys create|list|revoke``: API keys of ``expert serve``."""

from __future__ import annotations

import time
from pathlib import Path

import click

from industry_expert.cli.output import print_json

state_options = [
    click.option(
        "--config", type=click.Path(exists=True, dir_okay=False), help="Settings file (serve.state_dir)."
    ),
    click.option(
        "--state-dir", type=click.Path(file_okay=False), help="Server state folder (default .expert-serve)."
    ),
]


def with_state(f):  # type: ignore[no-untyped-def]
    for opt in reversed(state_options):
        f = opt(f)
    return f


def _state(config: str | None, state_dir: str | None):  # type: ignore[no-untyped-def]
    from industry_expert.config import Settings
    from industry_expert.serve.backend import open_state

    s = Settings.load(config).serve
    return open_state(Path(state_dir) if state_dir else s.state_dir, s.state_url)


@click.group("keys")
def keys_group() -> None:
    """API keys for 'expert serve': each sees only the knowledge bases it names."""


@keys_group.command("create")
@click.argument("name")
@click.option("--kb", "kbs", multiple=True, metavar="KB:read|KB:write", help="A scope (repeatable).")
@click.option("--admin", is_flag=True, help="Every KB and job.")
@click.option("--expires", metavar="DURATION", help="e.g. 90d, 12h, 2w, 1y (default: never).")
@with_state
def create_cmd(
    name: str,
    kbs: tuple[str, ...],
    admin: bool,
    expires: str | None,
    config: str | None,
    state_dir: str | None,
) -> None:
    """Create a key; it is printed once and stored only as a hash."""
    from industry_expert.serve.auth import create_key, parse_expires, parse_scopes

    state = _state(config, state_dir)
    try:
        token, record = create_key(state, name, parse_scopes(kbs), admin, parse_expires(expires))
    finally:
        state.close()
    click.echo(token)
    scopes = "admin" if admin else ", ".join(f"{k}:{v}" for k, v in record.scopes.items())
    until = time.strftime("%Y-%m-%d", time.gmtime(record.expires)) if record.expires else "never"
    click.echo(f"key '{name}' ({scopes}; expires {until}): shown once, store it now", err=True)


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_state
def list_cmd(as_json: bool, config: str | None, state_dir: str | None) -> None:
    """Keys with their scopes, expiry and revocation (never the keys themselves)."""
    state = _state(config, state_dir)
    try:
        records = [k.public() for k in state.list_keys()]
    finally:
        state.close()
    if as_json:
        print_json(records)
        return
    for k in records:
        scopes = "admin" if k["admin"] else ", ".join(f"{n}:{s}" for n, s in k["scopes"].items())
        status = (
            "revoked"
            if k["revoked"]
            else "expired"
            if k["expires"] and k["expires"] < time.time()
            else "active"
        )
        until = time.strftime("%Y-%m-%d", time.gmtime(k["expires"])) if k["expires"] else "never"
        click.echo(f"{k['name']:<20} {status:<8} expires {until:<10}  {scopes}")


@keys_group.command("revoke")
@click.argument("name")
@with_state
def revoke_cmd(name: str, config: str | None, state_dir: str | None) -> None:
    """Revoke a key at once (requests with it get 401)."""
    from industry_expert.errors import ConfigError

    state = _state(config, state_dir)
    try:
        if not state.revoke_key(name):
            raise ConfigError(f"no active key named '{name}'")
    finally:
        state.close()
    click.echo(f"revoked '{name}'")
