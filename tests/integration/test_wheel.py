"""The wheel installs and runs: ``python -m build`` packs the web page and the package data, and a
fresh virtual environment with only that wheel runs ``expert --help``, ``ingest`` and ``search``.

Offline: the wheel is installed with ``--no-index --no-deps``, and its dependencies are the locked
ones of this environment (``requirements.lock``), reached through a plain path entry in the new
venv's site-packages. A plain entry does not run this environment's ``.pth`` hooks, so the editable
install of the source tree stays out of sight: the test checks that the package is the wheel's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def sh(*args: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PIP_NO_INDEX": "1"}
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, env=env, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # a copy of the tracked tree, so the build never writes into the checkout (build/, egg-info)
    src = out / "src-tree"
    files = sh("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).stdout.split(
        "\0"
    )
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    sh(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, src)
    (whl,) = out.glob("industry_expert-*.whl")
    return whl


def test_wheel_holds_the_web_page_and_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("web/index.html", "py.typed", "finetune/assets/"):
        assert any(n.startswith(f"industry_expert/{needed}") for n in names), needed
    web = [n for n in names if n.startswith("industry_expert/web/")]
    assert len(web) == len(list((ROOT / "src/industry_expert/web").glob("*.*")))
    assert any(n.endswith("entry_points.txt") for n in names)


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", "--without-pip", venv)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "locked-deps.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    sh(sys.executable, "-m", "pip", "--python", venv / "bin/python", "install", "-q", "--no-deps", wheel)
    where = sh(venv / "bin/python", "-c", "import industry_expert as m; print(m.__file__)").stdout
    assert where.startswith(str(venv)), where  # the wheel's package, not the source tree
    expert = venv / "bin/expert"
    assert "Commands:" in sh(expert, "--help").stdout
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/pump.md").write_text("# Pump\n\nThe KF-220 pump runs at 5 bar.\n", encoding="utf-8")
    sh(expert, "ingest", tmp_path / "docs", "--kb", tmp_path / "kb")
    hits = sh(expert, "search", "KF-220 pressure", "--kb", tmp_path / "kb", "-k", "1").stdout
    assert "pump.md" in hits and "5 bar" in hits
