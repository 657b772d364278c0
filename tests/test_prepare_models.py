"""Set-up's model ladder: chunks joined in order and checked against the pinned size and sha256 (a mismatch stops
set-up with one line), chunk files found from the installed distributions' records, never by importing them."""

import hashlib
import importlib.util
import sys

import pytest

from notewatt.config import PROJECT_ROOT


@pytest.fixture(scope="module")
def prepare():
    spec = importlib.util.spec_from_file_location("prepare_models", PROJECT_ROOT / "scripts" / "prepare_models.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def chunked(prepare, tmp_path, monkeypatch, parts: list[bytes], sha256: str, size: int):
    paths = {}
    for n, data in enumerate(parts, 1):
        paths[f"carrier-part{n}==1.0"] = tmp_path / f"part{n:02d}.bin"
        paths[f"carrier-part{n}==1.0"].write_bytes(data)
    monkeypatch.setattr(prepare, "chunk_path", lambda requirement, file: paths[requirement])
    chunks = prepare._chunks("carrier-part", "1.0", len(parts))
    return prepare.PackagedModel("m", "Model M", chunks, size, sha256, "bfloat16")


def test_chunks_are_joined_in_order_and_checked(prepare, tmp_path, monkeypatch):
    parts = [b"GGUF" + b"a" * 10, b"b" * 7, b"c" * 3]
    joined = b"".join(parts)
    model = chunked(prepare, tmp_path, monkeypatch, parts, hashlib.sha256(joined).hexdigest(), len(joined))
    assert model.chunks[1] == ("carrier-part2==1.0", "carrier_part2/data/part02.bin")
    prepare.assemble(model, tmp_path / "model.gguf")
    assert (tmp_path / "model.gguf").read_bytes() == joined


def test_a_checksum_mismatch_stops_setup_with_one_line(prepare, tmp_path, monkeypatch):
    model = chunked(prepare, tmp_path, monkeypatch, [b"x" * 5, b"y" * 5], "0" * 64, 10)
    with pytest.raises(SystemExit) as stop:
        prepare.assemble(model, tmp_path / "model.gguf")
    message = str(stop.value.code)
    assert message.startswith("setup: Model M: the joined GGUF is 10 bytes with sha256 ") and "\n" not in message
    assert message.endswith(f"not the pinned 10 bytes with sha256 {'0' * 64}")


def test_a_chunk_package_that_is_not_installed_is_named(prepare):
    with pytest.raises(SystemExit, match=r"setup: no-such-carrier-part1==0.2.0 is not installed"):
        prepare.chunk_path("no-such-carrier-part1==0.2.0", "no_such_carrier_part1/data/part01.bin")


def test_the_ladders_chunks_are_the_installed_files(prepare):
    """Each chunk is a file of its installed distribution (set-up installs them from uv.lock), whose sizes add up
    to the pinned size of the joined GGUF."""
    for model in prepare.LADDER:
        paths = [prepare.chunk_path(requirement, file) for requirement, file in model.chunks]
        assert sum(p.stat().st_size for p in paths) == model.size
