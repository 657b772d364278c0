"""Bare vLLM, no Spark: the job config's engine and prompts, every note in one `LLM.generate` call.

The engine spec and prompts come from the job's own code (notewatt.inference.partition_settings,
udfs.engine.VllmEngine, udfs.prompts.fit_prompt), so model, engine arguments, engine env, max_tokens,
temperature and schema are those the job would use with the same --config and overrides. Notes are read
from the JSONL corpus as is (bench corpora need no screening: no HTML, no duplicates). Writes times and
token counts (no note text) to --json.

    python bench/bare_generate.py --json out.json [--config conf/local_cpu.yaml] [key.path=value ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    started = time.time()
    from notewatt.cli import DEFAULT_PROFILE
    from notewatt.config import load_config, resolve_path
    from notewatt.inference import partition_settings
    from udfs.engine import VllmEngine
    from udfs.prompts import Prompt, fit_prompt

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--config", type=Path, action="append")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args()
    config = load_config(args.config or [DEFAULT_PROFILE], args.overrides)
    settings = partition_settings(config, "bare")

    t0 = time.monotonic()
    engine = VllmEngine(settings.engine)  # sets the engine env before vLLM is imported, as in a Spark worker
    engine_load_s = time.monotonic() - t0
    notes = [json.loads(line) for line in Path(resolve_path(config.corpus.path)).read_text().splitlines() if line.strip()]
    if config.corpus.limit:
        notes = notes[: config.corpus.limit]
    t1 = time.monotonic()
    budget = engine.max_model_len - settings.max_tokens
    prompts = [fit_prompt(settings.template, n["text"], n.get("note_type"), engine.render, engine.tokenize, budget)
               for n in notes]
    prompts_s = time.monotonic() - t1
    t2 = time.monotonic()
    as_text = [Prompt(p.text, None) for p in prompts]  # as a user calling vLLM would: vLLM tokenizes them
    generations = engine.generate(as_text, settings.max_tokens, settings.temperature, settings.schema)
    generate_s = time.monotonic() - t2
    record = {
        "main_start": started, "engine_load_s": engine_load_s, "prompts_s": prompts_s, "generate_s": generate_s,
        "notes": len(generations),
        "prompt_tokens": sum(g.prompt_tokens for g in generations),
        "output_tokens": sum(g.output_tokens for g in generations),
        "finish_length": sum(g.finish_reason == "length" for g in generations),
    }
    args.json.write_text(json.dumps(record, indent=2))
    engine.close()


if __name__ == "__main__":
    main()
