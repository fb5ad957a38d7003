"""Start/stop a real `expert serve` (and llama-cpp-python's server) for the serve benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from _common import OUT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"{url} not ready after {timeout} s")


def start_expert(
    name: str, serve: dict[str, Any], **sections: Any
) -> tuple[subprocess.Popen[bytes], str, str]:
    """`expert serve` with a fresh state folder and an admin key: (process, base URL, key)."""
    from industry_expert.serve.auth import create_key
    from industry_expert.serve.sqlite_state import SQLiteState

    root = OUT / name
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    state = SQLiteState(root / "state")
    key = create_key(state, "bench", {}, admin=True)[0]
    state.close()
    port = free_port()
    config = {"serve": {"port": port, "state_dir": str(root / "state"), **serve}, **sections}
    (root / "serve.json").write_text(json.dumps(config, default=str), encoding="utf-8")
    log = (root / "server.log").open("wb")
    cmd = [sys.executable, "-m", "industry_expert", "serve", "--config", str(root / "serve.json")]
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "IE_NUM_THREADS": "1"}
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/readyz", proc)
    return proc, url, key


def start_llama_server(gguf: Path, threads: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """llama-cpp-python's own OpenAI server on ``gguf``, set up as our generator is: ``threads``
    for decode and prompt, a 4096-token context, and logits for the last position only (the
    server's default computes them for every prompt position, which ours never does)."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--port", str(port)]
    cmd += ["--host", "127.0.0.1", "--n_threads", str(threads), "--n_threads_batch", str(threads)]
    cmd += ["--n_ctx", "4096", "--logits_all", "false"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/v1/models", proc)
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
