"""Start llama-cpp-python's OpenAI-compatible server on 127.0.0.1 for tests and demos (real, not a fake)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llama_server(
    model: Path | None = None,
    embedding: bool = False,
    api_key: str | None = None,
    alias: str = "smollm2",
    n_ctx: int = 2048,
    timeout: float = 120.0,
) -> Iterator[str]:
    """Yield the server's base URL (``http://127.0.0.1:PORT/v1``); stop it on exit."""
    port = free_port()
    from industry_expert.models.llamacpp import bundled_gguf

    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model or bundled_gguf()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_threads",
        "1",
        "--n_threads_batch",
        "1",
        "--n_ctx",
        str(n_ctx),
        "--model_alias",
        alias,
    ]
    if embedding:
        cmd += ["--embedding", "true"]
    if api_key:
        cmd += ["--api_key", api_key]
    log = open(os.devnull, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"llama server exited with {proc.returncode}: {' '.join(cmd)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.3)
        else:
            raise TimeoutError("llama server did not start")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
