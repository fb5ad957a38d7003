"""Settings files read as data: YAML (aliases refused, node and depth budgets), TOML or JSON,
size-bounded, with one-line errors that name the file and clip what they echo."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from industry_expert.errors import ConfigError

MAX_CONFIG_MB = 1.0
"""Budget: size of a settings file (one with every section and comments is ~30 KB)."""


def _config_text(path: Path) -> str:
    limit = int(MAX_CONFIG_MB * 1024 * 1024)
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from exc
    if len(data) > limit:
        raise ConfigError(f"{path}: a config file may hold at most {MAX_CONFIG_MB:g} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read config file: not UTF-8 text ({exc.reason})") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML/JSON/TOML config file into a dict, with errors naming the file. Settings are
    data: YAML aliases are refused and every file is size-bounded (see :func:`read_yaml_data`)."""
    text = _config_text(path)
    try:
        if path.suffix in {".yaml", ".yml"}:
            data = read_yaml_data(text, str(path)) or {}
        elif path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ConfigError:
        raise
    except Exception as exc:  # parser errors carry line numbers in their text
        first = clip(" ".join(str(exc).split()))
        raise ConfigError(f"{path}: invalid config file: {first}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping at the top level")
    return data


YAML_MAX_NODES, YAML_MAX_DEPTH = 100_000, 64
"""Budgets of one YAML settings file: values (scalars, lists, mappings) and nesting depth."""


@functools.cache
def _data_loader() -> type:
    """``yaml.SafeLoader`` that refuses aliases (``*name``: the "billion laughs" bomb, a few
    hundred bytes that expand to gigabytes) and documents over the node or depth budget."""
    import yaml

    class DataLoader(yaml.SafeLoader):  # type: ignore[misc]
        nodes = depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            where = f"{self.name}: line {self.peek_event().start_mark.line + 1}"
            self.nodes, self.depth = self.nodes + 1, self.depth + 1
            if self.check_event(yaml.AliasEvent):
                raise ConfigError(f"{where}: YAML aliases (*name) are not allowed here")
            if self.nodes > YAML_MAX_NODES:
                raise ConfigError(f"{where}: more than {YAML_MAX_NODES:,} values")
            if self.depth > YAML_MAX_DEPTH:
                raise ConfigError(f"{where}: nested deeper than {YAML_MAX_DEPTH} levels")
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

    return DataLoader


def read_yaml_data(text: str, source: str) -> Any:
    """The plain data in YAML ``text`` (safe: no Python objects, no aliases, bounded size);
    :class:`ConfigError` naming ``source`` and the line when refused (``yaml.YAMLError`` when
    it is not valid YAML; its text names the line too)."""
    loader = _data_loader()(text)
    loader.name = source
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def clip(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters (an echoed value never floods one error line)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
