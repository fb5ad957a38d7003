"""A real ``expert serve`` (uvicorn subprocess on 127.0.0.1, bundled models) over real KBs on disk:
``kestrel`` (three sample files) and ``other`` (one file with text no other KB has)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import SAMPLE

SECRET = "The vault combination of the Osprey archive is OMEGA-7731-QUILL."
KESTREL_FILES = ["manuals/glossary.md", "notes/service-desk-faq.txt", "manuals/safety-policy.md"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``python -m industry_expert serve --config FILE`` as a child process."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> Server:
        env = {**os.environ, "IE_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "industry_expert", "serve", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}: {self.log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout} s: {self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def write_config(path: Path, serve: dict[str, Any], **sections: Any) -> Path:
    path.write_text(json.dumps({"serve": serve, **sections}, default=str), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def serve_kbs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small KBs built with the real pipeline and the bundled embedder."""
    import shutil

    from industry_expert.ingest.pipeline import ingest

    root = tmp_path_factory.mktemp("serve-kbs")
    data = root / "kestrel-data"
    data.mkdir()
    for rel in KESTREL_FILES:
        shutil.copy(SAMPLE / "data" / rel, data / Path(rel).name)
    other = root / "other-data"
    other.mkdir()
    (other / "osprey-archive.md").write_text(
        f"# Osprey archive\n\n## Vault\n\n{SECRET} Only the archivist may open it.\n", encoding="utf-8"
    )
    kbs = {"kestrel": root / "kb-kestrel", "other": root / "kb-other"}
    for name, src in (("kestrel", data), ("other", other)):
        assert ingest([str(src)], kbs[name]).ok
    return kbs


def make_keys(state_dir: Path) -> dict[str, str]:
    """Tokens by role: admin, reader (kestrel:read), writer (kestrel:write), other (other:write),
    revoked, expired."""
    from industry_expert.serve.auth import create_key
    from industry_expert.serve.sqlite_state import SQLiteState

    state = SQLiteState(state_dir)
    try:
        keys = {
            "admin": create_key(state, "admin", {}, admin=True)[0],
            "reader": create_key(state, "reader", {"kestrel": "read"})[0],
            "writer": create_key(state, "writer", {"kestrel": "write"})[0],
            "other": create_key(state, "other-team", {"other": "write"})[0],
            "revoked": create_key(state, "gone", {"kestrel": "write"})[0],
            "expired": create_key(state, "old", {"kestrel": "write"}, expires=time.time() - 5)[0],
        }
        state.revoke_key("gone")
    finally:
        state.close()
    return keys


def pg_state_with_key(tmp_path: Path, pg_dsn: str, name: str, grants: dict[str, str]) -> str:
    """Empty the PostgreSQL server state (keys, jobs, rate buckets) and create one key: its token."""
    from industry_expert.serve.auth import create_key
    from industry_expert.serve.backend import open_state

    state = open_state(tmp_path, pg_dsn)
    with state.con.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("TRUNCATE ie_keys, ie_jobs, ie_buckets")
    token = create_key(state, name, grants)[0]
    state.close()
    return str(token)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def worker_pids(server: Server) -> set[int]:
    """uvicorn's worker processes under the server (spawned by multiprocessing)."""
    assert server.proc is not None
    parent = server.proc.pid
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"spawn_main" in cmd:
            out.add(int(stat.parent.name))
    return out


def wait_for_workers(server: Server, n: int, timeout: float = 60.0) -> set[int]:
    """The pids of the server's ``n`` worker processes, once all have started."""
    deadline = time.monotonic() + timeout
    while len(workers := worker_pids(server)) < n and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(workers) == n, f"{len(workers)} of {n} workers started"
    return workers
