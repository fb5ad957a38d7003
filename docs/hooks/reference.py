"""Build-time generators for the documentation (a mkdocs hook, named in ``mkdocs.yml``).

- ``reference/settings.md``: the marker ``<!-- settings-reference -->`` becomes one table per
  section of :class:`industry_expert.config.Settings` (field, type, default, docstring).
- ``reference/http.md``: the marker ``<!-- http-reference -->`` becomes the routes of the
  ``expert serve`` app, read from its OpenAPI schema; the schema itself is written next to the
  page as ``reference/openapi.json``.
- ``reference/cli.md``: mkdocs-click's table shows click 8.3's "no default" marker
  (``Sentinel.UNSET``) as a dash; ``reference/python.md``: Sphinx roles in docstrings are dropped.
- ``benchmarks/results/*.md``: the committed result pages of ``bench/results/`` (and the HTML
  reports beside them), so that the benchmarks page can link to them.

Nothing here is hand-maintained: the pages follow the code they describe.
"""

from __future__ import annotations

import json
import re
import tempfile
import types
import typing
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MARKER = "<!-- settings-reference -->"
HTTP_MARKER = "<!-- http-reference -->"
OPENAPI_PATH = "reference/openapi.json"
METHODS = ("get", "post", "put", "patch", "delete")


# --- settings ---------------------------------------------------------------------------------


def _rst(text: str) -> str:
    """Docstrings use reST literals (``x``); Markdown wants `x`. Pipes outside code spans would
    split a table cell."""
    parts = " ".join(text.split()).replace("``", "`").split("`")
    return "`".join(p if i % 2 else p.replace("|", "\\|") for i, p in enumerate(parts))


def type_name(annotation: Any) -> str:
    """A short, readable type: ``int``, ``str | None``, ``"rrf" | "score"``, ``dict[str, ServeKB]``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation))


def _default(info: Any) -> str:
    value = info.get_default(call_default_factory=True)
    if hasattr(value, "model_dump"):
        return "(section)"
    return f"`{json.dumps(value, default=str)}`"


def _table(model: Any, prefix: str, docs: dict[str, str]) -> list[str]:
    rows = ["| setting | type | default | description |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        doc = docs.get(key, info.description or "")
        rows.append(f"| `{key}` | `{type_name(info.annotation)}` | {_default(info)} | {_rst(doc)} |")
    return rows


def settings_markdown() -> str:
    """One section per part of the settings tree, straight from the pydantic models."""
    from pydantic import BaseModel

    from industry_expert.config import ServeKB, Settings

    docs = Settings.field_docs()
    out: list[str] = []
    top = {n: i for n, i in Settings.model_fields.items() if not _is_section(i.annotation, BaseModel)}
    if top:
        out += ["## Top level", ""]
        out += [
            "| setting | type | default | description |",
            "|---|---|---|---|",
            *[
                f"| `{n}` | `{type_name(i.annotation)}` | {_default(i)} | {_rst(docs.get(n, ''))} |"
                for n, i in top.items()
            ],
            "",
        ]
    for name, info in Settings.model_fields.items():
        if name in top:
            continue
        model = info.annotation
        out += [f"## `{name}`", "", _rst(model.__doc__ or ""), ""]
        out += _table(model, f"{name}.", docs) + [""]
        if name == "serve":
            out += ["### `serve.kbs.NAME`", "", _rst(ServeKB.__doc__ or ""), ""]
            out += _table(ServeKB, "serve.kbs.NAME.", {}) + [""]
    return "\n".join(out)


def _is_section(annotation: Any, base: type) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, base)


# --- HTTP API ---------------------------------------------------------------------------------


def openapi_schema() -> dict[str, Any]:
    """The OpenAPI schema of the app ``expert serve`` runs (no KB, no model loaded)."""
    from industry_expert.config import Settings
    from industry_expert.serve.app import create_app

    with tempfile.TemporaryDirectory(prefix="ie-docs-") as tmp:
        settings = Settings()
        settings.serve.state_dir = Path(tmp)
        app = create_app(settings)
        try:
            return app.openapi()
        finally:
            runtime = app.state.runtime
            runtime.close()
            runtime.request_log.close()


def _ref_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    return schema.get("type", "object")


def _one_line(text: str) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def http_markdown(schema: dict[str, Any]) -> str:
    """Every route: method, path, summary, description, parameters and request body."""
    paths = schema.get("paths", {})
    out = [
        f"The schema describes {schema['info']['title']} {schema['info']['version']}: "
        f"{sum(1 for p in paths.values() for m in p if m in METHODS)} operations on {len(paths)} paths.",
        "",
        "| method | path | summary |",
        "|---|---|---|",
    ]
    for path, ops in paths.items():
        for method in METHODS:
            if method in ops:
                out.append(f"| `{method.upper()}` | `{path}` | {_one_line(ops[method].get('summary', ''))} |")
    out.append("")
    components = schema.get("components", {}).get("schemas", {})
    for path, ops in paths.items():
        for method in METHODS:
            if method not in ops:
                continue
            op = ops[method]
            out += [f"### `{method.upper()} {path}`", ""]
            if op.get("summary"):
                out += [f"**{op['summary']}**", ""]
            if op.get("description"):
                out += [" ".join(op["description"].split()).replace("``", "`"), ""]
            params = op.get("parameters", [])
            if params:
                out += ["| parameter | in | type | required |", "|---|---|---|---|"]
                out += [
                    f"| `{p['name']}` | {p.get('in', '')} | `{_ref_name(p.get('schema', {}))}` "
                    f"| {'yes' if p.get('required') else 'no'} |"
                    for p in params
                ]
                out.append("")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                name = _ref_name(content.get("schema", {}))
                out += [f"Request body (`{media}`): `{name}`", ""]
                fields = components.get(name, {}).get("properties", {})
                required = set(components.get(name, {}).get("required", []))
                if fields:
                    out += ["| field | type | required | description |", "|---|---|---|---|"]
                    out += [
                        f"| `{f}` | `{_field_type(spec)}` | {'yes' if f in required else 'no'} "
                        f"| {_one_line(spec.get('description', ''))} |"
                        for f, spec in fields.items()
                    ]
                    out.append("")
            codes = ", ".join(f"`{code}`" for code in op.get("responses", {}))
            if codes:
                out += [f"Responses: {codes}", ""]
    return "\n".join(out)


def _field_type(spec: dict[str, Any]) -> str:
    if "anyOf" in spec:
        return " | ".join(_field_type(s) for s in spec["anyOf"])
    if spec.get("type") == "array":
        return f"array[{_field_type(spec.get('items', {}))}]"
    if "enum" in spec:
        return " | ".join(json.dumps(v) for v in spec["enum"])
    return _ref_name(spec) if spec else "any"


# --- mkdocs events ----------------------------------------------------------------------------

_schema: dict[str, Any] | None = None


def on_files(files: Files, config: Any) -> Files:
    """Add the OpenAPI schema and the committed benchmark results to the site."""
    global _schema
    _schema = openapi_schema()
    files.append(
        File.generated(config, OPENAPI_PATH, content=json.dumps(_schema, indent=2, ensure_ascii=False))
    )
    results = ROOT / "bench" / "results"
    for path in sorted(results.glob("*.md")) + sorted(results.glob("*.html")):
        files.append(File.generated(config, f"benchmarks/results/{path.name}", abs_src_path=str(path)))
    return files


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    """mkdocs-click prints click 8.3's "no default" marker as ``Sentinel.UNSET``: show a dash.
    Docstrings' Sphinx roles (``:class:`X```) are shown as plain code."""
    if page.file.src_uri == "reference/cli.md":
        html = html.replace("<td><code>Sentinel.UNSET</code></td>", "<td>-</td>")
    if page.file.src_uri == "reference/python.md":
        html = re.sub(r":(?:class|func|meth|attr|mod|exc|data):(?=<code>)", "", html)
    return html


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if SETTINGS_MARKER in markdown:
        markdown = markdown.replace(SETTINGS_MARKER, settings_markdown())
    if HTTP_MARKER in markdown:
        markdown = markdown.replace(HTTP_MARKER, http_markdown(_schema or openapi_schema()))
    return markdown
