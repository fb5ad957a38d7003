"""A catalogue model's profile reaches the command line: a setting nobody set (no flag, not in the
config file) takes the model's measured value, and ``ask --json`` records the values used. (The
settings tree once marked every default as set, so the CLI never applied a profile.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from industry_expert.models.profiles import PROFILES

pytestmark = pytest.mark.slow
QUESTION = "How long is the standard warranty on a Kestrel pump?"


def _ask(sample_kb: Path, *extra: str) -> dict:
    from industry_expert.cli import main

    args = ["ask", QUESTION, "--kb", str(sample_kb), "--model", "smollm2", "--json", *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_unset_answer_settings_take_the_models_profile(sample_kb: Path, tmp_path: Path) -> None:
    p = PROFILES["smollm2"]
    answer = _ask(sample_kb)
    used = answer["settings"]["answer"]
    assert (used["k"], used["context_tokens"], used["max_tokens"]) == (p.k, p.context_tokens, p.max_tokens)
    assert used["support_threshold"] == p.support_threshold
    assert len(answer["passages"]) <= p.k
    flagged = _ask(sample_kb, "-k", "6", "--max-tokens", "24")["settings"]["answer"]
    assert (flagged["k"], flagged["max_tokens"], flagged["context_tokens"]) == (6, 24, p.context_tokens)
    config = tmp_path / "c.yaml"
    config.write_text("answer:\n  support_threshold: 0.6\n  context_tokens: 2000\n", encoding="utf-8")
    filed = _ask(sample_kb, "--config", str(config), "--max-tokens", "24")["settings"]["answer"]
    assert (filed["support_threshold"], filed["context_tokens"], filed["k"]) == (0.6, 2000, p.k)
