"""A real ``expert serve`` on 127.0.0.1 (bundled embedder and SmolLM2, two small KBs on disk, keys
made with ``expert keys create``) and a real headless chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "kestrel"
EXPERT = str(Path(sys.executable).with_name("expert"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
KEY = re.compile(r"\bie_[A-Za-z0-9_-]{43}\b")
INJECTION = (  # the first line (under 80 characters) becomes the document's title
    "<img src=x onerror=window.__pwned=1>Quokka <script>window.__pwned=2</script>\n\n"
    "The Quokka pump note says: <b>bold</b> is not bold, <script>document.title='pwned'</script> "
    "does not run, and <img src=x onerror=\"document.body.dataset.pwned='yes'\"> loads nothing.\n"
)


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    config: Path
    keys: dict[str, str]
    data: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def expert(self, *args: str) -> str:
        out = subprocess.run(
            [EXPERT, *args, "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _eval_runs(folder: Path) -> None:
    """The committed four-systems run (bench/results, 99 questions) laid out as `expert eval --out`
    writes it: summary.json + report.html."""
    run = folder / "four-systems"
    run.mkdir(parents=True)
    bench = json.loads((ROOT / "bench" / "results" / "four_systems.json").read_text(encoding="utf-8"))
    (run / "summary.json").write_text(json.dumps(bench["report"]), encoding="utf-8")
    shutil.copy(ROOT / "bench" / "results" / "four_systems_report.html", run / "report.html")


def _data(tmp: Path) -> tuple[Path, Path]:
    kestrel, other = tmp / "kestrel-data", tmp / "other-data"
    kestrel.mkdir()
    other.mkdir()
    for rel in (
        "web/careline-warranty.html",
        "manuals/dx-series-datasheet.pdf",
        "notes/service-desk-faq.txt",
    ):
        shutil.copy(SAMPLE / "data" / rel, kestrel / Path(rel).name)
    (kestrel / "quokka-note.txt").write_text(INJECTION, encoding="utf-8")
    (other / "heron-handbook.md").write_text(
        "# Heron Logistics handbook\n\n## Night shifts\n\nThe Heron night shift starts at 22:00 and the "
        "forklift batteries are swapped at 02:30 by the shift lead.\n",
        encoding="utf-8",
    )
    return kestrel, other


ARCHIVE_DOCS = 1000
WORDS = ["pump", "valve", "seal", "warranty", "gearbox", "coolant", "shift", "bearing", "filter", "torque"]


def _archive(folder: Path) -> Path:
    """1,000 tiny notes, for the document list's search, sort and paging. About a minute to ingest
    with the bundled embedder on two busy cores: the slowest part of this fixture."""
    folder.mkdir()
    for i in range(ARCHIVE_DOCS):
        words = " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(12))
        (folder / f"note-{i:04d}.md").write_text(
            f"# Archive note {i:04d}\n\nThe {words}.\n", encoding="utf-8"
        )
    return folder


@pytest.fixture(scope="package")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (make install installs Debian's chromium as root)")
    from industry_expert.ingest.pipeline import ingest

    tmp = tmp_path_factory.mktemp("web")
    kestrel_data, other_data = _data(tmp)
    archive_data = _archive(tmp / "archive-data")
    for name, data in (("kestrel", kestrel_data), ("other", other_data), ("archive", archive_data)):
        report = ingest([str(data)], tmp / f"{name}-kb")
        assert report.ok, report.to_dict()["errors"]
    _eval_runs(tmp / "evals")
    config = tmp / "serve.yaml"
    config.write_text(
        json.dumps(
            {  # JSON is YAML
                "serve": {
                    "kbs": {
                        "kestrel": {
                            "path": str(tmp / "kestrel-kb"),
                            "evals": str(tmp / "evals"),
                            "train_data": str(SAMPLE / "finetune" / "train.jsonl"),
                        },
                        "other": {"path": str(tmp / "other-kb")},
                        "archive": {"path": str(tmp / "archive-kb")},
                    },
                    "state_dir": str(tmp / "state"),
                    "max_upload_mb": 1,
                },
                "answer": {"max_tokens": 96},  # short answers keep the suite within its time budget
            }
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "IE_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    port = _free_port()
    log = tmp / "serve.log"
    srv = Server(f"http://127.0.0.1:{port}", None, config, {}, kestrel_data, log, env)  # type: ignore[arg-type]
    for name, scope in (
        ("writer", "kestrel:write"),
        ("reader", "kestrel:read"),
        ("outsider", "other:read"),
        ("temp", "kestrel:read"),
        ("archivist", "archive:read"),
    ):
        srv.keys[name] = KEY.search(srv.expert("keys", "create", name, "--kb", scope)).group(0)  # type: ignore[union-attr]
    with log.open("wb") as out:
        srv.proc = subprocess.Popen(
            [EXPERT, "serve", "--config", str(config), "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        _wait_ready(srv)
        yield srv
    finally:
        srv.stop()
        for path in (log, *(tmp / "state").glob("*.jsonl")):  # the server's output and its request log
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not any(k in text for k in srv.keys.values()), f"a key was written to {path.name}"


def _wait_ready(srv: Server, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            raise AssertionError(f"expert serve exited:\n{srv.log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{srv.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(
        f"expert serve not ready in {timeout} s:\n{srv.log.read_text(errors='replace')[-3000:]}"
    )


@pytest.fixture(scope="package")
def browser(server: Server) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, server: Server):  # type: ignore[no-untyped-def]
    """A fresh browser context (its own sessionStorage) at the page, with its console recorded."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=server.url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    pg = context.new_page()
    pg.console = []  # type: ignore[attr-defined]
    pg.on("console", lambda m: pg.console.append(f"{m.type}: {m.text}"))  # type: ignore[attr-defined]
    pg.on("pageerror", lambda e: pg.console.append(f"pageerror: {e}"))  # type: ignore[attr-defined]
    pg.responses = []  # type: ignore[attr-defined]
    pg.on("response", lambda r: pg.responses.append((r.url, r.headers)))  # type: ignore[attr-defined]
    pg.set_default_timeout(90_000)
    pg.goto("/")
    yield pg
    context.close()
