"""The issue's opening example, end to end through the reference evaluator and the optimizer."""

import numpy as np

import graphc as gc


def test_lecture_example():
    x1, x2 = gc.scalar("x1"), gc.scalar("x2")
    f = (x1 + x2) * gc.log(x1 + x2)
    graph = gc.Graph([x1, x2], [f, *gc.grad(f, [x1, x2])])
    want = (13.621371043387192, 2.9459101490553135, 2.9459101490553135)
    assert gc.evaluate(graph, 2.0, 5.0) == want
    opt = gc.optimize(graph, verify=True)
    assert gc.evaluate(opt, 2.0, 5.0) == want
    assert len(opt.nodes) < len(graph.nodes)


def test_vector_example_gradient_has_input_shape():
    x = gc.vector("x", 50)
    e = gc.sum(x * gc.log(x)) - x @ np.eye(50) @ x / 2.0
    graph = gc.Graph([x], [e, gc.grad(e, x)])
    v = np.random.default_rng(0).uniform(0.1, 1, 50)
    value, gradient = gc.evaluate(graph, v)
    assert gradient.shape == (50,)
    np.testing.assert_allclose(gradient, np.log(v) + 1 - v, rtol=1e-13, atol=1e-15)
