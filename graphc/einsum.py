"""``gc.einsum``: numpy's Einstein summation, lowered to the ops graphc already has.

Any explicit or implicit subscripts (``"ij,jk->ik"``, ``"ii->"``, ``"ij,ij->i"``, ``"bij,bjk"``,
``"...ij,...jk->...ik"``) over any number of operands. The plan, operand by operand:

1. A label repeated within one operand (``"ii"``) takes that operand's diagonal (a view of a
   contiguous operand).
2. A label no other operand and not the output uses is summed out of its operand at once.
3. Operands are combined left to right. Two operands with no label both keep (a "batch" label)
   contract with one matrix product (``tensordot``: transposes and reshapes around a 2-D, or
   1-D, ``matmul``); with batch labels, the product is a broadcast multiply whose sum over the
   contracted labels fuses into one loop nest (no temporary for the product). Labels left over
   that nothing later uses are summed out.
4. The last operand is summed to the output labels and transposed into their order.

Operands are contracted in the order given (no search for a cheaper order, unlike
``np.einsum(optimize=True)``). Sizes of one label must agree across operands; the dimensions an
ellipsis stands for broadcast, as in numpy.
"""

from __future__ import annotations

import string

from graphc import dsl
from graphc.functions import diagonal, tensordot
from graphc.node import Node
from graphc.shapes import broadcast, fmt

_LETTERS = set(string.ascii_letters)


def _ellipsis_label(k: int) -> str:
    """The label of the k-th dimension (from the right) an ellipsis stands for: not a letter,
    so it cannot clash with the user's labels."""
    return chr(0x3B1 + k)  # Greek letters: alpha, beta, ...


def _parse_term(term: str, what: str) -> tuple[list[str], bool]:
    """Labels of one term, with '...' kept as one marker; whether it had an ellipsis."""
    if term.count("...") > 1:
        raise ValueError(f"einsum: {what} {term!r} has more than one ellipsis")
    labels: list[str] = []
    ellipsis = False
    rest = term.replace("...", "\0")
    for char in rest:
        if char == "\0":
            labels.append("...")
            ellipsis = True
        elif char in _LETTERS:
            labels.append(char)
        else:
            raise ValueError(
                f"einsum: invalid subscript {char!r} in {what} {term!r}; expected letters "
                "a-z, A-Z and at most one '...'"
            )
    return labels, ellipsis


def einsum(subscripts: str, *operands: object) -> Node:
    """``np.einsum(subscripts, *operands)`` (see the module docstring for how it is computed)."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: subscripts must be a string, got {type(subscripts).__name__}")
    spec = subscripts.replace(" ", "")
    nodes = [dsl.as_node(x) for x in operands]
    if "->" in spec:
        inputs_text, output_text = spec.split("->", 1)
        if "->" in output_text:
            raise ValueError(f"einsum: subscripts {subscripts!r} have more than one '->'")
    else:
        inputs_text, output_text = spec, None
    terms = inputs_text.split(",")
    if len(terms) != len(nodes):
        raise ValueError(
            f"einsum: subscripts {subscripts!r} name {len(terms)} operands, {len(nodes)} were given"
        )

    # Labels per operand, with the ellipsis expanded to labels of the dimensions it covers.
    labelled: list[list[str]] = []
    ellipsis_shapes = []
    for k, (term, node) in enumerate(zip(terms, nodes)):
        labels, has_ellipsis = _parse_term(term, f"operand {k}")
        named = len(labels) - has_ellipsis
        if named > node.ndim or (not has_ellipsis and named != node.ndim):
            raise ValueError(
                f"einsum: operand {k} has shape {fmt(node.shape)} ({node.ndim} dimensions) but "
                f"subscripts {term!r}"
            )
        if has_ellipsis:
            at = labels.index("...")
            extra = node.ndim - named
            covered = [_ellipsis_label(extra - 1 - j) for j in range(extra)]
            labels = labels[:at] + covered + labels[at + 1 :]
            ellipsis_shapes.append(node.shape[at : at + extra])
        labelled.append(labels)
    batch_shape = broadcast("einsum", *ellipsis_shapes) if ellipsis_shapes else ()
    batch_labels = [_ellipsis_label(len(batch_shape) - 1 - j) for j in range(len(batch_shape))]

    sizes: dict[str, int] = {}
    for k, (labels, node) in enumerate(zip(labelled, nodes)):
        for label, dim in zip(labels, node.shape):
            if label in batch_labels:
                continue
            if sizes.setdefault(label, dim) != dim:
                raise ValueError(
                    f"einsum: label {label!r} has size {sizes[label]} in one operand and {dim} "
                    f"in operand {k} (shape {fmt(node.shape)})"
                )
    for label, dim in zip(batch_labels, batch_shape):
        sizes[label] = dim
    # Ellipsis dimensions broadcast: stretch each operand's to the common shape (a view).
    for k, (labels, node) in enumerate(zip(labelled, nodes)):
        want = tuple(sizes[label] for label in labels)
        if want != node.shape:
            nodes[k] = dsl.broadcast_to(node, want)

    if output_text is None:  # implicit: the labels used once, sorted, after the ellipsis's
        counts: dict[str, int] = {}
        for labels in labelled:
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
        output = batch_labels + sorted(
            label for label, c in counts.items() if c == 1 and label not in batch_labels
        )
    else:
        parsed, has_ellipsis = _parse_term(output_text, "output")
        if not has_ellipsis and batch_labels:
            if any(sizes[label] != 1 for label in batch_labels):
                raise ValueError(
                    f"einsum: output {output_text!r} has no '...' for the dimensions the "
                    "operands' ellipses stand for"
                )
        output = []
        for label in parsed:
            output.extend(batch_labels if label == "..." else [label])
        if len(set(output)) != len(output):
            raise ValueError(f"einsum: output subscripts {output_text!r} repeat a label")
        for label in output:
            if label not in sizes:
                raise ValueError(
                    f"einsum: output label {label!r} of {output_text!r} is in no operand"
                )

    # 1. Repeated labels within an operand: their diagonal.
    for k in range(len(nodes)):
        labels = labelled[k]
        while len(set(labels)) != len(labels):
            label = next(lb for lb in labels if labels.count(lb) > 1)
            first = labels.index(label)
            second = labels.index(label, first + 1)
            nodes[k] = diagonal(nodes[k], 0, first, second)
            labels = [lb for i, lb in enumerate(labels) if i not in (first, second)] + [label]
        labelled[k] = labels

    # 2-3. Sum out what nobody needs, then combine left to right.
    def needed_after(position: int) -> set[str]:
        later = set(output)
        for labels in labelled[position + 1 :]:
            later.update(labels)
        return later

    current, labels = _sum_unneeded(nodes[0], labelled[0], needed_after(0))
    for k in range(1, len(nodes)):
        keep = needed_after(k)
        other, other_labels = _sum_unneeded(nodes[k], labelled[k], keep | set(labels))
        current, labels = _combine(current, labels, other, other_labels, keep)

    # 4. The output's labels, in its order.
    current, labels = _sum_unneeded(current, labels, set(output))
    return dsl.transpose(current, [labels.index(label) for label in output])


def _sum_unneeded(x: Node, labels: list[str], keep: set[str]) -> tuple[Node, list[str]]:
    axes = [i for i, label in enumerate(labels) if label not in keep]
    if not axes:
        return x, labels
    return dsl.sum(x, axes), [label for label in labels if label in keep]


def _combine(
    a: Node, la: list[str], b: Node, lb: list[str], keep: set[str]
) -> tuple[Node, list[str]]:
    """The product of two labelled operands, summed over the shared labels ``keep`` lacks."""
    shared = [label for label in la if label in lb]
    batch = [label for label in shared if label in keep]
    summed = [label for label in shared if label not in keep]
    only_a = [label for label in la if label not in lb]
    only_b = [label for label in lb if label not in la]
    if not batch and summed:  # a matrix product
        axes = ([la.index(s) for s in summed], [lb.index(s) for s in summed])
        return tensordot(a, b, axes), only_a + only_b
    # A broadcast product over batch + only_a + only_b + summed; the sum over the trailing
    # summed labels fuses the product into its loop.
    order = batch + only_a + only_b + summed
    result = _aligned(a, la, order) * _aligned(b, lb, order)
    if summed:
        result = dsl.sum(result, tuple(range(len(order) - len(summed), len(order))))
    return result, batch + only_a + only_b


def _aligned(x: Node, labels: list[str], order: list[str]) -> Node:
    """``x`` transposed to the order of ``order`` with size-1 axes for the labels it lacks."""
    present = [label for label in order if label in labels]
    x = dsl.transpose(x, [labels.index(label) for label in present])
    shape = tuple(x.shape[present.index(label)] if label in labels else 1 for label in order)
    return dsl.reshape(x, shape)
