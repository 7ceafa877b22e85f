"""A disk cache of compiled graphs, so a second process compiling the same graph loads it in
milliseconds instead of running the optimizer, the lowering and LLVM again.

Key: the graph's structural hash, the compile options, the host (CPU name and features, LLVM
and llvmlite versions) and a digest of graphc's own source (a changed compiler never loads a
stale entry).

Entry format (no pickle): ``MAGIC``, the SHA-256 of the rest, then a length-prefixed JSON header
followed by the binary blobs it describes (object code, IR text, constant arrays). The header
records the entry's own key and the graph's structural hash, checked on load, so an entry copied
or renamed under another key is never run for the wrong graph. Writes go to a temporary file in
the same directory and are renamed into place, so readers never see half an entry; an entry that
fails its checksum, does not parse or carries another key is deleted and rebuilt.

Trust: an entry holds native code that graphc loads and runs in the calling process. The
checksum guards against corruption (a truncated write, a flipped bit), not against tampering:
anyone who can write to the cache directory can make your process run their code. The
directory is created readable by its owner only; point ``GRAPHC_CACHE_DIR`` only at directories
no one else can write to.

Location: ``$GRAPHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/graphc``, else ``~/.cache/graphc``.
``GRAPHC_CACHE=0`` (or ``compile(..., cache=False)``) turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path

MAGIC = b"GRAPHC\x00\x01"
_SOURCE_DIGEST: list[str] = []


def default_directory() -> Path | None:
    if os.environ.get("GRAPHC_CACHE", "1").lower() in ("0", "false", "no", "off"):
        return None
    if os.environ.get("GRAPHC_CACHE_DIR"):
        return Path(os.environ["GRAPHC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "graphc"


def source_digest() -> str:
    """A digest of every source file of graphc and passes: part of every key."""
    if not _SOURCE_DIGEST:
        digest = hashlib.sha256()
        root = Path(__file__).resolve().parents[2]
        for package in ("graphc", "passes"):
            for path in sorted((root / package).rglob("*.py")):
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
        _SOURCE_DIGEST.append(digest.hexdigest())
    return _SOURCE_DIGEST[0]


def make_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def encode(header: dict, blobs: dict[str, bytes]) -> bytes:
    names = sorted(blobs)
    header = {**header, "blobs": [[name, len(blobs[name])] for name in names]}
    text = json.dumps(header, sort_keys=True).encode()
    body = struct.pack("<Q", len(text)) + text + b"".join(blobs[name] for name in names)
    return MAGIC + hashlib.sha256(body).digest() + body


def decode(data: bytes) -> tuple[dict, dict[str, bytes]]:
    """The header and blobs of an entry; ValueError if it is corrupt or truncated."""
    if len(data) < len(MAGIC) + 40 or not data.startswith(MAGIC):
        raise ValueError("not a graphc cache entry")
    checksum, body = data[len(MAGIC) : len(MAGIC) + 32], data[len(MAGIC) + 32 :]
    if hashlib.sha256(body).digest() != checksum:
        raise ValueError("cache entry checksum mismatch")
    (length,) = struct.unpack("<Q", body[:8])
    header = json.loads(body[8 : 8 + length])
    blobs, position = {}, 8 + length
    for name, size in header.pop("blobs"):
        blobs[name] = body[position : position + size]
        position += size
    if position != len(body):
        raise ValueError("cache entry has trailing or missing bytes")
    return header, blobs


class DiskCache:
    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.gcc"

    def load(self, key: str) -> tuple[dict, dict[str, bytes]] | None:
        """The entry stored under ``key``, or None (missing, corrupt, or made for another key:
        an unusable entry is deleted, and the caller recompiles and rewrites it)."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            header, blobs = decode(data)
            if header.get("key") != key:
                raise ValueError("cache entry was stored under another key")
            return header, blobs
        except (ValueError, KeyError, json.JSONDecodeError, struct.error):
            self.discard(key)
            return None

    def discard(self, key: str) -> None:
        try:
            self.path(key).unlink()
        except OSError:
            pass

    def store(self, key: str, header: dict, blobs: dict[str, bytes]) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(handle, "wb") as file:
                file.write(encode({**header, "key": key}, blobs))
            os.replace(temporary, self.path(key))
        except OSError:
            pass  # a read-only or full disk costs a recompile next time, never an error
