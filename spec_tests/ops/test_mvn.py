"""MVN: hand-worked normalizations (eps modes, biased variance, axes), a property test against a
loop over slices, and node errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from refint8 import opset as ops
from refint8.errors import GraphError, InputError, UnsupportedError
from refint8.ops.mvn import MVN, mvn


def f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def test_biased_variance():
    # [0, 2]: mean 1, deviations -1, 1, biased variance (1 + 1)/2 = 1 (unbiased would be 2)
    # eps 0: y = d / sqrt(1) = [-1, 1]
    np.testing.assert_array_equal(mvn(f32([[0, 2]]), axes=[1], eps=0.0), f32([[-1, 1]]))


def test_eps_inside_and_outside_sqrt():
    x = f32([[0, 2]])  # mean 1, var 1
    # inside: d / sqrt(1 + 3) = d / 2
    np.testing.assert_array_equal(mvn(x, axes=[1], eps=3.0, eps_mode="inside_sqrt"), f32([[-0.5, 0.5]]))
    # outside: d / (sqrt(1) + 3) = d / 4
    np.testing.assert_array_equal(mvn(x, axes=[1], eps=3.0, eps_mode="outside_sqrt"), f32([[-0.25, 0.25]]))


def test_mean_only():
    # [1, 2, 6]: mean 3 -> [-2, -1, 3]
    np.testing.assert_array_equal(mvn(f32([1, 2, 6]), axes=[0], normalize_variance=False), f32([-2, -1, 3]))


def test_two_axes():
    # [[0, 2], [4, 6]] over both axes: mean 3, d = -3, -1, 1, 3, var (9+1+1+9)/4 = 5
    # eps 4 inside: sqrt(9) = 3 -> [-1, -1/3, 1/3, 1]
    y = mvn(f32([[0, 2], [4, 6]]), axes=[0, 1], eps=4.0)
    np.testing.assert_array_equal(y, f32([[-1, -1 / 3], [1 / 3, 1]]))


def test_per_slice_and_negative_axes():
    # rows normalized separately: [0, 2] -> mean 1, var 1 -> [-1, 1]; [4, 8] -> mean 6, d = -2, 2,
    # var 4, sqrt 2 -> [-1, 1]
    x = f32([[0, 2], [4, 8]])
    expected = f32([[-1, 1], [-1, 1]])
    np.testing.assert_array_equal(mvn(x, axes=[1], eps=0.0), expected)
    np.testing.assert_array_equal(mvn(x, axes=[-1], eps=0.0), expected)


def test_channel_axes_of_nchw():
    # [1, 2, 1, 2], eps 1 outside: channel 0 = [1, 3]: mean 2, var 1 -> d / (1 + 1) = [-.5, .5];
    # channel 1 = [10, 10] constant: 0 / (0 + 1) = 0
    x = f32([1, 3, 10, 10]).reshape(1, 2, 1, 2)
    y = mvn(x, axes=[2, 3], eps=1.0, eps_mode="outside_sqrt")
    np.testing.assert_array_equal(y, f32([-0.5, 0.5, 0, 0]).reshape(1, 2, 1, 2))


def test_constant_slice_with_zero_eps_is_nan():
    # var 0, eps 0, inside: 0 / sqrt(0) = 0/0 = NaN
    assert np.isnan(mvn(f32([5, 5]), axes=[0], eps=0.0)).all()


def test_float64_mean():
    # [2**24, 2**24 + 2]: mean 2**24 + 1 (not a float32, fine in float64), d = -1, 1, var 1 -> [-1, 1].
    # A float32 sum would round 2**25 + 2 to 2**25 and give a lopsided result.
    y = mvn(f32([2.0**24, 2.0**24 + 2]), axes=[0], eps=0.0)
    np.testing.assert_array_equal(y, f32([-1, 1]))


def test_nan_and_inf_spread_over_the_slice():
    x = f32([[1, np.nan, 3], [1, np.inf, 3], [1, 2, 3]])
    y = mvn(x, axes=[1])
    assert np.isnan(y[:2]).all()
    # third row: mean 2, var 2/3 -> d / sqrt(2/3 + 1e-9)
    np.testing.assert_allclose(y[2], f32([-1, 0, 1]) / math.sqrt(2 / 3 + 1e-9), rtol=1e-6)
    # without variance normalization: inf - inf = NaN, finite - inf = -inf
    z = mvn(x, axes=[1], normalize_variance=False)
    np.testing.assert_array_equal(z[1], f32([-np.inf, np.nan, -np.inf]))


def test_node():
    x = ops.parameter([2, 3, 4, 4], name="x")
    y = ops.mvn(x, axes=[1, 2, 3], eps=1e-5, name="norm")
    assert y.shape == (2, 3, 4, 4) and y.dtype == np.float32
    data = np.zeros((2, 3, 4, 4), np.float32)
    data[1] = 7
    (out,) = MVN.compute(y.node.attrs, data)
    assert (out == 0).all()


# -- property test against a loop over slices ------------------------------------------------------


def naive_mvn(x, axes, normalize_variance, eps, eps_mode):
    rank = x.ndim
    red = sorted(a % rank for a in axes)
    keep = [a for a in range(rank) if a not in red]
    y = np.empty(x.shape, np.float32)
    eps = float(np.float32(eps))
    for kept in np.ndindex(*[x.shape[a] for a in keep]):
        index = [slice(None)] * rank
        for a, i in zip(keep, kept):
            index[a] = i
        values = [float(v) for v in x[tuple(index)].ravel()]
        mean = math.fsum(values) / len(values)
        dev = [v - mean for v in values]
        if normalize_variance:
            var = math.fsum(d * d for d in dev) / len(dev)
            denom = math.sqrt(var + eps) if eps_mode == "inside_sqrt" else math.sqrt(var) + eps
            out = [d / denom for d in dev]
        else:
            out = dev
        y[tuple(index)] = np.array(out).reshape(x[tuple(index)].shape)
    return y


@st.composite
def mvn_cases(draw):
    rank = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 4)) for _ in range(rank)]
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    axes = [a - rank if draw(st.booleans()) else a for a in axes]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-100, 101, shape).astype(np.float32) / 8
    return x, dict(axes=axes, normalize_variance=draw(st.booleans()),
                   eps=draw(st.sampled_from([1e-9, 1e-5, 0.5])),
                   eps_mode=draw(st.sampled_from(["inside_sqrt", "outside_sqrt"])))


@given(mvn_cases())
def test_matches_loop_over_slices(case):
    x, attrs = case
    np.testing.assert_allclose(mvn(x, **attrs), naive_mvn(x, **attrs), rtol=1e-6, atol=1e-6)


# -- node errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attrs, attribute, value",
    [
        (dict(axes=[1, 1]), "axes", "(1, 1)"),
        (dict(axes=[1, -3]), "axes", "(1, -3)"),  # -3 is axis 1 of a rank-4 tensor: repeated
        (dict(axes=[4]), "axes", "(4,)"),
        (dict(axes=[-5]), "axes", "(-5,)"),
        (dict(axes=[]), "axes", "()"),
        (dict(axes=[1], eps=float("inf")), "eps", "inf"),
    ],
)
def test_errors_name_node_attribute_value(attrs, attribute, value):
    x = ops.parameter([1, 2, 3, 4], name="x")
    with pytest.raises(GraphError) as info:
        ops.mvn(x, name="mvn_bad", **attrs)
    assert "node 'mvn_bad'" in str(info.value)
    assert f"attribute '{attribute}' = {value}" in str(info.value)


def test_unsupported_eps_mode_and_dtype():
    x = ops.parameter([1, 2, 3, 4], name="x")
    with pytest.raises(UnsupportedError) as info:
        ops.mvn(x, axes=[1], eps_mode="both", name="mvn_mode")
    assert "node 'mvn_mode'" in str(info.value) and "'eps_mode' = 'both'" in str(info.value)
    with pytest.raises(GraphError) as info:
        ops.mvn(ops.parameter([2, 2], "u8", name="q"), axes=[1], name="mvn_u8")
    assert "node 'mvn_u8'" in str(info.value) and "f32" in str(info.value)


def test_function_errors():
    with pytest.raises(InputError, match="axes"):
        mvn(f32([1, 2]), axes=[2])
