"""Lets the pass tests import the shared helpers in ``tests/helpers.py``."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
