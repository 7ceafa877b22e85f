"""Column sums of products read off a matrix product the graph computes anyway.

``sum(a * b, axis=0)`` for two (n, d) arrays is the diagonal of ``a.T @ b``: element j of both
is the sum over the n rows of ``a[r, j] * b[r, j]``. Reverse mode builds both for a model with
``Z * s + Z @ W`` (the cotangent of the scalar s sums ``ct * Z``; that of W is ``Z.T @ ct``), and
the column sums cost a pass over two (n, d) arrays where the diagonal, a strided view of the
(d, d) product, costs nothing. This pass replaces such a sum by that view when the graph holds
the product (``a.T @ b`` or ``b.T @ a``, a transposed by the ``transpose`` op); it never adds a
product.

IEEE caveat: the same terms added in the same order from +0.0 in compiled code (graphc's
reductions and its matrix product kernels both add in order of the rows), so the compiled
result is bitwise the same; the reference evaluator computes the product with BLAS, whose order
of additions differs from numpy's pairwise sum: the values agree to rounding, not bitwise.
"""

from __future__ import annotations

from graphc import dsl
from graphc.graph import Graph
from graphc.node import Node
from passes.rewrite import rewrite


def share_products(graph: Graph) -> Graph:
    if "matmul" not in graph.ops or "sum" not in graph.ops:
        return graph
    products: dict[tuple[Node, Node], Node] = {}  # (a, b) -> a.T @ b, for 2-D a and b
    for node in graph.nodes:
        if node.op == "matmul":
            left, right = node.args
            if left.op == "transpose" and left.ndim == 2 and right.ndim == 2:
                products.setdefault((left.args[0], right), node)

    def rule(node: Node) -> Node | None:
        (x,) = node.args
        if node.attrs["axes"] != (0,) or node.attrs["keepdims"] or x.op != "mul" or x.ndim != 2:
            return None
        a, b = x.args
        if a.shape != x.shape or b.shape != x.shape or a.dtype != b.dtype:
            return None
        product = products.get((a, b), products.get((b, a)))
        if product is None or product.dtype != node.dtype:
            return None
        d = x.shape[1]
        return dsl.index(dsl.reshape(product, (d * d,)), slice(None, None, d + 1))

    return rewrite(graph, {"sum": rule})
