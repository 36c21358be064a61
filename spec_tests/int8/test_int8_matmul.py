"""Int8MatMul (FullyConnected, refint8.int8.matmul): hand-worked cases, errors, and properties.

Every expected number is derived by hand in a comment (255*127 = 32385; sat16 clamps to
[-32768, 32767]); none was captured from running refint8. The properties compare with an
independent model written here with Python loops and Python ints.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refint8 import opset
from refint8.errors import GraphError
from refint8.graph import make_node
from refint8.int8 import INT8_OPS
from refint8.int8.post_ops import Add, Multiply, Quantize

from int8_layer_cases import i8, layer_node, run_layer, u8

Int8MatMul = INT8_OPS["Int8MatMul"]


def fc_node(q_shape, q_dtype, w, name="fc", **attrs):
    return layer_node("Int8MatMul", q_shape, q_dtype, w, name, **attrs)


def run(q, w, **attrs):
    return run_layer("Int8MatMul", q, w, "fc", **attrs)


def test_onednn_example():
    # K = 2: q = [255, 255], w = [[127, 127]]: exact 32385 + 32385 = 64770; s16: sat16(64770) = 32767.
    q, w = u8([[255, 255]]), [[127, 127]]
    assert run(q, w).tolist() == [[64770.0]]
    assert run(q, w, accumulation="s16_pairs").tolist() == [[32767.0]]


def test_pairs_are_consecutive_along_k():
    # w = [[127]*4]. q = [255, 255, 0, 0]: pairs (k0,k1) -> sat16(64770) = 32767, (k2,k3) -> 0.
    assert run(u8([[255, 255, 0, 0]]), [[127] * 4], accumulation="s16_pairs").tolist() == [[32767.0]]
    # q = [255, 0, 255, 0]: pairs (255,0) -> 32385 twice = 64770, nothing saturates (= exact).
    assert run(u8([[255, 0, 255, 0]]), [[127] * 4], accumulation="s16_pairs").tolist() == [[64770.0]]


def test_odd_k():
    # K = 3 of 255 x 127: exact 3 * 32385 = 97155; s16: 32767 + 32385 (last pair half empty) = 65152.
    q, w = u8([[255, 255, 255]]), [[127, 127, 127]]
    assert run(q, w).tolist() == [[97155.0]]
    assert run(q, w, accumulation="s16_pairs").tolist() == [[65152.0]]


def test_i8_activations_in_s16_mode():
    # q = [127, 127] (i8), w = [127, 127]: exact 2 * 16129 = 32258. s16: u = [255, 255] ->
    # sat16(64770) = 32767, minus 128 * 254 = 32512 -> 255.
    q, w = i8([[127, 127]]), [[127, 127]]
    assert run(q, w).tolist() == [[32258.0]]
    assert run(q, w, accumulation="s16_pairs").tolist() == [[255.0]]


def test_zero_points():
    # q = [5, 7, 9], za = 3 -> q - za = [2, 4, 6].
    # w = [[1, 2, 3], [-1, 0, 1]], zw = [1, -2]:
    # n0: w - 1 = [0, 1, 2] -> 0 + 4 + 12 = 16; n1: w + 2 = [1, 2, 3] -> 2 + 8 + 18 = 28.
    w = [[1, 2, 3], [-1, 0, 1]]
    for mode in ("exact", "s16_pairs"):
        y = run(u8([[5, 7, 9]]), w, input_zero_point=[3], weight_zero_point=[1, -2], accumulation=mode)
        assert y.tolist() == [[16.0, 28.0]]
    # one zw = 1: n0 as above 16; n1: w - 1 = [-2, -1, 0] -> -4 - 4 + 0 = -8.
    y = run(u8([[5, 7, 9]]), w, input_zero_point=[3], weight_zero_point=[1])
    assert y.tolist() == [[16.0, -8.0]]


def test_batch_dimensions():
    # data [2, 1, 2]: rows [1, 2] and [3, 4]; w = [[1, 1], [1, -1], [0, 2]] (N = 3):
    # [1, 2] -> [3, -1, 4]; [3, 4] -> [7, -1, 8]. Output [2, 1, 3].
    y = run(u8([[[1, 2]], [[3, 4]]]), [[1, 1], [1, -1], [0, 2]])
    assert y.shape == (2, 1, 3)
    assert y.tolist() == [[[3.0, -1.0, 4.0]], [[7.0, -1.0, 8.0]]]


def test_rank1_data():
    # data [K] = [2, 3], w = [[1, 1]]: output [N] = [5].
    assert run(u8([2, 3]), [[1, 1]]).tolist() == [5.0]


def test_post_ops_along_last_axis():
    # acc = [16, 28] (test_zero_points); Multiply([N] = [0.5, 2]) -> [8, 56];
    # Add([1, N] = [[1, -1]]) -> [9, 55].
    y = run(u8([[5, 7, 9]]), [[1, 2, 3], [-1, 0, 1]], input_zero_point=[3], weight_zero_point=[1, -2],
            post_ops=(Multiply(np.array([0.5, 2.0])), Add(np.array([[1.0, -1.0]]))))
    assert y.tolist() == [[9.0, 55.0]]


def test_quantize_output():
    # acc = [253, 255] (q = [253, 255] and w = identity rows); Multiply(0.5) -> [126.5, 127.5];
    # Quantize u8 [0, 255]: ties to even -> [126, 128].
    quant = Quantize(0.0, 255.0, 0.0, 255.0, 256, "u8")
    y = run(u8([[253, 255]]), [[1, 0], [0, 1]], post_ops=(Multiply(0.5), quant))
    assert y.dtype == np.uint8 and y.tolist() == [[126, 128]]


# -- errors ---------------------------------------------------------------------------------------------


def expect_error(attribute, *, q_shape=(2, 4), q_dtype="u8", w=None, **attrs):
    w = np.ones((3, 4), np.int8) if w is None else w
    with pytest.raises(GraphError) as info:
        fc_node(q_shape, q_dtype, w, name="bad_fc", **attrs)
    err = info.value
    assert err.node == "bad_fc" and err.op == "Int8MatMul"
    assert err.attribute == attribute, str(err)
    return err


def test_error_dtypes():
    expect_error("input[0]", q_dtype="f32")
    x = opset.parameter([2, 4], "u8", name="x")
    w = opset.constant(np.ones((3, 4), np.float32), name="w_f32")
    with pytest.raises(GraphError) as info:
        make_node("Int8MatMul", [x, w], {}, name="bad_fc")
    assert info.value.attribute == "input[1]"


def test_error_k_mismatch():
    err = expect_error("input[1]", q_shape=(2, 5))
    assert "K = 5" in str(err) and "K = 4" in str(err)


def test_error_weights_rank():
    expect_error("input[1]", w=np.ones((3, 4, 1), np.int8))


def test_error_zero_points():
    err = expect_error("input_zero_point", input_zero_point=[1, 2])     # per-tensor only
    assert err.value == (1, 2)
    expect_error("input_zero_point", input_zero_point=[-1])              # u8 data
    expect_error("input_zero_point", q_dtype="i8", input_zero_point=[128])
    err = expect_error("weight_zero_point", weight_zero_point=[0, 0])     # N = 3
    assert err.value == (0, 0)
    expect_error("weight_zero_point", weight_zero_point=[-129])


def test_error_accumulator_bound():
    # K = 65794 > 65793, the largest K with 255*128*K <= 2^31 - 1.
    err = expect_error("weights", q_shape=(1, 65794), w=np.ones((1, 65794), np.int8))
    assert err.value == [1, 65794]
    # K = 65793 is accepted without zero points, rejected with za = 1 (65793*256*128 > 2^31 - 1)
    fc_node((1, 65793), "u8", np.ones((1, 65793), np.int8), name="ok_fc")
    expect_error("weights", q_shape=(1, 65793), w=np.ones((1, 65793), np.int8), input_zero_point=[1])


def test_error_post_ops():
    # output [2, 3]: a per-feature operand must have N = 3 elements on the last axis
    err = expect_error("post_ops", post_ops=(Multiply(np.ones(4)),))
    assert "does not broadcast" in str(err)


# -- properties ------------------------------------------------------------------------------------------


def naive_fc(q, w, za, zw, mode):
    n_out, k = w.shape
    zw = [0] * n_out if not zw else (list(zw) * n_out if len(zw) == 1 else list(zw))
    signed = q.dtype == np.int8
    rows = q.reshape(-1, k)
    out = np.zeros((rows.shape[0], n_out), np.int64)
    for m in range(rows.shape[0]):
        for n in range(n_out):
            codes = [int(v) for v in rows[m]]
            weights = [int(v) for v in w[n]]
            if mode == "exact":
                raw = sum(a * b for a, b in zip(codes, weights))
            else:
                u = [a + 128 for a in codes] if signed else codes
                uu, ww = u + [0], weights + [0]
                raw = sum(min(max(uu[j] * ww[j] + uu[j + 1] * ww[j + 1], -32768), 32767)
                          for j in range(0, k, 2))
                if signed:
                    raw -= 128 * sum(weights)
            out[m, n] = raw + sum(-za * b - zw[n] * a + za * zw[n] for a, b in zip(codes, weights))
    return out.reshape(*q.shape[:-1], n_out)


@st.composite
def fc_case(draw, max_code=None):
    k, n_out = draw(st.integers(1, 9)), draw(st.integers(1, 4))
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    signed = draw(st.booleans()) if max_code is None else False
    lo, hi = (-128, 127) if signed else (0, 255 if max_code is None else max_code)
    q = draw(hnp.arrays(np.int8 if signed else np.uint8, batch + (k,), elements=st.integers(lo, hi)))
    w = draw(hnp.arrays(np.int8, (n_out, k), elements=st.integers(-128, 127)))
    za = draw(st.integers(lo, hi))
    zw = draw(st.one_of(st.just([]), st.lists(st.integers(-128, 127), min_size=1, max_size=1),
                        st.lists(st.integers(-128, 127), min_size=n_out, max_size=n_out)))
    return q, w, za, zw


@given(fc_case(), st.sampled_from(["exact", "s16_pairs"]))
def test_matches_naive_model(case, mode):
    q, w, za, zw = case
    y = run(q, w, input_zero_point=[za], weight_zero_point=zw, accumulation=mode)
    np.testing.assert_array_equal(y, naive_fc(q, w, za, zw, mode).astype(np.float32))


@given(fc_case(max_code=127))
def test_s16_pairs_equals_exact_when_pairs_fit(case):
    # u8 codes <= 127: every pair |u0*w0 + u1*w1| <= 2*127*128 = 32512 <= 32767.
    q, w, za, zw = case
    attrs = dict(input_zero_point=[za], weight_zero_point=zw)
    np.testing.assert_array_equal(run(q, w, accumulation="s16_pairs", **attrs), run(q, w, **attrs))


def test_s16_row_blocks():
    # The s16 path takes rows in blocks of 2^22 // ((K//2 + 1) * N) = 4194304 // 6000 = 699 here, so
    # 2000 rows are 3 blocks. Row r = [255, 255] if r is even else [1, 1]; w = [127, 127]:
    # even rows sat16(64770) = 32767, odd rows 127 + 127 = 254.
    q = np.where(np.arange(2000)[:, None] % 2 == 0, 255, 1).repeat(2, axis=1).astype(np.uint8)
    y = run(q, np.full((3000, 2), 127), accumulation="s16_pairs")
    assert y.shape == (2000, 3000)
    assert (y[0::2] == 32767.0).all() and (y[1::2] == 254.0).all()
