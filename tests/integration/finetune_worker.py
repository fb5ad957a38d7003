"""Run by `accelerate launch` from test_finetune_multiprocess.py: one fine-tuning run through the
library API. argv: a JSON object {data, out, settings, resume, crash_at, report}."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("IE_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from industry_expert.config import FinetuneSettings  # noqa: E402
from industry_expert.finetune.lora import finetune  # noqa: E402


def main() -> None:
    args = json.loads(sys.argv[1])

    def crash(step: int) -> None:
        if step == args.get("crash_at"):
            raise SystemExit(3)  # every process stops after this step's checkpoint was written

    r = finetune(
        args["data"], args["out"], FinetuneSettings(**args["settings"]), args["resume"], on_step=crash
    )
    if os.environ.get("RANK", "0") == "0":
        with open(args["report"], "w", encoding="utf-8") as fh:
            json.dump(r.to_dict(), fh)


if __name__ == "__main__":
    main()
