"""The inference engine: vLLM's offline `LLM`, built once per Python worker and reused across partitions."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import partial
from io import StringIO
from typing import Any, Callable, Protocol

from udfs.engine_memory import EngineFootprint, engine_footprint, require_memory, resolved_dtype
from udfs.prompts import Prompt


@dataclass(frozen=True)
class EngineSpec:
    """Everything that identifies an engine; shipped from the driver to every task."""

    model: str
    dtype: str = "auto"
    quantization: str | None = None
    engine_args: dict[str, Any] = field(default_factory=dict)
    structured_outputs_backend: str = "xgrammar"
    compact_json: bool = True  # guided JSON without whitespace
    env: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, default=str)

    def footprint(self, dtype: str) -> EngineFootprint | None:
        """The host memory this engine is expected to hold as a CPU engine in `dtype` (udfs/engine_memory.py)."""
        return engine_footprint(self.model, dtype, self.quantization, self.engine_args, self.env)


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    output_tokens: int
    finish_reason: str | None
    cached_prompt_tokens: int = 0  # prompt tokens served from vLLM's prefix cache
    logprob: float | None = None  # the output tokens' summed log-probability (the model's own confidence)


class Engine(Protocol):
    max_model_len: int
    dtype: str  # what the engine computes in (a variant's `native` resolved for its host)

    def render(self, messages: list[dict[str, str]]) -> str:
        """Chat messages -> the model's prompt string (its chat template)."""

    def tokenize(self, prompt: str) -> list[int]:
        """A rendered prompt's token ids (the chat template has put in any special tokens)."""

    def generate(
        self, prompts: list[Prompt], max_tokens: int, temperature: float, schema: dict,
        on_finished: Callable[[int], None] | None = None,
    ) -> list[Generation]:
        """Schema-guided generation for a batch of prompts, in order (from their token ids, where they have them);
        `on_finished(n)` is told of each n requests that finish while the call runs."""

    def reset_prefix_cache(self) -> None:
        """Forget the cached KV blocks of earlier prompts (another run's)."""

    def close(self) -> None: ...


class EngineStartError(RuntimeError):
    """The engine could not be built: names the model, the devices and the reason (never note text)."""


def import_vllm(spec: EngineSpec) -> None:
    """Import vLLM's LLM (and torch) with the engine's environment set first, as vLLM reads it at import."""
    os.environ.update(spec.env)
    import vllm.entrypoints.llm  # noqa: F401


def use_intra_op_threads(threads: int | None) -> None:
    """Run this thread's engine (in process, as CPU engines run here) on `threads` cores from now on; None leaves
    them as the engine's environment (OMP_NUM_THREADS) set them. torch._C's setter: vLLM's CPU worker replaces
    torch.set_num_threads with a no-op once its engine is built."""
    if threads:
        import torch

        torch._C.set_num_threads(threads)


class VllmEngine:
    """vLLM's offline LLM with schema-guided (structured outputs) decoding."""

    def __init__(self, spec: EngineSpec):
        import_vllm(spec)
        from vllm import LLM
        from vllm.platforms import current_platform

        dtype = resolved_dtype(spec.dtype, current_platform.is_cpu())
        if current_platform.is_cpu():
            require_memory(spec.footprint(dtype))  # EngineMemoryError before the model loads, not an OOM kill
        self._llm = LLM(
            model=spec.model,
            dtype=dtype,
            quantization=spec.quantization,
            # vLLM 0.32's xgrammar/guidance backends read this engine setting, not the request's
            structured_outputs_config={"backend": spec.structured_outputs_backend,
                                       "disable_any_whitespace": spec.compact_json},
            **spec.engine_args,
        )
        self._tokenizer = self._llm.get_tokenizer()
        if not getattr(self._tokenizer, "chat_template", None):
            self.close()
            raise ValueError(f"model {spec.model} has no chat template (chat_template.jinja, or chat_template in "
                             "tokenizer_config.json), and the prompts are chat messages")
        model_config = self._llm.llm_engine.model_config
        self.max_model_len = model_config.max_model_len
        self.dtype = str(model_config.dtype).removeprefix("torch.")

    def close(self) -> None:
        """Stop the engine core (and its worker processes, where vLLM runs them out of process)."""
        self._llm.llm_engine.engine_core.shutdown()

    def reset_prefix_cache(self) -> None:
        self._llm.reset_prefix_cache()

    def render(self, messages: list[dict[str, str]]) -> str:
        return self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def tokenize(self, prompt: str) -> list[int]:
        return self._tokenizer(prompt, add_special_tokens=False)["input_ids"]

    def generate(
        self, prompts: list[Prompt], max_tokens: int, temperature: float, schema: dict,
        on_finished: Callable[[int], None] | None = None,
    ) -> list[Generation]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import StructuredOutputsParams

        params = SamplingParams(
            temperature=temperature,
            max_tokens=max_tokens,
            logprobs=0,  # the sampled token's log-probability only: a cascade's confidence (cumulative_logprob)
            structured_outputs=StructuredOutputsParams(json=schema),
        )
        inputs = [p.text if p.token_ids is None else TokensPrompt(prompt_token_ids=p.token_ids) for p in prompts]
        progress = partial(_finished_requests(), on_finished=on_finished) if on_finished else False
        outputs = self._llm.generate(inputs, params, use_tqdm=progress)
        return [_generation(output) for output in outputs]


def _finished_requests() -> type:
    """vLLM's progress bar class (`use_tqdm` takes one), silenced: instead of drawing, it passes each count of
    finished requests to `on_finished`. This is how a single generate call over a whole partition still reports
    the notes done to the window's heartbeats (imported late: the driver never loads tqdm for this)."""
    from tqdm import tqdm

    class FinishedRequests(tqdm):
        def __init__(self, *args, on_finished: Callable[[int], None], **kwargs):
            self.on_finished = on_finished
            super().__init__(*args, file=StringIO(), mininterval=3600.0, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            self.on_finished(int(n or 0))
            return shown

    return FinishedRequests


def _generation(output) -> Generation:
    completion = output.outputs[0]
    return Generation(
        text=completion.text,
        prompt_tokens=len(output.prompt_token_ids or []),
        output_tokens=len(completion.token_ids),
        finish_reason=completion.finish_reason,
        cached_prompt_tokens=output.num_cached_tokens or 0,
        logprob=completion.cumulative_logprob,
    )
