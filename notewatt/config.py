"""Typed job configuration: YAML files layered on `conf/defaults.yaml`, then command-line overrides."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULTS_FILE = PROJECT_ROOT / "conf" / "defaults.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)  # e.g. env values given as numbers


class CorpusConfig(_Strict):
    path: str = "data/sample_notes/"
    format: Literal["auto", "jsonl", "parquet", "csv", "delta"] = "auto"
    limit: int | None = Field(None, gt=0)  # read only the first N records (trials, comparisons on a sample)


class OutputConfig(_Strict):
    path: str = "output/delta"
    catalog_schema: str | None = None  # e.g. "main.notewatt": write catalog tables instead of paths

    @property
    def uses_catalog(self) -> bool:
        return bool(self.catalog_schema)


class SparkConfig(_Strict):
    app_name: str = "notewatt-abstract-notes"
    partitions: int | None = None  # None: one per concurrent task slot (CPU cores or GPUs)
    conf: dict[str, str] = Field(default_factory=dict)


class VariantConfig(_Strict):
    model: str
    dtype: str = "auto"
    quantization: str | None = None
    engine_args: dict[str, Any] = Field(default_factory=dict)


class EngineConfig(_Strict):
    batch_size: int | None = Field(None, gt=0)  # notes per LLM.generate call; None: the whole Arrow batch
    max_num_seqs: int | None = Field(None, gt=0)  # sequences vLLM decodes at once; None: vLLM's default
    sort_by_length: bool = True  # sort each partition's notes by length, so a batch holds similar lengths
    enable_prefix_caching: bool = True  # vLLM reuses the KV cache of the shared system prompt across notes
    max_tokens: int = 384
    temperature: float = 0.0
    structured_outputs_backend: Literal["xgrammar", "guidance"] = "xgrammar"
    env: dict[str, str] = Field(default_factory=dict)  # set in the Python worker before vLLM is imported
    engine_args: dict[str, Any] = Field(default_factory=dict)  # every variant's LLM(...) arguments; a variant's win


class PromptConfig(_Strict):
    template: str = "conf/prompt.yaml"
    schema_file: str = "conf/abstraction_schema.json"


class PreprocessConfig(_Strict):
    """What the note becomes before prompting (udfs/preprocess.py)."""

    drop_sections: list[str] = Field(default_factory=list)  # section headers left out of the prompt
    chunk_long_notes: bool = True  # split a note over the context budget into chunks (else cut its tail)


class CacheConfig(_Strict):
    """Output reuse (notewatt/output_cache.py): a note whose normalised text, prompt, schema, variant and
    generation settings were abstracted before gets that output back instead of generating."""

    enabled: bool = False
    table: str = "output_cache"  # a Delta table beside the run tables


class RoutingConfig(_Strict):
    """Small <-> large routing: notes the rule picks go to `small_variant`; all others to the job's variant."""

    small_variant: str | None = None  # None: no routing
    rule: Literal["length", "note_type"] = "length"
    max_small_chars: int = Field(2000, gt=0)  # rule length: notes up to this many characters go small
    small_note_types: list[str] = Field(default_factory=list)  # rule note_type: these note types go small


class EnergyConfig(_Strict):
    """How windows are metered (udfs/meters.py, udfs/energy.py) and where their ledger goes."""

    sample_interval_s: float = Field(0.1, ge=0)
    cpu_watts_per_core: float = 10.0  # used only for the labelled CPU+DRAM estimate
    dram_watts_per_gib: float = 0.375  # ditto: resident memory x this (CodeCarbon's 3 W per 8 GB)
    require_measured: bool = False  # true: a task whose GPUs NVML cannot read (or, with no GPU, no RAPL) fails
    heartbeat_s: float = Field(30.0, gt=0)  # how often an open window leaves its energy so far in the ledger
    ledger_path: str | None = None  # folder executors can write; None: <output.path>/_energy_ledger


class FacilityConfig(_Strict):
    """Derived impact figures: device energy x PUE, then x grid carbon intensity and x electricity price."""

    pue: float = Field(1.0, ge=1.0)  # 1.0 = device energy only; typical data centres 1.1-1.5
    carbon_intensity_g_per_kwh: float | None = Field(None, ge=0)  # wins over grid_region
    grid_region: str | None = None  # ISO 3166-1 alpha-3 country code, looked up in CodeCarbon's table
    price_per_kwh: float | None = Field(None, ge=0)
    currency: str = "USD"


class QualityConfig(_Strict):
    """How a run's abstractions are scored: against gold labels, or against a reference run's outputs."""

    gold_path: str | None = "data/sample_notes_gold.jsonl"  # notes absent from it are counted, not scored
    reference_run_id: str | None = None  # agreement with this run's ok outputs instead of gold (same output tables)


class GateSettings(_Strict):
    """The run's own check against targets (and a baseline run), shown in its report and MLflow tags."""

    targets_file: str | None = "conf/targets.yaml"  # null: no checks
    baseline_run_id: str | None = None  # a NoteWatt run id in the same output tables
    fail_job: bool = False  # exit non-zero when a check fails (jobs/check_run.py does the same on its own)


class MlflowConfig(_Strict):
    tracking_uri: str = "sqlite:///mlflow.db"
    experiment: str = "notewatt"
    artifact_location: str | None = "mlartifacts"  # for new experiments; None: the tracking server's default


class JobConfig(_Strict):
    run_id: str | None = None
    variant: str
    variants: dict[str, VariantConfig]
    corpus: CorpusConfig = Field(default_factory=CorpusConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    spark: SparkConfig = Field(default_factory=SparkConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    prompt: PromptConfig = Field(default_factory=PromptConfig)
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig)
    facility: FacilityConfig = Field(default_factory=FacilityConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    gate: GateSettings = Field(default_factory=GateSettings)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)

    @property
    def selected_variant(self) -> VariantConfig:
        return self.variant_config(self.variant)

    def variant_config(self, name: str) -> VariantConfig:
        if name not in self.variants:
            raise ValueError(f"unknown variant {name!r}; configured: {sorted(self.variants)}")
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
        """A variant's LLM(...) arguments over the profile's (engine.engine_args) and the engine switches."""
        switches = {"enable_prefix_caching": self.engine.enable_prefix_caching}
        if self.engine.max_num_seqs:
            switches["max_num_seqs"] = self.engine.max_num_seqs
        return switches | self.engine.engine_args | self.variant_config(variant).engine_args


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
        raise ValueError(f"override {item!r} is not of the form key.path=value")
    value: Any = yaml.safe_load(raw) if raw.strip() else ""
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def read_profile(path: Path) -> dict:
    """A YAML profile merged over the files it lists under `include:` (paths relative to it, in order)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    merged: dict = {}
    for included in data.pop("include", []):
        merged = deep_merge(merged, read_profile(Path(path).parent / included))
    return deep_merge(merged, data)


def load_config(config_files: list[Path] | tuple = (), overrides: list[str] | tuple = ()) -> JobConfig:
    """Defaults, then each YAML file in order, then `key.path=value` overrides."""
    merged: dict = {}
    for path in [DEFAULTS_FILE, *config_files]:
        merged = deep_merge(merged, read_profile(path))
    for item in overrides:
        merged = deep_merge(merged, parse_override(item))
    config = JobConfig.model_validate(merged)
    for name in config.variants_in_use:
        config.variant_config(name)  # fail early on an unknown variant
    return config


def resolve_path(path: str) -> str:
    """Absolute form of a project-relative local path; URIs (dbfs:/, s3://, ...) pass through unchanged."""
    if "://" in path or path.startswith(("dbfs:", "/")):
        return path
    return str((PROJECT_ROOT / path).resolve())
