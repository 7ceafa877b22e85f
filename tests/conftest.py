"""Test session setup, so the suite passes whatever ``GRAPHC_*`` settings the user has:

- compiled code goes to a cache directory of the session's own, so tests never read or fill the
  user's cache (unless ``GRAPHC_CACHE_DIR`` is already set, as CI does);
- every other ``GRAPHC_*`` variable (``GRAPHC_CACHE=0`` turning the cache off, a size limit...)
  is removed: tests that need one set it themselves, and child processes inherit the clean
  environment.
"""

import os
import tempfile

for _name in [n for n in os.environ if n.startswith("GRAPHC_") and n != "GRAPHC_CACHE_DIR"]:
    del os.environ[_name]
if "GRAPHC_CACHE_DIR" not in os.environ:
    os.environ["GRAPHC_CACHE_DIR"] = tempfile.mkdtemp(prefix="graphc-test-cache-")


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from the current output (then review the diff)",
    )
