"""A file cache that every process on the machine shares, for the login lockout without Redis.

Django's ``FileBasedCache`` is shared between processes but its ``add`` and ``incr`` are a read
then a write (two processes counting at once lose a failure), and its ``incr`` rewrites the value
with the default timeout (a failure counter would never expire). Here both run under one
exclusive lock file and ``incr`` keeps the key's expiry.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import time
import zlib
from collections.abc import Iterator
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache
from django.core.files import locks
from django.core.files.move import file_move_safe

LOCK_NAME = "omni.lock"  # no ".djcache" suffix: culling and clear() leave it alone


class LockedFileCache(FileBasedCache):
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._createdir()
        with open(os.path.join(self._dir, LOCK_NAME), "ab") as handle:
            locks.lock(handle, locks.LOCK_EX)
            try:
                yield
            finally:
                locks.unlock(handle)

    def add(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        with self._locked():
            return super().add(key, value, timeout, version)

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> Any:
        with self._locked():
            fname = self._key_to_file(key, version)
            try:
                with open(fname, "rb") as handle:
                    try:
                        expiry = pickle.load(handle)  # noqa: S301 - our own files (as FileBasedCache)
                    except EOFError:
                        expiry = 0
                    value = None if expiry is not None and expiry < time.time() else handle.read()
            except FileNotFoundError:
                value = None
            if value is None:
                raise ValueError(f"Key '{key}' not found")
            new_value = pickle.loads(zlib.decompress(value)) + delta  # noqa: S301
            fd, tmp_path = tempfile.mkstemp(dir=self._dir)
            try:
                with open(fd, "wb") as out:
                    out.write(pickle.dumps(expiry, self.pickle_protocol))
                    out.write(zlib.compress(pickle.dumps(new_value, self.pickle_protocol)))
                file_move_safe(tmp_path, fname, allow_overwrite=True)
            finally:
                if os.path.exists(tmp_path):
                    os.remove(tmp_path)
            return new_value
