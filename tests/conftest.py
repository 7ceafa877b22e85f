"""Test session setup: compiled code goes to a cache directory of the session's own, so tests
never read or fill the user's cache (unless GRAPHC_CACHE_DIR is already set, as CI does)."""

import os
import tempfile

if "GRAPHC_CACHE_DIR" not in os.environ:
    os.environ["GRAPHC_CACHE_DIR"] = tempfile.mkdtemp(prefix="graphc-test-cache-")
