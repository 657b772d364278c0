"""The Spark NLP sentence stage against the Python path, on a corpus (default: the 223 MTSamples reports in
../shared/data), on the Spark 3.5 line: what each costs, and whether the prompts they lead to agree.

  cost      Spark NLP: the stage as the job runs it (notewatt/nlp_stage.run_preprocess: DocumentAssembler,
            DocumentNormalizer, SentenceDetector, persisted and counted as a job of its own), wall time and the
            executors' CPU time from Spark's task metrics; Python: the same work on the executors' side
            (udfs/sections.py: sections and regex sentence cuts for every note), its CPU time in this process.
            Energy is estimated for both the same way: CPU seconds x energy.cpu_watts_per_core (10 W).
  agreement each note's prompts built as the executors build them (udfs/preprocess.note_prompts, the packaged
            model's chat template and tokenizer, max_tokens 384, at the job's max_model_len of 2048 and at
            smaller ones, where sections must be cut), once with the Python path's cuts and once with Spark NLP's
            text and sentence starts.

    NOTEWATT_VENV=.venv-spark3.5 source scripts/env.sh
    python bench/spark_nlp_stage.py [--notes ../shared/data/mtsamples_subset.jsonl] [--repeats 3] [--json out.json]

Only counts, times and ids are written: no note text.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from notewatt.cli import DEFAULT_PROFILE  # noqa: E402
from notewatt.config import PreprocessConfig, load_config  # noqa: E402
from notewatt.corpus import read_notes  # noqa: E402
from notewatt.inference import partition_settings  # noqa: E402
from notewatt.nlp_stage import SENTENCE_STARTS, run_preprocess  # noqa: E402
from notewatt.screening import screen_notes  # noqa: E402
from notewatt.spark_session import start_spark  # noqa: E402
from udfs.preprocess import note_prompts  # noqa: E402
from udfs.sections import sentence_cuts, split_sections  # noqa: E402

from job_runs import cpu_flags  # noqa: E402  (bench/, beside this script)

MTSAMPLES = ROOT.parent / "shared" / "data" / "mtsamples_subset.jsonl"
WATTS_PER_CORE = 10.0


class Tokenizer:
    """The packaged model's chat template and tokenizer, as udfs/engine.VllmEngine uses them (no vLLM needed)."""

    def __init__(self, model: str, max_model_len: int):
        from transformers import AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(model)
        self.max_model_len = max_model_len

    def render(self, messages):
        return self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def tokenize(self, prompt: str) -> list[int]:
        return self._tokenizer(prompt, add_special_tokens=False)["input_ids"]


def python_path_cpu_s(texts: list[str]) -> float:
    """CPU seconds of the Python path's own work for these notes: sections and the regex's sentence cuts."""
    started = time.process_time()
    for text in texts:
        for section in split_sections(text):
            sentence_cuts(section, None)
    return time.process_time() - started


def prompts(note: dict, engine: Tokenizer, settings, starts=None) -> list[str]:
    budget = engine.max_model_len - settings.max_tokens
    return note_prompts(settings.template, note["text"], note["note_type"], engine, budget, settings.preprocessing,
                        starts).prompts


ABBREVIATION = re.compile(r"(?:\b[A-Za-z]{1,4}|\d)\.\s*$")  # "b.i.d. ", "Dr. ", "2. "


def cut_agreement(python_notes: dict, nlp_notes: dict) -> dict:
    """Where the two paths may cut the notes, compared position by position (over every section), and how many of
    the regex's own cuts follow an abbreviation-like token or a number (where SentenceDetector does not cut)."""
    regex_only = nlp_only = shared = after_abbreviation = 0
    for note_id, note in python_notes.items():
        text = note["text"]
        regex = {s.start + c for s in split_sections(text) for c in sentence_cuts(s, None)}
        nlp = set(nlp_notes[note_id][SENTENCE_STARTS]) - {0}
        shared += len(regex & nlp)
        regex_only += len(regex - nlp)
        nlp_only += len(nlp - regex)
        after_abbreviation += sum(bool(ABBREVIATION.search(text[max(0, c - 8):c])) for c in regex - nlp)
    return {"shared": shared, "regex_only": regex_only, "spark_nlp_only": nlp_only,
            "regex_only_after_abbreviation_or_number": after_abbreviation}


def agreement(python_notes: dict, nlp_notes: dict, engine: Tokenizer, settings) -> dict:
    """How the two paths' prompts compare, note by note, with what makes them differ."""
    same = chunked = text_changed = cuts_differ = 0
    differing = []
    for note_id, note in python_notes.items():
        nlp = nlp_notes[note_id]
        ours, theirs = prompts(note, engine, settings), prompts(nlp, engine, settings, nlp[SENTENCE_STARTS])
        chunked += len(ours) > 1 or len(theirs) > 1
        if ours == theirs:
            same += 1
            continue
        differing.append(note_id)
        if nlp["text"] != note["text"]:
            text_changed += 1
        else:
            cuts_differ += 1
    return {"notes": len(python_notes), "identical_prompts": same, "chunked_on_either_path": chunked,
            "differ_text_normalised": text_changed, "differ_sentence_cuts": cuts_differ, "differing": differing}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=Path, default=MTSAMPLES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--context", type=int, nargs="+", default=[2048, 768],
                        help="max_model_len values to compare prompts at (2048: the job's; smaller ones cut sections)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    config = load_config([DEFAULT_PROFILE])
    spark = start_spark(config.spark)
    clean = screen_notes(read_notes(spark, str(args.notes)), "bench").clean.select("note_id", "text", "note_type")
    clean = clean.persist()
    python_notes = {r.note_id: r.asDict() for r in clean.collect()}
    load_before = os.getloadavg()
    runs = []
    for _ in range(args.repeats):
        out, cost = run_preprocess(clean, PreprocessConfig(engine="spark_nlp"))
        nlp_notes = {r.note_id: r.asDict() for r in out.collect()}
        out.unpersist()
        runs.append({"spark_nlp_wall_s": cost.wall_s, "spark_nlp_cpu_s": cost.cpu_s,
                     "python_cpu_s": python_path_cpu_s([n["text"] for n in python_notes.values()])})
    settings = partition_settings(config, "bench")
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "corpus": str(args.notes.name),
        "lscpu_flags": cpu_flags(),
        "load_before": load_before,
        "watts_per_core": WATTS_PER_CORE,
        "runs": runs,
        "median": {k: statistics.median(r[k] for r in runs) for k in runs[0]},
        "agreement": {n: agreement(python_notes, nlp_notes, Tokenizer(settings.engine.model, n), settings)
                      for n in args.context},
        "sentence_cuts": cut_agreement(python_notes, nlp_notes),
    }
    median = report["median"]
    print(f"{len(python_notes)} notes, {args.repeats} repeats (median); energy ESTIMATED at {WATTS_PER_CORE:g} W/core")
    print(f"Spark NLP stage: {median['spark_nlp_wall_s']:.2f} s wall, {median['spark_nlp_cpu_s']:.2f} s CPU, "
          f"~{median['spark_nlp_cpu_s'] * WATTS_PER_CORE:.1f} J")
    print(f"Python path:     {median['python_cpu_s']:.3f} s CPU, ~{median['python_cpu_s'] * WATTS_PER_CORE:.2f} J")
    print("sentence cuts:", report["sentence_cuts"])
    for context, result in report["agreement"].items():
        print(f"prompts at max_model_len {context}:", {k: v for k, v in result.items() if k != "differing"})
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
