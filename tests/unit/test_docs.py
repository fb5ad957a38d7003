"""The documentation site builds with ``mkdocs build --strict`` (a broken link or anchor fails),
and its reference pages hold what the code generates: the CLI from the click commands, the
settings from the pydantic tree, the HTTP routes from the app's OpenAPI schema. Also: the README
stays short and its links into the docs point at files that exist."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _text(page: Path) -> str:
    """The visible text of a built page: tags dropped, entities decoded, spaces collapsed."""
    raw = page.read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    config = str(ROOT / "mkdocs.yml")
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", config, "-d", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def test_cli_reference_is_generated_from_the_click_commands(site: Path) -> None:
    from industry_expert.cli.main import main

    text = _text(site / "reference" / "cli" / "index.html")
    for name in main.commands:
        assert f"expert {name}" in text, name
    for option in ("--max-tokens", "--overlap", "--embedder", "--store"):  # expert ingest's options
        assert option in text, option
    assert "Sentinel.UNSET" not in text


def test_settings_reference_lists_every_field_with_its_docstring(site: Path) -> None:
    from industry_expert.config import Settings

    text = _text(site / "reference" / "settings" / "index.html")
    squashed = re.sub(r"\s+", "", text)  # inline markup (code spans) leaves spaces around words
    for key, doc in Settings.field_docs().items():
        assert key in text, key
        start = "".join(doc.replace("`", "").split()[:8])
        assert start in squashed, (key, doc)
    assert "serve.kbs.NAME.path" in text


def test_http_reference_is_generated_from_the_openapi_schema(site: Path) -> None:
    schema = json.loads((site / "reference" / "openapi.json").read_text(encoding="utf-8"))
    assert "/v1/chat/completions" in schema["paths"]
    text = _text(site / "reference" / "http" / "index.html")
    for path, ops in schema["paths"].items():
        for method in ops:
            assert f"{method.upper()} {path}" in text, (method, path)


def test_python_reference_and_benchmark_results_are_in_the_site(site: Path) -> None:
    text = _text(site / "reference" / "python" / "index.html")
    for name in ("ingest", "search", "ask", "stream_answer", "KnowledgeBase", "ExpertError"):
        assert name in text, name
    for result in (ROOT / "bench" / "results").glob("*.md"):
        assert (site / "benchmarks" / "results" / result.stem / "index.html").is_file(), result.name


def test_readme_is_short_and_its_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    targets = re.findall(r"\]\(((?:docs|bench)/[^)#\s]+)", readme)
    assert any(t.startswith("docs/") for t in targets)
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, missing


def _blocks(lang: str) -> list[tuple[str, str]]:
    """(page, body) of every fenced block in that language in the docs and the README."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [
        (page.name, body)
        for page in pages
        for body in re.findall(rf"^```{lang}\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)
    ]


def _commands() -> list[list[str]]:
    """Every `expert ...` command line of the docs' shell blocks and `$ expert` lines of their output."""
    import shlex

    lines = [line for _, body in _blocks("bash") for line in body.replace("\\\n", " ").splitlines()]
    lines += [line[2:] for _, body in _blocks("text") for line in body.splitlines() if line.startswith("$ ")]
    commands = []
    for line in lines:
        words = shlex.split(line, comments=True)
        while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value expert ...
            words = words[1:]
        if words and words[0] == "expert":
            commands.append(words)
    return commands


def test_documented_commands_use_existing_commands_and_options() -> None:
    """Every `expert` command line in the docs names a real (sub)command and real options."""
    import click

    from industry_expert.cli.main import main

    def options(cmd: click.Command) -> dict[str, click.Parameter | None]:
        found: dict[str, click.Parameter | None] = {"--help": None}
        for p in cmd.params:
            found.update({o: p for o in (*p.opts, *p.secondary_opts)})
        return found

    commands = _commands()
    assert len(commands) > 50
    wrong = []
    for words in commands:
        cmd: click.Command = main
        rest = words[1:]
        while rest:
            word = rest.pop(0)
            if word.startswith("-"):
                opt, has_value = word.split("=", 1)[0], "=" in word
                known = options(cmd)
                if opt not in known:
                    wrong.append((" ".join(words), word))
                param = known.get(opt)
                takes_value = isinstance(param, click.Option) and not (param.is_flag or param.count)
                if takes_value and not has_value and rest:
                    rest.pop(0)
            elif isinstance(cmd, click.Group):
                name = word if word in cmd.commands else getattr(cmd, "default_command", "")
                if name not in cmd.commands:
                    wrong.append((" ".join(words), word))
                    break
                cmd = cmd.commands[name]
    assert not wrong, wrong


def test_documented_settings_files_are_valid() -> None:
    """Every YAML block that is a settings file loads into the settings tree."""
    import yaml

    from industry_expert.config import Settings

    checked = 0
    for page, body in _blocks("yaml"):
        data = yaml.safe_load(body)
        if isinstance(data, dict) and set(data) <= set(Settings.model_fields):
            Settings.from_dict(data, page)  # raises ConfigError naming the page and the key
            checked += 1
    assert checked >= 3
