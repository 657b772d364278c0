"""Why a model leaves medication lists empty: the job's prompts on the gold notes, with vLLM, in four arms.

    python bench/medication_lists.py --variant qwen-coder-500m --json out.json [key.path=value ...]

  compact      schema-guided, compact JSON (a variant's compact_json: true, the default)
  whitespace   schema-guided, with the whitespace the model may prefer allowed (compact_json: false)
  free         no schema: the JSON the model writes unguided (parsed where it parses)
  next_token   the model's own first choice of next token where the compact output names its medication list
               (after `"medications` and after `"medications":[`, unguided): what it wanted to write there

Each arm reports the notes whose medication list is non-empty, the gold notes that have medications, the
medication F1 and the micro F1 over all fields (notewatt/quality/scoring.py), output tokens and outputs cut at
max_tokens; `free` also says in what form the medications came (objects, strings).
Only counts, tokens and token strings of the JSON syntax are written, never note text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OPENING = '"medications":['


def main() -> None:
    from vllm import LLM, SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    from bench.job_runs import cpu_flags
    from notewatt.cli import DEFAULT_PROFILE
    from notewatt.config import load_config, resolve_path
    from notewatt.inference import partition_settings
    from notewatt.quality.scoring import load_gold
    from udfs.engine import import_vllm
    from udfs.engine_memory import resolved_dtype

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", required=True)
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_intermixed_args()
    config = load_config([DEFAULT_PROFILE], [f"variant={args.variant}", *args.overrides])
    settings = partition_settings(config, "medications")
    spec = settings.engine
    import_vllm(spec)
    gold = load_gold(resolve_path(config.quality.gold_path))
    corpus = Path(resolve_path(config.corpus.path))
    files = sorted(corpus.glob("*.jsonl")) if corpus.is_dir() else [corpus]
    notes = [json.loads(line) for file in files for line in file.read_text().splitlines() if line]
    notes = [n for n in notes if n["note_id"] in gold]

    def engine(disable_any_whitespace: bool) -> LLM:
        return LLM(model=spec.model, dtype=resolved_dtype(spec.dtype), quantization=spec.quantization,
                   structured_outputs_config={"backend": spec.structured_outputs_backend,
                                              "disable_any_whitespace": disable_any_whitespace},
                   **spec.engine_args)

    def prompts(llm: LLM) -> list[str]:
        tokenizer = llm.get_tokenizer()
        return [tokenizer.apply_chat_template(settings.template.messages(n["text"], n.get("note_type")),
                                              tokenize=False, add_generation_prompt=True) for n in notes]

    guided = SamplingParams(temperature=0, max_tokens=settings.max_tokens,
                            structured_outputs=StructuredOutputsParams(json=settings.schema))
    free = SamplingParams(temperature=0, max_tokens=settings.max_tokens)
    record = {"variant": args.variant, "model": spec.model, "dtype": resolved_dtype(spec.dtype),
              "cpu_flags": cpu_flags(), "notes": len(notes),
              "gold_notes_with_medications": sum(bool(gold[n["note_id"]]["medications"]) for n in notes)}

    compact = engine(True)
    texts = prompts(compact)
    outputs = [o.outputs[0] for o in compact.generate(texts, guided, use_tqdm=False)]
    record["compact"] = arm_figures(outputs, notes, gold)
    record["free"] = arm_figures([o.outputs[0] for o in compact.generate(texts, free, use_tqdm=False)], notes, gold)
    record["next_token"] = next_tokens(compact, texts, [o.text for o in outputs])
    compact.llm_engine.engine_core.shutdown()
    del compact
    spaced = engine(False)
    record["whitespace"] = arm_figures([o.outputs[0] for o in spaced.generate(prompts(spaced), guided, use_tqdm=False)],
                                       notes, gold)
    args.json.write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))


def arm_figures(completions: list, notes: list[dict], gold: dict) -> dict:
    """Non-empty medication lists, the medications' form, the medication and overall F1, and the output tokens."""
    from notewatt.quality.scoring import score_note, summarise

    parsed = [parse(c.text) for c in completions]
    forms = Counter(type(m).__name__ for p in parsed if p for m in p.get("medications") or [])
    scores = [score_note(as_objects(prediction), gold[note["note_id"]]) for note, prediction in zip(notes, parsed)]
    metrics = summarise(scores)
    return {"parsed": sum(p is not None for p in parsed),
            "with_medications": sum(bool(p and p.get("medications")) for p in parsed),
            "medication_forms": dict(forms), "medication_f1": metrics["f1.medications"],
            "f1_overall": metrics["f1_overall"], "output_tokens": sum(len(c.token_ids) for c in completions),
            "cut_at_max_tokens": sum(c.finish_reason == "length" for c in completions)}


def as_objects(prediction: dict | None) -> dict | None:
    """An unguided answer's medications given as strings, scored as names without a dose."""
    if prediction is None:
        return None
    meds = prediction.get("medications") or []
    return {**prediction, "medications": [m if isinstance(m, dict) else {"name": str(m), "dose": ""} for m in meds]}


def parse(text: str) -> dict | None:
    """The first JSON object in a model's answer (unguided answers may wrap it in a code fence)."""
    start = text.find("{")
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:]) if start >= 0 else (None, 0)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def next_tokens(llm, prompts: list[str], compact_outputs: list[str]) -> dict:
    """Where the compact output names its medication list (after `"medications`, and after `"medications":[`), the
    model's own unguided top-10 next tokens: how often each is the first choice there."""
    from vllm import SamplingParams

    params = SamplingParams(temperature=0, max_tokens=1, logprobs=10)
    found = {}
    for opening in (OPENING[:-3], OPENING):
        cut = [p + o[: o.index(opening) + len(opening)] for p, o in zip(prompts, compact_outputs) if opening in o]
        first = Counter(min(out.outputs[0].logprobs[0].values(), key=lambda lp: lp.rank).decoded_token
                        for out in llm.generate(cut, params, use_tqdm=False))
        found[f"after {opening}"] = {"positions": len(cut), "first_choice": dict(first.most_common(5))}
    return found


if __name__ == "__main__":
    main()
