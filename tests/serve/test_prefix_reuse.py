"""The llama.cpp generator keeps the KV cache of the shared prompt start (system message, role
header) between requests, as llama-cpp-python's server does, and still computes every prompt
exactly as from an empty cache: the same logits bit for bit, so the same greedy answers, whatever
was asked before (an abandoned generation included)."""

from __future__ import annotations

import numpy as np
import pytest

from industry_expert.generate.prompts import alone_messages, rag_messages

pytestmark = pytest.mark.slow
PASSAGES = ['<passage id="1" source="careline.md">The CareLine warranty is 24 months.</passage>']


def logits(gen: object) -> np.ndarray:
    llm = gen.llm  # type: ignore[attr-defined]
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()  # noqa: SLF001


def test_reused_prefix_gives_the_same_logits_and_answers_as_an_empty_cache() -> None:
    from industry_expert.models.llamacpp import LlamaCppGenerator, bundled_gguf

    warm, cold = LlamaCppGenerator(bundled_gguf()), LlamaCppGenerator(bundled_gguf())
    steps = [  # (a generation the client abandons first, or None; the request checked)
        (None, rag_messages("How long is the warranty?", PASSAGES)),
        (rag_messages("Tell me a long story.", PASSAGES), rag_messages("What is CareLine?", PASSAGES)),
        (None, alone_messages("What is a centrifugal pump?")),
        (alone_messages("Tell me a long story."), alone_messages("Who maintains the pumps?")),
        (None, alone_messages("Who maintains the pumps?")),  # asked again: reused up to its text
    ]
    reused, text_starts = [], []
    for i, (abandon, messages) in enumerate(steps):
        if abandon is not None:
            pieces = warm.stream(abandon, max_tokens=200)
            next(pieces), pieces.close()  # its tokens stay in the cache past the shared start
        prompt = warm.tokens(warm.render(messages))
        points = warm.reuse_points(messages, prompt)
        cold.llm.reset()
        assert cold.evaluate(prompt, points) == 0
        reused.append(warm.evaluate(prompt, points))
        text_starts.append(points[-1])  # where the question's own message text begins
        assert np.array_equal(logits(warm), logits(cold)), f"request {i}: logits differ"
        if abandon is not None:  # the whole path: stream() after what the abandoned one left
            answer = "".join(warm.stream(messages, max_tokens=8))
            assert warm.reused == points[-1]  # stream() itself reused up to the question's text
            cold.llm.reset()
            assert answer == "".join(cold.stream(messages, max_tokens=8)), f"request {i}"
    assert reused[0] == 0 and reused[1] == text_starts[1] > 100  # the RAG instructions and header
    assert 0 < reused[2] < 10  # another system message: only the role header is shared
    assert reused[3] == reused[4] == text_starts[4] > 40
