"""Every op of graphc, one :class:`OpDef` record each, grouped by family.

Importing this package registers all ops in :data:`OPS`; the families are plain tables.
"""

from graphc.ops import (  # noqa: F401
    control,
    cumulative,
    elementwise,
    indexing,
    linalg,
    reductions,
    shape,
    sources,
    sparse,
    special,
)
from graphc.ops.base import OPS, OpDef, make, rebuild

__all__ = ["OPS", "OpDef", "make", "rebuild"]
