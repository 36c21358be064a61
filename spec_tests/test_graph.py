"""The graph IR: node validation at construction, model checks, cloning and rewiring.

A bad graph is diagnosed from the message alone: every error names the node, and where it applies
the op, the attribute and the offending value.
"""

from __future__ import annotations

import numpy as np
import pytest

import refint8
from refint8 import opset as ops
from refint8.errors import GraphError, UnsupportedError
from refint8.graph import Model, Node, Output, TensorType, clone_model, make_node
from refint8.ops import OPS


def _x(shape=(2, 3), name="x") -> Output:
    return ops.parameter(list(shape), name=name)


# -- node validation -------------------------------------------------------------------------------


def test_unknown_op_type_lists_supported_ops():
    with pytest.raises(UnsupportedError) as caught:
        make_node("Conv2D", [_x()], {}, name="conv_a")
    error = caught.value
    assert isinstance(error, GraphError)
    assert (error.node, error.op) == ("conv_a", "Conv2D")
    message = str(error)
    assert message.startswith("refint8: node 'conv_a' (Conv2D): unknown op type; supported: ")
    supported = message.split("supported: ")[1].split(", ")
    assert supported == sorted(OPS)
    assert "Convolution" in supported and "Relu" in supported


def test_unknown_attribute():
    with pytest.raises(UnsupportedError) as caught:
        make_node("Relu", [_x()], {"alpha": 0.1}, name="leaky")
    error = caught.value
    assert (error.node, error.op, error.attribute, error.value) == ("leaky", "Relu", "alpha", 0.1)
    assert str(error) == ("refint8: node 'leaky' (Relu): attribute 'alpha' = 0.1: unknown attribute; "
                          "Relu takes: none")


def test_unknown_attribute_lists_the_known_ones():
    with pytest.raises(UnsupportedError) as caught:
        make_node("Clamp", [_x()], {"min": 0.0, "max": 6.0, "maxx": 7.0}, name="c")
    assert "attribute 'maxx' = 7.0" in str(caught.value)
    assert "Clamp takes: min, max" in str(caught.value)


@pytest.mark.parametrize("op_type, attrs, missing", [
    ("Clamp", {"min": 0.0}, "max"),
    ("Concat", {}, "axis"),
    ("Convert", {}, "destination_type"),
])
def test_missing_required_attribute(op_type, attrs, missing):
    with pytest.raises(GraphError) as caught:
        make_node(op_type, [_x()], attrs, name="n1")
    error = caught.value
    assert (error.node, error.op, error.attribute) == ("n1", op_type, missing)
    assert str(error) == (f"refint8: node 'n1' ({op_type}): attribute '{missing}': "
                          "required attribute is missing")


@pytest.mark.parametrize("op_type, attrs, attribute, value, reason", [
    ("Clamp", {"min": "zero", "max": 6.0}, "min", "zero", "must be a number"),
    ("Clamp", {"min": True, "max": 6.0}, "min", True, "must be a number"),
    ("Concat", {"axis": "1"}, "axis", "1", "must be an integer"),
    ("Concat", {"axis": 1.0}, "axis", 1.0, "must be an integer"),
    ("Softmax", {"axis": [1]}, "axis", [1], "must be an integer"),
    ("Transpose", {"order": "01"}, "order", "01", "must be a list of integers"),
    ("MatMul", {"transpose_a": 1}, "transpose_a", 1, "must be true or false"),
])
def test_wrong_attribute_type(op_type, attrs, attribute, value, reason):
    with pytest.raises(GraphError) as caught:
        make_node(op_type, [_x()] * (2 if op_type == "MatMul" else 1), attrs, name="bad")
    error = caught.value
    assert (error.node, error.op, error.attribute, error.value) == ("bad", op_type, attribute, value)
    assert f"attribute '{attribute}' = {value!r}: {reason}" in str(error)


def test_attribute_value_outside_choices():
    with pytest.raises(UnsupportedError, match="attribute 'destination_type' = 'f64': unsupported "
                                               "value; supported: "):
        make_node("Convert", [_x()], {"destination_type": "f64"}, name="cv")


def test_attributes_are_normalised():
    node = make_node("Transpose", [_x()], {"order": np.array([1, 0])}, name="t")
    assert node.attrs["order"] == (1, 0) and all(type(v) is int for v in node.attrs["order"])
    assert make_node("Relu", [_x()], None, name="r").attrs == {}
    clamp = make_node("Clamp", [_x()], {"min": 0, "max": np.float32(6)}, name="c").attrs
    assert clamp == {"min": 0.0, "max": 6.0} and type(clamp["max"]) is float


def test_wrong_input_count():
    with pytest.raises(GraphError, match="node 'two' \\(Relu\\): takes 1 inputs \\(x\\), got 2"):
        make_node("Relu", [_x(), _x()], {}, name="two")


@pytest.mark.parametrize("bad", [np.zeros(3, np.float32), 1.0, None])
def test_dangling_input_value(bad):
    with pytest.raises(GraphError) as caught:
        make_node("Relu", [bad], {}, name="r")
    error = caught.value
    assert error.node == "r"
    assert f"input 0 is {type(bad).__name__}, not a node output (dangling input)" in str(error)


def test_node_of_a_node_is_an_output_not_a_node():
    x = _x()
    with pytest.raises(GraphError, match="input 1 is Node"):
        make_node("Add", [x, x.node], {}, name="add")


def test_inference_errors_name_the_node():
    with pytest.raises(GraphError) as caught:
        ops.add(_x((2, 3)), _x((4,), name="y"), name="plus")
    assert caught.value.node == "plus"
    assert "shapes [2, 3] and [4] do not broadcast" in str(caught.value)


def test_unnamed_nodes_get_fresh_names():
    x = _x()
    first, second = ops.relu(x), ops.relu(x)
    assert first.node.name != second.node.name
    assert first.node.name.startswith("Relu_") and second.node.name.startswith("Relu_")


# -- model checks ----------------------------------------------------------------------------------


def _chain():
    x = _x()
    r1 = ops.relu(x, name="r1")
    r2 = ops.relu(r1, name="r2")
    r3 = ops.relu(r2, name="r3")
    return x, r1, r2, r3


def test_topological_order_and_parameters():
    x = _x()
    c = ops.constant(np.ones((2, 3), np.float32), name="c")
    a = ops.add(ops.relu(x, name="r"), c, name="a")
    model = Model(ops.multiply(a, x, name="m"), name="demo")
    names = [n.name for n in model.nodes]
    assert sorted(names) == ["a", "c", "m", "r", "x"]
    for node in model.nodes:  # producers before consumers
        for src in node.inputs:
            assert names.index(src.node.name) < names.index(node.name)
    assert [p.name for p in model.parameters] == ["x"]
    assert model.input_types == {"x": TensorType(np.float32, (2, 3))}
    assert list(model.outputs) == ["m"]
    assert model.node("a") is a.node
    assert model.name == "demo"


def test_unreachable_nodes_are_not_part_of_the_model():
    x = _x()
    ops.relu(x, name="unused")
    model = Model(ops.relu(x, name="used"))
    assert "unused" not in [n.name for n in model.nodes]


def test_cycle_detected_at_construction():
    x, r1, r2, r3 = _chain()
    r1.node.inputs[0] = r3  # r1 <- r3 <- r2 <- r1
    with pytest.raises(GraphError) as caught:
        Model(r3)
    message = str(caught.value)
    assert "the graph has a cycle" in message
    cycle = message.split("cycle: ")[1].split(" -> ")
    assert cycle[0] == cycle[-1] and sorted(set(cycle)) == ["r1", "r2", "r3"]
    assert caught.value.node in ("r1", "r2", "r3")


def test_cycle_detected_by_refresh():
    x, r1, r2, r3 = _chain()
    model = Model(r3)
    assert [n.name for n in model.nodes] == ["x", "r1", "r2", "r3"]
    r2.node.inputs[0] = r2  # self loop
    with pytest.raises(GraphError, match="node 'r2' \\(Relu\\): the graph has a cycle: r2 -> r2"):
        model.refresh()


def test_cycle_off_the_first_path_is_found():
    x = _x()
    a = ops.relu(x, name="a")
    b = ops.relu(x, name="b")
    c = ops.add(a, b, name="c")
    d = ops.relu(c, name="d")
    b.node.inputs[0] = d  # c <- b <- d <- c, reached through c's second input
    with pytest.raises(GraphError, match="cycle: .*(b -> d|d -> c|c -> b)"):
        Model(d)


def test_diamond_is_not_a_cycle():
    x = _x()
    a = ops.relu(x, name="a")
    model = Model(ops.add(ops.relu(a, name="b"), ops.relu(a, name="c"), name="d"))
    assert sorted(n.name for n in model.nodes) == ["a", "b", "c", "d", "x"]


def test_duplicate_node_names():
    x = _x()
    first = ops.relu(x, name="dup")
    second = ops.relu(first, name="dup")
    with pytest.raises(GraphError) as caught:
        Model(second)
    assert caught.value.node == "dup"
    assert "node 'dup': two nodes have this name; node names must be unique" in str(caught.value)


def test_parameter_used_but_not_listed_is_dangling():
    a = _x(name="a")
    b = _x(name="b")
    with pytest.raises(GraphError) as caught:
        Model(ops.add(a, b, name="s"), parameters=[a.node])
    error = caught.value
    assert (error.node, error.op) == ("b", "Parameter")
    assert "not one of the model's parameters (dangling input)" in str(error)


def test_listed_parameter_must_be_a_parameter():
    x = _x()
    r = ops.relu(x, name="r")
    with pytest.raises(GraphError, match="node 'r' \\(Relu\\): listed as a model parameter but is "
                                         "not a Parameter"):
        Model(r, parameters=[x.node, r.node])


def test_parameters_may_be_given_as_outputs():
    # opset.parameter returns an Output, so that is what users have at hand
    a = _x(name="a")
    b = _x(name="b")
    model = Model(ops.subtract(b, a, name="d"), parameters=[a, b])
    assert [p.name for p in model.parameters] == ["a", "b"]
    assert all(isinstance(p, Node) for p in model.parameters)
    with pytest.raises(GraphError, match="parameter"):
        Model(ops.relu(a), parameters=["a"])


def test_a_parameter_listed_twice_is_an_error():
    # parameters fix the order of the inputs: a repeated one would be bound twice
    a = _x(name="a")
    with pytest.raises(GraphError, match="node 'a' \\(Parameter\\): the same Parameter is listed twice"):
        Model(ops.relu(a, name="r"), parameters=[a, a.node])


def test_unused_listed_parameter_is_kept():
    a = _x(name="a")
    b = _x(name="b")
    model = Model(ops.relu(a, name="r"), parameters=[a.node, b.node])
    assert [p.name for p in model.parameters] == ["a", "b"]
    assert "b" not in [n.name for n in model.nodes]


def test_model_outputs():
    x = _x()
    r = ops.relu(x, name="r")
    s = ops.sigmoid(x, name="s")
    assert list(Model([r, s]).outputs) == ["r", "s"]
    assert list(Model({"first": s, "second": r}).outputs) == ["first", "second"]
    with pytest.raises(GraphError, match="needs at least one output"):
        Model([])
    with pytest.raises(GraphError, match="node 'r': the same output is listed twice"):
        Model([r, r])
    for bad in (r.node, np.zeros(2)):
        with pytest.raises(GraphError, match="is not a node output"):
            Model([r, bad])
        with pytest.raises(GraphError, match="is not a node output"):
            Model({"y": bad})


def test_node_lookup_error():
    model = Model(ops.relu(_x(), name="r"))
    with pytest.raises(GraphError, match="node 'nope': no node of this name in the model"):
        model.node("nope")


def test_validate_reruns_inference():
    a = _x(name="a")
    s = ops.add(a, np.ones((2, 3), np.float32), name="s")
    model = Model(s)
    model.validate()
    s.node.inputs[1] = ops.constant(np.ones(4, np.float32), name="wrong")
    with pytest.raises(GraphError) as caught:
        model.validate()
    assert caught.value.node == "s"
    assert "node 's' (Add)" in str(caught.value)
    assert "shapes [2, 3] and [4] do not broadcast" in str(caught.value)


# -- cloning and rewiring --------------------------------------------------------------------------


def _model() -> Model:
    x = _x()
    r = ops.relu(x, name="r")
    a = ops.add(r, np.full((2, 3), 0.5, np.float32), name="a")
    model = Model({"out": ops.multiply(a, r, name="m")}, name="orig")
    model.rt_info["optimized_out"] = [("gone", "Relu")]
    model.node("r").rt_info["note"] = "kept"
    return model


def test_clone_is_structurally_equal():
    model = _model()
    copy = clone_model(model)
    assert copy.name == "orig"
    assert [(n.name, n.type, n.attrs.keys(), n.output_types) for n in copy.nodes] == [
        (n.name, n.type, n.attrs.keys(), n.output_types) for n in model.nodes]
    for original, cloned in zip(model.nodes, copy.nodes):
        assert cloned is not original
        assert [(i.node.name, i.index) for i in cloned.inputs] == [
            (i.node.name, i.index) for i in original.inputs]
        assert all(i.node in copy.nodes for i in cloned.inputs)  # wired to the copy's nodes
        assert cloned.rt_info == original.rt_info
    assert [p.name for p in copy.parameters] == ["x"]
    assert copy.parameters[0] is copy.node("x")
    assert copy.outputs["out"].node is copy.node("m")
    assert copy.rt_info == model.rt_info


def test_clone_is_independent():
    model = _model()
    x = np.array([[-1.0, 2.0, 0.0], [3.0, -4.0, 5.0]], np.float32)
    before = refint8.compile(model, backend="reference").infer(x)["out"]
    copy = clone_model(model)
    # rewire, re-attribute and annotate the copy
    copy.node("m").inputs[1] = copy.node("a").output(0)
    copy.node("r").rt_info["note"] = "changed"
    copy.node("r").attrs["extra"] = 1
    copy.rt_info["optimized_out"] = []
    copy.outputs["other"] = copy.node("a").output(0)
    copy.refresh()
    assert model.node("m").inputs[1].node is model.node("r")
    assert model.node("r").rt_info == {"note": "kept"}
    assert model.node("r").attrs == {}
    assert model.rt_info["optimized_out"] == [("gone", "Relu")]
    assert list(model.outputs) == ["out"]
    np.testing.assert_array_equal(refint8.compile(model, backend="reference").infer(x)["out"],
                                  before)


def test_clone_keeps_unused_parameters():
    a = _x(name="a")
    b = _x(name="b")
    model = Model(ops.relu(a, name="r"), parameters=[a.node, b.node])
    copy = clone_model(model)
    assert [p.name for p in copy.parameters] == ["a", "b"]
    assert copy.parameters[1] is not b.node


def test_consumers():
    model = _model()
    users = model.consumers()
    r, a, m = model.node("r"), model.node("a"), model.node("m")
    assert users[r.output(0)] == [(a, 0), (m, 1)]
    assert users[a.output(0)] == [(m, 0)]
    assert users[model.node("x").output(0)] == [(r, 0)]
    assert m.output(0) not in users  # model outputs are not consumers
    assert sum(len(v) for v in users.values()) == sum(len(n.inputs) for n in model.nodes)


def test_replace_uses_inserts_a_node():
    model = _model()
    r = model.node("r").output(0)
    clamp = ops.clamp(r, 0.0, 1.0, name="clamp")  # new node consuming r
    model.replace_uses(r, clamp)
    assert clamp.node.inputs[0] == r  # the new node itself keeps reading the old output
    assert model.node("a").inputs[0] == clamp and model.node("m").inputs[1] == clamp
    model.refresh()
    assert "clamp" in [n.name for n in model.nodes]
    assert model.consumers()[r] == [(clamp.node, 0)]
    x = np.array([[-1.0, 2.0, 0.25], [3.0, -4.0, 5.0]], np.float32)
    c = np.clip(np.maximum(x, 0), 0, 1)
    np.testing.assert_array_equal(refint8.compile(model, backend="reference").infer(x)["out"],
                                  (c + np.float32(0.5)) * c)


def test_replace_uses_of_a_model_output():
    model = _model()
    m = model.node("m").output(0)
    neg = ops.multiply(m, np.float32(-1.0), name="neg")
    model.replace_uses(m, neg)
    assert model.outputs["out"] == neg
    model.refresh()
    assert model.nodes[-1].name == "neg"


def test_output_identity_and_naming():
    x = _x()
    r = ops.relu(x, name="r")
    assert r == r.node.output(0) and hash(r) == hash(r.node.output(0))
    assert r != x and r != "r"
    assert r.name == "r" and r.shape == (2, 3) and r.dtype == np.float32
    assert r.type == TensorType("float32", [2, 3]) and str(r.type) == "f32[2, 3]"
    assert r.type.rank == 2 and r.type.size == 6
    assert repr(r.node) == "<Relu 'r' (x) -> f32[2, 3]>"
