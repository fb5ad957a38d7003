"""`make demo`, last step: `expert serve` on 127.0.0.1, one question through the official `openai`
client with streaming, its citations, then the server is stopped (`--keep`: it stays up)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERT = str(Path(sys.executable).with_name("expert"))
QUESTION = "How long is the standard warranty on a Kestrel pump?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"expert serve exited with status {proc.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    sys.exit(f"expert serve was not ready after {timeout:.0f} s")


def ask_streaming(url: str, key: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=url + "/v1", api_key=key)
    print(f"\n>>> openai client, model 'kestrel', stream=True: {QUESTION}", flush=True)
    last = None
    for chunk in client.chat.completions.create(
        model="kestrel", messages=[{"role": "user", "content": QUESTION}], stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            print(chunk.choices[0].delta.content, end="", flush=True)
        last = chunk
    print()
    extra = (last.model_extra or {}) if last is not None else {}
    if extra.get("abstained"):
        print("(abstained: the knowledge base does not cover this question)")
    for c in extra.get("citations", []):
        where = c["source"] + (f", page {c['page']}" if c.get("page") else "")
        print(f'  [{c["n"]}] {where} - {c["section"]}\n      "{c["quote"][:200]}"')


def main(kb: str = "demo_out/kestrel-kb", out: str = "demo_out", keep: bool = False) -> None:
    state = ROOT / out / "serve-state"
    shutil.rmtree(state, ignore_errors=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    made = subprocess.run(
        [EXPERT, "keys", "create", "demo", "--kb", "kestrel:write", "--state-dir", str(state)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    key = made.stdout.strip()
    cmd = [EXPERT, "serve", "--kb", f"kestrel={kb}", "--port", str(port), "--state-dir", str(state)]
    print(f"\n$ expert keys create demo --kb kestrel:write   # -> {key[:8]}... (printed once)")
    print(f"$ expert {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=os.environ)
    try:
        wait_ready(url, proc)
        print(f"web page: {url}/  (sign in with the key)")
        ask_streaming(url, key)
        if keep:
            print(f"\nserving on {url} with key {key}; Ctrl-C stops it", flush=True)
            proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        print("server stopped")


if __name__ == "__main__":
    main(keep="--keep" in sys.argv[1:])
