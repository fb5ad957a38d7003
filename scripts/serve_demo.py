"""`make serve-demo`: the web page on the sample company. Builds the sample KB if it is missing,
creates an API key, starts `expert serve` on 127.0.0.1 and prints the page's URL and the key.
Ctrl+C stops the server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "demo_out"
EXPERT = str(Path(sys.executable).with_name("expert"))
KB = OUT / "kestrel-kb"
EVALS = OUT / "evals"
CONFIG = OUT / "serve.yaml"
PORT = int(os.environ.get("PORT", "8000"))


def expert(*args: str, capture: bool = False) -> str:
    print(f"$ expert {' '.join(args)}", flush=True)
    proc = subprocess.run([EXPERT, *args], cwd=ROOT, text=True, capture_output=capture)
    if proc.returncode != 0:
        sys.exit(proc.stderr if capture else proc.returncode)
    return proc.stdout if capture else ""


def eval_runs() -> None:
    """What the Choose page lists: the committed benchmark run of the four systems on all 99
    questions (bench/results), and the run `make demo` made, if there is one."""
    bench = EVALS / "four-systems-benchmark"
    if not (bench / "summary.json").exists():
        bench.mkdir(parents=True, exist_ok=True)
        results = ROOT / "bench" / "results"
        report = json.loads((results / "four_systems.json").read_text(encoding="utf-8"))["report"]
        (bench / "summary.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
        shutil.copy(results / "four_systems_report.html", bench / "report.html")
    demo = EVALS / "make-demo"
    if (OUT / "eval" / "summary.json").exists() and not demo.exists():
        demo.symlink_to(OUT / "eval", target_is_directory=True)


def write_config() -> None:
    serve = {
        "port": PORT,
        "state_dir": str(OUT / "serve-state"),
        "kbs": {
            "kestrel": {
                "path": str(KB),
                "evals": str(EVALS),
                "train_data": str(ROOT / "examples" / "kestrel" / "finetune" / "train.jsonl"),
            }
        },
    }
    CONFIG.write_text(json.dumps({"serve": serve}, indent=1), encoding="utf-8")  # JSON is YAML


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    sys.exit("expert serve did not become ready (see its output above)")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    if not (KB / "manifest.json").exists():
        expert("ingest", "examples/kestrel/data", "--kb", str(KB.relative_to(ROOT)))
    eval_runs()
    write_config()
    name = f"web-demo-{time.strftime('%Y%m%d-%H%M%S')}"
    key = expert(
        "keys", "create", name, "--kb", "kestrel:write", "--config", str(CONFIG), capture=True
    ).strip()
    url = f"http://127.0.0.1:{PORT}"
    server = subprocess.Popen([EXPERT, "serve", "--config", str(CONFIG)], cwd=ROOT)
    try:
        wait_ready(server, url)
        print(
            f"\nThe page: {url}/\nSign in with this key (kestrel, read and write): {key}\nCtrl+C stops the server.\n",
            flush=True,
        )
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(30)


if __name__ == "__main__":
    main()
