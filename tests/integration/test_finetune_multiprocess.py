"""Two training processes on the CPU (gloo) on the tiny Phi-3 train the same run as one process
with the same global batch, and a checkpoint written by two processes resumes in one and in two.

accelerate 1.15 starts ``--cpu --num_processes 2`` through ``mpirun`` (absent here); ``--multi_gpu``
with ``ACCELERATE_USE_CPU=true`` starts the same two CPU processes (MULTI_CPU, gloo) with torchrun."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from industry_expert.config import FinetuneSettings
from industry_expert.finetune.lora import finetune

pytestmark = [pytest.mark.slow, pytest.mark.multiprocess]
WORKER = Path(__file__).with_name("finetune_worker.py")
TOL = 2e-5
"""Losses are logged rounded to 5 decimals; 1 and 2 processes agree to that (fp32 sums differ only
in their order)."""
FACTS = [
    ("What is the Blue Flush?", "The Blue Flush is a 25 minute rinse of the pump casing."),
    ("Which tag locks out a pump?", "The Kestrel Green Tag locks out a pump."),
    ("What is the T-check?", "The T-check is a torque verification step."),
    ("Who approves Stage Gate 2?", "Stage Gate 2 is approved by Service Engineering."),
    ("What does E-103 mean?", "E-103 means discharge pressure high."),
]


def _settings(tiny_phi3: Path, grad_accum: int) -> dict:  # type: ignore[type-arg]
    # no dropout: its random masks are drawn per process, which would make the runs differ
    return dict(base=str(tiny_phi3), method="lora", epochs=2, batch_size=2, grad_accum=grad_accum, lr=2e-2,
                eval_fraction=0.2, max_seq_len=64, seed=3, lora_dropout=0.0, save_every=1,
                schedule="fixed")  # fmt: skip


def _launch(
    processes: int, tmp: Path, out: Path, settings: dict, resume: bool = False, crash_at: int | None = None
) -> dict:  # type: ignore[type-arg]
    report = out.with_suffix(".report.json")
    args = dict(
        data=str(tmp / "train.jsonl"),
        out=str(out),
        settings=settings,
        resume=resume,
        crash_at=crash_at,
        report=str(report),
    )
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517",
           str(WORKER), json.dumps(args)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "IE_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if crash_at is not None:
        assert proc.returncode != 0, proc.stderr[-2000:]
        return {}
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(report.read_text())  # type: ignore[no-any-return]


def test_two_processes_match_one_and_resume_across_process_counts(tiny_phi3: Path, tmp_path: Path) -> None:
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
        for q, a in FACTS * 3
    ]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    one = finetune(tmp_path / "train.jsonl", tmp_path / "one", FinetuneSettings(**_settings(tiny_phi3, 2)))
    micro = -(-one.train_examples // 2)
    assert micro % 2 == 1 and one.steps == 2 * (micro // 2 + 1)  # each epoch ends with an uneven step
    assert one.losses[-1] < one.losses[0] * 0.8

    # two processes, grad_accum 1 = the same global batch; they stop after step 3's checkpoint
    _launch(2, tmp_path, tmp_path / "two", _settings(tiny_phi3, 1), crash_at=3)
    state = json.loads((tmp_path / "two" / "checkpoint" / "state.json").read_text())
    assert state["step"] == 3 and state["processes"] == 2
    assert state["losses"] == pytest.approx(one.losses[:3], abs=TOL)
    shutil.copytree(tmp_path / "two", tmp_path / "two-then-one")
    in_two = _launch(2, tmp_path, tmp_path / "two", _settings(tiny_phi3, 1), resume=True)
    assert in_two["processes"] == 2 and in_two["resumed_from_step"] == 3
    assert in_two["losses"] == pytest.approx(one.losses, abs=TOL)  # the whole curve, both halves on 2
    assert in_two["eval_losses"] == pytest.approx(one.eval_losses, abs=TOL)
    assert in_two["trained_tokens"] == one.trained_tokens
    in_one = finetune(
        tmp_path / "train.jsonl",
        tmp_path / "two-then-one",
        FinetuneSettings(**_settings(tiny_phi3, 2)),
        resume=True,
    )
    assert in_one.resumed_from_step == 3 and in_one.losses == pytest.approx(one.losses, abs=TOL)
    assert (tmp_path / "two" / "adapter_model.safetensors").is_file()
