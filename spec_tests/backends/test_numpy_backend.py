"""The ``numpy`` backend against the reference, op by op and end to end.

The backend is reached only through the plugin registry (``default_registry().create("numpy")``),
as the runtime reaches it. Every kernel is compared with the reference backend's kernel for the
same node on random inputs (Hypothesis):

* integer outputs, int8 layers and the fp32 ops the backend computes in the reference's pinned
  order: the same bits (NaN compared as NaN, the sign of zero included);
* fp32 Convolution and MatMul (float32 BLAS): the tolerance the backend declares,
  ``|y - y_ref| <= (K + 2) * 2^-24 * Σ|x||w| + K * 2^-149``.

Also checked: every op type of the specification has a kernel; inputs are never modified; nodes
the backend declines (s16_pairs accumulation) return None; whole quantized models give the same
bits as the reference, with ``numpy_any_I8`` / ``numpy_any_FP32`` in the counters.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refint8 import dtypes
from refint8.errors import InputError
from refint8.graph import make_node
from refint8.int8 import INT8_OPS
from refint8.int8 import post_ops as po
from refint8.models import quantized_inception_block, small_fq_cnn
from refint8.ops import OPS
from refint8.ops.convolution import convolution as ref_convolution
from refint8.ops.matmul import matmul as ref_matmul
from refint8.registry import default_registry
from refint8.runtime.compiled_model import compile_model


@pytest.fixture(scope="module")
def backends():
    registry = default_registry()
    return registry.create("numpy"), registry.create("reference")


_NAMES = iter(range(10**9))


def build(op_type: str, values, attrs=None, constants=()) -> tuple:
    """A node of ``op_type`` whose inputs are Parameters (or Constants at ``constants``)."""
    outputs = []
    tag = next(_NAMES)
    for index, value in enumerate(values):
        value = np.asarray(value)
        if index in constants:
            node = make_node("Constant", [], {"value": value}, name=f"c{tag}_{index}")
        else:
            node = make_node("Parameter", [], {"shape": list(value.shape),
                                               "element_type": dtypes.type_name(value.dtype)},
                             name=f"p{tag}_{index}")
        outputs.append(node.output(0))
    return make_node(op_type, outputs, attrs or {}, name=f"{op_type}_{tag}"), [np.asarray(v) for v in values]


def assert_same_bits(got: np.ndarray, expected: np.ndarray) -> None:
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if got.dtype.kind == "f":
        nan = np.isnan(expected)
        np.testing.assert_array_equal(np.isnan(got), nan)
        bits = np.dtype(f"u{got.dtype.itemsize}")
        np.testing.assert_array_equal(got[~nan].view(bits), expected[~nan].view(bits))
    else:
        np.testing.assert_array_equal(got, expected)


def check(backends, node, inputs, tolerance=None):
    """Compare the numpy kernel of ``node`` with the reference on ``inputs``.

    ``tolerance``: None for the same bits, else ``tolerance(inputs) -> allowed |error|`` array.
    An InputError of the reference (NaN reaching a quantizing FakeQuantize) must be raised too.
    """
    numpy_backend, reference = backends
    kernel = numpy_backend.kernel(node)
    assert kernel is not None, f"numpy backend has no kernel for {node}"
    assert kernel.implementation == "numpy_any"
    before = [np.copy(x) for x in inputs]
    try:
        expected = reference.kernel(node).run(inputs)
    except InputError:
        with pytest.raises(InputError):
            kernel.run(inputs)
        return
    got = kernel.run(inputs)
    for x, saved in zip(inputs, before):
        assert_same_bits(x, saved)  # inputs are never modified
    assert len(got) == len(expected) == len(node.output_types)
    for g, e, declared in zip(got, expected, node.output_types):
        assert isinstance(g, np.ndarray)
        assert g.dtype == declared.dtype and g.shape == declared.shape
        if tolerance is None:
            assert_same_bits(g, e)
        else:
            allowed = tolerance(inputs)
            assert np.array_equal(np.isnan(g), np.isnan(e))
            finite = ~np.isnan(e)
            error = np.abs(g[finite].astype(np.float64) - e[finite].astype(np.float64))
            assert np.all(error <= np.broadcast_to(allowed, e.shape)[finite]), error.max()


# -- strategies ------------------------------------------------------------------------------------

def f32_arrays(shape, low=-100.0, high=100.0, special=False):
    if special:
        elements = st.floats(width=32, allow_nan=True, allow_infinity=True, allow_subnormal=True)
    else:
        elements = st.floats(low, high, width=32, allow_subnormal=False)
    return hnp.arrays(np.float32, shape, elements=elements)


def code_arrays(dtype, shape):
    info = np.iinfo(dtype)
    return hnp.arrays(dtype, shape, elements=st.integers(int(info.min), int(info.max)))


def code_dtypes():
    return st.sampled_from([np.dtype(np.uint8), np.dtype(np.int8)])


@st.composite
def operand(draw, out_shape, axis, low, high, nonzero=False):
    """A float32 post-op operand: scalar or per-``axis`` (shaped to broadcast to the output)."""
    rank = len(out_shape)
    elements = st.floats(low, high, width=32)
    if nonzero:
        elements = elements.filter(lambda v: v != 0)
    if draw(st.booleans()) or rank == 0:
        return np.float32(draw(elements))
    shape = [1] * rank
    shape[axis] = out_shape[axis]
    return draw(hnp.arrays(np.float32, shape, elements=elements))


@st.composite
def quantize_ops(draw, out_shape, axis, integer_output):
    levels = draw(st.sampled_from([256, 255, 16, 2]))
    il = draw(st.sampled_from([0.0, -1.0, 0.5, -3.25]))
    width = draw(st.sampled_from([1.0, 2.5, 6.0, 40.0]))
    il_arr = draw(operand(out_shape, axis, il - 0.25, il + 0.25))
    ih_arr = np.float32(il_arr + np.float32(width))
    if draw(st.integers(0, 9)) == 0:  # reversed input range
        il_arr, ih_arr = ih_arr, il_arr
    if integer_output:
        element_type = draw(st.sampled_from(["u8", "i8"]))
        ol, oh = draw(st.sampled_from(
            [(0.0, 255.0), (-128.0, 127.0), (-127.0, 127.0), (0.0, 15.0), (-3.7, 250.2), (300.0, -10.0)]))
        return po.Quantize(il_arr, ih_arr, np.float32(ol), np.float32(oh), levels=levels,
                           element_type=element_type)
    ol = draw(operand(out_shape, axis, -4.0, 0.0))
    oh = draw(operand(out_shape, axis, 0.0, 6.0))
    return po.FakeQuantize(il_arr, ih_arr, ol, oh, levels=levels)


@st.composite
def post_op_chains(draw, out_shape, axis, scale_exponent=(-6.0, 0.0)):
    """A realistic (and sometimes odd) chain: Multiply, bias, activation, (Fake)Quantize."""
    chain = []
    if draw(st.integers(0, 4)):
        exponent = draw(st.floats(*scale_exponent))
        chain.append(po.Multiply(draw(operand(out_shape, axis, 0.5, 2.0)) * np.float32(10.0**exponent)))
    if draw(st.booleans()):
        chain.append(po.Add(draw(operand(out_shape, axis, -2.0, 2.0))))
    if draw(st.integers(0, 3)) == 0:
        chain.append(po.Subtract(draw(operand(out_shape, axis, -1.0, 1.0))))
    activation = draw(st.sampled_from(["none", "relu", "relu", "clamp"]))
    if activation == "relu":
        chain.append(po.Relu())
    elif activation == "clamp":
        chain.append(po.Clamp(draw(st.floats(-3, 0, width=32)), draw(st.floats(0, 6, width=32))))
    tail = draw(st.sampled_from(["none", "fq", "quantize", "quantize"]))
    if tail == "fq":
        chain.append(draw(quantize_ops(out_shape, axis, False)))
    elif tail == "quantize":
        chain.append(draw(quantize_ops(out_shape, axis, True)))
    if draw(st.integers(0, 15)) == 0:  # overflow to inf, then inf * 0 = NaN (reference: InputError)
        chain[:0] = [po.Multiply(np.float32(3e38)), po.Multiply(np.float32(0.0))]
    return tuple(chain)


# -- int8 layers -----------------------------------------------------------------------------------

@st.composite
def int8_conv_cases(draw):
    group = draw(st.sampled_from([1, 1, 2, 3]))
    cg = draw(st.integers(1, 4))
    ocg = draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    sh, sw, dh, dw = (draw(st.integers(1, 2)) for _ in range(4))
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    h = max(1, (kh - 1) * dh + 1 - pads[0] - pads[2]) + draw(st.integers(0, 4))
    w = max(1, (kw - 1) * dw + 1 - pads[1] - pads[3]) + draw(st.integers(0, 4))
    n = draw(st.integers(1, 2))
    c, oc = group * cg, group * ocg
    dtype = draw(code_dtypes())
    info = np.iinfo(dtype)
    q = draw(code_arrays(dtype, (n, c, h, w)))
    weights = draw(code_arrays(np.int8, (oc, cg, kh, kw)))
    za = draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=1, max_size=1) | st.lists(
        st.integers(int(info.min), int(info.max)), min_size=c, max_size=c))
    zw = draw(st.sampled_from([0, 1, oc]))
    zw = draw(st.lists(st.integers(-128, 127), min_size=zw, max_size=zw))
    oh = (h + pads[0] + pads[2] - ((kh - 1) * dh + 1)) // sh + 1
    ow = (w + pads[1] + pads[3] - ((kw - 1) * dw + 1)) // sw + 1
    chain = draw(post_op_chains((n, oc, oh, ow), 1))
    attrs = dict(strides=[sh, sw], dilations=[dh, dw], pads_begin=pads[:2], pads_end=pads[2:],
                 group=group, input_zero_point=za, weight_zero_point=zw, post_ops=chain)
    return q, weights, attrs


@given(int8_conv_cases())
def test_int8_convolution(backends, case):
    q, weights, attrs = case
    node, inputs = build("Int8Convolution", [q, weights], attrs, constants=(1,))
    check(backends, node, inputs)


@pytest.mark.parametrize("channels, kernel", [(64, 3), (128, 3), (256, 3), (512, 3), (2048, 1)])
@pytest.mark.parametrize("extreme", [True, False])
def test_int8_convolution_large_k(backends, channels, kernel, extreme):
    # K = channels * kernel^2 from 576 to 4608 with |w| = 127 everywhere: the per-row bound
    # K * 255 * 127 exceeds 2^24, so the backend must split K into float32 chunks (2, 3, 4, ...)
    # or use float64; with q = 255 and w = 127 everywhere acc = K*255*127 itself exceeds 2^24 and
    # float32(acc) rounds, which the backend must reproduce.
    rng = np.random.default_rng(channels + kernel)
    q = np.full((1, channels, 3, 3), 255, np.uint8) if extreme else \
        rng.integers(200, 256, (1, channels, 3, 3)).astype(np.uint8)
    sign = np.ones((4, channels, kernel, kernel)) if extreme else \
        rng.choice([-1, 1], (4, channels, kernel, kernel))
    weights = (127 * sign).astype(np.int8)
    pad = kernel // 2
    for chain in [(), (po.Multiply(np.float32(1e-7)), po.Quantize(np.float32(0), np.float32(20),
                                                                  np.float32(0), np.float32(255),
                                                                  levels=256, element_type="u8"))]:
        node, inputs = build("Int8Convolution", [q, weights],
                             dict(pads_begin=[pad, pad], pads_end=[pad, pad], post_ops=chain),
                             constants=(1,))
        check(backends, node, inputs)


def test_int8_convolution_depthwise_with_zero_points(backends):
    rng = np.random.default_rng(3)
    q = rng.integers(0, 256, (2, 6, 7, 5)).astype(np.uint8)
    weights = rng.integers(-128, 128, (12, 1, 3, 3)).astype(np.int8)
    attrs = dict(group=6, pads_begin=[1, 0], pads_end=[2, 1], strides=[2, 1],
                 input_zero_point=list(range(100, 106)), weight_zero_point=[5] * 12,
                 post_ops=(po.Multiply(np.float32(0.01)), po.Relu()))
    node, inputs = build("Int8Convolution", [q, weights], attrs, constants=(1,))
    check(backends, node, inputs)


def test_clamp_post_op_keeps_the_sign_of_zeros_in_range(backends):
    # weights 0 and 1: acc 0 at one output, 3 at the other; Multiply(0) makes both +0.0 (0*0 and
    # 3*0); Clamp(-0.0, 1.0): +0.0 is not below lo = -0.0, so it stays +0.0 (a bug: NumPy's
    # maximum(+0.0, -0.0) is -0.0); Multiply(-1) then gives -0.0 for both, and Clamp(0.0, 1.0)
    # keeps -0.0 (not below +0.0)
    q = np.full((1, 1, 1, 2), 3, np.uint8)
    weights = np.array([[[[0]]], [[[1]]]], np.int8)
    for chain, sign in [((po.Multiply(np.float32(0)), po.Clamp(-0.0, 1.0)), False),
                        ((po.Multiply(np.float32(0)), po.Multiply(np.float32(-1)), po.Clamp(0.0, 1.0)), True)]:
        attrs = dict(group=1, pads_begin=[0, 0], pads_end=[0, 0], strides=[1, 1], dilations=[1, 1],
                     input_zero_point=[0], weight_zero_point=[], post_ops=chain)
        node, inputs = build("Int8Convolution", [q, weights], attrs, constants=(1,))
        numpy_backend, _ = backends
        (got,) = numpy_backend.kernel(node).run(inputs)
        assert np.array_equal(got, np.zeros((1, 2, 1, 2), np.float32))
        assert np.all(np.signbit(got) == sign)
        check(backends, node, inputs)


@pytest.mark.parametrize("dtype, za", [(np.uint8, [128]), (np.int8, [-5, 0, 7, 127])])
def test_int8_pointwise_convolution_with_zero_point(backends, dtype, za):
    # 1x1, stride 1, no padding: the image itself (shifted by za) is the patch matrix
    info = np.iinfo(dtype)
    q = np.random.default_rng(5).integers(info.min, int(info.max) + 1, (2, 4, 3, 5)).astype(dtype)
    weights = np.random.default_rng(6).integers(-128, 128, (3, 4, 1, 1)).astype(np.int8)
    node, inputs = build("Int8Convolution", [q, weights], dict(input_zero_point=za), constants=(1,))
    check(backends, node, inputs)


def test_int8_depthwise_convolution_beyond_float32_range(backends):
    # 17x17 taps per channel with |q - za| = 255 and |w - zw| = 255: 289 * 65025 > 2^24, so the
    # per-tap multiply-adds cannot all stay in float32
    q = np.zeros((1, 2, 17, 17), np.uint8)
    q[0, 1] = 255
    weights = np.full((2, 1, 17, 17), -128, np.int8)
    attrs = dict(group=2, input_zero_point=[255, 0], weight_zero_point=[127])
    node, inputs = build("Int8Convolution", [q, weights], attrs, constants=(1,))
    check(backends, node, inputs)


def _endpoint_mismatch():
    """float32 ``ol < oh`` with ``rint((oh - ol) + ol) != rint(oh)``: the formula at the top of
    the input range does not give ``oh``'s code (e.g. ol = -15.85..., oh = 0.5)."""
    for oh in np.float32([0.5, 1.5, 2.5, 100.5]):
        ol = -np.linspace(0.5, 50, 20000).astype(np.float32)
        bad = np.rint((oh - ol) + ol) != np.rint(oh)
        if bad.any():
            return ol[bad][0], oh
    raise AssertionError("no such pair found")


def test_quantize_whose_top_code_is_not_the_formula(backends):
    ol, oh = _endpoint_mismatch()
    q = np.array([0, 1, 50, 100, 200, 255], np.uint8)
    chain = (po.Quantize(np.float32(0), np.float32(100), ol, oh, levels=256, element_type="i8"),)
    node, inputs = build("Dequantize", [q], dict(post_ops=chain))
    check(backends, node, inputs)


def test_s16_pairs_is_declined(backends):
    numpy_backend, _ = backends
    node, _ = build("Int8Convolution", [np.zeros((1, 2, 3, 3), np.uint8), np.ones((1, 2, 1, 1), np.int8)],
                    dict(accumulation="s16_pairs"), constants=(1,))
    assert numpy_backend.kernel(node) is None
    node, _ = build("Int8MatMul", [np.zeros((2, 4), np.uint8), np.ones((3, 4), np.int8)],
                    dict(accumulation="s16_pairs"), constants=(1,))
    assert numpy_backend.kernel(node) is None
    assert numpy_backend.capabilities().accumulation == "exact"


@st.composite
def int8_matmul_cases(draw):
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    k = draw(st.integers(1, 40))
    n_out = draw(st.integers(1, 6))
    dtype = draw(code_dtypes())
    info = np.iinfo(dtype)
    q = draw(code_arrays(dtype, (*batch, k)))
    weights = draw(code_arrays(np.int8, (n_out, k)))
    za = [draw(st.integers(int(info.min), int(info.max)))]
    zw = draw(st.sampled_from([0, 1, n_out]))
    zw = draw(st.lists(st.integers(-128, 127), min_size=zw, max_size=zw))
    chain = draw(post_op_chains((*batch, n_out), len(batch)))
    return q, weights, dict(input_zero_point=za, weight_zero_point=zw, post_ops=chain)


@given(int8_matmul_cases())
def test_int8_matmul(backends, case):
    q, weights, attrs = case
    node, inputs = build("Int8MatMul", [q, weights], attrs, constants=(1,))
    check(backends, node, inputs)


@pytest.mark.parametrize("k", [700, 1500, 2100, 6000])
def test_int8_matmul_large_k(backends, k):
    rng = np.random.default_rng(k)
    q = rng.integers(180, 256, (3, k)).astype(np.uint8)
    weights = (127 * rng.choice([-1, 1], (5, k))).astype(np.int8)
    node, inputs = build("Int8MatMul", [q, weights], {}, constants=(1,))
    check(backends, node, inputs)


@st.composite
def int8_avg_pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    exclude_pad = draw(st.booleans())
    limit_h, limit_w = (kh - 1, kw - 1) if exclude_pad else (2, 2)
    pads = [draw(st.integers(0, max(0, limit_h))), draw(st.integers(0, max(0, limit_w))),
            draw(st.integers(0, max(0, limit_h))), draw(st.integers(0, max(0, limit_w)))]
    h = max(1, kh - pads[0] - pads[2]) + draw(st.integers(0, 5))
    w = max(1, kw - pads[1] - pads[3]) + draw(st.integers(0, 5))
    dtype = draw(code_dtypes())
    info = np.iinfo(dtype)
    q = draw(code_arrays(dtype, (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)))
    attrs = dict(kernel=[kh, kw], strides=[sh, sw], pads_begin=pads[:2], pads_end=pads[2:],
                 exclude_pad=exclude_pad, rounding_type=draw(st.sampled_from(["floor", "ceil"])),
                 pad_value=draw(st.integers(int(info.min), int(info.max))))
    return q, attrs


@given(int8_avg_pool_cases())
def test_int8_avg_pool(backends, case):
    q, attrs = case
    try:
        node, inputs = build("Int8AvgPool", [q], attrs)
    except Exception:  # a ceil-rounded window entirely past the input: rejected by the layer
        return
    check(backends, node, inputs)


def test_int8_avg_pool_global_and_ties(backends):
    # every window sum S over D = 4 positions: S/D ties at .5 must round to even
    q = np.arange(64, dtype=np.uint8).reshape(1, 1, 8, 8) * 3
    for attrs in (dict(kernel=[2, 2], strides=[2, 2]), dict(kernel=[8, 8]),
                  dict(kernel=[3, 3], pads_begin=[1, 1], pads_end=[1, 1], pad_value=7),
                  dict(kernel=[3, 3], pads_begin=[1, 1], pads_end=[1, 1], exclude_pad=True)):
        node, inputs = build("Int8AvgPool", [q], attrs)
        check(backends, node, inputs)


@st.composite
def int8_eltwise_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    other = list(shape)
    for axis in range(len(other)):
        if draw(st.integers(0, 3)) == 0:
            other[axis] = 1
    shapes = [tuple(shape), tuple(other)]
    if draw(st.booleans()):
        shapes.reverse()
    q1 = draw(code_arrays(draw(code_dtypes()), shapes[0]))
    q2 = draw(code_arrays(draw(code_dtypes()), shapes[1]))
    out_shape = np.broadcast_shapes(q1.shape, q2.shape)
    axis = len(out_shape) - 1
    attrs = dict(full_shift=draw(operand(out_shape, axis, -128.0, 255.0)),
                 post_ops=draw(post_op_chains(out_shape, axis, (-3.0, 0.0))))
    if draw(st.integers(0, 4)) == 0:
        attrs["full_shift"] = np.float32(0.0)
    return q1, q2, attrs


@given(int8_eltwise_cases(), st.sampled_from(["Int8Add", "Int8Multiply"]),
       st.floats(0.0625, 8.0, width=32))
def test_int8_eltwise(backends, case, op_type, scale):
    q1, q2, attrs = case
    if op_type == "Int8Add":
        attrs = dict(attrs, full_scale=np.float32(scale))
    node, inputs = build(op_type, [q1, q2], attrs)
    check(backends, node, inputs)


@given(st.data())
def test_int8_mvn(backends, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=5))
    q = data.draw(code_arrays(data.draw(code_dtypes()), shape))
    rank = len(shape)
    axes = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank,
                              unique_by=lambda a: a % rank))
    attrs = dict(axes=axes, normalize_variance=data.draw(st.booleans()),
                 eps=data.draw(st.sampled_from([0.0, 1e-9, 1e-3, 1.0])),
                 eps_mode=data.draw(st.sampled_from(["inside_sqrt", "outside_sqrt"])),
                 post_ops=data.draw(post_op_chains(shape, rank - 1, (-1.0, 1.0))))
    node, inputs = build("Int8MVN", [q], attrs)
    check(backends, node, inputs)


@given(st.data())
def test_dequantize(backends, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=5))
    dtype = data.draw(st.sampled_from([np.uint8, np.int8, np.int32]))
    q = data.draw(code_arrays(dtype, shape))
    chain = [po.Subtract(data.draw(operand(shape, len(shape) - 1, -128.0, 255.0)))]
    chain += list(data.draw(post_op_chains(shape, len(shape) - 1, (-4.0, 0.0))))
    node, inputs = build("Dequantize", [q], dict(post_ops=tuple(chain)))
    check(backends, node, inputs)


# -- fp32 ops: tolerance for the BLAS products -----------------------------------------------------

def _dot_tolerance(k, abs_product):
    return (k + 2) * 2.0**-24 * abs_product * (1 + 2.0**-20) + k * 2.0**-149


@st.composite
def conv_cases(draw):
    group = draw(st.sampled_from([1, 1, 2, 3]))
    cg, ocg = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    if group > 1 and draw(st.booleans()):
        cg = 1  # depthwise-like
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    strides = [draw(st.integers(1, 2)) for _ in range(2)]
    dilations = [draw(st.integers(1, 2)) for _ in range(2)]
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    auto_pad = draw(st.sampled_from(["explicit", "explicit", "valid", "same_upper", "same_lower"]))
    extra = 0 if auto_pad == "explicit" else 1
    h = max(1, (kh - 1) * dilations[0] + extra - pads[0] - pads[2] + 1) + draw(st.integers(0, 4))
    w = max(1, (kw - 1) * dilations[1] + extra - pads[1] - pads[3] + 1) + draw(st.integers(0, 4))
    if auto_pad == "valid":
        h, w = h + (kh - 1) * dilations[0], w + (kw - 1) * dilations[1]
    x = draw(f32_arrays((draw(st.integers(1, 2)), group * cg, h, w)))
    weights = draw(f32_arrays((group * ocg, cg, kh, kw), -2.0, 2.0))
    attrs = dict(strides=strides, dilations=dilations, pads_begin=pads[:2], pads_end=pads[2:],
                 auto_pad=auto_pad, group=group)
    return x, weights, attrs


@given(conv_cases(), st.booleans())
def test_convolution_within_declared_tolerance(backends, case, constant_weights):
    x, weights, attrs = case
    node, inputs = build("Convolution", [x, weights], attrs, constants=(1,) if constant_weights else ())
    k = weights.shape[1] * weights.shape[2] * weights.shape[3]

    def tolerance(values):
        bound = ref_convolution(np.abs(values[0]), np.abs(values[1]), **attrs).astype(np.float64)
        return _dot_tolerance(k, bound)
    check(backends, node, inputs, tolerance)


def test_convolution_with_non_finite_filters_matches_the_reference(backends):
    numpy_backend, _ = backends
    x = np.ones((1, 1, 3, 3), np.float32)
    weights = np.full((1, 1, 3, 3), np.inf, np.float32)
    attrs = dict(pads_begin=[1, 1], pads_end=[1, 1])
    node, inputs = build("Convolution", [x, weights], attrs, constants=(1,))
    assert numpy_backend.kernel(node) is None        # declined: the reference leaves padding out
    node, inputs = build("Convolution", [x, weights], attrs)
    check(backends, node, inputs)                     # runtime filters: computed as the reference


def test_float32_overflow_is_recomputed_like_the_reference(backends):
    # float32 partial sums 3e38 + 3e38 overflow; the reference's float64 sum (3e38) does not
    big = np.float32(3e38)
    x = np.array([big, big, -big], np.float32)
    node, inputs = build("Convolution", [x.reshape(1, 3, 1, 1), np.ones((2, 3, 1, 1), np.float32)],
                         {}, constants=(1,))
    check(backends, node, inputs, tolerance=lambda values: 0.0)
    node, inputs = build("MatMul", [x.reshape(1, 3), np.ones((3, 2), np.float32)], {}, constants=(1,))
    check(backends, node, inputs, tolerance=lambda values: 0.0)


@st.composite
def matmul_cases(draw):
    a_rank, b_rank = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    m, k, n = draw(st.integers(1, 5)), draw(st.integers(1, 12)), draw(st.integers(1, 5))
    batch = draw(st.lists(st.integers(1, 3), min_size=2, max_size=2))
    ta, tb = draw(st.booleans()), draw(st.booleans())
    a_batch = [d if draw(st.booleans()) else 1 for d in batch[4 - a_rank:]] if a_rank > 2 else []
    b_batch = [d if draw(st.booleans()) else 1 for d in batch[3 - b_rank:]] if b_rank > 2 else []
    a_shape = [k] if a_rank == 1 else a_batch + ([k, m] if ta else [m, k])
    b_shape = [k] if b_rank == 1 else b_batch + ([n, k] if tb else [k, n])
    return (draw(f32_arrays(tuple(a_shape))), draw(f32_arrays(tuple(b_shape))),
            dict(transpose_a=ta, transpose_b=tb))


@given(matmul_cases(), st.booleans())
def test_matmul_within_declared_tolerance(backends, case, constant_b):
    a, b, attrs = case
    node, inputs = build("MatMul", [a, b], attrs, constants=(1,) if constant_b else ())
    k = a.shape[0] if a.ndim == 1 else a.shape[-2 if attrs["transpose_a"] else -1]

    def tolerance(values):
        bound = ref_matmul(np.abs(values[0]), np.abs(values[1]), **attrs).astype(np.float64)
        return _dot_tolerance(k, bound)
    check(backends, node, inputs, tolerance)


# -- fp32 ops: the same bits -----------------------------------------------------------------------

@st.composite
def pool_cases(draw, exclude_pad_attr=True):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    strides = [draw(st.integers(1, 3)) for _ in range(2)]
    exclude_pad = draw(st.booleans()) if exclude_pad_attr else False
    lim_h, lim_w = (kh - 1, kw - 1) if exclude_pad else (2, 2)
    pads = [draw(st.integers(0, lim_h)), draw(st.integers(0, lim_w)),
            draw(st.integers(0, lim_h)), draw(st.integers(0, lim_w))]
    h = max(1, kh - pads[0] - pads[2]) + draw(st.integers(0, 5))
    w = max(1, kw - pads[1] - pads[3]) + draw(st.integers(0, 5))
    attrs = dict(kernel=[kh, kw], strides=strides, pads_begin=pads[:2], pads_end=pads[2:],
                 rounding_type=draw(st.sampled_from(["floor", "ceil"])),
                 auto_pad=draw(st.sampled_from(
                     ["explicit", "explicit", "valid", "same_upper", "same_lower"])))
    if exclude_pad_attr:
        attrs["exclude_pad"] = exclude_pad
    return (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w), attrs


def _build_or_skip(op_type, values, attrs):
    try:
        return build(op_type, values, attrs)
    except Exception:  # geometry the op itself rejects
        return None, None


@given(pool_cases(), st.data())
def test_avg_pool(backends, case, data):
    shape, attrs = case
    x = data.draw(f32_arrays(shape, special=data.draw(st.booleans())))
    node, inputs = _build_or_skip("AvgPool", [x], attrs)
    if node is not None:
        check(backends, node, inputs)


def test_avg_pool_global(backends):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (2, 5, 7, 7)).astype(np.float32)
    x[0, 0] = -0.0
    for attrs in (dict(kernel=[7, 7]), dict(kernel=[9, 8], pads_end=[2, 1]),
                  dict(kernel=[9, 8], pads_end=[2, 1], exclude_pad=True)):
        node, inputs = build("AvgPool", [x], attrs)
        check(backends, node, inputs)


@given(pool_cases(exclude_pad_attr=False), st.data())
def test_max_pool(backends, case, data):
    shape, attrs = case
    dtype = data.draw(st.sampled_from(["f32", "u8", "i8"]))
    x = data.draw(f32_arrays(shape, special=True) if dtype == "f32"
                  else code_arrays(dtypes.element_type(dtype), shape))
    node, inputs = _build_or_skip("MaxPool", [x], attrs)
    if node is not None:
        check(backends, node, inputs)


@st.composite
def broadcast_pairs(draw, special=True):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    other = [1 if draw(st.integers(0, 2)) == 0 else d for d in shape]
    other = other[draw(st.integers(0, len(other))):]
    shapes = [tuple(shape), tuple(other)]
    if draw(st.booleans()):
        shapes.reverse()
    return [draw(f32_arrays(s, special=special)) for s in shapes]


@given(broadcast_pairs(), st.sampled_from(["Add", "Subtract", "Multiply", "Maximum", "Minimum"]),
       st.sampled_from([(), (0,), (1,)]))
def test_binary_ops(backends, pair, op_type, constants):
    node, inputs = build(op_type, pair, {}, constants=constants)
    check(backends, node, inputs)


def test_maximum_minimum_zeros_and_nan(backends):
    a = np.array([-0.0, 0.0, np.nan, 1.0, np.nan], np.float32)
    b = np.array([0.0, -0.0, 1.0, np.nan, np.nan], np.float32)
    for op_type in ("Maximum", "Minimum"):
        node, inputs = build(op_type, [a, b])
        check(backends, node, inputs)


@given(st.data())
def test_unary_ops(backends, data):
    op_type = data.draw(st.sampled_from(["Relu", "Sigmoid", "Tanh", "Exp", "Clamp"]))
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=5))
    x = data.draw(f32_arrays(shape, special=True))
    attrs = {}
    if op_type == "Clamp":
        low = data.draw(st.floats(-10, 10))
        attrs = dict(min=low, max=low + data.draw(st.floats(0, 10)))
    node, inputs = build(op_type, [x], attrs)
    check(backends, node, inputs)


@given(st.data())
def test_relu_on_codes(backends, data):
    dtype = data.draw(code_dtypes())
    node, inputs = build("Relu", [data.draw(code_arrays(dtype, (2, 3, 4)))])
    check(backends, node, inputs)


@given(st.data())
def test_softmax_and_mvn(backends, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=5))
    rank = len(shape)
    x = data.draw(f32_arrays(shape, special=data.draw(st.integers(0, 4)) == 0))
    node, inputs = build("Softmax", [x], dict(axis=data.draw(st.integers(-rank, rank - 1))))
    check(backends, node, inputs)
    axes = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank,
                              unique_by=lambda a: a % rank))
    attrs = dict(axes=axes, normalize_variance=data.draw(st.booleans()),
                 eps=data.draw(st.sampled_from([0.0, 1e-9, 0.5])),
                 eps_mode=data.draw(st.sampled_from(["inside_sqrt", "outside_sqrt"])))
    node, inputs = build("MVN", [x], attrs)
    check(backends, node, inputs)


_CONVERT_SOURCES = {
    "f32": lambda shape: f32_arrays(shape, special=True) | f32_arrays(shape, -3e9, 3e9),
    "f16": lambda shape: hnp.arrays(np.float16, shape, elements=st.floats(width=16)),
    "u8": lambda shape: code_arrays(np.uint8, shape),
    "i8": lambda shape: code_arrays(np.int8, shape),
    "i32": lambda shape: code_arrays(np.int32, shape),
    "i64": lambda shape: code_arrays(np.int64, shape),
    "boolean": lambda shape: hnp.arrays(np.bool_, shape),
}


@given(st.sampled_from(sorted(_CONVERT_SOURCES)), st.sampled_from(["f32", "u8", "i8", "i32", "i64"]),
       st.data())
def test_convert(backends, source, destination, data):
    x = data.draw(_CONVERT_SOURCES[source]((3, 4)))
    # a graph input cannot be boolean or f16: such tensors come from Constants
    node, inputs = build("Convert", [x], dict(destination_type=destination),
                         constants=(0,) if source in ("boolean", "f16") else ())
    check(backends, node, inputs)


@st.composite
def fake_quantize_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    axis = draw(st.integers(0, len(shape) - 1))
    input_type = draw(st.sampled_from(["f32", "f32", "u8", "i8"]))
    if input_type == "f32":
        x = draw(f32_arrays(shape, -10, 50, special=draw(st.integers(0, 5)) == 0))
    else:
        x = draw(code_arrays(np.dtype(np.uint8 if input_type == "u8" else np.int8), shape))
    output_type = draw(st.sampled_from(["f32", "u8", "i8"]))
    op = draw(quantize_ops(shape, axis, output_type != "f32"))
    ranges = [op.input_low, op.input_high, op.output_low, op.output_high]
    if draw(st.integers(0, 5)) == 0 and np.asarray(ranges[0]).size == 1:  # more dimensions than x
        ranges[0] = np.asarray(ranges[0]).reshape((1,) * (len(shape) + 1))
    attrs = dict(levels=op.levels, output_type=output_type)
    return [x] + [np.asarray(r, np.float32) for r in ranges], attrs


@given(fake_quantize_cases(), st.booleans())
def test_fake_quantize(backends, case, constant_ranges):
    values, attrs = case
    node, inputs = build("FakeQuantize", values, attrs,
                         constants=(1, 2, 3, 4) if constant_ranges else ())
    check(backends, node, inputs)


def test_fake_quantize_nan_to_codes_is_an_error(backends):
    x = np.array([[0.5, np.nan]], np.float32)
    node, inputs = build("FakeQuantize", [x, np.float32(0), np.float32(1), np.float32(0), np.float32(255)],
                         dict(levels=256, output_type="u8"), constants=(1, 2, 3, 4))
    numpy_backend, _ = backends
    with pytest.raises(InputError):
        numpy_backend.kernel(node).run(inputs)


@given(st.data())
def test_data_movement(backends, data):
    dtype = data.draw(st.sampled_from([np.float32, np.uint8, np.int8, np.int32]))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=4))
    x = data.draw(code_arrays(np.dtype(dtype), shape) if dtype != np.float32
                  else f32_arrays(shape, special=True))
    rank = len(shape)
    order = data.draw(st.permutations(range(rank)))
    cases = [("Transpose", [x], dict(order=list(order))),
             ("Reshape", [x], dict(shape=[-1], special_zero=False)),
             ("Reshape", [x], dict(shape=[0] + [-1] * (rank > 1), special_zero=True)),
             ("Unsqueeze", [x], dict(axes=[0, -1])),
             ("Squeeze", [x.reshape((1,) + shape)], dict(axes=[0])),
             ("Concat", [x, x[..., :1]], dict(axis=-1)),
             ("Concat", [x], dict(axis=0))]
    for op_type, values, attrs in cases:
        node, inputs = build(op_type, values, attrs)
        check(backends, node, inputs)


def test_rank_0_tensors(backends):
    scalar = np.array(0.75, np.float32)
    for op_type, values, attrs in (
            ("Transpose", [np.array(4, np.uint8)], {}),
            ("Transpose", [scalar], dict(order=[])),
            ("FakeQuantize", [scalar, np.float32(0), np.float32(1), np.float32(-1), np.float32(1)],
             dict(levels=5)),
            ("FakeQuantize", [scalar, np.float32(0), np.float32(1), np.float32(0), np.float32(255)],
             dict(levels=256, output_type="u8")),
            ("Relu", [np.array(-0.0, np.float32)], {}), ("Sigmoid", [scalar], {}),
            ("Convert", [scalar], dict(destination_type="i8")),
            ("Dequantize", [np.array(7, np.int8)], dict(post_ops=(po.Clamp(0.0, 6.0),))),
            ("Int8Add", [np.array(3, np.uint8), np.array(5, np.int8)],
             dict(full_scale=np.float32(0.5), post_ops=(po.Relu(),)))):
        node, inputs = build(op_type, values, attrs)
        check(backends, node, inputs)


@st.composite
def interpolate_cases(draw):
    mode = draw(st.sampled_from(["nearest", "linear", "linear_onnx"]))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=2, max_size=4)))
    rank = len(shape)
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=2, unique=True))
    attrs = dict(mode=mode, axes=axes,
                 coordinate_transformation_mode=draw(st.sampled_from(
                     ["half_pixel", "pytorch_half_pixel", "asymmetric", "tf_half_pixel_for_nn",
                      "align_corners"])),
                 nearest_mode=draw(st.sampled_from(
                     ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple"])))
    if draw(st.booleans()):
        attrs.update(shape_calculation_mode="sizes",
                     sizes=[draw(st.integers(1, 9)) for _ in axes])
    else:
        attrs.update(shape_calculation_mode="scales",
                     scales=[draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 0.34])) for _ in axes])
    dtype = draw(st.sampled_from(["f32", "u8", "i8"])) if mode == "nearest" else "f32"
    x = draw(f32_arrays(shape) if dtype == "f32" else code_arrays(dtypes.element_type(dtype), shape))
    return x, attrs


@given(interpolate_cases())
def test_interpolate(backends, case):
    x, attrs = case
    node, inputs = _build_or_skip("Interpolate", [x], attrs)
    if node is not None:
        check(backends, node, inputs)


def test_all_constant_node_is_computed_once(backends):
    numpy_backend, _ = backends
    w = np.linspace(-1, 1, 24, dtype=np.float32).reshape(2, 3, 2, 2)
    node, inputs = build("FakeQuantize", [w, np.float32(-1), np.float32(1), np.float32(-1), np.float32(1)],
                         dict(levels=255), constants=(0, 1, 2, 3, 4))
    kernel = numpy_backend.kernel(node)
    first, = kernel.run(inputs)
    second, = kernel.run(inputs)
    assert first is second and not first.flags.writeable
    check(backends, node, inputs)


# -- coverage --------------------------------------------------------------------------------------

def _sample_nodes():
    u8 = np.zeros((1, 2, 4, 4), np.uint8)
    f = np.ones((1, 2, 4, 4), np.float32)
    post = (po.Multiply(np.float32(0.5)),)
    return {
        "Convert": build("Convert", [f], dict(destination_type="u8")),
        "FakeQuantize": build("FakeQuantize",
                              [f, np.float32(0), np.float32(1), np.float32(0), np.float32(1)],
                              dict(levels=256), constants=(1, 2, 3, 4)),
        "Convolution": build("Convolution", [f, np.ones((3, 2, 3, 3), np.float32)], {}, constants=(1,)),
        "MatMul": build("MatMul", [f, np.ones((4, 3), np.float32)], {}, constants=(1,)),
        "Relu": build("Relu", [f]), "Clamp": build("Clamp", [f], dict(min=0, max=1)),
        "Reshape": build("Reshape", [f], dict(shape=[-1])),
        "Transpose": build("Transpose", [f], dict(order=[0, 2, 3, 1])),
        "Squeeze": build("Squeeze", [f], dict(axes=[0])),
        "Unsqueeze": build("Unsqueeze", [f], dict(axes=[0])),
        "MaxPool": build("MaxPool", [u8], dict(kernel=[2, 2])),
        "AvgPool": build("AvgPool", [f], dict(kernel=[2, 2])),
        "Add": build("Add", [f, f]), "Subtract": build("Subtract", [f, f]),
        "Multiply": build("Multiply", [f, f]), "Maximum": build("Maximum", [f, f]),
        "Minimum": build("Minimum", [f, f]), "Concat": build("Concat", [f, f], dict(axis=1)),
        "Interpolate": build("Interpolate", [f], dict(mode="linear", sizes=[8], axes=[3])),
        "MVN": build("MVN", [f], dict(axes=[2, 3])), "Softmax": build("Softmax", [f]),
        "Sigmoid": build("Sigmoid", [f]), "Tanh": build("Tanh", [f]), "Exp": build("Exp", [f]),
        "Int8Convolution": build("Int8Convolution", [u8, np.ones((3, 2, 1, 1), np.int8)],
                                 dict(post_ops=post), constants=(1,)),
        "Int8MatMul": build("Int8MatMul", [u8, np.ones((3, 4), np.int8)], {}, constants=(1,)),
        "Int8AvgPool": build("Int8AvgPool", [u8], dict(kernel=[2, 2])),
        "Int8Add": build("Int8Add", [u8, u8], dict(post_ops=post)),
        "Int8Multiply": build("Int8Multiply", [u8, u8], dict(post_ops=post)),
        "Int8MVN": build("Int8MVN", [u8], dict(axes=[1, 2, 3])),
        "Dequantize": build("Dequantize", [u8], dict(post_ops=post)),
    }


def test_every_op_of_the_specification_has_a_kernel(backends):
    samples = _sample_nodes()
    expected = (set(OPS) | set(INT8_OPS)) - {"Parameter", "Constant"}
    assert set(samples) == expected, "a new op type needs a sample here (and a numpy kernel)"
    for op_type, (node, inputs) in samples.items():
        check(backends, node, inputs)


def test_registered_through_the_entry_point():
    registry = default_registry()
    info = registry.info("numpy")
    assert info.distribution == "refint8-backend-numpy"
    assert info.spec.priority == 50
    assert registry.usable("numpy")[0]


# -- whole models ----------------------------------------------------------------------------------

def test_models_without_lpt_run_fp32_on_numpy():
    # lpt=False: every layer fp32, weight FakeQuantize included (folded once: all its inputs are
    # constants). Not a declared tolerance: a whole-network sanity check of the fp32 kernels.
    model = small_fq_cnn()
    reference = compile_model(model, backend="reference", lpt=False)
    compiled = compile_model(model, backend="numpy", lpt=False)
    x = np.random.default_rng(12).normal(0.3, 1.0, (1, 3, 32, 32)).astype(np.float32)
    for _ in range(2):
        expected, got = reference.infer({"input": x}), compiled.infer({"input": x})
        np.testing.assert_allclose(got["output"], expected["output"], rtol=1e-4, atol=1e-5)
    exec_types = {row.exec_type for row in compiled.perf_counts() if row.status.value == "EXECUTED"}
    assert exec_types == {"numpy_any_FP32"}


@pytest.mark.parametrize("build_model, shape", [(small_fq_cnn, (1, 3, 32, 32)),
                                                (quantized_inception_block, (1, 32, 28, 28))])
def test_models_are_bit_identical_to_the_reference(build_model, shape):
    model = build_model()
    reference = compile_model(model, backend="reference")
    compiled = compile_model(model, backend="numpy")
    rng = np.random.default_rng(11)
    for scale in (1.0, 3.0):
        x = (rng.normal(0.3, 1.0, shape) * scale).astype(np.float32)
        expected, got = reference.infer({"input": x}), compiled.infer({"input": x})
        assert expected.keys() == got.keys()
        for name in expected:
            assert_same_bits(got[name], expected[name])
    assert compiled.kernel_fallbacks == []
    exec_types = {row.exec_type for row in compiled.perf_counts() if row.status.value == "EXECUTED"}
    assert "numpy_any_I8" in exec_types and "numpy_any_FP32" in exec_types
    assert all(t.startswith("numpy_any_") for t in exec_types)
