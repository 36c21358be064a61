"""MatMul: hand-worked products, OpenVINO's rank-1 rules, a property test, node errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from refint8 import opset as ops
from refint8.errors import GraphError, InputError
from refint8.ops.matmul import MatMul, matmul


def f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


A = f32([[1, 2], [3, 4]])
B = f32([[5, 6], [7, 8]])
# A @ B = [[1*5 + 2*7, 1*6 + 2*8], [3*5 + 4*7, 3*6 + 4*8]] = [[19, 22], [43, 50]]
AB = f32([[19, 22], [43, 50]])


def test_plain_product():
    np.testing.assert_array_equal(matmul(A, B), AB)


def test_transposes():
    np.testing.assert_array_equal(matmul(A.T.copy(), B, transpose_a=True), AB)
    np.testing.assert_array_equal(matmul(A, B.T.copy(), transpose_b=True), AB)
    np.testing.assert_array_equal(matmul(A.T.copy(), B.T.copy(), transpose_a=True, transpose_b=True), AB)


def test_fully_connected_shape():
    # [1, 3] x [2, 3]^T: y = [1*1 + 2*0 + 3*1, 1*0 + 2*1 + 3*0] = [4, 2]
    x = f32([[1, 2, 3]])
    w = f32([[1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(matmul(x, w, transpose_b=True), f32([[4, 2]]))


def test_rank1_first_input_is_a_row_and_its_axis_is_removed():
    # [1, 2] @ B = [1*5 + 2*7, 1*6 + 2*8] = [19, 22], shape [2] (not [1, 2])
    y = matmul(f32([1, 2]), B)
    assert y.shape == (2,)
    np.testing.assert_array_equal(y, f32([19, 22]))


def test_rank1_second_input_is_a_column_and_its_axis_is_removed():
    # A @ [5, 6] = [1*5 + 2*6, 3*5 + 4*6] = [17, 39], shape [2]
    y = matmul(A, f32([5, 6]))
    assert y.shape == (2,)
    np.testing.assert_array_equal(y, f32([17, 39]))


def test_two_vectors_give_a_scalar():
    # 1*4 + 2*5 + 3*6 = 32, rank 0
    y = matmul(f32([1, 2, 3]), f32([4, 5, 6]))
    assert y.shape == () and y == np.float32(32)


def test_transpose_ignored_for_rank1():
    y = matmul(f32([1, 2, 3]), f32([4, 5, 6]), transpose_a=True, transpose_b=True)
    assert y.shape == () and y == np.float32(32)
    np.testing.assert_array_equal(matmul(f32([1, 2]), B, transpose_a=True), f32([19, 22]))


def test_rank1_with_batched_matrix():
    # a = [1, 2] becomes [1, 2] row; b has batch 2: [[1],[1]] and [[2],[3]]
    # -> [1+2, 2+6] = [3, 8] per batch, shape [2, 1] (the row axis is removed)
    b = f32([[[1], [1]], [[2], [3]]])
    y = matmul(f32([1, 2]), b)
    assert y.shape == (2, 1)
    np.testing.assert_array_equal(y, f32([[3], [8]]))


def test_batch_broadcast():
    # a [2, 1, 1, 2] rows (1,1) and (2,2); b [3, 2, 1] columns (1,1), (10,10), (100,100)
    # batch [2, 1] x [3] -> [2, 3]: dot products 2, 20, 200 and 4, 40, 400
    a = f32([[[[1, 1]]], [[[2, 2]]]])
    b = f32([[[1], [1]], [[10], [10]], [[100], [100]]])
    y = matmul(a, b)
    assert y.shape == (2, 3, 1, 1)
    np.testing.assert_array_equal(y[:, :, 0, 0], f32([[2, 20, 200], [4, 40, 400]]))


def test_rounded_once_to_float32():
    # 1 + 2**-24 + 2**-24 = 1 + 2**-23 exactly; float32 accumulation would give 1.0
    tiny = 2.0**-24
    y = matmul(f32([1, tiny, tiny]), f32([1, 1, 1]))
    assert y == np.float32(1 + 2.0**-23)


def test_zero_times_inf_is_nan():
    y = matmul(f32([0, 1]), f32([np.inf, 1]))
    assert np.isnan(y)


def test_node_shapes():
    a = ops.parameter([4, 1, 2, 3], name="a")
    y = ops.matmul(a, np.ones((5, 4, 3), np.float32), transpose_b=True, name="mm")
    # b^T is [5, 3, 4]: batch [4, 1] x [5] -> [4, 5]; [2, 3] x [3, 4] -> [2, 4]
    assert y.shape == (4, 5, 2, 4)
    v = ops.matmul(ops.parameter([3], name="v"), ops.parameter([3], name="u"), name="dot")
    assert v.shape == ()
    (out,) = MatMul.compute(y.node.attrs, np.ones((4, 1, 2, 3), np.float32), np.ones((5, 4, 3), np.float32))
    assert out.shape == (4, 5, 2, 4) and out[0, 0, 0, 0] == 3


# -- property test against a triple loop ---------------------------------------------------------


def naive_matmul(a, b, ta, tb):
    """MatMul-1 rules written out: rank-1 unsqueeze, transpose, broadcast, loops, fsum."""
    a2 = a.reshape(1, -1) if a.ndim == 1 else (np.swapaxes(a, -1, -2) if ta else a)
    b2 = b.reshape(-1, 1) if b.ndim == 1 else (np.swapaxes(b, -1, -2) if tb else b)
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    m, k = a2.shape[-2:]
    n = b2.shape[-1]
    a3 = np.broadcast_to(a2, batch + (m, k)).reshape(-1, m, k)
    b3 = np.broadcast_to(b2, batch + (k, n)).reshape(-1, k, n)
    y = np.zeros((a3.shape[0], m, n), np.float32)
    for p in range(a3.shape[0]):
        for i in range(m):
            for j in range(n):
                y[p, i, j] = math.fsum(float(a3[p, i, q]) * float(b3[p, q, j]) for q in range(k))
    shape = batch + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
    return y.reshape(shape)


@st.composite
def matmul_cases(draw):
    m, k, n = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    rank_a, rank_b = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ta, tb = draw(st.booleans()), draw(st.booleans())
    batch = [draw(st.integers(1, 3)) for _ in range(2)]

    def shape(rank, rows, cols, transposed):
        if rank == 1:
            return [k]
        lead = [draw(st.sampled_from([1, d])) for d in batch[: rank - 2]]
        lead = lead[::-1]
        return lead + ([cols, rows] if transposed else [rows, cols])

    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.integers(-6, 7, shape(rank_a, m, k, ta)).astype(np.float32) / 2
    b = rng.integers(-6, 7, shape(rank_b, k, n, tb)).astype(np.float32) / 2
    return a, b, ta, tb


@given(matmul_cases())
def test_matches_triple_loop(case):
    a, b, ta, tb = case
    try:
        expected = naive_matmul(a, b, ta, tb)
    except ValueError:  # batch dimensions that do not broadcast
        with pytest.raises(InputError):
            matmul(a, b, transpose_a=ta, transpose_b=tb)
        return
    got = matmul(a, b, transpose_a=ta, transpose_b=tb)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


# -- node errors ---------------------------------------------------------------------------------


def test_inner_dimension_mismatch_names_shapes():
    a = ops.parameter([2, 3], name="a")
    with pytest.raises(GraphError) as info:
        ops.matmul(a, ops.parameter([4, 5], name="b"), name="mm_bad")
    message = str(info.value)
    assert "node 'mm_bad'" in message and "attribute 'input[1]' = 'b'" in message
    assert "[2, 3]" in message and "[4, 5]" in message and "inner dimensions" in message


def test_mismatch_after_transpose():
    a = ops.parameter([2, 3], name="a")
    with pytest.raises(GraphError) as info:
        ops.matmul(a, ops.parameter([4, 3], name="b"), transpose_a=True, transpose_b=True, name="mm_t")
    assert "node 'mm_t'" in str(info.value) and "transpose_a=True" in str(info.value)


def test_batch_mismatch():
    a = ops.parameter([2, 2, 3], name="a")
    with pytest.raises(GraphError) as info:
        ops.matmul(a, ops.parameter([3, 3, 4], name="b"), name="mm_batch")
    assert "node 'mm_batch'" in str(info.value) and "broadcast" in str(info.value)


def test_rank0_and_dtype():
    with pytest.raises(GraphError) as info:
        ops.matmul(ops.constant(np.float32(2), name="s"), ops.parameter([3], name="v"), name="mm_scalar")
    assert "node 'mm_scalar'" in str(info.value) and "input[0]" in str(info.value)
    q = ops.parameter([2, 3], "u8", name="q")
    with pytest.raises(GraphError) as info:
        ops.matmul(q, np.ones((3, 2), np.float32), name="mm_u8")
    assert "node 'mm_u8'" in str(info.value) and "f32" in str(info.value)
