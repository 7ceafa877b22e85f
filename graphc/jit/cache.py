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

Location: ``$GRAPHC_CACHE_DIR``, else the platform's cache directory: ``$XDG_CACHE_HOME/graphc``
or ``~/.cache/graphc`` (Linux and other Unix), ``~/Library/Caches/graphc`` (macOS),
``%LOCALAPPDATA%\\graphc\\Cache`` (Windows). ``GRAPHC_CACHE=0`` (or ``compile(...,
cache=False)``) turns it off.

Size: the entries of a directory add up to at most ``GRAPHC_CACHE_MAX_BYTES`` (bytes, or with a
``K``/``M``/``G`` suffix, powers of 1024; default :data:`DEFAULT_MAX_BYTES`, 1 GiB). A store
that takes the directory past the limit deletes the least recently used entries first: an
entry's modification time is its last use (a hit touches it). An entry larger than the limit is
not kept. Several processes may share a directory: each eviction is one ``unlink``, and an
entry deleted under a reader is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import sys
import tempfile
import time
from pathlib import Path

MAGIC = b"GRAPHC\x00\x01"
SUFFIX = ".gcc"
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB: a few hundred large entries (a Hessian's is ~5 MB)
STALE_TEMPORARY_SECONDS = 3600.0  # a temporary file this old belongs to a writer that died
_SOURCE_DIGEST: list[str] = []


def default_directory() -> Path | None:
    """The cache directory compile() uses, or None when ``GRAPHC_CACHE`` turns it off."""
    if os.environ.get("GRAPHC_CACHE", "1").lower() in ("0", "false", "no", "off"):
        return None
    return configured_directory()


def configured_directory() -> Path:
    """``$GRAPHC_CACHE_DIR``, else the platform's cache directory (see the module docstring)."""
    if os.environ.get("GRAPHC_CACHE_DIR"):
        return Path(os.environ["GRAPHC_CACHE_DIR"])
    return platform_directory()


def platform_directory(platform: str = sys.platform, environ=os.environ) -> Path:
    home = Path(environ.get("HOME") or os.path.expanduser("~"))
    if platform == "win32":
        local = environ.get("LOCALAPPDATA")
        return (Path(local) if local else home / "AppData" / "Local") / "graphc" / "Cache"
    if platform == "darwin":
        return home / "Library" / "Caches" / "graphc"
    xdg = environ.get("XDG_CACHE_HOME")
    # The XDG spec ignores relative paths: they would depend on the working directory.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else home / ".cache"
    return base / "graphc"


def max_bytes(environ=os.environ) -> int:
    """The size limit: ``GRAPHC_CACHE_MAX_BYTES``, else :data:`DEFAULT_MAX_BYTES`."""
    text = environ.get("GRAPHC_CACHE_MAX_BYTES", "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    match = re.fullmatch(r"(\d+)\s*([KMG]?)(?:i?B)?", text, re.IGNORECASE)
    if match is None:
        raise ValueError(
            f"GRAPHC_CACHE_MAX_BYTES must be a number of bytes, optionally with a K, M or G "
            f"suffix (e.g. 500M), got {text!r}"
        )
    scale = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[match.group(2).upper()]
    return int(match.group(1)) * scale


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
    def __init__(self, directory: Path, limit: int | None = None):
        self.directory = Path(directory)
        self.limit = max_bytes() if limit is None else limit

    def path(self, key: str) -> Path:
        return self.directory / f"{key}{SUFFIX}"

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
        except (ValueError, KeyError, json.JSONDecodeError, struct.error):
            self.discard(key)
            return None
        try:
            os.utime(path)  # its last use, for least-recently-used eviction
        except OSError:
            pass
        return header, blobs

    def discard(self, key: str) -> None:
        try:
            self.path(key).unlink()
        except OSError:
            pass

    def store(self, key: str, header: dict, blobs: dict[str, bytes]) -> None:
        data = encode({**header, "key": key}, blobs)
        if len(data) > self.limit:
            return  # it could only be kept by evicting everything, and then itself
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, self.path(key))
        except OSError:
            return  # a read-only or full disk costs a recompile next time, never an error
        self.evict(keep=self.path(key))

    def entries(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, path) of every entry, least recently used first."""
        found = []
        try:
            listing = list(os.scandir(self.directory))
        except OSError:
            return []
        for item in listing:
            if not item.name.endswith(SUFFIX):
                continue
            try:
                status = item.stat()
            except OSError:  # deleted meanwhile by another process
                continue
            found.append((status.st_mtime, status.st_size, Path(item.path)))
        return sorted(found)

    def evict(self, keep: Path | None = None) -> int:
        """Delete least recently used entries until the directory is within the limit (never
        ``keep``, the entry just written), and temporary files of writers that died. Returns
        the number of bytes freed."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        freed = 0
        for _, size, path in entries:
            if total <= self.limit:
                break
            if path == keep:
                continue
            try:
                path.unlink()
            except OSError:
                continue  # another process evicted it first
            total -= size
            freed += size
        cutoff = time.time() - STALE_TEMPORARY_SECONDS
        for temporary in self.directory.glob("*.tmp"):
            try:
                if temporary.stat().st_mtime < cutoff:
                    temporary.unlink()
            except OSError:
                pass
        return freed

    def clear(self) -> dict:
        """Delete every entry (and temporary file); returns how many and their bytes."""
        entries = self.entries()
        removed = freed = 0
        for _, size, path in entries:
            try:
                path.unlink()
            except OSError:
                continue
            removed += 1
            freed += size
        for temporary in self.directory.glob("*.tmp"):
            try:
                temporary.unlink()
            except OSError:
                pass
        return {"directory": str(self.directory), "entries": removed, "bytes": freed}

    def info(self) -> dict:
        entries = self.entries()
        return {
            "directory": str(self.directory),
            "entries": len(entries),
            "bytes": sum(size for _, size, _ in entries),
            "max_bytes": self.limit,
        }


def _chosen(directory: str | os.PathLike | None) -> DiskCache:
    return DiskCache(Path(directory) if directory is not None else configured_directory())


def cache_info(directory: str | os.PathLike | None = None) -> dict:
    """The compile cache: its ``directory``, number of ``entries``, their ``bytes``,
    ``max_bytes`` (the limit) and ``enabled`` (False when ``GRAPHC_CACHE=0``). ``directory``
    defaults to the one compile() uses."""
    info = _chosen(directory).info()
    info["enabled"] = directory is not None or default_directory() is not None
    return info


def cache_clear(directory: str | os.PathLike | None = None) -> dict:
    """Delete every compiled entry of the cache (default: the directory compile() uses, also
    when ``GRAPHC_CACHE=0``); returns the number of ``entries`` and ``bytes`` deleted. Compiled
    functions already loaded keep working: they never read the cache again."""
    return _chosen(directory).clear()
