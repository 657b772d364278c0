"""Typed job configuration. Every setting's default and meaning is defined here, once; `conf/defaults.yaml`
holds the catalogue of model variants, profiles (conf/local_cpu.yaml, ...) and `--config` files layer on top,
then command-line `key.path=value` overrides. docs/configuration.md is generated from these classes
(scripts/config_reference.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULTS_FILE = PROJECT_ROOT / "conf" / "defaults.yaml"


class ConfigError(ValueError):
    """A setting that cannot be used as given: the message names it."""


class StrictModel(BaseModel):
    """A configuration section: an unknown key is an error, never ignored."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)  # e.g. env values given as numbers


class CorpusConfig(StrictModel):
    path: str = Field("data/sample_notes/", description="the notes: a JSONL, Parquet or CSV file or folder, or a "
                      "Delta table (project-relative, absolute, or a URI)")
    format: Literal["auto", "jsonl", "parquet", "csv", "delta"] = Field(
        "auto", description="the corpus format; auto: from the path (a Delta log, the extension)")
    limit: int | None = Field(None, gt=0, description="read only the first N records (a quick comparison, a sample)")


class OutputConfig(StrictModel):
    path: str = Field("output/delta", description="folder the Delta tables are written under")
    catalog_schema: str | None = Field(None, description="e.g. main.notewatt: write catalog tables there instead")
    slice_notes_per_task: int = Field(64, gt=0, description="inference commits in slices of this many notes per "
                                      "partition: each slice's note rows reach inference_outputs as it ends, and a "
                                      "rerun of the run id resumes after them (notewatt/commits.py)")

    @property
    def uses_catalog(self) -> bool:
        return bool(self.catalog_schema)


class SparkConfig(StrictModel):
    app_name: str = Field("notewatt-abstract-notes", description="the Spark application's name")
    partitions: int | None = Field(None, description="inference partitions (energy windows); null: one per "
                                   "concurrent task slot (GPUs / GPUs per task, else cores / cpus per task)")
    conf: dict[str, str] = Field(default_factory=dict, description="Spark settings for the session")


class VariantConfig(StrictModel):
    model: str = Field(description="a model folder every executor can read (nothing is fetched from a hub)")
    dtype: str = Field("native", description="vLLM's dtype: native (on CPUs bfloat16 where the CPU computes it "
                       "natively, AVX-512 BF16 or AMX, else float32; on GPUs vLLM's auto), auto, float32, bfloat16, "
                       "float16; what the engines used is recorded with the run (dtype)")
    quantization: str | None = Field(None, description="vLLM's quantization method, e.g. fp8, awq_marlin")
    compact_json: bool = Field(True, description="schema-guided decoding writes JSON without whitespace (fewer output "
                               "tokens); false lets the model write the spaces it prefers (Qwen2.5-Coder-0.5B lists no "
                               "medication in compact JSON: docs/models.md)")
    engine_args: dict[str, Any] = Field(default_factory=dict, description="this variant's LLM(...) arguments")


class EngineConfig(StrictModel):
    batch_size: int | None = Field(None, gt=0, description="notes per LLM.generate call; null: the whole Arrow "
                                   "batch (1 is naive one-by-one generation)")
    max_num_seqs: int | None = Field(None, gt=0, description="sequences vLLM decodes at once; null: vLLM's default")
    sort_by_length: bool = Field(True, description="sort each partition's notes by length before batching")
    warm_up_workers: bool = Field(True, description="import vLLM in the Python workers (inside an energy window of "
                                  "its own) while the driver reads, screens and routes the notes; its energy is "
                                  "engine-load energy, also where the worker runs no partition (docs/energy.md). "
                                  "Workers whose tasks are given GPUs are not warmed")
    enable_prefix_caching: bool = Field(True, description="vLLM reuses the KV cache of the shared system prompt")
    fit_host_memory: bool = Field(True, description="CPU engines (local mode): start no more engines at once than the "
                                  "host's available memory holds (fewer partitions), and fail before any model loads "
                                  "when not one fits; false on GPU profiles, where vLLM sizes GPU memory")
    max_tokens: int = Field(384, gt=0, description="output tokens per note (per chunk of a long note)")
    temperature: float = Field(0.0, ge=0, description="sampling temperature; 0 is greedy")
    structured_outputs_backend: Literal["xgrammar", "guidance"] = Field(
        "xgrammar", description="vLLM's schema-guided decoding backend")
    env: dict[str, str] = Field(default_factory=dict, description="environment set in the Python worker before "
                                "vLLM is imported")
    engine_args: dict[str, Any] = Field(default_factory=dict, description="LLM(...) arguments for every variant "
                                        "(a variant's own engine_args win; the engine switches above win over both)")


class PromptConfig(StrictModel):
    template: str = Field("conf/prompt.yaml", description="the chat prompt (system and user messages, a version)")
    schema_file: str = Field("conf/abstraction_schema.json", description="the JSON schema outputs must follow")


class ScreeningConfig(StrictModel):
    """What is quarantined before inference (notewatt/screening.py)."""

    max_replacement_share: float = Field(
        0.05, ge=0, le=1, description="quarantine a text as invalid_utf8 when more than this share of its characters "
        "are U+FFFD (bytes that were not UTF-8); fewer are abstracted and flagged replacement_characters")


class PreprocessConfig(StrictModel):
    """What the note becomes before prompting (notewatt/nlp_stage.py on the driver, udfs/preprocess.py)."""

    engine: Literal["python", "spark_nlp"] = Field(
        "python", description="where a long note's sentence boundaries come from: python (a regex, on the "
        "executors) or spark_nlp (DocumentAssembler, DocumentNormalizer, SentenceDetector: the Spark 3.5 line)")
    spark_nlp_pipeline: str | None = Field(
        None, description="a saved Spark NLP PipelineModel (e.g. de-identification) run on the notes before "
        "prompting; its output column's text is what the model and the output cache see (the Spark 3.5 line)")
    spark_nlp_output_column: str = Field(
        "masked", description="the pipeline's output column with the text: a string column, or an annotation "
        "column whose first annotation's result is taken")

    drop_sections: list[str] = Field(default_factory=list, description="section headers left out of the prompt, "
                                     "e.g. [ANESTHESIA, ESTIMATED BLOOD LOSS]")
    chunk_long_notes: bool = Field(True, description="split a note over the context budget into chunks whose "
                                   "outputs are merged; false: cut its tail (status truncated)")


class CacheConfig(StrictModel):
    """Output reuse (notewatt/output_cache.py)."""

    enabled: bool = Field(False, description="reuse earlier ok outputs of the same normalised text, prompt, "
                          "schema, variant and settings (and repeats within the run) instead of generating")
    table: str = Field("output_cache", description="the cache's Delta table, beside the run tables (no note text)")


class RoutingConfig(StrictModel):
    """Small <-> large routing (notewatt/routing.py): a static rule sends the notes it picks to `small_variant`;
    a cascade (notewatt/cascade.py) sends every note there first and escalates to the job's variant the notes whose
    small output is not trusted."""

    mode: Literal["static", "cascade"] = Field("static", description="static: a rule picks each note's variant "
                                               "before inference; cascade: the small variant first, the job's "
                                               "variant for the notes escalated")
    small_variant: str | None = Field(None, description="the small tier; null: no routing")
    rule: Literal["length", "note_type"] = Field("length", description="static: length or note_type")
    max_small_chars: int = Field(2000, gt=0, description="rule length: notes up to this many characters go small")
    small_note_types: list[str] = Field(default_factory=list, description="rule note_type: these go small")
    min_mean_logprob: float | None = Field(None, le=0, description="cascade: a note whose small output's mean token "
                                           "log-probability is below this is escalated too (every note whose output "
                                           "is not ok always is); null: on failed outputs only. "
                                           "jobs/calibrate_cascade.py picks it")

    @property
    def summary(self) -> str:
        """none, rule:small_variant (static), or cascade:small_variant with its confidence threshold."""
        if not self.small_variant:
            return "none"
        if self.mode == "cascade":
            return f"cascade:{self.small_variant}:min_mean_logprob={self.min_mean_logprob}"
        return f"{self.rule}:{self.small_variant}"


class EnergyConfig(StrictModel):
    """How windows are metered (udfs/energy/meters.py, udfs/energy/monitor.py) and where their ledger goes (docs/energy.md)."""

    sample_interval_s: float = Field(0.1, ge=0, description="power sampling period inside each window")
    cpu_watts_per_core: float = Field(10.0, ge=0, description="host estimate (where RAPL is unreadable): watts per "
                                      "core-second of CPU time")
    dram_watts_per_gib: float = Field(0.375, ge=0, description="host estimate: watts per GiB of resident memory "
                                      "(CodeCarbon's 3 W per 8 GB)")
    require_measured: bool = Field(False, description="true: a task whose GPUs NVML cannot read (or, with no GPU, "
                                   "with no readable RAPL) fails before inference; false: labelled estimate + reason")
    heartbeat_s: float = Field(30.0, gt=0, description="how often an open window leaves its energy so far in the "
                               "ledger")
    ledger_path: str | None = Field(None, description="a folder every executor can write, for the energy ledger; "
                                    "null: <output.path>/_energy_ledger")


class FacilityConfig(StrictModel):
    """Derived impact figures: device energy x PUE, then x grid carbon intensity and x electricity price."""

    pue: float = Field(1.0, ge=1.0, description="1.0 reports device energy only; data centres run at 1.1-1.5")
    carbon_intensity_g_per_kwh: float | None = Field(None, ge=0, description="gCO2e per kWh; wins over grid_region")
    grid_region: str | None = Field(None, description="ISO 3166-1 alpha-3 country (USA, DEU, ...): CodeCarbon's "
                                    "yearly grid average")
    price_per_kwh: float | None = Field(None, ge=0, description="electricity price, in `currency`")
    currency: str = Field("USD", description="the price's currency")


class QualityConfig(StrictModel):
    """How a run's abstractions are scored (notewatt/quality/)."""

    gold_path: str | None = Field("data/sample_notes_gold.jsonl", description="gold labels (JSONL); notes absent "
                                  "from it are counted, not scored; null: no gold")
    reference_run_id: str | None = Field(None, description="score agreement with this earlier run's ok outputs "
                                         "instead of gold (a corpus without gold)")


class GateConfig(StrictModel):
    """The run checked against targets (and a baseline run): in its report and MLflow tags."""

    targets_file: str | None = Field("conf/targets.yaml", description="targets and tolerances (YAML); null: none")
    baseline_run_id: str | None = Field(None, description="a NoteWatt run id in the same tables to compare with")
    fail_job: bool = Field(False, description="exit non-zero when a check fails (jobs/check_run.py does it after)")


DROPPABLE_SECTIONS = ["ANESTHESIA", "ESTIMATED BLOOD LOSS", "TOURNIQUET TIME", "DRAINS", "SPECIMENS", "DISPOSITION"]


class TuningConfig(StrictModel):
    """The energy tuner (jobs/tune_energy.py): which settings it searches, on how many notes, against what floor."""

    sample: int = Field(64, gt=0, description="notes each trial runs on: the corpus's first ones")
    trials: int = Field(20, gt=0, description="trials in all; the first runs the settings as configured")
    objective: Literal["output_tokens_per_joule", "wh_per_1000_notes"] = Field(
        "output_tokens_per_joule", description="what the search improves (higher tokens per J, or lower Wh)")
    quality_margin: float = Field(0.02, ge=0, description="a trial's F1 (or agreement with the first trial, "
                                  "without gold) may be at most this below the first trial's")
    min_quality: float | None = Field(None, ge=0, le=1, description="an absolute floor on that figure as well")
    variants: list[str] = Field(default_factory=list, description="variants to try; []: only the job's variant")
    cascades: list[str] = Field(default_factory=list, description="small variants to try as a cascade's first tier "
                                "(routing.mode cascade before the trial's variant), besides the configured routing; "
                                "add routing.min_mean_logprob to `space` to search its threshold too")
    space: dict[str, list[Any]] = Field(
        default_factory=lambda: {
            "engine.batch_size": [None, 8, 32],
            "engine.max_num_seqs": [None, 32, 128],
            "engine.max_tokens": [256, 384],
            "engine.sort_by_length": [True, False],
            "engine.enable_prefix_caching": [True, False],
            "preprocess.drop_sections": [[], DROPPABLE_SECTIONS],
            "spark.partitions": [1, 2, 4],
        },
        description="setting -> the values to try (any job setting; the configured value is tried first)")
    seed: int | None = Field(0, description="the sampler's seed (null: a different search each time)")


class MlflowConfig(StrictModel):
    tracking_uri: str = Field("sqlite:///mlflow.db", description="MLflow's store; databricks on Databricks")
    experiment: str = Field("notewatt", description="the experiment (a workspace path on Databricks)")
    artifact_location: str | None = Field("mlartifacts", description="artifacts of a new experiment; null: the "
                                          "store's default")


class JobConfig(StrictModel):
    run_id: str | None = Field(None, description="the run's id; null: generated. A rerun of a run id resumes it: "
                               "only the notes it has not committed are inferred, and its tables are rewritten")
    resume: bool = Field(False, description="the run id must name a run that exists (run_status): resume it")
    progress_s: float = Field(30.0, ge=0, description="while inference runs, a progress line this often (notes done, "
                              "energy so far, time left; from the windows' heartbeats, energy.heartbeat_s); 0: none")
    variant: str = Field(description="the model variant, a key of `variants`")
    variants: dict[str, VariantConfig] = Field(description="the variants a run may use (conf/defaults.yaml, profiles)")
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    screening: ScreeningConfig = Field(default_factory=ScreeningConfig)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig)
    facility: FacilityConfig = Field(default_factory=FacilityConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    tuning: TuningConfig = Field(default_factory=TuningConfig)

    @property
    def selected_variant(self) -> VariantConfig:
        return self.variant_config(self.variant)

    def variant_config(self, name: str) -> VariantConfig:
        if name not in self.variants:
            raise ConfigError(f"unknown variant {name!r}; configured: {', '.join(sorted(self.variants))}")
        return self.variants[name]

    @property
    def variants_in_use(self) -> list[str]:
        """The job's variant, and the small tier first when routing is on."""
        small = self.routing.small_variant
        return [small, self.variant] if small and small != self.variant else [self.variant]

    @property
    def engine_args(self) -> dict[str, Any]:
        return self.engine_args_for(self.variant)

    def engine_args_for(self, variant: str) -> dict[str, Any]:
        """A variant's LLM(...) arguments over the profile's (engine.engine_args), then the engine switches over both:
        engine.enable_prefix_caching and engine.max_num_seqs mean what they say whatever a variant sets."""
        switches = {"enable_prefix_caching": self.engine.enable_prefix_caching}
        if self.engine.max_num_seqs:
            switches["max_num_seqs"] = self.engine.max_num_seqs
        return self.engine.engine_args | self.variant_config(variant).engine_args | switches


def deep_merge(base: dict, override: dict) -> dict:
    """Return `base` with `override` merged in; nested mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_override(item: str) -> dict:
    """Turn `a.b.c=value` into `{"a": {"b": {"c": value}}}`; the value is parsed as YAML (numbers, null, lists)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} is not of the form key.path=value")
    value: Any = yaml.safe_load(raw) if raw.strip() else ""
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def read_profile(path: Path) -> dict:
    """A YAML profile merged over the files it lists under `include:` (paths relative to it, in order)."""
    if not Path(path).is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} is not a mapping of settings")
    merged: dict = {}
    for included in data.pop("include", []):
        merged = deep_merge(merged, read_profile(Path(path).parent / included))
    return deep_merge(merged, data)


def load_config(config_files: list[Path] | tuple = (), overrides: list[str] | tuple = ()) -> JobConfig:
    """The variant catalogue (conf/defaults.yaml), then each YAML file in order, then `key.path=value`
    overrides, validated (pydantic's ValidationError for an unknown or mistyped setting)."""
    merged: dict = {}
    for path in [DEFAULTS_FILE, *config_files]:
        merged = deep_merge(merged, read_profile(path))
    for item in overrides:
        merged = deep_merge(merged, parse_override(item))
    return _validated(merged)


def with_overrides(config: JobConfig, overrides: list[str] | tuple = ()) -> JobConfig:
    """`config` with `key.path=value` overrides applied (a comparison's variant, a tuner's trial), validated as
    load_config validates."""
    merged = config.model_dump()
    for item in overrides:
        merged = deep_merge(merged, parse_override(item))
    return _validated(merged)


def _validated(merged: dict) -> JobConfig:
    config = JobConfig.model_validate(merged)
    for name in config.variants_in_use:
        config.variant_config(name)  # fail early on an unknown variant
    if config.routing.mode == "cascade" and len(config.variants_in_use) < 2:
        raise ConfigError("routing.mode cascade needs routing.small_variant, a variant other than the job's")
    return config


def resolve_path(path: str) -> str:
    """Absolute form of a project-relative local path; URIs (dbfs:/, s3://, ...) pass through unchanged."""
    if "://" in path or path.startswith(("dbfs:", "/")):
        return path
    return str((PROJECT_ROOT / path).resolve())
