"""The simd backend against the reference, bit for bit, on every ISA variant this machine runs.

Each variant is forced through ``BackendOptions(isa=...)`` and created through the registry (never
imported). ``amx_emu`` runs the AMX kernels with the tile instructions emulated in C, so the AMX
layouts are checked even on CPUs without AMX. Hypothesis draws shapes around the SIMD widths
(1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65 channels), strides, pads, dilations, groups, depthwise,
zero points (0, 255, per channel), extreme codes (weights -128/127 with activations 255) and
post-op chains including Quantize on exact ties.
"""

from __future__ import annotations

import contextlib
import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import refint8
from refint8 import opset
from refint8.backend import BackendOptions
from refint8.errors import InputError
from refint8.graph import make_node
from refint8.int8 import INT8_OPS
from refint8.int8.post_ops import Add, Clamp, FakeQuantize, Multiply, Quantize, Relu, Subtract, apply_post_ops

from simd_support import AMX, AVAILABLE, BYTE_DEPTHWISE, PROBE, REGISTRY, VARIANTS, backend

WIDTHS = [1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65]


@contextlib.contextmanager
def plan_setting(module, name: str, value):
    """Plans built inside see module.name = value (a switch read when a plan is built)."""
    before = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, before)


def output_channel_lanes(mode: str):
    """Plans built inside run the avx512_vnni convolutions with output channels across the lanes
    (r8simd_conv_oc.h) "always" where they can, "never", or by the plan's rule ("auto")."""
    from refint8_backend_simd._plan import common

    return plan_setting(common, "CHANNELS_ACROSS_LANES", mode)


def threshold_proofs(enabled: bool):
    """Plans built inside prove their requantization chains (r8_conv.rq_proven,
    _plan/threshold_proof.py) or not: then every kernel keeps the near-midpoint check."""
    from refint8_backend_simd._plan import threshold_proof

    return plan_setting(threshold_proof, "ENABLED", enabled)


def cell_depthwise(mode: str):
    """Plans built inside run the depthwise layers a VNNI build with VBMI can run on 4-channel cells
    (r8simd_dwc.h r8_dwc) "always" there, "never" (r8_dwb then), or by the plan's rule ("auto")."""
    from refint8_backend_simd._plan import common

    return plan_setting(common, "CELL_DEPTHWISE", mode)


#: the two layouts of the avx512_vnni convolution with the interleaved requantization's chain:
#: positions across the lanes (conv_compute_rq) and output channels across the lanes (conv_compute_oc)
LANE_MODES = {"positions": "never", "channels": "always"}


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal types, shapes and values; for floats NaN where the other has NaN and the same sign
    everywhere else (so -0.0 differs from +0.0)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind != "f":
        return np.array_equal(a, b)
    numbers = ~np.isnan(a)
    return np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a[numbers]), np.signbit(b[numbers]))


def check_on_two_threads(node, inputs, reference, variants=None):
    """Each variant's kernel on 2 threads gives exactly the reference's result."""
    for variant in variants or VARIANTS:
        (got,) = backend(variant, threads=2).kernel(node).run(inputs)
        assert same(got, reference), variant


def check_all_variants(node, inputs, reference, variants=None):
    pairs = node.attrs.get("accumulation") == "s16_pairs"
    for variant in variants or VARIANTS:
        kernel = backend(variant).kernel(node)
        assert kernel is not None, variant
        expected = variant if not pairs or variant in ("sse42", "avx2") else "avx512"
        assert kernel.implementation == f"simd_{expected}"
        (got,) = kernel.run(inputs)
        if not same(got, reference):
            bad = np.argwhere(got != reference)
            raise AssertionError(f"{variant}: {len(bad)} differences, first at {bad[:3].tolist()}: "
                                 f"{got[tuple(bad[0])]} != {reference[tuple(bad[0])]}")


# -- strategies ------------------------------------------------------------------------------------

def codes(draw, shape, dtype):
    low, high = (0, 255) if dtype == "u8" else (-128, 127)
    style = draw(st.sampled_from(["random", "extreme", "small"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if style == "extreme":
        return np.full(shape, high, np.uint8 if dtype == "u8" else np.int8)
    if style == "small":
        return rng.integers(low, low + 3, size=shape).astype(np.uint8 if dtype == "u8" else np.int8)
    return rng.integers(low, high + 1, size=shape).astype(np.uint8 if dtype == "u8" else np.int8)


def zero_points(draw, dtype, c, oc):
    """Input zero points (0, either extreme code, one value, one per channel) and weight zero points
    (none, one value, one per output channel)."""
    low, high = (0, 255) if dtype == "u8" else (-128, 127)
    za_kind = draw(st.sampled_from(["zero", "max", "min", "scalar", "channel"]))
    za = {"zero": (0,), "max": (high,), "min": (low,), "scalar": (draw(st.integers(low, high)),),
          "channel": tuple(draw(st.lists(st.integers(low, high), min_size=c, max_size=c)))}[za_kind]
    zw_kind = draw(st.sampled_from(["none", "none", "scalar", "channel"]))
    zw = {"none": (), "scalar": (draw(st.integers(-128, 127)),),
          "channel": tuple(draw(st.lists(st.integers(-128, 127), min_size=oc, max_size=oc)))}[zw_kind]
    return za, zw


def weight_codes(draw, shape):
    style = draw(st.sampled_from(["random", "max", "min", "mixed"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if style == "max":
        return np.full(shape, 127, np.int8)
    if style == "min":
        return np.full(shape, -128, np.int8)
    if style == "mixed":
        return rng.choice(np.array([-128, 127], np.int8), size=shape)
    return rng.integers(-128, 128, size=shape).astype(np.int8)


def operand(draw, rng, channels, axis_shape):
    """A post-op operand: scalar, per channel, or spatially varying."""
    kind = draw(st.sampled_from(["scalar", "channel", "full"]))
    if kind == "scalar":
        return np.float32(rng.uniform(-2, 2))
    if kind == "channel":
        return rng.uniform(-2, 2, size=axis_shape(channels)).astype(np.float32)
    return rng.uniform(-2, 2, size=axis_shape(None)).astype(np.float32)


@st.composite
def post_op_chains(draw, channels, axis_shape, acc_scale):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    chain = []
    if draw(st.booleans()):
        scale = rng.uniform(0.2, 1.0, size=axis_shape(channels)).astype(np.float32) / np.float32(acc_scale)
        if draw(st.booleans()):
            scale = -scale
        chain.append(Multiply(scale))
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["add", "sub", "relu", "clamp", "fq"]))
        if kind == "add":
            chain.append(Add(operand(draw, rng, channels, axis_shape)))
        elif kind == "sub":
            chain.append(Subtract(operand(draw, rng, channels, axis_shape)))
        elif kind == "relu":
            chain.append(Relu())
        elif kind == "clamp":
            chain.append(Clamp(float(rng.uniform(-1, 0)), float(rng.uniform(0, 1))))
        else:
            levels = draw(st.sampled_from([2, 16, 255, 256]))
            lo = rng.uniform(-2, 0, size=axis_shape(channels)).astype(np.float32)
            chain.append(FakeQuantize(lo, lo + np.float32(rng.uniform(0.5, 3)), np.float32(-1),
                                      np.float32(1.5), levels))
    ending = draw(st.sampled_from(["none", "u8", "i8", "ties"]))
    if ending == "u8":
        chain.append(Quantize(np.float32(0), np.float32(rng.uniform(0.5, 3)), np.float32(0),
                              np.float32(255), 256, element_type="u8"))
    elif ending == "i8":
        low = rng.uniform(-2, -0.5, size=axis_shape(channels)).astype(np.float32)
        chain.append(Quantize(low, -low, np.float32(-128), np.float32(127), 256, element_type="i8"))
    elif ending == "ties":   # y * 0.5 lands on .5 exactly: round half to even decides
        chain += [Multiply(np.float32(0.5) / np.float32(acc_scale) * 255),
                  Quantize(np.float32(0), np.float32(255), np.float32(0), np.float32(255), 256,
                           element_type="u8")]
    return tuple(chain)


@st.composite
def requantization_chains(draw, channels, axis_shape, acc_scale):
    """Multiply, Add, Quantize to u8 or i8 with scalar or per-channel operands: the chain the
    convolution requantizes interleaved with its accumulation (r8_conv.rq)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def values(low, high):
        shape = axis_shape(channels) if draw(st.booleans()) else ()
        return rng.uniform(low, high, size=shape).astype(np.float32)

    scale = values(0.2, 1.0) / np.float32(acc_scale) * np.float32(draw(st.sampled_from([1, -1, 64])))
    chain = [Multiply(scale), Add(values(-2, 2))]
    if draw(st.booleans()):
        chain.append(Quantize(np.float32(0), values(0.5, 3), np.float32(0), np.float32(255), 256,
                              element_type="u8"))
    else:
        low = values(-2, -0.5)
        chain.append(Quantize(low, -low, np.float32(-128), np.float32(127), 256, element_type="i8"))
    return tuple(chain)


@st.composite
def conv_cases(draw, chains=post_op_chains, layouts=("plain", "grouped", "depthwise"),
               weight_zero_points=True):
    dtype = draw(st.sampled_from(["u8", "i8"]))
    layout = draw(st.sampled_from(layouts))
    if layout == "plain":
        group, cg, ocg = 1, draw(st.sampled_from(WIDTHS)), draw(st.sampled_from(WIDTHS))
    elif layout == "grouped":
        group, cg, ocg = draw(st.integers(2, 4)), draw(st.sampled_from([1, 3, 5, 8, 17])), draw(st.integers(1, 9))
    else:
        group, cg, ocg = draw(st.sampled_from([1, 3, 16, 17, 32, 33])), 1, draw(st.sampled_from([1, 1, 2]))
    c, oc = group * cg, group * ocg
    kh, kw = draw(st.sampled_from([(1, 1), (3, 3), (5, 5), (7, 7), (1, 3), (3, 1)]))
    sy, sx = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dy, dx = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 2)]))
    pads = [draw(st.integers(0, min(3, k))) for k in (kh, kh, kw, kw)]
    ext_h, ext_w = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    min_h, min_w = max(1, ext_h - pads[0] - pads[1]), max(1, ext_w - pads[2] - pads[3])
    h = draw(st.integers(min_h, max(min_h, 12)))
    w = draw(st.integers(min_w, max(min_w, 21)))
    n = draw(st.sampled_from([1, 1, 2]))
    q = codes(draw, (n, c, h, w), dtype)
    weights = weight_codes(draw, (oc, cg, kh, kw))
    za, zw = zero_points(draw, dtype, c, oc)
    if not weight_zero_points:
        zw = ()
    oh = (h + pads[0] + pads[1] - ext_h) // sy + 1
    ow = (w + pads[2] + pads[3] - ext_w) // sx + 1

    def axis_shape(channels):
        return (1, channels, 1, 1) if channels else (1, oc, oh, ow)

    posts = draw(chains(oc, axis_shape, acc_scale=cg * kh * kw * 255 * 128))
    attrs = dict(strides=(sy, sx), dilations=(dy, dx), pads_begin=(pads[0], pads[2]),
                 pads_end=(pads[1], pads[3]), group=group, input_zero_point=za,
                 weight_zero_point=zw, post_ops=posts,
                 accumulation=draw(st.sampled_from(["exact", "exact", "s16_pairs"])))
    x = opset.parameter(list(q.shape), dtype, name="x")
    node = make_node("Int8Convolution", [x, opset.constant(weights, name="w")], attrs, name="conv")
    return node, q, weights


@st.composite
def depthwise_cases(draw, chains=post_op_chains):
    """Depthwise convolutions (one input channel per group) wide enough for the vector paths of
    the dedicated depthwise kernel (rows up to 70 codes, planes up to 40 rows) and their tails."""
    dtype = draw(st.sampled_from(["u8", "i8"]))
    c = draw(st.one_of(st.integers(1, 65), st.sampled_from([1, 3, 15, 16, 17, 32, 33, 64, 65])))
    ocg = draw(st.sampled_from([1, 1, 1, 2]))
    oc = c * ocg
    kh, kw = draw(st.sampled_from([(3, 3), (3, 3), (5, 5), (1, 1), (7, 7), (3, 1), (1, 5)]))
    sy, sx = draw(st.sampled_from([(1, 1), (2, 2), (1, 2), (2, 1), (3, 3)]))
    dy, dx = draw(st.sampled_from([(1, 1), (1, 1), (2, 2), (1, 3)]))
    pads = [draw(st.integers(0, min(3, k))) for k in (kh, kh, kw, kw)]
    ext_h, ext_w = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    min_h, min_w = max(1, ext_h - pads[0] - pads[1]), max(1, ext_w - pads[2] - pads[3])
    h = draw(st.integers(min_h, max(min_h, 40)))
    w = draw(st.integers(min_w, max(min_w, 70)))
    n = draw(st.sampled_from([1, 1, 2]))
    q = codes(draw, (n, c, h, w), dtype)
    weights = weight_codes(draw, (oc, 1, kh, kw))
    za, zw = zero_points(draw, dtype, c, oc)
    oh = (h + pads[0] + pads[1] - ext_h) // sy + 1
    ow = (w + pads[2] + pads[3] - ext_w) // sx + 1

    def axis_shape(channels):
        return (1, channels, 1, 1) if channels else (1, oc, oh, ow)

    posts = draw(chains(oc, axis_shape, acc_scale=kh * kw * 255 * 128))
    attrs = dict(strides=(sy, sx), dilations=(dy, dx), pads_begin=(pads[0], pads[2]),
                 pads_end=(pads[1], pads[3]), group=c, input_zero_point=za,
                 weight_zero_point=zw, post_ops=posts)
    x = opset.parameter(list(q.shape), dtype, name="x")
    node = make_node("Int8Convolution", [x, opset.constant(weights, name="w")], attrs, name="dw")
    return node, q, weights, draw(st.sampled_from([1, 2, 3]))


@st.composite
def matmul_cases(draw):
    dtype = draw(st.sampled_from(["u8", "i8"]))
    k = draw(st.sampled_from(WIDTHS + [128, 255]))
    n_out = draw(st.sampled_from(WIDTHS))
    batch = draw(st.sampled_from([(), (1,), (3,), (2, 5), (17,)]))
    q = codes(draw, (*batch, k), dtype)
    weights = weight_codes(draw, (n_out, k))
    low, high = (0, 255) if dtype == "u8" else (-128, 127)
    za = (draw(st.sampled_from([0, high, low, draw(st.integers(low, high))])),)
    zw_kind = draw(st.sampled_from(["none", "scalar", "channel"]))
    zw = {"none": (), "scalar": (draw(st.integers(-128, 127)),),
          "channel": tuple(draw(st.lists(st.integers(-128, 127), min_size=n_out, max_size=n_out)))}[zw_kind]
    out_shape = (*batch, n_out)

    def axis_shape(channels):
        return (channels,) if channels else out_shape

    posts = draw(post_op_chains(n_out, axis_shape, acc_scale=k * 255 * 128))
    x = opset.parameter(list(q.shape), dtype, name="x")
    node = make_node("Int8MatMul", [x, opset.constant(weights, name="w")],
                     dict(input_zero_point=za, weight_zero_point=zw, post_ops=posts,
                          accumulation=draw(st.sampled_from(["exact", "exact", "s16_pairs"]))), name="fc")
    return node, q, weights


@st.composite
def eltwise_cases(draw):
    """Int8Add / Int8Multiply / Dequantize nodes with their inputs."""
    kind = draw(st.sampled_from(["Int8Add", "Int8Multiply", "Dequantize"]))
    shape = draw(st.sampled_from([(1, 3, 5, 7), (2, 17, 4, 4), (1, 64, 7, 7), (1, 1, 1, 33), (4, 65), (31,)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channels = shape[1] if len(shape) >= 3 else None

    def axis_shape(c):
        if c:
            return (1, c) + (1,) * (len(shape) - 2)
        return shape

    dtypes = ["u8", "i8"] + (["i32"] if kind == "Dequantize" else [])
    inputs, params = [], []
    for i in range(1 if kind == "Dequantize" else 2):
        dtype = draw(st.sampled_from(dtypes))
        if dtype == "i32":
            inputs.append(rng.integers(-2**26, 2**26, size=shape).astype(np.int32))
        else:
            inputs.append(codes(draw, shape, dtype))
        params.append(opset.parameter(list(shape), dtype, name=f"x{i}"))
    posts = draw(post_op_chains(channels, axis_shape, acc_scale=255))
    attrs = {"post_ops": posts}
    if kind != "Dequantize":
        attrs["full_shift"] = operand(draw, rng, channels, axis_shape) if channels else np.float32(1.5)
        if kind == "Int8Add":
            attrs["full_scale"] = operand(draw, rng, channels, axis_shape) if channels else np.float32(0.7)
    return make_node(kind, params, attrs, name="elt"), inputs


def multiply_quantize(draw, values, kind):
    """An elementwise layer's Multiply, Quantize chain onto u8 or i8 codes (operands drawn by
    ``values(low, high)``: scalar or per channel), scaled for Int8Add or Int8Multiply sums."""
    if draw(st.booleans()):
        quantize = Quantize(np.float32(0), values(0.5, 3), np.float32(0), np.float32(255), 256, element_type="u8")
    else:
        low = values(-2, -0.5)
        quantize = Quantize(low, -low, np.float32(-128), np.float32(127), 256, element_type="i8")
    scale = values(0.2, 1) / np.float32(255 * (255 if kind == "Int8Multiply" else 1))
    return Multiply(scale), quantize


@st.composite
def eltwise_requantization_cases(draw):
    """Int8Add / Int8Multiply / Dequantize on u8/i8 codes whose chain is Multiply, Quantize with
    scalar or per-channel operands (h and r likewise): the elementwise requantization (elt_rq)."""
    kind = draw(st.sampled_from(["Int8Add", "Int8Multiply", "Dequantize"]))
    shape = draw(st.sampled_from([(1, 3, 5, 7), (2, 17, 4, 4), (1, 64, 7, 7), (1, 2, 9, 40), (1, 1, 33, 70)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channel = (1, shape[1], 1, 1)

    def values(low, high):
        return rng.uniform(low, high, size=channel if draw(st.booleans()) else ()).astype(np.float32)

    inputs, params = [], []
    for i in range(1 if kind == "Dequantize" else 2):
        dtype = draw(st.sampled_from(["u8", "i8"]))
        inputs.append(codes(draw, shape, dtype))
        params.append(opset.parameter(list(shape), dtype, name=f"x{i}"))
    attrs = {"post_ops": multiply_quantize(draw, values, kind)}
    if kind != "Dequantize":
        attrs["full_shift"] = values(-50, 50)
        if kind == "Int8Add":
            attrs["full_scale"] = values(-2, 2)
    return make_node(kind, params, attrs, name="elt"), inputs


def test_the_folded_chain_keeps_its_clamp_unless_the_stores_saturation_gives_the_same_codes():
    # r8_elt.rq field 14 (elt_rq_folded_levels): the level rint(a*A + b*B + C) is left to the
    # stores' saturation only on a folded chain with 256 levels and ol 0; a 16-level Quantize
    # (codes 0 .. 15) or ol -128 (i8) keep the clamp, and a Multiply of 2^23 (u up to 2^38) has no
    # folded chain at all (float32's error there exceeds any near-midpoint limit); every code is
    # the reference's either way
    rng = np.random.default_rng(9)
    shape = [1, 2, 4, 40]
    q = [rng.integers(0, 256, size=shape).astype(np.uint8) for _ in range(2)]
    cases = [(256, 0.0, 0.05, 1), (16, 0.0, 0.05, 0), (256, -128.0, 0.05, 0), (256, 0.0, 2.0**23, 0)]
    for levels, low, s, expected in cases:
        node = make_node("Int8Add", [opset.parameter(shape, "u8", name="a"), opset.parameter(shape, "u8", name="b")],
                         {"full_shift": np.float32(3), "full_scale": np.float32(0.5),
                          "post_ops": (Multiply(np.float32(s)), Quantize(
                              np.float32(-1), np.float32(9), np.float32(low), np.float32(low + levels - 1), levels,
                              element_type="u8" if low == 0 else "i8"))}, name="add")
        (reference,) = INT8_OPS["Int8Add"].compute(node.attrs, *q)
        for variant in INTERLEAVED:
            kernel = backend(variant).kernel(node)
            plan = kernel.run.plan
            rq = np.frombuffer(plan.ffi.buffer(plan.params.rq, plan.planes * 16 * 4), np.float32).reshape(-1, 16)
            assert plan.requantizes and (rq[:, 14] == expected).all(), (variant, levels, low, s)
            (got,) = kernel.run(q)
            assert np.array_equal(got, reference), (variant, levels, low, s)


def test_folded_elementwise_requantization_on_every_pair_of_codes():
    # elt_rq folds an Int8Add's chain (d = a - h, p = d*r, e = p + b, y = e*s, then (y - il)*m)
    # into two fused multiply-adds whose value can fall on the other side of a midpoint than the
    # chain's: with these operands, worked in NumPy, it does for some of the 65536 pairs of codes
    # (e.g. a = 206, b = 233: 41.500023 against 41.49999 in the first case). In the third the
    # intermediates reach 9000 and the two differ by up to 6.3e-4, more than the chain's own
    # margin (255 * 2^-21): a = 137, b = 169 gives 45.49987 (not near a midpoint for the chain)
    # against 45.500206. The plane's lower near-midpoint limit must send every such lane back to
    # the chain; checked on all pairs, u8 and i8, a scalar plane and a plane per channel.
    pairs_a, pairs_b = np.divmod(np.arange(65536), 256)
    cases = [(15.23691, -1.0619591, 0.044059809, -0.12906903, 8.8988676),
             (5.5596118, -0.91419357, 0.088085465, -4.678928, 2.273297),
             (5188.2158, 1.8458207, 0.78690141, -7250.1963, -6990.1631)]
    for h, r, s, il, ih in cases:
        for dtype, offset in (("u8", 0), ("i8", 128)):
            q = [(v - offset).astype(np.uint8 if dtype == "u8" else np.int8).reshape(1, 1, 256, 256)
                 for v in (pairs_a, pairs_b)]
            for channels in (1, 2):
                inputs = [np.concatenate([x] * channels, axis=1) for x in q]
                shape = list(inputs[0].shape)
                per_channel = (lambda v: np.full((1, channels, 1, 1), v, np.float32)) if channels > 1 else np.float32
                node = make_node("Int8Add", [opset.parameter(shape, dtype, name="a"), opset.parameter(shape, dtype, name="b")],
                                 {"full_shift": per_channel(h), "full_scale": per_channel(r),
                                  "post_ops": (Multiply(per_channel(s)), Quantize(
                                      np.float32(il), np.float32(ih), np.float32(0), np.float32(255), 256, element_type="u8"))},
                                 name="add")
                (reference,) = INT8_OPS["Int8Add"].compute(node.attrs, *inputs)
                for variant in INTERLEAVED:
                    plan = backend(variant).kernel(node).run.plan
                    rq = np.frombuffer(plan.ffi.buffer(plan.params.rq, plan.planes * 16 * 4), np.float32)
                    rq = rq.reshape(plan.planes, 16)
                    assert plan.requantizes and (rq[:, 13] > 0.25).all(), variant
                    # 256 levels, ol 0: the folded chain's clamp left to the stores' saturation
                    # (elt_rq_folded_levels), levels of u running far outside 0 .. 255 here
                    assert (rq[:, 14] == 1).all(), variant
                    (got,) = backend(variant).kernel(node).run(inputs)
                    assert np.array_equal(got, reference), (variant, h, dtype, channels)


def _all_pairs(dtype0: str, dtype1: str) -> list[np.ndarray]:
    """Every pair of codes of the two types, as two [1, 1, 256, 256] inputs."""
    codes = {"u8": np.arange(256).astype(np.uint8), "i8": np.arange(-128, 128).astype(np.int8)}
    full, empty = np.meshgrid(codes[dtype0], codes[dtype1], indexing="ij")
    return [full.reshape(1, 1, 256, 256), empty.reshape(1, 1, 256, 256)]


def _scalar_add(dtype0: str, dtype1: str, h: float, r: float, s: float, il: float, ih: float) -> object:
    shape = [1, 1, 256, 256]
    return make_node("Int8Add", [opset.parameter(shape, dtype0, name="a"), opset.parameter(shape, dtype1, name="b")],
                     {"full_shift": np.float32(h), "full_scale": np.float32(r),
                      "post_ops": (Multiply(np.float32(s)), Quantize(
                          np.float32(il), np.float32(ih), np.float32(0), np.float32(255), 256, element_type="u8"))},
                     name="add")


def _rq_row(plan) -> np.ndarray:
    return np.frombuffer(plan.ffi.buffer(plan.params.rq, 16 * 4), np.float32).copy()


def test_an_add_whose_folded_chain_gives_every_pairs_code_runs_without_the_check():
    # A residual add as ResNet's (i8 codes of a convolution + u8 codes of the trunk, one scale
    # each, a ReLU's Quantize over [0, 6.2]): the folded chain without its near-midpoint check,
    # on fold_fields' constants or ones a float32 step away (here B: 2.0564516 -> 2.0564518),
    # gives the reference's code for all 65536 pairs, so the plan sets rq field 15, and the
    # kernel, run on every pair, stores the reference's codes
    if not INTERLEAVED:
        pytest.skip("only the AVX-512 builds requantize elementwise steps (elt_rq)")
    from refint8_backend_simd._plan.elementwise import fold_fields

    node = _scalar_add("i8", "u8", 0.0, 0.5, 0.05, 0.0, 6.2)
    inputs = _all_pairs("i8", "u8")
    (reference,) = INT8_OPS["Int8Add"].compute(node.attrs, *inputs)
    for variant in INTERLEAVED:
        kernel = backend(variant).kernel(node)
        row = _rq_row(kernel.run.plan)
        folded = fold_fields(1, row[None, :10], (-128.0, 127.0), (0.0, 255.0), 255.0)[0]
        steps = [abs(int(x.view(np.int32)) - int(y.view(np.int32))) for x, y in zip(row[10:13], folded[:3])]
        assert row[15] == 1 and max(steps) <= 48, (variant, steps)
        (got,) = kernel.run(inputs)
        assert np.array_equal(got, reference), variant


def test_an_add_whose_folded_chain_misses_a_pair_keeps_the_check_or_moves_its_constants():
    # The first case of test_folded_elementwise_requantization_on_every_pair_of_codes: fold_fields'
    # constants put a = 206, b = 233 on the other side of a midpoint than the reference's chain, so
    # without the check they would store a wrong code there. The plan keeps the check (field 15 at
    # 0) or runs without it only on constants moved by a few float32 steps that give every pair's
    # code; either way the kernel stores the reference's codes on every pair
    if not INTERLEAVED:
        pytest.skip("only the AVX-512 builds requantize elementwise steps (elt_rq)")
    from refint8_backend_simd._plan.elementwise import fold_fields

    node = _scalar_add("u8", "u8", 15.23691, -1.0619591, 0.044059809, -0.12906903, 8.8988676)
    inputs = _all_pairs("u8", "u8")
    (reference,) = INT8_OPS["Int8Add"].compute(node.attrs, *inputs)
    for variant in INTERLEAVED:
        kernel = backend(variant).kernel(node)
        row = _rq_row(kernel.run.plan)
        folded = fold_fields(1, row[None, :10], (0.0, 255.0), (0.0, 255.0), 255.0)[0]
        a, b, c = (np.float64(x) for x in folded[:3])
        with np.errstate(all="ignore"):   # the unmoved chain at that pair, in float64 (exact here)
            u = np.float32(np.float32(233 * b + c) + 206 * a)
        assert np.rint(u) != reference[0, 0, 206, 233]
        assert row[15] == 0 or not np.array_equal(row[10:13], folded[:3]), variant
        if row[15]:
            steps = [abs(int(x.view(np.int32)) - int(y.view(np.int32))) for x, y in zip(row[10:13], folded[:3])]
            assert max(steps) <= 48, (variant, steps)
        (got,) = kernel.run(inputs)
        assert np.array_equal(got, reference), variant


def test_the_search_tries_the_unmoved_constants_first_then_the_nearest():
    from refint8_backend_simd._plan.exhaustive import _nearby

    one = np.float32(1)
    tried = list(_nearby(one, one, one))
    assert tried[0] == (one, one, one)
    assert tried[1] == (one, np.nextafter(one, np.float32(2)), one)     # B one step up
    assert len(tried) == len(set(tried)) == 97 * 25                      # C: 0, +-1 .. +-48; A, B: 0, +-1, +-2
    assert all(abs(int(x.view(np.int32)) - 0x3F800000) <= 48 for t in tried for x in t)


def test_elementwise_folding_is_declined_where_its_bound_is_too_wide():
    # fold_fields gives limit 0 (the chain op by op) for Int8Multiply, for an operand that is not
    # finite, and where the bound E would take the limit below FOLD_MIN_LIMIT: here h = 3e7, whose
    # intermediates carry errors of about 2 per operation; the kernel then runs the chain, exactly
    from refint8_backend_simd._plan.elementwise import FOLD_MIN_LIMIT, fold_fields

    def fields(h, r, s, il, m):
        return np.array([[h, r, s, il, m, 0, 1, 255, il, il + 255 / m]], np.float32)

    typical = fold_fields(1, fields(3.0, 0.8, 0.01, 0.0, 25.0), (0, 255), (0, 255), 255)[0]
    assert typical[:3].tolist() == [np.float32(0.8 * 0.01 * 25.0), np.float32(0.01 * 25.0), np.float32(-3.0 * 0.8 * 0.01 * 25.0)]
    assert FOLD_MIN_LIMIT < typical[3] < np.float32(0.5) - np.float32(255 * 2.0 ** -21)
    assert fold_fields(2, fields(3.0, 0.8, 0.01, 0.0, 25.0), (0, 255), (0, 255), 255)[0, 3] == 0
    assert fold_fields(1, fields(3.0, np.inf, 0.01, 0.0, 25.0), (0, 255), (0, 255), 255)[0, 3] == 0
    assert fold_fields(1, fields(3e7, 1.0, 1.0, -3e7, 1.0), (0, 255), (0, 255), 255)[0, 3] == 0
    a, b = (np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16), np.full((1, 1, 16, 16), 7, np.uint8))
    shape = [1, 1, 16, 16]
    node = make_node("Int8Add", [opset.parameter(shape, "u8", name="a"), opset.parameter(shape, "u8", name="b")],
                     {"full_shift": np.float32(3e7), "full_scale": np.float32(1.0),
                      "post_ops": (Multiply(np.float32(1.0)), Quantize(
                          np.float32(-3e7), np.float32(-3e7 + 4096), np.float32(0), np.float32(255), 256,
                          element_type="u8"))}, name="add")
    (reference,) = INT8_OPS["Int8Add"].compute(node.attrs, a, b)
    for variant in INTERLEAVED:
        plan = backend(variant).kernel(node).run.plan
        assert plan.requantizes and np.frombuffer(plan.ffi.buffer(plan.params.rq, 14 * 4), np.float32)[13] == 0
        (got,) = backend(variant).kernel(node).run([a, b])
        assert np.array_equal(got, reference), variant


@st.composite
def fake_quantize_cases(draw):
    shape = draw(st.sampled_from([(1, 3, 5, 7), (2, 16, 3, 3), (1, 33, 1, 1), (5, 17)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from(["f32", "f32", "u8", "i8"]))
    if dtype == "f32":
        x = rng.normal(0, 2, size=shape).astype(np.float32)
        x.reshape(-1)[:3] = [0.5, -1.0, 1.25]            # on range bounds and level ties
    else:
        x = codes(draw, shape, dtype)
    c = shape[1]
    per_channel = draw(st.booleans())
    lshape = (1, c) + (1,) * (len(shape) - 2) if per_channel else ()
    il = (rng.uniform(-2, 0, size=lshape) if per_channel else np.float32(-1.0)).astype(np.float32)
    ih = (il + rng.uniform(0.5, 3, size=lshape)).astype(np.float32) if per_channel else np.float32(1.5)
    out_type = draw(st.sampled_from(["f32", "u8", "i8"]))
    levels = draw(st.sampled_from([2, 16, 255, 256])) if out_type == "f32" else 256
    ol, oh = {"f32": (np.float32(-0.3), np.float32(2.2)), "u8": (np.float32(0), np.float32(255)),
              "i8": (np.float32(-128), np.float32(127))}[out_type]
    ranges = [opset.constant(np.asarray(v, np.float32), name=f"r{i}") for i, v in enumerate((il, ih, ol, oh))]
    node = make_node("FakeQuantize", [opset.parameter(list(shape), dtype, name="x"), *ranges],
                     {"levels": levels, "output_type": out_type}, name="fq")
    return node, [x] + [np.asarray(v, np.float32) for v in (il, ih, ol, oh)]


@st.composite
def max_pool_cases(draw):
    dtype = draw(st.sampled_from(["u8", "i8"]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sy, sx = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pads = [draw(st.integers(0, k - 1)) for k in (kh, kw, kh, kw)]
    h, w = draw(st.integers(kh, 12)), draw(st.integers(kw, 70))
    shape = (draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 3, 16])), h, w)
    node = make_node("MaxPool", [opset.parameter(list(shape), dtype, name="x")],
                     {"kernel": (kh, kw), "strides": (sy, sx), "pads_begin": pads[:2], "pads_end": pads[2:],
                      "rounding_type": draw(st.sampled_from(["floor", "ceil"]))}, name="pool")
    return node, [codes(draw, shape, dtype)]


@st.composite
def avg_pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sy, sx = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    exclude_pad = draw(st.booleans())
    pads = [draw(st.integers(0, k - 1)) for k in (kh, kw, kh, kw)]
    h, w = draw(st.integers(kh, 12)), draw(st.integers(kw, 30))
    if draw(st.booleans()):                     # global average pooling
        kh, kw, sy, sx, pads = h, w, 1, 1, [0, 0, 0, 0]
    shape = (draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 3, 16])), h, w)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = (rng.normal(0, 3, size=shape) * rng.choice([1, 1e-3, 1e6], size=shape)).astype(np.float32)
    if draw(st.booleans()):
        x.reshape(-1)[: draw(st.integers(1, 3))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, -0.0, 2.0**24]))
    node = make_node("AvgPool", [opset.parameter(list(shape), "f32", name="x")],
                     {"kernel": (kh, kw), "strides": (sy, sx), "pads_begin": pads[:2], "pads_end": pads[2:],
                      "exclude_pad": exclude_pad,
                      "rounding_type": draw(st.sampled_from(["floor", "ceil"]))}, name="avgpool")
    return node, [x]


# -- tests -----------------------------------------------------------------------------------------

@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(conv_cases())
def test_convolution_equals_reference_on_every_variant(case):
    node, q, weights = case
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    check_all_variants(node, [q], reference)


#: the variants whose convolution kernels requantize the common chain themselves (r8_conv.rq): the
#: 16-lane ones (AMX's between the tile steps of its next block)
INTERLEAVED = [v for v in VARIANTS if v in ("avx512", "avx512_vnni", "avx512_pairs", "amx", "amx_emu")]
#: and the 4- and 8-lane ones, in their epilogue (rq_epilogue, without an FMA)
EPILOGUE_RQ = [v for v in VARIANTS if v in ("sse42", "avx2")]
#: every variant whose convolutions requantize (r8_conv.rq)
REQUANTIZING = INTERLEAVED + EPILOGUE_RQ


@given(conv_cases(chains=requantization_chains, weight_zero_points=False))
def test_interleaved_requantization_equals_reference(case):
    node, q, weights = case
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    check_all_variants(node, [q], reference)
    # ol = 0 (u8 codes) stores the code as it is; i8 codes (ol = -128) flip the top bit of its
    # byte on AMX
    quantize = node.attrs["post_ops"][-1]
    ol_zero = not np.any(quantize.output_low)
    for variant in REQUANTIZING:
        plan = backend(variant).kernel(node).run.plan
        assert plan.params.rq != plan.ffi.NULL, variant
        assert plan.params.rq_ol_zero == ol_zero, variant
        assert plan.params.rq_ol_flip == (not ol_zero and bool(np.all(quantize.output_low == -128))), variant


def _check_interleaved_and_direct(node, q, expected):
    """Every AVX-512 variant's position kernel (not AMX's) with its tiles requantized interleaved
    and from their accumulators (r8_conv.rq_interleave 1 and 0), against ``expected``."""
    for variant in [v for v in INTERLEAVED if v not in AMX]:
        with output_channel_lanes("never"):
            kernel = backend(variant).kernel(node)
        for interleave in (1, 0):
            kernel.run.plan.params.rq_interleave = interleave
            (got,) = kernel.run([q])
            assert np.array_equal(got, expected), (variant, interleave)


@pytest.mark.parametrize("element_type", ["u8", "i8"])
@pytest.mark.parametrize("plane", [(4, 64), (3, 23)])
def test_saturating_stores_give_the_clamped_codes_of_levels_far_outside_the_range(element_type, plane):
    # acc = q0 - q1 in -255 .. 255, y = 2 acc, and a 256-level Quantize over [0, 255]: the level is y
    # itself (an integer), clamped to 0 .. 255, and the code that level (u8) or the level - 128
    # (i8). A 1x1 layer: the AVX-512 kernels leave the clamp to the saturation of their packs
    # (r8_conv.rq_saturate, rq_level, rq_store_levels) for whole tiles from their accumulators,
    # and clamp x first elsewhere (a tile's vectors one by one: interleaved, or the last vector, of
    # 5 positions, of the 3 x 23 plane), levels running from -510 to 510 here
    rng = np.random.default_rng(3)
    q = rng.integers(0, 256, size=(1, 2, *plane)).astype(np.uint8)
    oc = 40
    weights = np.zeros((oc, 2, 1, 1), np.int8)
    weights[:, 0], weights[:, 1] = 1, -1
    low = np.float32(0 if element_type == "u8" else -128)
    chain = (Multiply(np.float32(2)), Add(np.float32(0)),
             Quantize(np.float32(0), np.float32(255), low, low + np.float32(255), 256, element_type=element_type))
    node = conv(q, weights, post_ops=chain)
    level = np.clip(2 * (q[:, 0].astype(np.int32) - q[:, 1].astype(np.int32)), 0, 255)
    expected = np.broadcast_to((level + int(low))[:, None], (1, oc, *plane)).astype(
        np.uint8 if element_type == "u8" else np.int8)
    assert (level == 0).any() and (level == 255).any()
    check_all_variants(node, [q], expected)
    for variant in REQUANTIZING:
        plan = backend(variant).kernel(node).run.plan
        assert plan.params.rq_saturate == 1, variant
    _check_interleaved_and_direct(node, q, expected)


@pytest.mark.parametrize("element_type", ["u8", "i8"])
def test_saturating_stores_give_255_for_levels_past_two_to_the_15(element_type):
    # As above with Multiply(200): levels up to 200 * 255 = 51000. The packs from dwords to words
    # must saturate as signed (51000 -> 32767 -> 255): unsigned (51000 stays 51000, whose word
    # is negative as an int16) stored 0 for 255 on the AVX-512 variants (found in session 20); i8
    # codes too, interleaved or not
    rng = np.random.default_rng(3)
    q = rng.integers(0, 256, size=(1, 2, 4, 64)).astype(np.uint8)
    weights = np.zeros((40, 2, 1, 1), np.int8)
    weights[:, 0], weights[:, 1] = 1, -1
    low = np.float32(0 if element_type == "u8" else -128)
    chain = (Multiply(np.float32(200)), Add(np.float32(0)),
             Quantize(np.float32(0), np.float32(255), low, low + np.float32(255), 256, element_type=element_type))
    node = conv(q, weights, post_ops=chain)
    acc = q[:, 0].astype(np.int32) - q[:, 1].astype(np.int32)
    assert (200 * acc > 32767).any()
    expected = np.broadcast_to((np.clip(200 * acc, 0, 255) + int(low))[:, None], (1, 40, 4, 64)).astype(
        np.uint8 if element_type == "u8" else np.int8)
    check_all_variants(node, [q], expected)
    for variant in REQUANTIZING:
        assert backend(variant).kernel(node).run.plan.params.rq_saturate == 1, variant
    _check_interleaved_and_direct(node, q, expected)


def test_elementwise_saturating_stores_give_255_for_levels_past_two_to_the_15():
    # Int8Add of u8 codes, h 0, r 1: u = a + b, y = 150 u; Quantize over [0, 255] with 256 levels
    # and ol 0: the level is 150 u (up to 38250), the code min(150 u, 255).
    # The folded chain leaves the clamp to the stores' saturation (rq field 14), whose packs must
    # saturate as signed (see the convolution's test above)
    a, b = (np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16), np.zeros((1, 1, 16, 16), np.uint8))
    shape = [1, 1, 16, 16]
    node = make_node("Int8Add", [opset.parameter(shape, "u8", name="a"), opset.parameter(shape, "u8", name="b")],
                     {"full_shift": np.float32(0), "full_scale": np.float32(1),
                      "post_ops": (Multiply(np.float32(150)), Quantize(
                          np.float32(0), np.float32(255), np.float32(0), np.float32(255), 256, element_type="u8"))},
                     name="add")
    expected = np.minimum(150 * a.astype(np.int32), 255).astype(np.uint8)
    for variant in VARIANTS:
        kernel = backend(variant).kernel(node)
        (got,) = kernel.run([a, b])
        assert np.array_equal(got, expected), variant
    for variant in INTERLEAVED:
        plan = backend(variant).kernel(node).run.plan
        rq = np.frombuffer(plan.ffi.buffer(plan.params.rq, plan.planes * 16 * 4), np.float32).reshape(-1, 16)
        assert plan.requantizes and (rq[:, 14] == 1).all(), variant


def test_a_multiply_whose_levels_could_reach_two_to_the_31_keeps_the_clamps():
    # Multiply(2^24) on sums up to 9 * 255 * 128: the unclamped level could pass 2^31, where
    # vcvtps2dq gives INT_MIN and the packs would store 0 for 255. Codes: 255 for a positive sum,
    # 0 for a zero one (the level is 2^24 * acc, clamped)
    q = np.zeros((1, 9, 2, 32), np.uint8)
    q[0, :, 0, :5] = 255
    q[0, 0, 1, 7] = 1
    weights = np.ones((3, 9, 1, 1), np.int8) * 127
    chain = (Multiply(np.float32(2.0**24)), Add(np.float32(0)),
             Quantize(np.float32(0), np.float32(255), np.float32(0), np.float32(255), 256, element_type="u8"))
    node = conv(q, weights, post_ops=chain)
    expected = np.zeros((1, 3, 2, 32), np.uint8)
    expected[0, :, 0, :5] = 255
    expected[0, :, 1, 7] = 255
    check_all_variants(node, [q], expected)
    for variant in REQUANTIZING:
        plan = backend(variant).kernel(node).run.plan
        assert plan.params.rq != plan.ffi.NULL and plan.params.rq_saturate == 0, variant


@given(conv_cases(chains=requantization_chains, weight_zero_points=False))
def test_requantization_between_or_after_the_tiles_gives_the_same_codes(case):
    # r8_conv.rq_interleave (set for AMD CPUs) only moves the requantization of a tile between the
    # next tile's input-channel steps; either way every code is the reference's
    node, q, weights = case
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    for variant in [v for v in INTERLEAVED if v not in AMX]:
        with output_channel_lanes("never"):
            kernel = backend(variant).kernel(node)
        params = kernel.run.plan.params
        for interleave in (0, 1):
            params.rq_interleave = interleave
            (got,) = kernel.run([q])
            assert np.array_equal(got, reference), (variant, interleave)


#: Multiply(0.1), Quantize over [0, 51] with 256 levels: the fused chain's A is
#: float32(0.1 * 255 / 51) = 0.5 (B = 0), so an odd acc = 2m + 1 is x = m + 0.5 exactly, where rint
#: takes the even neighbour; the reference computes ((acc * 0.1) / 51) * 255, a few float32 steps
#: off m + 0.5, and rounds to the nearer side (at acc = 13, 19, 23, ... the odd one)
MIDPOINT_CHAIN = (Multiply(np.float32(0.1)), Add(np.float32(0)),
                  Quantize(np.float32(0), np.float32(51), np.float32(0), np.float32(255), 256, element_type="u8"))


def _midpoint_layer(q, oc):
    """A 1x1 layer of MIDPOINT_CHAIN whose output channel j weighs input channel 0 by
    2*(j % 5) + 1 and the others by 0: (node, the reference's codes, the fused chain's codes
    rint(min(255, acc / 2)) as [oc, positions])."""
    weights = np.zeros((oc, q.shape[1], 1, 1), np.int8)
    weights[:, 0, 0, 0] = 2 * (np.arange(oc) % 5) + 1
    node = conv(q, weights, post_ops=MIDPOINT_CHAIN)
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    acc = weights[:, 0, 0, 0].astype(np.float32).reshape(oc, 1) * q[0, 0].reshape(1, -1).astype(np.float32)
    return node, reference, np.rint(np.minimum(np.float32(255), acc * np.float32(0.5)))


def test_interleaved_tiles_recheck_exactly_their_vectors_at_a_midpoint():
    # The interleaved requantization checks a tile once it is done (the largest gap of its
    # vectors); where a lane came near a midpoint, rq_recheck finds the vectors whose own gap is
    # near, worked out again from the tile's raw sums, and requantizes them by the reference's
    # formula. MIDPOINT_CHAIN (fused A = 0.5: an odd acc is x = m + 0.5 exactly, where the fused
    # code and the reference's differ at acc = 13, 39, 65, ...): input
    # channel 0 even (acc even: no lane near) but 13 at three positions in different vectors and
    # tiles, weights 1, 3, ..., 9 on it (0 on the 63 others: 16 input-channel steps a tile) for 12
    # output channels (two blocks); a plane of 10 vectors (tiles of 4, 3 and 3 vectors).
    oc = 12
    rng = np.random.default_rng(33)
    q = rng.integers(0, 256, (1, 64, 8, 20)).astype(np.uint8)
    q[0, 0] = 2 * rng.integers(0, 12, (8, 20))
    near = [37, 101, 150]   # vectors 2, 6 and 9: the first tile's, the second's, the third's
    q[0, 0].reshape(-1)[near] = 13
    node, reference, fused = _midpoint_layer(q, oc)
    differs = reference.reshape(oc, -1) != fused
    assert differs[:, near].any() and not np.delete(differs, near, axis=1).any()   # (the premise)
    for variant in [v for v in INTERLEAVED if v not in AMX]:
        with output_channel_lanes("never"):
            kernel = backend(variant).kernel(node)
        params = kernel.run.plan.params
        assert params.rq != kernel.run.plan.ffi.NULL, variant
        for interleave in (1, 0):
            params.rq_interleave = interleave
            (got,) = kernel.run([q])
            assert np.array_equal(got, reference), (variant, interleave)


@pytest.mark.parametrize("channels, window, size, interleaved", [
    (16, 1, (6, 20), False), (32, 1, (6, 20), False), (64, 1, (6, 20), True), (4, 3, (6, 20), False),
    (8, 3, (6, 20), True), (64, 1, (7, 7), False), (64, 1, (10, 12), True), (64, 1, (9, 9), False),
    (96, 1, (14, 14), False), (128, 1, (9, 9), True)])
@pytest.mark.skipif("avx512_vnni" not in VARIANTS, reason="the rule is avx512_vnni's (AVX-512 VNNI here)")
def test_only_tiles_of_16_steps_or_more_interleave_their_requantization(channels, window, size, interleaved):
    # On AMD CPUs avx512_vnni's position kernel requantizes a tile between the next tile's
    # input-channel steps (taps x 4-channel cells) only where there are at least 16 of them
    # (RQ_INTERLEAVE_MIN_STEPS), 32 where the plane ends in a tail of at most 4 positions
    # (RQ_INTERLEAVE_MIN_STEPS_WITH_TAIL), and the plane holds more than one tile (4 vectors): a
    # 1x1 layer of 16 or 32 input channels (4, 8 steps) and a 3x3 one of 4 (9 steps) requantize
    # each tile from its accumulators, and so does a 1x1 layer of 64 on a 7x7 plane (49 positions:
    # 4 vectors); 64 channels (16 steps) on 6x20 (8 whole vectors) or 10x12 (7 vectors and 8
    # positions) and a 3x3 layer of 8 (18 steps) interleave. With a tail, 64 channels on 9x9 (5
    # vectors and 1 position) and 96 on 14x14 (24 steps; 12 vectors and 4 positions) do not, 128 on
    # 9x9 (32 steps) does. Elsewhere (Intel) no tile interleaves.
    rng = np.random.default_rng(channels)
    q = rng.integers(0, 256, size=(1, channels, *size)).astype(np.uint8)
    weights = rng.integers(-128, 128, size=(8, channels, window, window)).astype(np.int8)
    pad = window // 2
    scale = np.float32(1 / (np.sqrt(channels) * window * 127 * 74))   # a typical sum onto about 1
    chain = (Multiply(scale), Add(np.float32(0.1)),
             Quantize(np.float32(0), np.float32(2), np.float32(0), np.float32(255), 256, element_type="u8"))
    node = conv(q, weights, pads_begin=(pad, pad), pads_end=(pad, pad), post_ops=chain)
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    for variant in [v for v in VARIANTS if v == "avx512_vnni"]:
        with output_channel_lanes("never"):
            kernel = backend(variant).kernel(node)
        plan = kernel.run.plan
        amd = bool(backend(variant).lib.r8_cpu_features() & 128)
        assert plan.params.rq != plan.ffi.NULL, variant
        assert plan.params.rq_interleave == (amd and interleaved), variant
        assert np.array_equal(kernel.run([q])[0], reference), variant


def _threshold_layer(kind, chain, oc=12):
    """A layer whose accumulators run over every value from -255 to 255 (kind "pointwise": a 1x1
    layer of two input channels, the second all zeros; "depthwise": 3x3, pad 1, the centre tap
    alone): each channel's weight is +1 or -1 (alternating), the input every u8 code, so acc = +-q
    on every plane."""
    sign = np.where(np.arange(oc) % 2 == 0, 1, -1).astype(np.int8)
    if kind == "pointwise":
        q = np.zeros((1, 2, 16, 16), np.uint8)
        q[0, 0] = np.arange(256, dtype=np.uint8).reshape(16, 16)
        weights = np.zeros((oc, 2, 1, 1), np.int8)
        weights[:, 0, 0, 0] = sign
        return conv(q, weights, post_ops=chain), q, weights
    q = np.broadcast_to(np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16), (1, oc, 16, 16)).copy()
    weights = np.zeros((oc, 1, 3, 3), np.int8)
    weights[:, 0, 1, 1] = sign
    return conv(q, weights, group=oc, pads_begin=(1, 1), pads_end=(1, 1), post_ops=chain), q, weights


def _proven_planes(plan):
    """r8_conv.rq_proven as a bool per plane (all False where it is NULL)."""
    p, rows = plan.params, plan.params.N * plan.params.OC
    if p.rq_proven == plan.ffi.NULL:
        return np.zeros(rows, bool)
    return np.frombuffer(plan.ffi.buffer(p.rq_proven, rows), np.uint8).astype(bool)


def _proving_kernels(node):
    """(variant, kernel) for each variant whose kernel for node reads r8_conv.rq_proven: the
    direct tiles of avx512 and avx512_vnni, r8_dwb, r8_dwc, the AVX-512 builds' r8_dw."""
    for variant in [v for v in VARIANTS if v in ("avx512", "avx512_vnni", "amx_emu")]:
        with output_channel_lanes("never"):
            kernel = backend(variant).kernel(node)
        plan = kernel.run.plan
        name = plan.function.__name__
        if name.startswith(("r8_dwb_", "r8_dwc_", "r8_dw_")) or (name in ("r8_conv_avx512", "r8_conv_avx512_vnni")
                                                      and not plan.params.rq_interleave):
            yield variant, kernel


@pytest.mark.parametrize("element_type", ["u8", "i8"])
@pytest.mark.parametrize("kind", ["pointwise", "depthwise"])
def test_a_chain_whose_thresholds_are_the_references_runs_without_the_check(kind, element_type):
    # Per channel a scale of its own (the sign of its weight: every plane's codes rise with q),
    # a shift and a Quantize over [0, 3] with 256 levels: none of the fused chain's 255 thresholds
    # a plane (_plan/threshold_proof.py) lies where the reference's rounding would move it (no
    # round decimals: a scale of 0.013 puts acc = 100 exactly on the midpoint 110.5, where the
    # two chains round apart), so the plan proves the chain (r8_conv.rq_proven) and the kernels
    # leave the near-midpoint check out; every accumulator the planes reach here (-255 .. 255 over
    # the channels) gives the reference's code, u8 (ol 0) or i8 (ol -128: levels are code - ol)
    oc = 12
    low = np.float32(0 if element_type == "u8" else -128)
    sign = np.where(np.arange(oc) % 2 == 0, 1, -1).astype(np.float32)
    scale = (sign * (np.float32(0.0131) + np.float32(0.00737) * np.arange(oc, dtype=np.float32))).reshape(1, oc, 1, 1)
    chain = (Multiply(scale), Add((np.float32(0.0513) * np.arange(oc, dtype=np.float32)).reshape(1, oc, 1, 1)),
             Quantize(np.float32(0), np.float32(3), low, low + np.float32(255), 256, element_type=element_type))
    node, q, weights = _threshold_layer(kind, chain, oc)
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    assert len(np.unique(reference)) >= 250   # nearly every level is reached
    kernels = list(_proving_kernels(node))
    if not kernels:
        pytest.skip("no kernel here reads r8_conv.rq_proven (AVX-512, and VBMI for r8_dwb)")
    for variant, kernel in kernels:
        assert _proven_planes(kernel.run.plan).all(), variant
        (got,) = kernel.run([q])
        assert np.array_equal(got, reference), variant
    check_all_variants(node, [q], reference)


@pytest.mark.parametrize("kind", ["pointwise", "depthwise"])
def test_a_chain_whose_fused_code_differs_at_a_midpoint_keeps_the_check(kind):
    # MIDPOINT_CHAIN: at an odd acc the fused chain's x is a midpoint, where rint takes the even
    # neighbour and the reference, a few float32 steps off, the nearer side (at acc = 13, 19, 23,
    # ... the odd one). The thresholds disagree, the plan does not prove the chain, and the
    # kernels' check gives the reference's codes
    node, q, weights = _threshold_layer(kind, MIDPOINT_CHAIN)
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    acc = np.arange(256, dtype=np.float32)
    fused = np.rint(np.minimum(np.float32(255), acc * np.float32(0.5)))
    by_formula = np.minimum(np.float32(255), np.rint(((acc * np.float32(0.1)) / np.float32(51)) * np.float32(255)))
    assert np.float32(0.1 * 255 / 51) == np.float32(0.5) and fused[13] == 6 and by_formula[13] == 7   # the premise
    kernels = list(_proving_kernels(node))
    if not kernels:
        pytest.skip("no kernel here reads r8_conv.rq_proven (AVX-512, and VBMI for r8_dwb)")
    for variant, kernel in kernels:
        assert not _proven_planes(kernel.run.plan).any(), variant
    check_all_variants(node, [q], reference)


def test_planes_proven_with_moved_constants_give_the_references_codes_on_every_accumulator():
    # 192 depthwise 1x1 channels (every accumulator they can reach: |acc| <= 255 * 128), scales and
    # shifts of MobileNetV2's kind, a Quantize over [0, 6]: a few planes' fused chains
    # (fused_requantization's A and B) round a level's threshold apart from the reference's; the
    # prover moves their A and B (_plan/threshold_proof.py) until every threshold agrees. Over
    # every accumulator in reach, the chain the kernels run (r8_rq_fused_codes, with the plan's
    # table) gives the reference's code on each proven plane, and without the moves it did not
    from refint8_backend_simd._plan.fused_requantization import fused_requantization

    rng = np.random.default_rng(5)
    oc, reach = 192, 255 * 128
    scale = (rng.uniform(2e-4, 2e-3, oc) * np.where(rng.random(oc) < 0.5, 1, -1)).astype(np.float32)
    shift = rng.uniform(-1, 3, oc).astype(np.float32)
    chain = (Multiply(scale.reshape(1, oc, 1, 1)), Add(shift.reshape(1, oc, 1, 1)),
             Quantize(np.float32(0), np.float32(6), np.float32(0), np.float32(255), 256, element_type="u8"))
    node = conv(np.zeros((1, oc, 4, 4), np.uint8), np.ones((oc, 1, 1, 1), np.int8), group=oc, post_ops=chain)
    kernels = list(_proving_kernels(node))
    if not kernels:
        pytest.skip("no kernel here reads r8_conv.rq_proven (AVX-512, and VBMI for r8_dwb)")
    acc = np.tile(np.arange(-reach, reach + 1, dtype=np.int32), (oc, 1))
    acc = np.pad(acc, ((0, 0), (0, -acc.shape[1] % 16)))
    reference = apply_post_ops(acc.astype(np.float32).reshape(1, oc, 1, -1), chain).reshape(oc, -1)
    a, b, _ = fused_requantization(scale, shift, np.zeros(oc, np.float32), np.full(oc, 6, np.float32), 255.0)
    for variant, kernel in kernels:
        plan = kernel.run.plan
        proven = _proven_planes(plan)
        fused_codes = getattr(backend(variant).lib, f"r8_rq_fused_codes_{variant}")

        def codes_of(table):
            trial = plan.ffi.new("r8_conv *", plan.params[0])
            trial.rq = plan.ffi.cast("float *", plan.ffi.from_buffer(table))
            out = np.empty(acc.shape, np.uint8)
            fused_codes(trial, plan.ffi.cast("int *", plan.ffi.from_buffer(acc)), oc, acc.shape[1],
                        plan.ffi.cast("unsigned char *", plan.ffi.from_buffer(out)))
            return out

        table = plan._rq_table.copy()
        moved = (table[:, 8] != a) | (table[:, 9] != b)
        assert proven.sum() >= oc - 2 and (moved & proven).any(), variant
        assert np.array_equal(codes_of(table)[proven], reference[proven]), variant
        unmoved = table.copy()
        unmoved[:, 8], unmoved[:, 9] = a, b
        assert not np.array_equal(codes_of(unmoved)[moved], reference[moved]), variant


#: (h, w, kh, kw, stride, pad): output planes whose last virtual vector holds one valid position at
#: every width (7x7 = 3*16 + 1 positions; 14x14 3x3 pad 1 runs 15 virtual columns, the right pad
#: left out (virtual_row_width): 210 = 13*16 + 2, of which only column 13 of row 13 is an output):
#: the tail (r8_conv.tail_n, conv_tail) on every variant but AMX
ONE_LANE_TAILS = [(7, 7, 1, 1, 1, 0), (14, 14, 1, 1, 2, 0), (14, 14, 3, 3, 1, 1), (3, 11, 1, 1, 1, 0), (1, 17, 1, 1, 1, 0)]

#: planes whose last vector holds 2-4 positions, and the tail each lane count gives (VL/4 at most)
MULTI_LANE_TAILS = {(14, 14, 1, 1, 1, 0): {16: 4, 8: 0, 4: 0},    # 196 = 12*16 + 4 = 24*8 + 4
                    (28, 28, 1, 1, 2, 0): {16: 4, 8: 0, 4: 0},    # the same plane at stride 2
                    (3, 6, 1, 1, 1, 0): {16: 2, 8: 2, 4: 0},      # 18 = 16 + 2
                    (1, 19, 1, 1, 1, 0): {16: 3, 8: 0, 4: 0}}     # 19 = 16 + 3


@st.composite
def tail_conv_cases(draw, chains, planes=ONE_LANE_TAILS):
    """Convolutions whose output plane ends in a vector of few positions (one: ONE_LANE_TAILS),
    plain or grouped, any channel counts (not multiples of the lanes too), u8 or i8 input with
    zero points."""
    h, w, kh, kw, s, pad = draw(st.sampled_from(list(planes)))
    dtype = draw(st.sampled_from(["u8", "i8"]))
    group = draw(st.sampled_from([1, 1, 2, 3]))
    cg, ocg = draw(st.sampled_from([2, 3, 4, 17, 64])), draw(st.sampled_from([1, 5, 16, 17, 40]))   # cg 1: depthwise
    c, oc = group * cg, group * ocg
    q = codes(draw, (1, c, h, w), dtype)
    weights = weight_codes(draw, (oc, cg, kh, kw))
    za, _ = zero_points(draw, dtype, c, oc)
    oh, ow = (h + 2 * pad - kh) // s + 1, (w + 2 * pad - kw) // s + 1

    def axis_shape(channels):
        return (1, channels, 1, 1) if channels else (1, oc, oh, ow)

    attrs = dict(strides=(s, s), dilations=(1, 1), pads_begin=(pad, pad), pads_end=(pad, pad), group=group,
                 input_zero_point=za, weight_zero_point=(),
                 post_ops=draw(chains(oc, axis_shape, acc_scale=cg * kh * kw * 255 * 128)),
                 accumulation=draw(st.sampled_from(["exact", "exact", "s16_pairs"])))
    x = opset.parameter(list(q.shape), dtype, name="x")
    node = make_node("Int8Convolution", [x, opset.constant(weights, name="w")], attrs, name="conv")
    return node, q, weights


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(tail_conv_cases(post_op_chains), tail_conv_cases(requantization_chains)))
def test_one_position_tail_vector_runs_channels_across_lanes_exactly(case):
    node, q, weights = case
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    check_all_variants(node, [q], reference)
    amx = node.attrs["accumulation"] == "exact"   # (an s16_pairs node runs avx512_pairs on amx)
    for variant in VARIANTS:
        plan = backend(variant).kernel(node).run.plan
        assert plan.params.tail_n == (0 if variant in AMX and amx else 1), variant


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(tail_conv_cases(post_op_chains, MULTI_LANE_TAILS),
                 tail_conv_cases(requantization_chains, MULTI_LANE_TAILS)))
def test_tail_of_two_to_four_positions_equals_the_reference(case):
    """conv_tail's dot products run all positions of the tail against each weight load."""
    node, q, weights = case
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    check_all_variants(node, [q], reference)
    plane = next(key for key in MULTI_LANE_TAILS if key[:2] == q.shape[2:])   # (h, w) tell them apart
    amx = node.attrs["accumulation"] == "exact"
    for variant in VARIANTS:
        plan = backend(variant).kernel(node).run.plan
        want = 0 if variant in AMX and amx else MULTI_LANE_TAILS[plane][plan.vl]
        assert plan.params.tail_n == want, variant


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tail_conv_cases(requantization_chains), st.data())
def test_tail_vector_with_its_consumer_equals_the_two_reference_layers(case, data):
    conv_node, q, weights = case
    shape = conv_node.output_types[0].shape
    other = codes(data.draw, shape, "u8")
    link = data.draw(st.integers(0, 1))
    sources = [conv_node.output(0), opset.parameter(list(shape), "u8", name="other")]
    if link == 1:
        sources.reverse()
    quantize = Quantize(np.float32(0), np.float32(2), np.float32(0), np.float32(255), 256, element_type="u8")
    attrs = {"post_ops": (Multiply(np.float32(0.004)), quantize), "full_shift": np.float32(-3.5),
             "full_scale": np.float32(0.75)}
    check_pair(conv_node, make_node("Int8Add", sources, attrs, name="elt"), q, weights, other, link)


def test_tail_is_only_for_a_last_vector_of_few_valid_positions():
    """14x14 (196 = 12*16 + 4 positions): a tail of 4 on the 16-lane variants, none on AVX2
    (196 = 24*8 + 4: more than 8/4) or SSE4.2 (196 = 49*4: no partial vector); 5x5 3x3 pad 1
    (6 virtual columns, 30 positions): 11 outputs in the last vector at 16 lanes, 5 at 8, 1 at 4."""
    for (h, kh, pad), expected in (((14, 1, 0), {16: 4, 8: 0, 4: 0}), ((5, 3, 1), {16: 0, 8: 0, 4: 1})):
        q = np.zeros((1, 8, h, h), np.uint8)
        node = conv(q, np.ones((8, 8, kh, kh), np.int8), pads_begin=(pad, pad), pads_end=(pad, pad))
        for variant in VARIANTS:
            plan = backend(variant).kernel(node).run.plan
            want = 0 if variant in AMX else expected[plan.vl]
            assert plan.params.tail_n == want, (variant, h, kh)


@pytest.mark.parametrize("side, tail", [(7, 1), (14, 4)])
def test_tail_positions_at_a_midpoint_get_the_references_codes(side, tail):
    # The tail's positions x a block's channels are requantized in one vector (r8simd_conv.h
    # tail_rq), whose check must recompute each lane near a midpoint by the reference's formula
    # with its own channel's fields. MIDPOINT_CHAIN (fused A = 0.5: an odd acc = 2m + 1 is
    # x = m + 0.5 exactly, where rint takes the even neighbour and the reference, a few float32
    # steps off, the nearer side: at 13, 19, 23, ... the odd one), odd weights of each channel
    # (1, 3, ..., 9) and odd inputs: every accumulator odd, every lane at a midpoint. 14 channels:
    # blocks of 6, 6 and 2 channels.
    oc = 14
    q = np.zeros((1, 2, side, side), np.uint8)
    q[0, 0] = 2 * np.random.default_rng(side).integers(0, 28, (side, side)) + 1    # odd, 1 .. 55
    q[0, 0, -1, -tail:] = (13, 19, 23, 13)[:tail]   # (with weight 1: codes the fused chain rounds apart)
    node, reference, fused = _midpoint_layer(q, oc)
    in_tail = reference.reshape(oc, -1)[:, -tail:] != fused[:, -tail:]
    assert in_tail.any() and (in_tail.sum(axis=0) < oc).all()   # the premise: lanes of both kinds
    for variant in VARIANTS:
        plan = backend(variant).kernel(node).run.plan
        if plan.vl == 16 and variant not in AMX:
            assert plan.params.tail_n == tail, variant
    check_all_variants(node, [q], reference)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(conv_cases(), tail_conv_cases(post_op_chains)), st.integers(0, 255))
def test_convolutions_write_the_shared_scratch_before_reading_it(case, fill):
    """The plans of a thread share one scratch buffer (_plan.common.scratch_pointer): whatever
    another layer left in it must not change a result."""
    from refint8_backend_simd._plan import common

    node, q, weights = case
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    for variant in VARIANTS:
        kernel = backend(variant).kernel(node)
        plan = kernel.run.plan
        common.scratch_pointer(plan.ffi, plan.scratch_bytes)
        common._ARENA.buffer[:] = fill
        (got,) = kernel.run([q])
        assert same(got, reference), variant


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(depthwise_cases(chains=requantization_chains))
def test_depthwise_kernels_requantize_the_common_chain_exactly(case):
    # r8_dw and r8_dwb run the common chain through rq_channel (weight zero points included: r8_dw
    # folds them into its weights)
    node, q, weights, threads = case
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    for variant in VARIANTS:
        kernel = backend(variant, threads=threads).kernel(node)
        plan = kernel.run.plan
        assert plan.depthwise and (plan.params.rq != plan.ffi.NULL) == (variant in REQUANTIZING), variant
        (got,) = kernel.run([q])
        assert same(got, reference), (variant, threads)


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(depthwise_cases())
def test_depthwise_convolution_equals_reference_on_every_variant(case):
    node, q, weights, threads = case
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    check_all_variants(node, [q], reference)
    for variant in VARIANTS:
        kernel = backend(variant, threads=threads).kernel(node)
        assert kernel.run.plan.depthwise, variant           # the dedicated kernel ran
        (got,) = kernel.run([q])
        assert same(got, reference), (variant, threads)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(matmul_cases())
def test_matmul_equals_reference_on_every_variant(case):
    node, q, weights = case
    (reference,) = INT8_OPS["Int8MatMul"].compute(node.attrs, q, weights)
    check_all_variants(node, [q], reference)



@given(eltwise_requantization_cases())
def test_elementwise_requantization_equals_reference_on_every_variant(case):
    node, inputs = case
    (reference,) = INT8_OPS[node.type].compute(node.attrs, *inputs)
    check_all_variants(node, inputs, reference)
    for variant in INTERLEAVED:
        assert backend(variant).kernel(node).run.plan.requantizes, variant

@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.one_of(eltwise_cases(), fake_quantize_cases(), max_pool_cases()))
def test_elementwise_and_pooling_layers_equal_reference_on_every_variant(case):
    from refint8.ops import get_op

    node, inputs = case
    try:
        (reference,) = get_op(node.type).compute(node.attrs, *inputs)
    except InputError:       # NaN reached a Quantize: the simd kernel must refuse too
        for variant in VARIANTS:
            with pytest.raises(InputError):
                backend(variant).kernel(node).run(inputs)
        return
    check_all_variants(node, inputs, reference)


@pytest.mark.parametrize("out_type", ["u8", "i8"])
def test_fake_quantize_of_floats_onto_codes_by_hand(out_type):
    # FakeQuantize over [il, ih] = [ol, oh] = [0, 255] (u8) or [-128, 127] (i8) with 256 levels:
    # m = 255/255 = 1, so the level is rint(x - il) (the difference rounded to float32, exact but
    # for 2.5000002 + 128), clamped to 0 .. 255, half to even, and the code il + level: every
    # k + 0.5 is a tie (the AVX-512 variants' elt_quantize_f32 sends those vectors to the exact
    # formula), beside -inf, +inf, -0.0, values past both ends and near a midpoint; 1000 values
    # and a 7-value tail over 4 planes
    low, high = (0.0, 255.0) if out_type == "u8" else (-128.0, 127.0)
    ties = np.arange(low, high) + 0.5
    special = np.array([-np.inf, np.inf, -0.0, low - 7.25, high + 3.5, low + 1.4999999, 2.5000002], np.float64)
    values = np.resize(np.concatenate([ties, special]), 4 * 1007).astype(np.float32)
    x = values.reshape(1, 4, 1, 1007)
    shifted = (values - np.float32(low)).astype(np.float32)           # float32, as specified
    level = np.clip(np.round(shifted), 0, 255) + low                   # np.round: half to even
    expected = level.astype(np.uint8 if out_type == "u8" else np.int8).reshape(x.shape)
    ranges = [np.float32(v) for v in (low, high, low, high)]
    node = make_node("FakeQuantize", [opset.parameter(list(x.shape), "f32", name="x"),
                                      *[opset.constant(np.asarray(v), name=f"r{i}") for i, v in enumerate(ranges)]],
                     {"levels": 256, "output_type": out_type}, name="fq")
    check_all_variants(node, [x, *ranges], expected)
    for variant in INTERLEAVED:
        assert backend(variant).kernel(node).run.plan.params.quantize_f32 == 1, variant
    # a NaN reaching the Quantize is refused, as by the reference: in a group of 4 whole vectors
    # (element 3020 of 4028) or in the last, partial one
    for index in ((0, 2, 0, 1006), (0, 3, 0, 1006)):
        bad = x.copy()
        bad[index] = np.nan
        for variant in VARIANTS:
            with pytest.raises(InputError):
                backend(variant).kernel(node).run([bad, *ranges])


@pytest.mark.parametrize("dtype", ["u8", "i8"])
@pytest.mark.parametrize("outputs", [1, 31, 32, 33, 64, 65])
@pytest.mark.parametrize("rows", [(3, 2, "floor"), (2, 1, "ceil"), (1, 3, "ceil")])
def test_stride_2_max_pool_rows_of_every_length_equal_the_reference(dtype, outputs, rows):
    # A stride-2 row of maxima narrows to its even bytes 32 outputs at a time (AVX-512 builds), and
    # 3-column windows at stride 2 (VBMI builds: maxpool_3s2) take 64 outputs at a time: rows of 2
    # to 66 outputs (a row of 2 * outputs + 1 columns, a 3-wide window with padding 1 as in
    # ResNet's stem) cover a masked last group alone, after whole groups, and whole groups only;
    # window heights 1-3 at vertical strides 1-3, and ceil rounding (windows past the padding);
    # 1 and 2 threads.
    from refint8.ops import get_op

    kh, sy, rounding = rows
    shape = (1, 3, 5, 2 * outputs + 1)
    node = make_node("MaxPool", [opset.parameter(list(shape), dtype, name="x")],
                     {"kernel": (kh, 3), "strides": (sy, 2), "pads_begin": [1, 1], "pads_end": [1, 1],
                      "rounding_type": rounding}, name="pool")
    info = np.iinfo(refint8.dtypes.element_type(dtype))
    x = np.random.default_rng(outputs).integers(info.min, info.max + 1, size=shape).astype(info.dtype)
    (reference,) = get_op("MaxPool").compute(node.attrs, x)
    assert reference.shape[-1] == outputs + 1
    check_all_variants(node, [x], reference)
    # 2 threads: each pads its own plane buffer once per call, then takes planes 0-1 or 2
    for variant in VARIANTS:
        (got,) = backend(variant, threads=2).kernel(node).run([x])
        assert same(got, reference), variant


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(avg_pool_cases())
def test_avg_pool_equals_reference_on_every_variant(case):
    from refint8.ops import get_op

    node, inputs = case
    (reference,) = get_op(node.type).compute(node.attrs, *inputs)
    for variant in VARIANTS:
        kernel = backend(variant, threads=2).kernel(node)
        assert kernel is not None, variant
        (got,) = kernel.run(inputs)
        assert got.dtype == reference.dtype and got.shape == reference.shape, variant
        assert got.tobytes() == reference.tobytes() or (
            np.array_equal(got, reference, equal_nan=True)
            and np.array_equal(np.signbit(got), np.signbit(reference))), variant


def test_global_average_pool_of_many_planes_on_two_threads():
    # 1283 planes of 7x7 (160 groups of 8 and 3 planes after them): the groups split between two
    # threads, the last planes after them; NaN, infinities and -0.0 in some planes.
    from refint8.ops import get_op

    rng = np.random.default_rng(23)
    x = rng.normal(0, 3, size=(1, 1283, 7, 7)).astype(np.float32)
    x[0, 5, 2, 3], x[0, 700, 0, 0], x[0, 1281, 6, 6] = np.nan, np.inf, -np.inf
    x[0, 900] = -0.0
    node = make_node("AvgPool", [opset.parameter(list(x.shape), "f32", name="x")],
                     {"kernel": (7, 7), "strides": (1, 1), "pads_begin": (0, 0), "pads_end": (0, 0),
                      "exclude_pad": False, "rounding_type": "floor"}, name="avgpool")
    (reference,) = get_op(node.type).compute(node.attrs, x)
    for variant in VARIANTS:
        (got,) = backend(variant, threads=2).kernel(node).run([x])
        assert got.tobytes() == reference.tobytes(), variant


def conv(q, weights, **attrs):
    x = opset.parameter(list(q.shape), "u8" if q.dtype == np.uint8 else "i8", name="x")
    return make_node("Int8Convolution", [x, opset.constant(weights, name="w")], attrs, name="conv")


def test_worst_case_accumulators_are_exact():
    # 255 * 127 summed over 64 channels x 9 taps = 18,652,320 (> 2^24: float32 rounds it, once, as
    # the reference does); the s16 pair path would saturate every pair at 32767.
    q = np.full((1, 64, 5, 5), 255, np.uint8)
    weights = np.full((65, 64, 3, 3), 127, np.int8)
    node = conv(q, weights, pads_begin=(1, 1), pads_end=(1, 1))
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    assert reference[0, 0, 2, 2] == np.float32(255 * 127 * 64 * 9)
    check_all_variants(node, [q], reference)


#: the variants of the exact s16 path (mode 1: cells of 2 channels)
S16 = [v for v in VARIANTS if v in ("sse42", "avx2", "avx512")]


def test_lone_channel_taps_pair_by_hand():
    # _lone_pairs: 3 channels make a full cell (0, 1) and a lone one (2). A 3x3 kernel at stride 2:
    # row ky reads phase (ky % 2, 0) at kx = 0, 2 (plane offsets (ky//2)*Wq + 0, + 1) and phase
    # (ky % 2, 1) at kx = 1. The full cell: one kernel tap per tap (9); the lone channel: kx 0 and
    # 2 in one cell, kx 1 alone, per row (6). Phases numbered as first met (tap_phase below); the
    # kernel's phase of cell c is phase*2 + c
    from refint8_backend_simd._plan.convolution import _lone_pairs

    wq = 10
    tap_phase = [0, 1, 0, 2, 3, 2, 0, 1, 0]   # phases met: (0,0) 0, (0,1) 1, (1,0) 2, (1,1) 3
    tap_off = [0, 0, 1, 0, 0, 1, wq, wq, wq + 1]
    taps = _lone_pairs(tap_phase, tap_off, 2)
    assert [(ph, off) for ph, off, _ in taps[:9]] == [(2 * p, o) for p, o in zip(tap_phase, tap_off)]
    assert all(kind == ("cell", t, 0) for t, (_, _, kind) in enumerate(taps[:9]))
    assert sorted((ph, off, kind) for ph, off, kind in taps[9:]) == [
        (1, 0, ("lone", 0, 2)), (1, wq, ("lone", 6, 8)), (3, 0, ("lone", 1, None)),
        (3, wq, ("lone", 7, None)), (5, 0, ("lone", 3, 5)), (7, 0, ("lone", 4, None))]
    # nothing pairs at 1x1 or with a dilation that spaces the offsets by 2: no pairing at all
    assert _lone_pairs([0], [0], 2) is None and _lone_pairs([0, 0, 0], [0, 2, 4], 2) is None


def test_lone_channel_pairs_give_hand_worked_sums():
    # 3 channels, a 1x3 kernel at stride 1 on a 1x4 row, zero point 10, no post-ops (the float32
    # accumulator): out[x] = sum_c sum_kx (q[c][x + kx] - 10) * w[c][kx]. The lone channel 2's taps
    # kx 0 and 1 share a cell (values at x and x + 1), kx 2 has its own: 5 cells, not 6.
    q = np.array([[[[11, 12, 13, 14]], [[10, 20, 30, 40]], [[13, 7, 10, 12]]]], np.uint8)
    weights = np.array([[[[1, 2, 3]], [[-1, 0, 1]], [[2, -3, 4]]]], np.int8)
    # x = 0: c0 (1 + 4 + 9) = 14; c1 (0 + 0 + 20) = 20; c2 (3*2 + (-3)*(-3) + 0*4) = 15 -> 49
    # x = 1: c0 (2 + 6 + 12) = 20; c1 (-10 + 0 + 30) = 20; c2 (-3*2 + 0*(-3) + 2*4) = 2 -> 42
    node = conv(q, weights, input_zero_point=(10,))
    expected = np.array([[[[49.0, 42.0]]]], np.float32)
    check_all_variants(node, [q], expected)
    check_on_two_threads(node, [q], expected, S16)
    for variant in S16:
        plan = backend(variant).kernel(node).run.plan
        assert (plan.params.pack_ck, plan.params.ck, plan.params.ntaps) == (2, 1, 5), variant


@pytest.mark.parametrize("signed", [False, True])
def test_stem_like_layers_with_lone_channel_pairs_equal_the_reference(signed):
    # the 3-channel 7x7 stride-2 stem (77 kernel cells a position, not 98) and 3x3 layers at both
    # strides with padding on both sides, per-channel input zero points (the padding codes), weight
    # zero points, two images, a 5x4 kernel at horizontal stride 3 (kx 0 and 3 pair); 1 and 2
    # threads (each thread pairs the lone planes it packed)
    rng = np.random.default_rng(41)
    dtype, low = (np.int8, -128) if signed else (np.uint8, 0)
    cases = [((1, 3, 50, 45), (70, 3, 7, 7), dict(strides=(2, 2), pads_begin=(3, 3), pads_end=(3, 3),
                                                  input_zero_point=(3 + low, 250 + low, 128 + low)), 77),
             ((2, 3, 11, 19), (13, 3, 3, 3), dict(pads_begin=(1, 1), pads_end=(1, 1), weight_zero_point=(3,)), 15),
             ((1, 3, 30, 31), (33, 3, 3, 3), dict(strides=(2, 2), pads_begin=(1, 1), pads_end=(1, 1)), 15),
             ((1, 3, 17, 20), (7, 3, 5, 4), dict(strides=(1, 3), pads_begin=(2, 1), pads_end=(0, 2)), 35)]
    for shape, wshape, attrs, cells in cases:
        q = rng.integers(low, low + 256, size=shape).astype(dtype)
        weights = rng.integers(-128, 128, size=wshape).astype(np.int8)
        node = conv(q, weights, **attrs)
        (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
        check_all_variants(node, [q], reference)
        check_on_two_threads(node, [q], reference, S16)
        for variant in S16:
            assert backend(variant).kernel(node).run.plan.params.ntaps == cells, variant


@pytest.mark.parametrize("case", ["stem", "signed_dilated", "wide_kernel", "stride_4", "narrow_rows",
                                  "weight_zero_points"])
def test_few_input_channels_run_on_unfolded_windows_on_amx(case):
    # r8_conv.im2col: at most 4 input channels, unfolded rows (channel, kernel row, 4 kernel
    # columns) packed chunk by chunk of 512 positions (the stem's 25x23 outputs: two chunks, the
    # boundary inside an output row); rows whose cells inside the input row (im2col_cells_vbmi)
    # end in a partial group of 16 and whose cells reaching into the padding go one by one,
    # per-channel input zero points as padding, 5 output channels of a 32-channel block, signed
    # codes (flipped), vertical dilation, a 5-column kernel (its second cell has one column), a
    # horizontal stride of 3, and of 4 (the largest: a group's 64-byte window full) over whole
    # groups, rows of 3 codes (no cell inside them); with weight zero points the phase planes
    # instead
    rng = np.random.default_rng(31)
    shapes = {"stem": ((1, 3, 50, 45), (5, 3, 7, 7), dict(strides=(2, 2), pads_begin=(3, 3), pads_end=(3, 3),
                                                          input_zero_point=(3, 250, 128))),
              "signed_dilated": ((2, 4, 9, 13), (33, 4, 3, 3), dict(pads_begin=(1, 1), pads_end=(1, 1),
                                                                    dilations=(2, 1), input_zero_point=(-5,))),
              "wide_kernel": ((1, 2, 8, 40), (7, 2, 2, 5), dict(strides=(1, 3), pads_begin=(0, 2), pads_end=(1, 0))),
              "stride_4": ((1, 2, 6, 150), (4, 2, 2, 6), dict(strides=(1, 4), pads_begin=(0, 1), pads_end=(0, 1),
                                                              input_zero_point=(77,))),
              "narrow_rows": ((1, 2, 5, 3), (3, 2, 3, 7), dict(strides=(1, 4), pads_begin=(1, 3), pads_end=(1, 3),
                                                               input_zero_point=(9, 200))),
              "weight_zero_points": ((1, 3, 9, 9), (6, 3, 3, 3), dict(pads_begin=(1, 1), pads_end=(1, 1),
                                                                       weight_zero_point=(1, 0, -2, 0, 0, 3)))}
    shape, wshape, attrs = shapes[case]
    dtype = np.int8 if case in ("signed_dilated", "stride_4") else np.uint8
    info = np.iinfo(dtype)
    q = rng.integers(info.min, info.max + 1, size=shape).astype(dtype)
    weights = rng.integers(-128, 128, size=wshape).astype(np.int8)
    node = conv(q, weights, **attrs)
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    check_all_variants(node, [q], reference)
    for variant in VARIANTS:
        plan = backend(variant).kernel(node).run.plan
        assert plan.im2col == (variant in AMX and case != "weight_zero_points"), variant
    for variant in [v for v in VARIANTS if v in AMX]:
        (got,) = backend(variant, threads=2).kernel(node).run([q])
        assert same(got, reference), variant


@pytest.mark.parametrize("window, strides", [(3, (1, 1)), (3, (2, 2)), (1, (1, 1))])
def test_amx_work_split_by_positions_on_two_threads_equals_one(window, strides):
    # with 2 threads the AMX kernel goes by chunks of positions first and each thread packs the
    # rows of its own positions (amx_by_positions): 40x40 planes (four chunks, 28 vectors each but
    # a last partial one: amx_chunk_vectors balances them between the threads), 3x3 windows
    # reading across the threads' row boundary, 40 output channels (a partial block of 32), the
    # requantization chain (r8_conv.rq) and the general epilogue. The 1x1 layer's planes are the
    # image: each thread packs its own positions into planes of its own (amx_conv_compute_packing),
    # 22 channels leaving a last group of 2.
    rng = np.random.default_rng(41)
    channels = 24 if window == 3 else 22
    q = rng.integers(0, 256, size=(1, channels, 40, 40)).astype(np.uint8)
    weights = rng.integers(-128, 128, size=(40, channels, window, window)).astype(np.int8)
    pad = (window // 2, window // 2)
    acc_scale = 1 / 40000
    chains = [(Multiply(np.float32(acc_scale)), Add(np.float32(0.25)),
               Quantize(np.float32(0), np.float32(2.5), np.float32(0), np.float32(255), 256, element_type="u8")),
              (Multiply(np.float32(acc_scale)), Relu())]
    for chain in chains:
        node = conv(q, weights, strides=strides, pads_begin=pad, pads_end=pad, input_zero_point=(7,),
                    post_ops=chain)
        (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
        for variant in [v for v in VARIANTS if v in AMX]:
            for threads in (1, 2):
                kernel = backend(variant, threads=threads).kernel(node)
                assert (kernel.run.plan.params.rq != kernel.run.plan.ffi.NULL) == (len(chain) == 3)
                (got,) = kernel.run([q])
                assert same(got, reference), (variant, threads, len(chain))


@pytest.mark.parametrize("chain", ["relu_codes", "added_ol", "float"])
def test_threads_packing_their_own_positions_equal_the_reference(chain):
    # on 2 threads a 1x1 layer (planes that are the image) split by positions has each thread
    # pack its own chunks' positions into planes of its own (AMX: amx_conv_compute_packing; the
    # 16-lane requantizing kernels: conv_compute_rq_packing): 32x32 positions (AMX: two chunks of
    # 32 vectors; the 16-lane kernels: four of 16), 22 channels (a last group of 2), 40 output
    # channels; the requantization with ol 0 (saturating stores), with an added ol, and the
    # general epilogue (which packs as before)
    rng = np.random.default_rng(43)
    q = rng.integers(0, 256, size=(1, 22, 32, 32)).astype(np.uint8)
    weights = rng.integers(-128, 128, size=(40, 22, 1, 1)).astype(np.int8)
    scale, shift = Multiply(np.float32(1 / 30000)), Add(np.float32(0.25))
    posts = {"relu_codes": (scale, shift, Quantize(np.float32(0), np.float32(2.5), np.float32(0), np.float32(255),
                                                   256, element_type="u8")),
             "added_ol": (scale, shift, Quantize(np.float32(-1.25), np.float32(1.25), np.float32(-128),
                                                 np.float32(127), 256, element_type="i8")),
             "float": (scale, Relu())}[chain]
    node = conv(q, weights, input_zero_point=(11,), post_ops=posts)
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    for variant in VARIANTS:
        kernel = backend(variant, threads=2).kernel(node)
        if variant in INTERLEAVED:
            assert (kernel.run.plan.params.rq != kernel.run.plan.ffi.NULL) == (chain != "float"), variant
        # the 16-lane kernels pack their own positions with the requantization after each tile,
        # and pack the shared planes first with it interleaved (AMD: CONV_PACKING_OK): both here
        for interleave in (0, 1) if variant in INTERLEAVED and variant not in AMX else (None,):
            if interleave is not None:
                kernel.run.plan.params.rq_interleave = interleave
            (got,) = kernel.run([q])
            assert same(got, reference), (variant, interleave)


@st.composite
def two_thread_conv_cases(draw):
    """Layers large enough that two threads split them by positions (AMX: two chunks of 32
    vectors or more; the 16-lane kernels: two chunks of 16 or more): 1x1 and 3x3 windows, strides
    1 and 2, any padding at either end (a 1x1 layer without it has each thread pack its own
    positions), u8 and i8, the requantization chain or the general post-ops."""
    dtype = draw(st.sampled_from(["u8", "i8"]))
    k = draw(st.sampled_from([1, 1, 3]))
    s = draw(st.sampled_from([1, 1, 2]))
    pads = [draw(st.sampled_from([0, 0, 1, 2])) for _ in range(4)]
    h, w = draw(st.integers(24, 40)) * s, draw(st.integers(24, 40)) * s
    c, oc = draw(st.sampled_from([5, 8, 22, 64])), draw(st.sampled_from([7, 32, 40]))
    q = codes(draw, (1, c, h, w), dtype)
    weights = weight_codes(draw, (oc, c, k, k))
    za, _ = zero_points(draw, dtype, c, oc)
    oh, ow = (h + pads[0] + pads[1] - k) // s + 1, (w + pads[2] + pads[3] - k) // s + 1

    def axis_shape(channels):
        return (1, channels, 1, 1) if channels else (1, oc, oh, ow)

    chains = draw(st.sampled_from([requantization_chains, post_op_chains]))
    posts = draw(chains(oc, axis_shape, acc_scale=c * k * k * 255 * 128))
    node = conv(q, weights, strides=(s, s), pads_begin=(pads[0], pads[2]), pads_end=(pads[1], pads[3]),
                input_zero_point=za, post_ops=posts)
    return node, q, weights


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(two_thread_conv_cases())
def test_layers_split_by_positions_on_two_threads_equal_the_reference(case):
    node, q, weights = case
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    check_on_two_threads(node, [q], reference, [v for v in VARIANTS if v in INTERLEAVED])


def test_a_1x1_layer_padded_at_the_bottom_packs_its_padding_rows_on_two_threads():
    # pads_end of 4 rows: the planes have 4 rows of padding codes below the image (za = 250, so
    # those rows' outputs are sum((250 - 250) * w) = 0 before the post-ops), so they are not the
    # image itself and each thread's positions cannot be packed from it alone (28 + 4 rows of 32:
    # 64 vectors, two chunks on AMX, four on the 16-lane kernels)
    rng = np.random.default_rng(47)
    q = rng.integers(0, 256, size=(1, 22, 28, 32)).astype(np.uint8)
    weights = rng.integers(-128, 128, size=(40, 22, 1, 1)).astype(np.int8)
    posts = (Multiply(np.float32(1 / 30000)), Add(np.float32(0.25)),
             Quantize(np.float32(0), np.float32(2.5), np.float32(0), np.float32(255), 256, element_type="u8"))
    node = conv(q, weights, pads_end=(4, 0), input_zero_point=(250,), post_ops=posts)
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    assert reference.shape == (1, 40, 32, 32)
    check_on_two_threads(node, [q], reference)


@pytest.mark.parametrize("dtype", ["u8", "i8"])
def test_planes_packed_in_whole_runs_of_64_positions_equal_the_reference(dtype):
    # a 1x1 layer's planes are the image itself: each group of 4 channels is packed as one run of
    # 200 positions, three whole steps of 64 (pack_u8_run_vbmi's unmasked loop where all 4 channels
    # are real) and a tail of 8; 9 channels leave a last group of 1 real channel (masked loop). On
    # 2 threads each packs 5 of the 10 rows (100 positions: a whole step and a tail of 36).
    rng = np.random.default_rng(17)
    info = np.iinfo(np.uint8 if dtype == "u8" else np.int8)
    q = rng.integers(info.min, info.max + 1, size=(1, 9, 10, 20)).astype(info.dtype)
    weights = rng.integers(-128, 128, size=(5, 9, 1, 1)).astype(np.int8)
    node = conv(q, weights, input_zero_point=(3,) if dtype == "u8" else (-5,))
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    check_all_variants(node, [q], reference)
    check_on_two_threads(node, [q], reference)


@pytest.mark.parametrize("dtype", ["u8", "i8"])
@pytest.mark.parametrize("width", [1, 2, 3, 31, 32, 33, 34, 63, 64, 65, 66])
def test_stride_2_rows_of_every_length_equal_the_reference(dtype, width):
    # At stride 2 a VBMI build packs each phase plane's row of at most 32 real columns from one
    # masked load a channel row (conv_pack_s2_vbmi: 16 cells a store, a second store past 16),
    # wider rows as before (pack_u8_run_vbmi): widths 1-66 put 1-33 real columns in a row, a 3x3
    # kernel with padding 1 leaves a padding cell at the start of one column phase and at the end
    # of the other (odd widths), padding rows at the top and bottom; a 1x1 kernel without padding
    # reads only every other row. 9 channels leave a last cell of 1 real channel; on 2 threads each
    # packs half of every plane's rows.
    rng = np.random.default_rng(width)
    info = np.iinfo(np.uint8 if dtype == "u8" else np.int8)
    q = rng.integers(info.min, info.max + 1, size=(1, 9, 7, width)).astype(info.dtype)
    zero_point = (4,) if dtype == "u8" else (-6,)
    for window, pad in ((3, 1), (1, 0)):
        weights = rng.integers(-128, 128, size=(5, 9, window, window)).astype(np.int8)
        node = conv(q, weights, strides=(2, 2), pads_begin=(pad, pad), pads_end=(pad, pad),
                    input_zero_point=zero_point)
        (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
        check_all_variants(node, [q], reference)
        check_on_two_threads(node, [q], reference)


@pytest.mark.parametrize("dtype", ["u8", "i8"])
@pytest.mark.parametrize("size", [(1, 1), (7, 7), (1, 17), (14, 14), (9, 15), (64, 65)])
def test_1x1_inputs_pack_as_one_run_a_plane(dtype, size):
    # A 1x1 kernel at stride 1 without padding reads the image as it is (conv_planes_are_image):
    # each plane of 4 channels packs as one run of H*W cells (conv_pack_image), the cells past H*W
    # up to the plane's length (a whole vector) the padding cell; on 2 threads each packs a share
    # of every plane's rows where the items go by positions (64x65: more than one chunk), else
    # whole planes. 9 channels in 1 group leave a last cell of 1 real channel, in 3 groups every
    # cell has 3; the requantizing chain runs the kernels of the codes, and on avx512_vnni also
    # with output channels across the lanes (which pack the same planes).
    rng = np.random.default_rng(size[0] * 100 + size[1])
    info = np.iinfo(np.uint8 if dtype == "u8" else np.int8)
    q = rng.integers(info.min, info.max + 1, size=(1, 9) + size).astype(info.dtype)
    u8 = Quantize(np.float32(0), np.float32(1), np.float32(0), np.float32(255), 256, element_type="u8")
    requantized = (Multiply(np.float32(3e-5)), Add(np.float32(0.5)), u8)
    for group, post_ops in ((1, ()), (3, ()), (1, requantized)):
        weights = rng.integers(-128, 128, size=(6, 9 // group, 1, 1)).astype(np.int8)
        node = conv(q, weights, group=group, post_ops=post_ops, input_zero_point=(5,) if dtype == "u8" else (-3,))
        (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
        check_all_variants(node, [q], reference)
        check_on_two_threads(node, [q], reference)
        if post_ops and "avx512_vnni" in VARIANTS:
            with output_channel_lanes("always"):
                plan = backend("avx512_vnni").kernel(node).run.plan
                assert plan.params.w_oc != plan.ffi.NULL
                check_all_variants(node, [q], reference, ["avx512_vnni"])
                check_on_two_threads(node, [q], reference, ["avx512_vnni"])


def test_planes_1_kb_apart_get_one_line_more():
    # a 3x3 layer on 14x14 with padding 1: 14 rows of 15 columns (224 positions, 14 vectors) plus
    # the last tap's offset of 32 would make planes of 256 positions (1 KB apart); they get 272
    # (_plan/convolution.py: the rows of a tile 4 to a page were 1.2x slower on AMX). The results
    # do not depend on it.
    rng = np.random.default_rng(5)
    q = rng.integers(0, 256, size=(1, 8, 14, 14)).astype(np.uint8)
    weights = rng.integers(-128, 128, size=(6, 8, 3, 3)).astype(np.int8)
    node = conv(q, weights, pads_begin=(1, 1), pads_end=(1, 1), input_zero_point=(9,))
    for variant in [v for v in VARIANTS if v in ("avx512_vnni", "amx", "amx_emu")]:
        assert backend(variant).kernel(node).run.plan.params.plane_pos == 272, variant
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    check_all_variants(node, [q], reference)


def test_zero_point_padding_on_every_variant():
    # za = 255 pads with the code 255, i.e. the value 0: padded taps contribute nothing.
    q = np.full((1, 17, 4, 4), 255, np.uint8)
    weights = np.full((3, 17, 3, 3), -128, np.int8)
    node = conv(q, weights, pads_begin=(2, 2), pads_end=(2, 2), input_zero_point=(255,))
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    assert not reference.any()
    check_all_variants(node, [q], reference)


def test_quantize_ties_round_half_to_even():
    # acc = k (1x1 conv, one channel, weight 1); Multiply(0.5) -> k/2; Quantize onto [0, 255] with
    # 256 levels maps y to rint(y): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, 3.5 -> 4.
    q = np.arange(8, dtype=np.uint8).reshape(1, 1, 1, 8)
    weights = np.ones((1, 1, 1, 1), np.int8)
    node = conv(q, weights, post_ops=(Multiply(np.float32(0.5)), Quantize(
        np.float32(0), np.float32(255), np.float32(0), np.float32(255), 256, element_type="u8")))
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    assert reference.reshape(-1).tolist() == [0, 0, 1, 2, 2, 2, 3, 4]
    check_all_variants(node, [q], reference)


def test_signed_zero_and_nan_post_ops():
    # Multiply by a negative scale turns acc 0 into -0.0; Relu must give +0.0, Clamp(0, 1) keeps
    # -0.0 (it is not below +0.0: refint8.ops.clamp).
    q = np.zeros((1, 2, 3, 3), np.uint8)
    q[0, 0, 1, 1] = 3
    weights = np.ones((4, 2, 1, 1), np.int8)
    for posts in [(Multiply(np.float32(-1)), Relu()), (Multiply(np.float32(-1)), Clamp(0.0, 1.0)),
                  (Multiply(np.float32(-1)),), (Multiply(np.float32(np.inf)),)]:
        node = conv(q, weights, post_ops=posts)
        (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
        for variant in VARIANTS:
            (got,) = backend(variant).kernel(node).run([q])
            assert got.tobytes() == reference.tobytes() or np.array_equal(got, reference, equal_nan=True)
            assert np.array_equal(np.signbit(got), np.signbit(reference)), (variant, posts)


def test_nan_reaching_quantize_is_an_input_error():
    q = np.zeros((1, 1, 2, 2), np.uint8)
    weights = np.ones((1, 1, 1, 1), np.int8)
    node = conv(q, weights, post_ops=(Multiply(np.float32(np.inf)), Quantize(
        np.float32(0), np.float32(1), np.float32(0), np.float32(255), 256, element_type="u8")))
    with pytest.raises(InputError):
        INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    for variant in VARIANTS:
        with pytest.raises(InputError):
            backend(variant).kernel(node).run([q])


@pytest.mark.parametrize("lanes", LANE_MODES)
def test_results_do_not_depend_on_thread_count(lanes):
    from refint8_backend_simd._plan import common

    rng = np.random.default_rng(3)
    q = rng.integers(0, 256, size=(2, 33, 15, 17)).astype(np.uint8)
    weights = rng.integers(-128, 128, size=(65, 33, 3, 3)).astype(np.int8)
    requantized = (Multiply(rng.uniform(1e-5, 2e-5, (1, 65, 1, 1)).astype(np.float32)), Add(np.float32(0.1)),
                   Quantize(np.float32(0), np.float32(1), np.float32(0), np.float32(255), 256, element_type="u8"))
    # a 7x7 plane of 1x1 convolutions also runs the tail vector (conv_tail); a 49x49 plane (2401 =
    # 150*16 + 1 positions) is two of the interleaved loop's chunks on 1 thread and ten on 3
    # (conv_split_of), the tail run by the last one
    q7, weights7 = q[:, :, :7, :7].copy(), weights[:, :, :1, :1].copy()
    q49 = rng.integers(0, 256, size=(1, 33, 49, 49)).astype(np.uint8)
    # planes of 56 and 30 rows, packed by rows on 3 threads (each thread the rows of its own chunks,
    # conv_pack's by_rows): stride 2 with four phase planes, and pad 1 at stride 1 (Wq = pl + W)
    q_big = rng.integers(0, 256, size=(1, 9, 111, 103)).astype(np.uint8)
    weights3 = weights[:, :9].copy()
    layers = [(q, weights, dict(pads_begin=(1, 1), pads_end=(1, 1), strides=(2, 1))), (q7, weights7, {}),
              (q49, weights7, {}),
              (q_big, weights3, dict(pads_begin=(1, 1), pads_end=(1, 1), strides=(2, 2))),
              (q_big[:, :, :30, :45].copy(), weights3, dict(pads_begin=(1, 1), pads_end=(1, 1)))]
    for chain in [(Multiply(np.float32(1e-4)), Relu()), requantized]:   # the second: interleaved (r8_conv.rq)
        for x, w, attrs in layers:
            node = conv(x, w, post_ops=chain, **attrs)
            (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, x, w)
            for variant in VARIANTS:
                with output_channel_lanes(LANE_MODES[lanes]):
                    one, three = (backend(variant, threads=t).kernel(node) for t in (1, 3))
                if variant == "avx512_vnni":
                    across = chain is requantized and lanes == "channels"
                    assert (one.run.plan.params.w_oc != one.run.plan.ffi.NULL) == across
                # the 3-thread run first, on a scratch of other bytes: a cell no thread packs shows
                plan = three.run.plan
                common.scratch_pointer(plan.ffi, plan.scratch_bytes)
                common._ARENA.buffer[:] = 0x5A
                three, one = three.run([x])[0], one.run([x])[0]
                assert one.tobytes() == three.tobytes() == reference.tobytes(), variant


def test_kernel_does_not_modify_its_input():
    rng = np.random.default_rng(4)
    q = rng.integers(-128, 128, size=(1, 5, 6, 6)).astype(np.int8)
    keep = q.copy()
    node = conv(q, rng.integers(-128, 128, size=(7, 5, 3, 3)).astype(np.int8), input_zero_point=(3,))
    for variant in VARIANTS:
        backend(variant).kernel(node).run([q])
    assert np.array_equal(q, keep)


def test_s16_pairs_nodes_saturate_exactly_as_declared():
    # oneDNN's example: u = [255, 255], w = [127, 127] at one tap: sat16(64770) = 32767 in
    # s16_pairs mode, 64770 exact. i8 data: shifted by +128, so -128*2 codes give u = 0.
    q = np.full((1, 2, 1, 1), 255, np.uint8)
    weights = np.full((1, 2, 1, 1), 127, np.int8)
    for accumulation, value in (("s16_pairs", 32767.0), ("exact", 64770.0)):
        node = conv(q, weights, accumulation=accumulation)
        for variant in VARIANTS:
            (got,) = backend(variant).kernel(node).run([q])
            assert got.reshape(-1).tolist() == [value], (variant, accumulation)


def test_declaring_s16_pairs_makes_lpt_emit_it():
    pairs = REGISTRY.create("simd", BackendOptions(threads=1, extra={"accumulation": "s16_pairs"}))
    assert pairs.capabilities().accumulation == "s16_pairs"


def test_unsupported_nodes_fall_back():
    relu = make_node("Relu", [opset.parameter([1, 2], "f32", name="x")], {}, name="relu")
    assert backend(VARIANTS[0]).kernel(relu) is None


def test_variant_selection_and_capabilities():
    best = REGISTRY.create("simd", BackendOptions())
    assert best.capabilities().accumulation == "exact"
    assert best.variant == PROBE.capabilities().isa_variants[-1]
    assert backend("sse42").variant == "sse42"
    assert REGISTRY.info("simd").spec.priority == 100


@pytest.mark.parametrize("variant", VARIANTS)
def test_inception_block_end_to_end_equals_reference(variant):
    from refint8.models.inception import quantized_inception_block

    model = quantized_inception_block()
    x = np.random.default_rng(11).normal(0, 1, (1, 32, 28, 28)).astype(np.float32)
    expected = refint8.compile(model, backend="reference").infer({"input": x})
    config = {"isa": "amx" if variant == "amx_emu" else variant, "threads": 2, "fallback": ["reference"]}
    if variant == "amx_emu":
        config["simd"] = {"emulate_amx": True}
    compiled = refint8.compile(model, backend="simd", config=config)
    got = compiled.infer({"input": x})
    for name in expected:
        assert same(got[name], expected[name]), name
    used = {row.exec_type for row in compiled._rows if row.layer_type == "Convolution"
            and row.status.name == "EXECUTED"}
    assert used == {f"simd_{variant}_I8"}


def test_s16_pairs_model_equals_reference_on_the_same_lowered_graph():
    from refint8.config import load_config
    from refint8.models.inception import quantized_inception_block
    from refint8.runtime.compiled_model import CompiledModel

    model = quantized_inception_block()
    x = np.random.default_rng(1).normal(0, 3, (1, 32, 28, 28)).astype(np.float32)
    for variant in sorted({VARIANTS[0], VARIANTS[-2]}):
        compiled = refint8.compile(model, backend="simd", config={
            "isa": variant, "threads": 1, "simd": {"accumulation": "s16_pairs"}})
        assert {n.attrs["accumulation"] for n in compiled.model.nodes if n.type == "Int8Convolution"} \
            == {"s16_pairs"}
        reference = CompiledModel(model, compiled.model, REGISTRY.create("reference"), "reference",
                                  [], load_config({}))
        got, expected = compiled.infer({"input": x}), reference.infer({"input": x})
        for name in expected:
            assert same(got[name], expected[name]), (variant, name)


# -- exact shortcuts of the post-op tables (_plan/post_ops.py build_posts) --------------------------------------

def _fq_node(shape, il, ih, out_type="u8"):
    ol, oh = (0.0, 255.0) if out_type == "u8" else (-128.0, 127.0)
    ranges = [opset.constant(np.asarray(v, np.float32), name=f"r{i}") for i, v in enumerate((il, ih, ol, oh))]
    return make_node("FakeQuantize", [opset.parameter(list(shape), "f32", name="x"), *ranges],
                     {"levels": 256, "output_type": out_type}, name="fq"), [np.float32(v) for v in (il, ih, ol, oh)]


def test_elementwise_layers_with_single_value_operands_run_as_one_plane():
    # after a global pooling, [1, 1280, 1, 1]: per-plane operand resolution would cost more than the
    # arithmetic; with every operand a single value the layer is one plane of 1280, with
    # per-channel ranges it stays per plane, and both equal the reference
    from refint8.ops import get_op

    x = np.random.default_rng(3).uniform(-1, 3, (1, 1280, 1, 1)).astype(np.float32)
    scalar, _ = _fq_node(x.shape, 0.0, 2.0)
    per_channel, _ = _fq_node(x.shape, np.zeros((1, 1280, 1, 1)), np.full((1, 1280, 1, 1), 2.0))
    for node, planes in ((scalar, 1), (per_channel, 1280)):
        (reference,) = get_op("FakeQuantize").compute(node.attrs, x, *[i.node.constant_value() for i in node.inputs[1:]])
        for variant in VARIANTS:
            kernel = backend(variant).kernel(node)
            assert kernel.run.plan.planes == planes, variant
            (got,) = kernel.run([x] + [i.node.constant_value() for i in node.inputs[1:]])
            assert same(got, reference), variant


def test_reciprocal_quantize_is_exact_next_to_every_midpoint():
    # x within 4 ulp of each midpoint il + (k + 1/2)(ih - il)/255 (and on it): the reciprocal form
    # rint(clip((x - il) * (255 / (ih - il)))) alone gets some of these wrong (checked below, so this
    # test would catch a kernel that skipped the near-midpoint recomputation); the kernel must not.
    il, ih = np.float32(-1.7), np.float32(2.9)
    di = np.float32(ih - il)
    mids = (np.float64(il) + (np.arange(255) + 0.5) * np.float64(di) / 255).astype(np.float32)
    x = np.concatenate([mids] + [mids + sign * np.float32(k) * np.spacing(mids)
                                 for k in range(1, 5) for sign in (1, -1)]).reshape(1, 1, 1, -1)
    node, ranges = _fq_node(x.shape, il, ih)
    (reference,) = refint8.ops.get_op("FakeQuantize").compute(node.attrs, x, *[np.asarray(r) for r in ranges])
    with np.errstate(all="ignore"):
        m = np.float32(np.float64(255) / np.float64(di))
        shortcut = np.rint(np.clip((x - il) * m, 0, 255)).astype(np.uint8)
    assert not np.array_equal(shortcut, reference)
    for variant in VARIANTS:
        kernel = backend(variant).kernel(node)
        assert kernel.run.plan.params.post[0].type == 8, variant     # the reciprocal form is in use
        (got,) = kernel.run([x])
        assert np.array_equal(got, reference), variant


def test_relu_before_a_nonnegative_quantize_is_dropped_exactly():
    # Relu then Quantize with il = 0: negative values, -0.0 (acc 0 times -1) and positives give the
    # reference's codes without the Relu in the C table.
    q = np.arange(12, dtype=np.uint8).reshape(1, 1, 3, 4)
    weights = np.ones((2, 1, 1, 1), np.int8)
    quantize = Quantize(np.float32(0), np.float32(3), np.float32(0), np.float32(255), 256, element_type="u8")
    for scale in (np.float32(-0.37), np.float32(0.37), np.array([-1, 0.25], np.float32).reshape(1, 2, 1, 1)):
        node = conv(q, weights, post_ops=(Multiply(scale), Relu(), quantize), input_zero_point=(5,))
        (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
        for variant in VARIANTS:
            kernel = backend(variant).kernel(node)
            assert kernel.run.plan.params.npost == 2, variant
            (got,) = kernel.run([q])
            assert np.array_equal(got, reference), (variant, scale)
    # a range reaching below 0 keeps the Relu
    keep = Quantize(np.float32(-1), np.float32(3), np.float32(0), np.float32(255), 256, element_type="u8")
    node = conv(q, weights, post_ops=(Multiply(np.float32(-0.37)), Relu(), keep))
    assert backend(VARIANTS[0]).kernel(node).run.plan.params.npost == 3


def test_nan_check_is_skipped_only_when_no_nan_can_arise():
    q = np.full((1, 1, 2, 2), 200, np.uint8)
    weights = np.ones((1, 1, 1, 1), np.int8)
    quantize = Quantize(np.float32(0), np.float32(1), np.float32(0), np.float32(255), 256, element_type="u8")
    safe = conv(q, weights, post_ops=(Multiply(np.float32(1e-3)), Add(np.float32(0.5)), quantize))
    assert backend(VARIANTS[0]).kernel(safe).run.plan.params.out_type == 1 | 4 | 8
    # 200 * 3e38 overflows to inf, inf * 0 is NaN: the check stays, and the NaN is an error
    overflow = conv(q, weights, post_ops=(Multiply(np.float32(3e38)), Multiply(np.float32(0)), quantize))
    with pytest.raises(InputError):
        INT8_OPS["Int8Convolution"].compute(overflow.attrs, q, weights)
    for variant in VARIANTS:
        kernel = backend(variant).kernel(overflow)
        assert kernel.run.plan.params.out_type == 1 | 4
        with pytest.raises(InputError):
            kernel.run([q])


def test_convolution_reciprocal_quantize_with_spatial_ranges_near_midpoints():
    # acc = q (1x1, one input channel, weights 1), x = q/64 exactly, and Quantize ranges that vary
    # per output position and put each x next to a level midpoint (il = x - (k + 1/2)(ih - il)/255,
    # rounded): the conv epilogue's recomputation must read each lane's own il/ih (the vectors of a
    # register group at their offsets).
    rng = np.random.default_rng(7)
    shape = (1, 2, 8, 40)
    q = rng.integers(0, 256, size=(1, 1, 8, 40)).astype(np.uint8)
    x = np.broadcast_to(q.astype(np.float64) / 64, shape)
    di = rng.uniform(2.0, 3.0, size=shape)
    il = (x - (rng.integers(0, 255, size=shape) + 0.5) * di / 255).astype(np.float32)
    ih = (il + di).astype(np.float32)
    weights = np.ones((2, 1, 1, 1), np.int8)
    quantize = Quantize(il, ih, np.float32(0), np.float32(255), 256, element_type="u8")
    node = conv(q, weights, post_ops=(Multiply(np.float32(1 / 64)), quantize))
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    with np.errstate(all="ignore"):
        m = (np.float64(255) / (ih - il).astype(np.float64)).astype(np.float32)
        shortcut = np.rint(np.clip((x.astype(np.float32) - il) * m, 0, 255))
    assert not np.array_equal(shortcut, reference)        # the recomputation is needed here
    for variant in VARIANTS:
        kernel = backend(variant).kernel(node)
        assert kernel.run.plan.params.post[1].type == 8, variant
        (got,) = kernel.run([q])
        assert np.array_equal(got, reference), variant


def sum_layer_inputs(layout: str, rng: np.random.Generator, oc: int):
    """Codes, weights of ones and the accumulators they give: acc = q0 + q1 (1x1, two input
    channels of 0..127, the same sum for every output channel: shape (1, 1, 9, 40)) or, depthwise,
    acc = q of the channel (shape (1, oc, 9, 40))."""
    if layout == "plain":
        q = rng.integers(0, 128, size=(1, 2, 9, 40)).astype(np.uint8)
        return q, np.ones((oc, 2, 1, 1), np.int8), q.astype(np.int64).sum(axis=1, keepdims=True)
    q = rng.integers(0, 255, size=(1, oc, 9, 40)).astype(np.uint8)
    return q, np.ones((oc, 1, 1, 1), np.int8), q.astype(np.int64)


def ranges_next_to_midpoints(rng: np.random.Generator, y0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per output channel (y0 of shape (1, oc, 1, 1)) a Quantize range [il, ih] of width 2-3 that
    puts y0 next to one of its 255 level midpoints: il = y0 - (k + 1/2)(ih - il)/255, rounded to
    float32 (float32)."""
    di = rng.uniform(2.0, 3.0, size=y0.shape)
    il = (y0 - (rng.integers(0, 255, size=y0.shape) + 0.5) * di / 255).astype(np.float32)
    return il, (il + di).astype(np.float32)


@pytest.mark.parametrize("lanes", LANE_MODES)
@pytest.mark.parametrize("layout", ["plain", "depthwise"])
def test_interleaved_requantization_recomputes_lanes_near_midpoints(layout, lanes):
    # acc = q0 + q1 (1x1, two input channels, weights 1) or, depthwise, acc = q of the channel;
    # x = acc/64 exactly, and per-channel ranges that put one value x0 of each output channel next
    # to a level midpoint (il = x0 - (k + 1/2)(ih - il)/255, rounded): the interleaved
    # requantization (conv_compute_rq; rq_channel in r8_dw/r8_dwb) must send those lanes to the
    # general epilogue, which recomputes them with the division.
    rng = np.random.default_rng(11)
    oc = 48
    q, weights, acc = sum_layer_inputs(layout, rng, oc)
    il, ih = ranges_next_to_midpoints(rng, rng.integers(0, 255, size=(1, oc, 1, 1)) / 64)
    chain = (Multiply(np.float32(1 / 64)), Add(np.float32(0)),
             Quantize(il, ih, np.float32(0), np.float32(255), 256, element_type="u8"))
    node = conv(q, weights, post_ops=chain, group=1 if layout == "plain" else oc)
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    x = (acc / 64).astype(np.float32)
    with np.errstate(all="ignore"):
        m = (np.float64(255) / (ih - il).astype(np.float64)).astype(np.float32)
        shortcut = np.rint(np.clip((x - il) * m, 0, 255))
    assert not np.array_equal(shortcut, reference)        # the recomputation is needed here
    for variant in REQUANTIZING:
        with output_channel_lanes(LANE_MODES[lanes]):
            kernel = backend(variant).kernel(node)
        plan = kernel.run.plan
        assert plan.params.rq != plan.ffi.NULL and plan.depthwise == (layout == "depthwise"), variant
        across = variant == "avx512_vnni" and layout == "plain" and lanes == "channels"
        assert (plan.params.w_oc != plan.ffi.NULL) == across, variant
        for interleave in (0, 1):   # (the position kernel: after each tile, or between the next one's steps)
            plan.params.rq_interleave = interleave
            (got,) = kernel.run([q])
            assert np.array_equal(got, reference), (variant, interleave)


def fma_f32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """float32 a*b + c rounded once, to nearest even (vfmadd), element by element, exactly."""
    from fractions import Fraction

    def one(a: np.float32, b: np.float32, c: np.float32) -> np.float32:
        exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
        near = np.float32(float(exact))
        candidates = [np.nextafter(near, np.float32(-np.inf)), near, np.nextafter(near, np.float32(np.inf))]
        return min(candidates, key=lambda v: (abs(Fraction(float(v)) - exact), int(v.view(np.uint32)) & 1))

    a, b, c = np.broadcast_arrays(*(np.asarray(v, np.float32) for v in (a, b, c)))
    return np.array([one(*t) for t in zip(a.ravel(), b.ravel(), c.ravel())], np.float32).reshape(a.shape)


def reference_levels(acc: np.ndarray, s, b, il, ih, steps: int) -> np.ndarray:
    """The reference's level (code - ol) of Multiply s, Add b, Quantize [il, ih] with steps levels
    on int32 accumulators, in float32 op by op (refint8.ops.fake_quantize's formula)."""
    y = np.float32(acc.astype(np.float32) * np.float32(s)) + np.float32(b)
    with np.errstate(all="ignore"):
        level = np.rint(((y - np.float32(il)) / np.float32(np.float32(ih) - np.float32(il))) * np.float32(steps))
    return np.where(y <= il, 0, np.where(y > ih, steps, level))


def test_fused_requantization_hand_worked_fields():
    # s = 0.01, b = 0.5, il = -1, ih = 1.55 (di = 2.55): m = 255/2.55 = 100, A = s*m = 1,
    # B = (b - il)*m = 150, exactly as float32; the bound E = u*(5*256 + 150 + 100) + (256 + 150)*rA
    # + 150*rB + u*256 with rA = |f32(s)*100 - 1| (s is not exact in float32) ~ 2.2e-8 relative:
    # the limit lies within [0.5 - 1.2e-4, 0.5 - 0.9e-4]
    from refint8_backend_simd._plan.fused_requantization import MIN_LIMIT, fused_requantization

    s, b, il, di = (np.array([v], np.float32) for v in (0.01, 0.5, -1.0, 2.55))
    a, bb, limit = fused_requantization(s, b, il, di, 255.0)
    assert a[0] == np.float32(np.float64(np.float32(0.01)) * (255 / np.float64(np.float32(2.55))))
    assert bb[0] == np.float32(1.5 * (255 / np.float64(np.float32(2.55))))
    assert abs(float(a[0]) - 1.0) < 1e-6 and abs(float(bb[0]) - 150.0) < 1e-4
    assert 0.5 - 1.2e-4 <= limit <= 0.5 - 0.9e-4
    assert np.float32(limit) == limit                      # a float32, rounded down
    # without an FMA the product's rounding adds u*(Z + Wb) = 2^-24 * (256 + 150) ~ 2.4e-5
    unfused = fused_requantization(s, b, il, di, 255.0, contracted=False)[2]
    assert 2.0e-5 <= limit - unfused <= 2.8e-5
    # declined: an operand that is not finite, di <= 0, and a bias so far from the range that the
    # chain's own rounding reaches a quarter of a level (|b - il|*m of 2^22)
    for fields in ((np.inf, 0.5, -1.0, 2.55), (0.01, np.nan, -1.0, 2.55), (0.01, 0.5, -1.0, 0.0),
                   (0.01, 2.0 ** 22 * 0.01, 0.0, 2.55)):
        assert fused_requantization(*(np.array([v], np.float32) for v in fields), 255.0) is None, fields
    # just inside: |b - il|*m = 2^20 gives E ~ 0.0625 + u*1536, a limit above MIN_LIMIT
    inside = fused_requantization(*(np.array([v], np.float32) for v in (0.01, 2.0 ** 20 * 0.01, 0.0, 2.55)), 255.0)
    assert inside is not None and MIN_LIMIT <= inside[2] < 0.45


@st.composite
def fused_chains_near_midpoints(draw):
    """A plane's chain (s, b, il, ih, steps) and accumulators acc0 - 3 .. acc0 + 3, the range put
    so that acc0 lands next to a level midpoint (il = acc0*s + b - (k + 1/2)(ih - il)/steps,
    rounded to float32), or next to a level, or past the clamps."""
    steps = draw(st.sampled_from([255, 254, 15, 1]))
    s = np.float32(draw(st.sampled_from([1, -1])) * 10.0 ** draw(st.floats(-5, 1)))
    b = np.float32(draw(st.floats(-50, 50)))
    acc0 = draw(st.integers(-2 ** 24, 2 ** 24))
    di = 10.0 ** draw(st.floats(-3, 2))
    level = draw(st.integers(-2, steps + 2)) + draw(st.sampled_from([0.5, 0.5, 0.5, 0.0]))
    y0 = np.float32(np.float32(acc0) * s) + b
    il = np.float32(np.float64(y0) - level * di / steps)
    ih = np.float32(np.float64(il) + di)
    if not ih > il:
        ih = np.nextafter(il, np.float32(np.inf))
    return s, b, il, ih, steps, acc0 + np.arange(-3, 4, dtype=np.int64)


@settings(max_examples=1000)   # cheap; the lanes that round the other way sit up to 0.8 E past the midpoint
@given(fused_chains_near_midpoints(), st.booleans())
def test_fused_requantization_gives_the_reference_level_wherever_it_is_not_near(case, contracted):
    # rq_vector's fused chain, emulated exactly (fma_f32), or rq_epilogue's (contracted false: the
    # product rounded, then the sum, as NumPy's float32 arithmetic does): where its value x lies
    # less than the limit from rint(x), rint(x) must be the reference's level; the others are
    # recomputed
    from refint8_backend_simd._plan.fused_requantization import fused_requantization

    s, b, il, ih, steps, acc = case
    di = np.float32(ih - il)
    fused = fused_requantization(np.array([s]), np.array([b]), np.array([il]), np.array([di]), float(steps),
                                 contracted)
    if fused is None:
        return
    a, bb, limit = fused
    acc_f = acc.astype(np.float32)
    x = np.clip(fma_f32(acc_f, a[0], bb[0]) if contracted else acc_f * a[0] + bb[0], 0, steps)
    near = np.abs(x - np.rint(x)) >= np.float32(limit)
    reference = reference_levels(acc, s, b, il, ih, steps)
    assert np.array_equal(np.rint(x)[~near], reference[~near])


@pytest.mark.parametrize("proof", [False, True])
@pytest.mark.parametrize("lanes", LANE_MODES)
@pytest.mark.parametrize("layout", ["plain", "depthwise", "depthwise_planes"])
def test_fused_requantization_recomputes_lanes_it_would_round_the_other_way(layout, lanes, proof):
    # Per output channel a Multiply s (not a power of two), an Add b and a Quantize whose range
    # puts one accumulator acc0 next to a level midpoint (il = acc0*s + b - (k + 1/2)(ih - il)/255,
    # rounded): the fused value fma(acc, A, B) falls on the other side of the midpoint than the
    # reference's chain for some channels (checked here with an exact FMA, so this test catches a
    # kernel that skipped the near-midpoint recomputation or took too small a margin). Without
    # the plans' proofs every kernel checks; with them the direct tiles and the AVX-512 depthwise
    # kernels run the planes they proved unchecked, on moved constants where needed
    # (_plan/threshold_proof.py). "depthwise": on VNNI with VBMI r8_dwc (4-channel cells);
    # "depthwise_planes": r8_dwb there (one channel's byte planes).
    rng = np.random.default_rng(23)
    oc = 48
    q, weights, acc = sum_layer_inputs(layout, rng, oc)
    acc = np.broadcast_to(acc, (1, oc, 9, 40))
    shape = (1, oc, 1, 1)
    s = rng.uniform(0.004, 0.02, size=shape).astype(np.float32)
    b = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    acc0 = acc.reshape(oc, -1)[np.arange(oc), rng.integers(0, 360, size=oc)].reshape(shape)
    il, ih = ranges_next_to_midpoints(rng, np.float32(acc0.astype(np.float32) * s) + b)
    chain = (Multiply(s), Add(b), Quantize(il, ih, np.float32(0), np.float32(255), 256, element_type="u8"))
    node = conv(q, weights, post_ops=chain, group=1 if layout == "plain" else oc)
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    m = 255 / (ih - il).astype(np.float64)                 # di = ih - il in float32, as the reference's
    a_fused, b_fused = (s * m).astype(np.float32), ((b.astype(np.float64) - il) * m).astype(np.float32)
    acc_f = acc.astype(np.float32)
    x = np.clip(fma_f32(acc_f, np.broadcast_to(a_fused, acc.shape), np.broadcast_to(b_fused, acc.shape)), 0, 255)
    assert not np.array_equal(np.rint(x), reference)      # the recomputation is needed here
    # without an FMA (the 4- and 8-lane kernels: the product rounded, then the sum) too
    unfused = np.clip(acc_f * np.broadcast_to(a_fused, acc.shape) + np.broadcast_to(b_fused, acc.shape), 0, 255)
    assert not np.array_equal(np.rint(unfused), reference)
    for variant in REQUANTIZING:
        with output_channel_lanes(LANE_MODES[lanes]), threshold_proofs(proof), \
                cell_depthwise("never" if layout == "depthwise_planes" else "always"):
            kernel = backend(variant).kernel(node)
        plan = kernel.run.plan
        assert plan.params.rq != plan.ffi.NULL, variant
        if layout != "plain" and variant in BYTE_DEPTHWISE:
            assert plan.function.__name__.startswith("r8_dwc_" if layout == "depthwise" else "r8_dwb_"), variant
        rq = np.frombuffer(plan.ffi.buffer(plan.params.rq, oc * 11 * 4), np.float32).reshape(oc, 11)
        kept = ~_proven_planes(plan)   # (a proven plane's A and B may have moved)
        assert kept.all() or proof, variant
        assert np.array_equal(rq[kept, 8], a_fused.ravel()[kept]) and np.array_equal(rq[kept, 9], b_fused.ravel()[kept]), variant
        (got,) = kernel.run([q])
        assert np.array_equal(got, reference), variant


@pytest.mark.parametrize("strides", [(1, 1), (2, 2)])
def test_depthwise_results_do_not_depend_on_thread_count(strides):
    # 3x3 depthwise layers with channel multiplier 2 on planes of 60x57 and 20x50, two images in
    # the second, run first on 3 threads over a scratch of other bytes (each thread's planes: a
    # cell a pack leaves out shows), then on 1 and 2
    from refint8_backend_simd._plan import common

    rng = np.random.default_rng(31)
    chain = (Multiply(np.float32(3e-3)), Add(np.float32(0.25)),
             Quantize(np.float32(0), np.float32(1), np.float32(0), np.float32(255), 256, element_type="u8"))
    for shape in ((1, 7, 60, 57), (2, 5, 20, 50)):
        q = rng.integers(0, 256, size=shape).astype(np.uint8)
        weights = rng.integers(-128, 128, size=(2 * shape[1], 1, 3, 3)).astype(np.int8)
        node = conv(q, weights, post_ops=chain, group=shape[1], strides=strides, pads_begin=(1, 1),
                    pads_end=(1, 1), input_zero_point=(9,))
        (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
        for variant in VARIANTS:
            kernels = {t: backend(variant, threads=t).kernel(node) for t in (3, 1, 2)}
            plan = kernels[3].run.plan
            assert plan.depthwise, variant
            common.scratch_pointer(plan.ffi, plan.scratch_bytes)
            common._ARENA.buffer[:] = 0xA5
            for threads, kernel in kernels.items():
                (got,) = kernel.run([q])
                assert got.tobytes() == reference.tobytes(), (variant, shape, threads)


def test_byte_plane_depthwise_kernel_on_vnni():
    # r8_dwb (VNNI + VBMI): i8 codes (flipped to u8), a channel multiplier of 2, stride 3, dilation
    # (1, 3), a 3x7 kernel (two cells per kernel row, the second with 3 taps), rows of 70 codes (two
    # 64-byte chunks per plane row) with padding on every side, and per-channel zero points.
    vnni = [v for v in VARIANTS if v in ("avx512_vnni", "amx_emu")]
    if not vnni or not backend(vnni[0]).lib.r8_cpu_features() & 32:
        pytest.skip("no AVX-512 VNNI with VBMI on this CPU: r8_dwb is not used")
    rng = np.random.default_rng(12)
    q = rng.integers(-128, 128, size=(2, 3, 11, 70)).astype(np.int8)
    weights = rng.integers(-128, 128, size=(6, 1, 3, 7)).astype(np.int8)
    node = conv(q, weights, group=3, strides=(3, 3), dilations=(1, 3), pads_begin=(2, 3),
                pads_end=(1, 4), input_zero_point=(-7, 0, 100),
                post_ops=(Multiply(np.float32(1e-4)), Add(np.float32(0.3)), Quantize(
                    np.float32(-1), np.float32(1), np.float32(-128), np.float32(127), 256, element_type="i8")))
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    assert len(np.unique(reference)) > 50
    for variant in vnni:
        for threads in (1, 2):
            kernel = backend(variant, threads=threads).kernel(node)
            assert kernel.run.plan.function.__name__.startswith("r8_dwb_"), variant
            (got,) = kernel.run([q])
            assert np.array_equal(got, reference), (variant, threads)


def test_byte_plane_depthwise_gives_each_thread_whole_cache_lines():
    # r8_dwb packs each channel's planes into its thread's part of the scratch; a 7x7 plane with
    # pad 1 is 18 rows of 8 bytes (room for its 64-byte loads), 144 + 64 bytes of slack: 208 bytes
    # a thread put the two threads' planes in one cache line, rewritten by both cores for every
    # channel (MobileNetV2's 7x7 depthwise layers 1.35x slower on 2 threads than on 1). Each
    # thread's part is whole lines (r8_dwb's per_thread, _plan/convolution.py's scratch_bytes), and
    # the results stay exact.
    vnni = [v for v in VARIANTS if v in ("avx512_vnni", "amx_emu")]
    if not vnni or not backend(vnni[0]).lib.r8_cpu_features() & 32:
        pytest.skip("no AVX-512 VNNI with VBMI on this CPU: r8_dwb is not used")
    rng = np.random.default_rng(22)
    q = rng.integers(0, 256, size=(1, 40, 7, 7)).astype(np.uint8)
    weights = rng.integers(-128, 128, size=(40, 1, 3, 3)).astype(np.int8)
    node = conv(q, weights, group=40, pads_begin=(1, 1), pads_end=(1, 1), input_zero_point=(3,),
                post_ops=(Multiply(np.float32(1e-3)), Quantize(np.float32(-2), np.float32(2), np.float32(0),
                                                               np.float32(255), 256, element_type="u8")))
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    for variant in vnni:
        kernel = backend(variant, threads=2).kernel(node)
        plan = kernel.run.plan
        assert plan.function.__name__.startswith("r8_dwb_"), variant
        per_thread = plan.scratch_bytes // 2
        assert per_thread % 64 == 0 and per_thread >= plan.params.nphase * plan.params.plane_pos + 64, variant
        (got,) = kernel.run([q])
        assert np.array_equal(got, reference), variant


def requantizing_chain(scale, shift=0.0, low=-1.0, high=1.0, element_type="u8", ol=None, oh=None):
    """Multiply(scale), Add(shift), Quantize over [low, high] onto 256 levels of element_type (or
    ol .. oh with oh - ol + 1 levels)."""
    if ol is None:
        ol, oh = (0, 255) if element_type == "u8" else (-128, 127)
    return (Multiply(np.asarray(scale, np.float32)), Add(np.asarray(shift, np.float32)),
            Quantize(np.float32(low), np.float32(high), np.float32(ol), np.float32(oh), int(oh - ol + 1),
                     element_type=element_type))


#: (input type, C, H, W, kernel, strides, dilations, pads_begin, pads_end, images, output chain kind)
CELL_DEPTHWISE_CASES = {
    # 3x3, the specialized loop (3 tap cells); 7 columns: a vector of 4 and one of 3 a row
    "3x3 7x7 u8": ("u8", 12, 7, 7, (3, 3), (1, 1), (1, 1), (1, 1), (1, 1), 1, "u8"),
    # stride 2, asymmetric padding, i8 codes (+128 in the pack), per-channel zero points, i8 out
    "3x3 stride 2 i8": ("i8", 8, 9, 11, (3, 3), (2, 2), (1, 1), (0, 1), (1, 0), 2, "i8"),
    # 5x5 with dilation 2: two tap cells a row, 10 in all (the general loop); ol 3
    "5x5 dilated": ("u8", 4, 13, 10, (5, 5), (1, 1), (2, 2), (4, 4), (4, 4), 1, "ol3"),
    # 7x7 at stride 2 on rows of 37 codes: the pack's rows in 3 chunks of 16 cells
    "7x7 wide rows": ("u8", 16, 20, 37, (7, 7), (2, 2), (1, 1), (3, 3), (3, 3), 2, "u8"),
    # 1x1 and 3x4 (every byte of a tap cell a weight), one channel cell
    "1x1": ("u8", 4, 5, 6, (1, 1), (1, 1), (1, 1), (0, 0), (0, 0), 1, "u8"),
    "3x4": ("i8", 4, 6, 9, (3, 4), (1, 1), (1, 1), (1, 2), (1, 1), 1, "u8"),
}


class Cpu:
    """A stand-in for the library's r8_cpu_features: the CPU feature bits given."""

    def __init__(self, features: int) -> None:
        self.features = features

    def r8_cpu_features(self) -> int:
        return self.features


def depthwise_geometry():
    """A 3x3 depthwise layer of 8 channels on a 10x10 plane, pad 1, stride 1."""
    from refint8_backend_simd._plan.convolution import ConvGeometry

    return ConvGeometry(1, 8, 10, 10, 8, 10, 10, 8, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 12, 12, 12)


@pytest.mark.parametrize("case", CELL_DEPTHWISE_CASES)
def test_cell_depthwise_kernel_gives_the_reference_codes(case):
    # r8_dwc (r8simd_dwc.h) on NCHW input and output, 3 threads over a scratch of other bytes
    # (a cell a pack leaves out shows), then 1 and 2: the reference's codes, bit for bit
    if not BYTE_DEPTHWISE:
        pytest.skip("no AVX-512 VNNI with VBMI on this CPU: r8_dwc is not used")
    from refint8_backend_simd._plan import common

    dtype, c, h, w, kernel_size, strides, dilations, pads_begin, pads_end, n, out = CELL_DEPTHWISE_CASES[case]
    rng = np.random.default_rng(sum(map(ord, case)))
    low = -128 if dtype == "i8" else 0
    q = rng.integers(low, low + 256, size=(n, c, h, w)).astype(np.int8 if dtype == "i8" else np.uint8)
    weights = rng.integers(-128, 128, size=(c, 1, *kernel_size)).astype(np.int8)
    zero_points = tuple(int(z) for z in rng.integers(low, low + 40, size=c)) if dtype == "i8" else (5,)
    scale = (rng.uniform(0.5, 1.5, size=(1, c, 1, 1)) / (128 * 64 * np.prod(kernel_size))).astype(np.float32)
    shift = rng.uniform(-0.3, 0.3, size=(1, c, 1, 1)).astype(np.float32)
    chain = {"u8": requantizing_chain(scale, shift), "i8": requantizing_chain(scale, shift, element_type="i8"),
             "ol3": requantizing_chain(scale, shift, ol=3, oh=252)}[out]
    node = conv(q, weights, group=c, strides=strides, dilations=dilations, pads_begin=pads_begin,
                pads_end=pads_end, input_zero_point=zero_points, post_ops=chain)
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    assert len(np.unique(reference)) > min(50, reference.size // 4)   # codes across the range
    for variant in BYTE_DEPTHWISE:
        with cell_depthwise("always"):
            kernels = {t: backend(variant, threads=t).kernel(node) for t in (3, 1, 2)}
        plan = kernels[3].run.plan
        assert plan.function.__name__.startswith("r8_dwc_"), variant
        common.scratch_pointer(plan.ffi, plan.scratch_bytes)
        common._ARENA.buffer[:] = 0xA5
        for threads, kernel in kernels.items():
            (got,) = kernel.run([q])
            assert got.tobytes() == reference.tobytes(), (variant, threads)


@st.composite
def cell_depthwise_layers(draw):
    """Any depthwise layer r8_dwc runs: whole cells of channels, kernels up to 7x7, strides and
    dilations with 3*(sx + dx) <= 15, pads up to 3, u8 or i8 codes in and out."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    c, n = 4 * draw(st.integers(1, 5)), draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    sy, sx, dy, dx = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    if 3 * (sx + dx) > 15:
        sx = 1
    pads = [draw(st.integers(0, 3)) for _ in range(4)]
    h = draw(st.integers(max(1, (kh - 1) * dy + 1 - pads[0] - pads[2]), 20))
    w = draw(st.integers(max(1, (kw - 1) * dx + 1 - pads[1] - pads[3]), 40))
    dtype = draw(st.sampled_from(["u8", "i8"]))
    low = -128 if dtype == "i8" else 0
    q = rng.integers(low, low + 256, size=(n, c, h, w)).astype(np.int8 if dtype == "i8" else np.uint8)
    weights = rng.integers(-128, 128, size=(c, 1, kh, kw)).astype(np.int8)
    scale = (rng.uniform(0.5, 1.5, size=(1, c, 1, 1)) / (128 * 64 * kh * kw)).astype(np.float32)
    chain = requantizing_chain(scale, rng.uniform(-0.3, 0.3, size=(1, c, 1, 1)),
                               element_type=draw(st.sampled_from(["u8", "i8"])))
    node = conv(q, weights, group=c, strides=(sy, sx), dilations=(dy, dx), pads_begin=tuple(pads[:2]),
                pads_end=tuple(pads[2:]), input_zero_point=(int(rng.integers(low, low + 256)),), post_ops=chain)
    return node, q, weights, draw(st.integers(1, 2))


@given(cell_depthwise_layers())
def test_cell_depthwise_kernel_on_any_geometry(layer):
    node, q, weights, threads = layer
    if not BYTE_DEPTHWISE:
        pytest.skip("no AVX-512 VNNI with VBMI on this CPU: r8_dwc is not used")
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    with cell_depthwise("always"):
        kernel = backend(BYTE_DEPTHWISE[0], threads=threads).kernel(node)
    assert kernel.run.plan.function.__name__.startswith("r8_dwc_")
    (got,) = kernel.run([q])
    assert got.tobytes() == reference.tobytes()


def test_cell_depthwise_needs_whole_cells_one_channel_a_group_and_its_taps_in_a_load():
    from refint8_backend_simd._plan.convolution import _cell_depthwise_fits, cell_depthwise as rule

    geo = depthwise_geometry()
    vbmi = Cpu(1 | 2 | 4 | 8 | 32)
    assert _cell_depthwise_fits("avx512_vnni", vbmi, geo, has_zw=False)
    assert not _cell_depthwise_fits("avx512_vnni", Cpu(1 | 2 | 4 | 8), geo, has_zw=False)        # no VBMI
    assert not _cell_depthwise_fits("avx512_vnni", vbmi, geo, has_zw=True)                       # zw != 0
    assert not _cell_depthwise_fits("avx512", vbmi, geo, has_zw=False)                           # no vpdpbusd
    assert not _cell_depthwise_fits("avx512_vnni", vbmi, dataclasses.replace(geo, c=6, oc=6, group=6), False)
    assert not _cell_depthwise_fits("avx512_vnni", vbmi, dataclasses.replace(geo, oc=16, ocg=2), False)
    # lane i's taps u: byte 4*(sx*i + dx*u) + k of a 64-byte load, i, u <= 3: 3*(sx + dx) <= 15
    assert _cell_depthwise_fits("avx512_vnni", vbmi, dataclasses.replace(geo, sx=3, dx=2), False)
    assert not _cell_depthwise_fits("avx512_vnni", vbmi, dataclasses.replace(geo, sx=4, dx=2), False)
    # "auto": every layer it fits (strided ones on large planes too); "never": none
    with cell_depthwise("auto"):
        assert rule()
    with cell_depthwise("never"):
        assert not rule()


def test_post_op_chains_longer_than_the_kernels_hold_fall_back():
    # the C epilogue resolves at most 16 post-ops per layer; a longer chain is declined (the
    # fallback backend runs it), never written past the table.
    q = np.ones((1, 1, 2, 2), np.uint8)
    weights = np.ones((1, 1, 1, 1), np.int8)
    assert backend(VARIANTS[0]).kernel(conv(q, weights, post_ops=(Add(np.float32(1)),) * 16)) is not None
    assert backend(VARIANTS[0]).kernel(conv(q, weights, post_ops=(Add(np.float32(1)),) * 17)) is None


def test_byte_plane_depthwise_needs_vbmi_and_no_weight_zero_points():
    # Cascade Lake has VNNI without VBMI: r8_dwb must not be chosen there (r8_dw runs instead).
    from refint8_backend_simd._plan.convolution import _byte_depthwise_fits

    geo = depthwise_geometry()
    assert _byte_depthwise_fits("avx512_vnni", Cpu(1 | 2 | 4 | 8 | 32), geo, has_zw=False)
    assert not _byte_depthwise_fits("avx512_vnni", Cpu(1 | 2 | 4 | 8), geo, has_zw=False)      # no VBMI
    assert not _byte_depthwise_fits("avx512_vnni", Cpu(1 | 2 | 4 | 8 | 32), geo, has_zw=True)  # zw != 0
    assert not _byte_depthwise_fits("avx512", Cpu(1 | 2 | 4 | 8 | 32), geo, has_zw=False)      # no vpdpbusd
    # a lane's 4 bytes must lie in one 64-byte load: 15*sx + 3*dx <= 63
    wide = dataclasses.replace(geo, sx=4, dx=1)
    assert _byte_depthwise_fits("avx512_vnni", Cpu(63), wide, has_zw=False)
    assert not _byte_depthwise_fits("avx512_vnni", Cpu(63), dataclasses.replace(wide, dx=2), has_zw=False)


def test_emulated_amx_is_unusable_without_vnni(monkeypatch):
    # the emulated tiles run on AVX-512 VNNI code: on an AVX2-only CPU they would fault, so the
    # backend reports itself unusable with the reason instead
    import refint8_backend_simd

    monkeypatch.setattr(refint8_backend_simd, "available_variants", lambda: ("sse42", "avx2"))
    emulated = REGISTRY.create("simd", BackendOptions(isa="amx", extra={"emulate_amx": True}))
    usable, reason = emulated.usable()
    assert not usable and "AVX-512 VNNI" in reason


@pytest.mark.skipif("amx" not in AVAILABLE, reason="no AMX tiles on this CPU (or no permission)")
def test_the_amx_benchmark_loops_run_and_count_their_products():
    # r8_peak_amx (benchmarks/simd_efficiency.py's AMX limit) fills a tile configuration on its
    # stack; gcc dropped those stores before ldtilecfg, which then faulted. r8_amx_tile_steps times
    # the convolution's tile step from memory, its input rows on or off the lines; r8_amx_tile_blocks
    # its block (accumulators loaded, steps, stored or not). In a child process: a fault must fail
    # this test, not end the test run.
    import subprocess
    import sys

    script = ("from refint8.registry import default_registry\n"
              "from refint8.backend import BackendOptions\n"
              "b = default_registry().create('simd', BackendOptions(isa='amx', threads=1))\n"
              "print(b.lib.r8_peak_amx(3), b.lib.r8_amx_tile_steps(3, 4096, 0), b.lib.r8_amx_tile_steps(5, 2048, 4),\n"
              "      b.lib.r8_amx_tile_blocks(3, 1, 1), b.lib.r8_amx_tile_blocks(2, 9, 0))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    products = 4 * 16 * 16 * 64      # 4 TDPBUSD of 16x16 sums of 64 products
    assert [float(v) for v in done.stdout.split()] == [3 * products, 3 * products, 5 * products, 3 * products,
                                                       18 * products]


def test_wide_rows_pack_in_64_position_steps():
    # rows of 75 and 76 positions at stride 2 (the VBMI pack reads 128 bytes per 64 positions, then a
    # masked tail), at stride 1 (whole-plane runs of 7 rows x 150), 5 channels (a cell with one
    # missing channel), i8 codes (flipped to u8) and padding.
    rng = np.random.default_rng(21)
    q = rng.integers(-128, 128, size=(1, 5, 7, 150)).astype(np.int8)
    for kernel, strides, pads in [((1, 1), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((1, 1), (1, 1), (0, 0)),
                                  ((3, 3), (1, 2), (1, 1))]:
        weights = rng.integers(-128, 128, size=(7, 5) + kernel).astype(np.int8)
        node = conv(q, weights, strides=strides, pads_begin=pads, pads_end=pads, input_zero_point=(3,))
        (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
        check_all_variants(node, [q], reference)


def test_byte_plane_depthwise_stride_one_expand_pack():
    # stride-1 rows with VBMI2: the plane is built 64 bytes at a time by vpexpandb from the channel's
    # codes in order (a precomputed mask of the code bytes per block); i8 codes, padding on every
    # side, rows of 9 and 70 codes (blocks spanning several rows, rows spanning several blocks).
    vnni = [v for v in VARIANTS if v in ("avx512_vnni", "amx_emu")]
    if not vnni or not backend(vnni[0]).lib.r8_cpu_features() & 64:
        pytest.skip("no AVX-512 VNNI with VBMI2 on this CPU: the expand pack is not used")
    rng = np.random.default_rng(13)
    for shape, pads in [((1, 4, 7, 9), (1, 2)), ((2, 3, 6, 70), (2, 1))]:
        q = rng.integers(-128, 128, size=shape).astype(np.int8)
        weights = rng.integers(-128, 128, size=(shape[1] * 2, 1, 3, 3)).astype(np.int8)
        node = conv(q, weights, group=shape[1], strides=(1, 2), pads_begin=pads, pads_end=pads[::-1],
                    input_zero_point=(-5,))
        (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
        for variant in vnni:
            kernel = backend(variant).kernel(node)
            assert kernel.run.plan.params.pack_mask, variant                  # the expand pack runs
            (got,) = kernel.run([q])
            assert np.array_equal(got, reference), (variant, shape)


# -- a convolution with its elementwise consumer, fused (Backend.fuse) ------------------------------

@st.composite
def fused_cases(draw):
    """An Int8Convolution (any case above, its chain ending in a Quantize so it yields codes) read by
    an Int8Add or Int8Multiply at input 0 or 1, the other input codes of the same shape."""
    conv_node, q, weights = draw(conv_cases())
    posts = conv_node.attrs["post_ops"]
    ends_in_codes = bool(posts) and isinstance(posts[-1], Quantize)
    if not ends_in_codes or draw(st.booleans()):
        # a Quantize whose levels are not the codes (beyond the code range, fractional): the codes
        # the convolution yields are rounded and saturated before the consumer reads them
        if ends_in_codes:
            posts = posts[:-1]
        code = draw(st.sampled_from(["u8", "i8"]))
        low, high = (0, 255) if code == "u8" else (-128, 127)
        posts = posts + (Quantize(np.float32(-1), np.float32(1), np.float32(low - 20.5),
                                  np.float32(high + 30.25), draw(st.sampled_from([16, 256])),
                                  element_type=code),)
    conv_node = make_node("Int8Convolution", list(conv_node.inputs), {**conv_node.attrs, "post_ops": posts},
                          name="conv")
    shape = conv_node.output_types[0].shape
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["Int8Add", "Int8Add", "Int8Multiply"]))
    other_dtype = draw(st.sampled_from(["u8", "i8"]))
    other = codes(draw, shape, other_dtype)

    def axis_shape(c):
        return (1, c, 1, 1) if c else shape

    link = draw(st.integers(0, 1))
    sources = [conv_node.output(0), opset.parameter(list(shape), other_dtype, name="other")]
    if link == 1:
        sources.reverse()
    attrs = {"post_ops": draw(post_op_chains(shape[1], axis_shape, acc_scale=255)),
             "full_shift": operand(draw, rng, shape[1], axis_shape)}
    if kind == "Int8Add":
        attrs["full_scale"] = operand(draw, rng, shape[1], axis_shape)
    consumer = make_node(kind, sources, attrs, name="elt")
    return conv_node, consumer, q, weights, other, link


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(fused_cases())
def test_fused_convolution_and_consumer_equal_the_two_reference_layers(case):
    from refint8.ops import get_op

    conv_node, consumer, q, weights, other, link = case
    try:
        (codes_out,) = INT8_OPS["Int8Convolution"].compute(conv_node.attrs, q, weights)
        pair = [codes_out, other] if link == 0 else [other, codes_out]
        (reference,) = get_op(consumer.type).compute(consumer.attrs, *pair)
    except InputError:       # NaN reached a Quantize in either layer: the fused kernel refuses too
        reference = None
    for variant in VARIANTS:
        kernel = backend(variant).fuse(conv_node, consumer)
        if kernel is None:   # declined: a layer alone requantizes (check_pair runs such pairs)
            assert requantizing(variant, conv_node, consumer), variant
            continue
        if reference is None:
            with pytest.raises(InputError):
                kernel.run([q, weights, other])
            continue
        (got,) = kernel.run([q, weights, other])
        if not same(got, reference):
            bad = np.argwhere(got != reference)
            raise AssertionError(f"{variant}: {len(bad)} differences, first at {bad[:3].tolist()}: "
                                 f"{got[tuple(bad[0])]} != {reference[tuple(bad[0])]}")


@st.composite
def interleaved_fused_cases(draw):
    """A convolution whose chain the interleaved requantization runs, read by an Int8Add or
    Int8Multiply (input 0 or 1, scalar or per-channel h and r) whose chain is Multiply, Quantize."""
    conv_node, q, weights = draw(conv_cases(chains=requantization_chains, layouts=("plain", "grouped"),
                                            weight_zero_points=False))
    shape = conv_node.output_types[0].shape
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channel = (1, shape[1], 1, 1)

    def values(low, high):
        return rng.uniform(low, high, size=channel if draw(st.booleans()) else ()).astype(np.float32)

    kind = draw(st.sampled_from(["Int8Add", "Int8Multiply"]))
    other_dtype = draw(st.sampled_from(["u8", "i8"]))
    other = codes(draw, shape, other_dtype)
    link = draw(st.integers(0, 1))
    sources = [conv_node.output(0), opset.parameter(list(shape), other_dtype, name="other")]
    if link == 1:
        sources.reverse()
    attrs = {"post_ops": multiply_quantize(draw, values, kind), "full_shift": values(-50, 50)}
    if kind == "Int8Add":
        attrs["full_scale"] = values(-2, 2)
    consumer = make_node(kind, sources, attrs, name="elt")
    return conv_node, consumer, q, weights, other, link


def requantizing(variant, conv_node, consumer) -> bool:
    """Whether the convolution's or the consumer's own kernel requantizes (r8_conv.rq, r8_elt.rq):
    the pairs the simd backend declines to fuse."""
    simd = backend(variant)
    return simd.kernel(conv_node).run.plan.requantizes or simd.kernel(consumer).run.plan.requantizes


def check_pair(conv_node, consumer, q, weights, other, link, both_requantize=False, lanes="auto"):
    """The convolution and its consumer on every variant against the two reference layers: one
    fused kernel where the backend fuses them, else the two kernels one after the other. The
    backend must fuse exactly where neither layer alone requantizes, or both do and the
    convolution's requantizing kernel runs the consumer's in place (ConvPlan.consumes_requantizing:
    then the fused plan carries both tables); `both_requantize`: on the variants that requantize
    interleaved both layers must (exact accumulation). `lanes`: output_channel_lanes'."""
    from refint8.ops import get_op

    (codes_out,) = INT8_OPS["Int8Convolution"].compute(conv_node.attrs, q, weights)
    pair = [codes_out, other] if link == 0 else [other, codes_out]
    (reference,) = get_op(consumer.type).compute(consumer.attrs, *pair)
    for variant in VARIANTS:
        simd = backend(variant)
        with output_channel_lanes(lanes):
            fused, conv_kernel, alone = simd.fuse(conv_node, consumer), simd.kernel(conv_node), simd.kernel(consumer)
        conv_plan, consumer_plan = conv_kernel.run.plan, alone.run.plan
        in_place = conv_plan.requantizes and consumer_plan.requantizes and conv_plan.consumes_requantizing
        apart = (conv_plan.requantizes or consumer_plan.requantizes) and not in_place
        assert (fused is None) == apart, variant
        if both_requantize and variant in INTERLEAVED and conv_node.attrs["accumulation"] == "exact":
            assert conv_plan.requantizes and consumer_plan.requantizes, variant
            # (interleaved on AMD too: conv_rq_item consumes each block once its codes are done)
            assert in_place == (variant in ("avx512", "avx512_vnni") and not conv_plan.depthwise), variant
        if in_place:
            ffi = fused.run.plan.ffi
            assert fused.run.plan.params.rq != ffi.NULL and fused.run.plan.params.elt.rq != ffi.NULL
            # the consumer runs after each block of the tiles requantized from their accumulators
            # and of the interleaved ones (AMD; conv_rq_item), whatever this CPU's default
            for interleave in (0, 1):
                fused.run.plan.params.rq_interleave = interleave
                (got,) = fused.run([q, weights, other])
                assert same(got, reference), (variant, interleave)
        if fused is not None:
            (got,) = fused.run([q, weights, other])
        else:
            (mine,) = conv_kernel.run([q])
            (got,) = alone.run([mine, other] if link == 0 else [other, mine])
        if not same(got, reference):
            bad = np.argwhere(got != reference)
            raise AssertionError(f"{variant}: {len(bad)} differences, first at {bad[:3].tolist()}: "
                                 f"{got[tuple(bad[0])]} != {reference[tuple(bad[0])]}")
    return reference


@given(interleaved_fused_cases())
def test_requantizing_pairs_run_in_place_or_apart_and_equal_the_two_reference_layers(case):
    check_pair(*case, both_requantize=True)


@pytest.mark.parametrize("lanes", LANE_MODES)
@pytest.mark.parametrize("conv_levels", [256, 16])
def test_requantizing_consumer_recomputes_lanes_near_midpoints(conv_levels, lanes):
    # Convolution codes = q0 exactly (weights (1, 0), Quantize over [0, levels - 1]); Int8Add(h 0,
    # r 1) gives y = q0 + q2, its Multiply y/64, and per-channel Quantize ranges put one value x0 of
    # each channel next to a level midpoint: those lanes need the consumer's exact recomputation
    # (elt_rq: the pair runs apart). With 16 levels in the convolution's Quantize its near-midpoint
    # limit is wider than the consumer's (0.5 - steps * 2^-21): each layer checks its own.
    rng = np.random.default_rng(5)
    oc = 64
    top = np.float32(conv_levels - 1)
    q = rng.integers(0, conv_levels, size=(1, 2, 7, 37)).astype(np.uint8)
    weights = np.zeros((oc, 2, 1, 1), np.int8)
    weights[:, 0] = 1
    conv_chain = (Multiply(np.float32(1)), Add(np.float32(0)),
                  Quantize(np.float32(0), top, np.float32(0), top, conv_levels, element_type="u8"))
    node = conv(q, weights, post_ops=conv_chain)
    other = rng.integers(0, 256, size=(1, oc, 7, 37)).astype(np.uint8)
    x0 = rng.integers(0, 256, size=oc) / 64                # q0 = 0 and q2 = 64 x0 reach it
    di = rng.uniform(6.0, 9.0, size=oc)
    # upper levels: their float32 ulp (up to 2^-16) puts some lanes that the reciprocal rounds the
    # wrong way farther from the midpoint than a 16-level Quantize's limit (15 * 2^-21)
    il = (x0 - (rng.integers(128, 255, size=oc) + 0.5) * di / 255).astype(np.float32).reshape(1, oc, 1, 1)
    ih = (il + di.reshape(1, oc, 1, 1)).astype(np.float32)
    add = make_node("Int8Add", [node.output(0), opset.parameter([1, oc, 7, 37], "u8", name="o")],
                    {"post_ops": (Multiply(np.float32(1 / 64)),
                                  Quantize(il, ih, np.float32(0), np.float32(255), 256, element_type="u8")),
                     "full_shift": np.float32(0), "full_scale": np.float32(1)}, name="add")
    reference = check_pair(node, add, q, weights, other, 0, both_requantize=True, lanes=LANE_MODES[lanes])
    x = ((q[:, :1].astype(np.float32) + other.astype(np.float32)) * np.float32(1 / 64)).astype(np.float32)
    with np.errstate(all="ignore"):
        m = (np.float64(255) / (ih - il).astype(np.float64)).astype(np.float32)
        levels = np.clip((x - il) * m, 0, 255)
    wrong = np.rint(levels) != reference                  # the recomputation is needed here
    assert wrong.any()
    assert (np.abs(levels - np.rint(levels)) < 0.5 - 15 * 2.0**-21)[wrong].any()


def test_a_requantizing_pair_in_place_leaves_out_vectors_past_the_plane():
    # 3x3 over 12x5 gives a 10x3 plane in rows of 5 virtual positions: its 4th vector (virtual
    # positions 48-63) holds only padding columns, with no output of its own (vstart 0). The
    # consumer's step in place (rq_consume) must cover outputs 0-29 of the block, not take the
    # range from that vector (a first build did: count 0, the add never ran).
    rng = np.random.default_rng(11)
    q = rng.integers(0, 256, size=(1, 3, 12, 5)).astype(np.uint8)
    weights = rng.integers(-128, 128, size=(2, 3, 3, 3)).astype(np.int8)
    chain = (Multiply(np.float32(0.004)), Add(np.float32(0.1)),
             Quantize(np.float32(-3), np.float32(3), np.float32(-128), np.float32(127), 256, element_type="i8"))
    node = conv(q, weights, post_ops=chain)
    other = rng.integers(0, 256, size=(1, 2, 10, 3)).astype(np.uint8)
    add = make_node("Int8Add", [node.output(0), opset.parameter([1, 2, 10, 3], "u8", name="o")],
                    {"post_ops": (Multiply(np.float32(0.05)), Quantize(np.float32(-4), np.float32(4),
                                  np.float32(-128), np.float32(127), 256, element_type="i8")),
                     "full_shift": np.float32(1.5), "full_scale": np.float32(0.7)}, name="add")
    reference = check_pair(node, add, q, weights, other, 0, both_requantize=True)
    (codes_out,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    assert (reference != codes_out).sum() > 30      # the add changes most outputs


def test_nan_in_either_fused_layer_is_an_input_error():
    # acc 0 * inf = NaN reaches the convolution's Quantize (zero codes), or, with finite
    # convolution codes, the consumer's own Multiply(inf) meets a zero sum
    q = np.zeros((1, 2, 3, 5), np.uint8)
    u8 = Quantize(np.float32(0), np.float32(1), np.float32(0), np.float32(255), 256, element_type="u8")
    other = np.zeros((1, 2, 3, 5), np.uint8)
    for conv_posts, add_posts in [((Multiply(np.float32(np.inf)), u8), ()),
                                  ((u8,), (Multiply(np.float32(np.inf)), u8))]:
        node = conv(q, np.ones((2, 2, 1, 1), np.int8), post_ops=conv_posts)
        add = make_node("Int8Add", [node.output(0), opset.parameter([1, 2, 3, 5], "u8", name="o")],
                        {"post_ops": add_posts, "full_shift": np.float32(0), "full_scale": np.float32(1)})
        with pytest.raises(InputError):
            (codes_out,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, np.ones((2, 2, 1, 1), np.int8))
            INT8_OPS["Int8Add"].compute(add.attrs, codes_out, other)
        for variant in VARIANTS:
            with pytest.raises(InputError):
                backend(variant).fuse(node, add).run([q, None, other])


def test_fused_codes_in_the_negative_half_interval_are_plus_zero():
    # Codes are integers: the convolution's Quantize, rounded and saturated, stores 0 for a value in
    # (-0.5, 0], and the consumer reads float32(0) = +0.0. A fused kernel must not pass on the -0.0
    # that round(-0.3) gives: with full_shift 0, Int8Multiply's t * q2 and a Multiply post-op would
    # keep the sign in a float32 output. (acc * 0.001 with the Quantize's levels off the codes.)
    q = np.array([[[[0, -4, -3, -5, -1, -2, 5, 7]]]], np.int8)
    w = np.ones((1, 1, 1, 1), np.int8)
    quant = Quantize(np.float32(-1), np.float32(1), np.float32(-127.6), np.float32(128.4), 256, element_type="i8")
    node = conv(q, w, post_ops=(Multiply(np.float32(0.001)), quant))
    other = np.full((1, 1, 1, 8), 3, np.uint8)
    mul = make_node("Int8Multiply", [node.output(0), opset.parameter([1, 1, 1, 8], "u8", name="o")],
                    {"post_ops": (Multiply(np.float32(0.5)),), "full_shift": np.float32(0)})
    (codes_out,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, w)
    # acc 0: ((0 + 1) / 2) * 255 = 127.5 -> level 128 -> 128/255*256 - 127.6 = 0.9 -> code 1;
    # acc -4: 126.99 -> 127 -> -0.102 -> code 0 (from rint(-0.102) = -0.0); acc 5, 7: code 1
    assert codes_out.ravel().tolist() == [1, 0, 0, 0, 0, 0, 1, 1]
    (reference,) = INT8_OPS["Int8Multiply"].compute(mul.attrs, codes_out, other)
    assert not np.signbit(reference).any()
    for variant in VARIANTS:
        (got,) = backend(variant).fuse(node, mul).run([q, w, other])
        assert got.tobytes() == reference.tobytes(), (variant, np.signbit(got).astype(int).ravel())


def test_fusion_is_declined_where_the_consumer_alone_would_be():
    q = np.zeros((1, 4, 3, 3), np.uint8)
    node = conv(q, np.ones((4, 4, 1, 1), np.int8), post_ops=(Quantize(
        np.float32(0), np.float32(1), np.float32(0), np.float32(255), 256, element_type="u8"),))
    simd = backend(VARIANTS[0])
    broadcast = make_node("Int8Add", [node.output(0), opset.parameter([1, 4, 1, 1], "u8", name="b")],
                          {"post_ops": (), "full_shift": np.float32(0), "full_scale": np.float32(1)})
    assert simd.kernel(broadcast) is None and simd.fuse(node, broadcast) is None
    relu = make_node("Relu", [opset.parameter([1, 4, 3, 3], "f32", name="r")], {})
    assert simd.fuse(node, relu) is None


@pytest.mark.parametrize("variant", sorted({VARIANTS[0], AVAILABLE[-1]} | ({"avx512_vnni"} & set(AVAILABLE))))
def test_residual_blocks_through_the_runtime_equal_the_reference(variant):
    # the residual Int8Add of each of the 16 bottlenecks runs inside the convolution that feeds it
    # where neither layer requantizes alone, or both do and the convolution's kernel runs the add's
    # requantization in place (avx512, avx512_vnni); on AMX, SSE4.2 and AVX2 (whose convolutions
    # requantize alone) the backend declines and the adds run as their own int8 layers
    from refint8.models import quantized_resnet50

    model = quantized_resnet50(image_size=32)
    x = np.random.default_rng(7).uniform(-2, 2, (1, 3, 32, 32)).astype(np.float32)
    config = {"threads": 2, "isa": variant}
    fused = refint8.compile(model, backend="simd", config=config)
    apart = refint8.compile(model, backend="simd", config=config, fusion=False)
    rows = {row.name: row for row in fused.perf_counts()}
    if variant in REQUANTIZING and variant not in ("avx512", "avx512_vnni"):
        assert not fused.fusions
        adds = [name for name in rows if name.endswith("/add")]
        assert len(adds) == 16 and all(rows[a].exec_type == f"simd_{variant}_I8" for a in adds)
    else:
        assert len(fused.fusions) == 16 and all(c.endswith("/add") for c in fused.fusions)
        for consumer, producer in fused.fusions.items():
            assert rows[consumer].status.value == "NOT_RUN" and rows[consumer].exec_type == "undef"
            assert rows[producer].exec_type.startswith("simd_")
    assert {"Convolution", "Eltwise"} <= fused.int8_layer_types()   # the adds ran, in int8
    a, b = fused.infer(x), apart.infer(x)
    assert all(same(a[k], b[k]) for k in a)
    reference = refint8.compile(model, backend="reference").infer(x)
    assert all(same(a[k], reference[k]) for k in a)


# -- Int8MVN, Int8AvgPool, Relu on codes, Concat, nearest Interpolate, Reshape, Transpose ----------

def _movement_case(data):
    from refint8_conformance import strategies as S

    kind = data.draw(st.sampled_from(["mvn", "avgpool", "relu", "concat", "nearest-codes", "nearest-f32",
                                      "reshape", "transpose", "squeeze"]))
    if kind == "mvn":
        return data.draw(S.int8_mvn_case())
    if kind == "avgpool":
        return data.draw(S.int8_avg_pool_case())
    if kind == "relu":
        return data.draw(S.relu_case(True))
    if kind.startswith("nearest"):
        return data.draw(S.interpolate_case(kind))
    low = data.draw(st.booleans())
    return data.draw({"concat": S.concat_case, "reshape": S.reshape_case, "transpose": S.transpose_case,
                      "squeeze": S.squeeze_case}[kind](low))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_movement_pooling_and_mvn_layers_equal_reference_on_every_variant(data):
    from refint8.ops import get_op

    case = _movement_case(data)
    node = case.node()
    resizes_inner_axes = node.type != "Interpolate" or _plan_tables(node) is not None
    trailing = node.type != "Int8MVN" or _mvn_layout(node) is not None
    try:
        (reference,) = get_op(node.type).compute(node.attrs, *case.inputs)
    except InputError:        # NaN reached a Quantize post-op of an Int8MVN
        reference = None
    for variant in VARIANTS:
        kernel = backend(variant).kernel(node)
        if not (resizes_inner_axes and trailing):
            assert kernel is None, variant   # declined: the fallback backend runs it
            continue
        if reference is None:
            with pytest.raises(InputError):
                kernel.run(case.inputs)
            continue
        (got,) = kernel.run(case.inputs)
        assert got.dtype == reference.dtype and got.shape == reference.shape, variant
        assert got.tobytes() == reference.tobytes() or np.array_equal(got, reference, equal_nan=True), variant


@pytest.mark.parametrize("dtype, widths", [(np.uint8, (1, 2, 4, 8, 16, 3)), (np.float32, (1, 2, 4, 3)),
                                            (np.int8, (1, 1, 1))])
@pytest.mark.parametrize("threads", [1, 2])
def test_a_concat_of_narrow_blocks_puts_every_element_in_its_place(dtype, widths, threads):
    # Along the last axis each input's block of an outer index is a few bytes: r8_concat copies
    # blocks of 1, 2, 4, 8 and 16 bytes as moves of that size, input by input over each thread's
    # outer indices (r8_generic.c concat_outer), and others (3 and 12 bytes here) by memcpy. Every
    # element distinct, so any one out of place shows.
    outer = (2, 3, 7)   # 42 outer indices: 21 a thread with 2
    arrays, start = [], 0
    for w in widths:
        arrays.append((np.arange(start, start + 42 * w) % 251).astype(dtype).reshape(*outer, w))
        start += 42 * w
    expected = np.concatenate(arrays, axis=3)
    assert len(np.unique(expected.astype(np.float64))) == min(expected.size, 251)   # (the premise)
    name = {np.uint8: "u8", np.int8: "i8", np.float32: "f32"}[dtype]
    xs = [opset.parameter([*outer, w], name, name=f"x{i}") for i, w in enumerate(widths)]
    node = make_node("Concat", xs, {"axis": -1}, name="concat")
    for variant in VARIANTS:
        (got,) = backend(variant, threads=threads).kernel(node).run(arrays)
        assert got.dtype == expected.dtype and np.array_equal(got, expected), variant


def _plan_tables(node):
    from refint8_backend_simd import _plan

    return _plan.nearest_tables(node)


def _mvn_layout(node):
    from refint8_backend_simd import _plan

    return _plan.trailing_groups(node)


def test_nearest_tables_follow_the_specification_and_decline_other_axes():
    # 2x upsampling of a 3x2 plane, asymmetric + floor: source row oy // 2, column ox // 2
    x = opset.parameter([1, 2, 3, 2], "u8", name="x")
    node = make_node("Interpolate", [x], {"mode": "nearest", "shape_calculation_mode": "scales",
                                          "scales": (2.0, 2.0), "axes": (2, 3), "sizes": None,
                                          "coordinate_transformation_mode": "asymmetric",
                                          "nearest_mode": "floor"})
    rows, cols = _plan_tables(node)
    assert rows.tolist() == [0, 0, 1, 1, 2, 2] and cols.tolist() == [0, 0, 1, 1]
    q = np.arange(12, dtype=np.uint8).reshape(1, 2, 3, 2)
    for variant in VARIANTS:
        (got,) = backend(variant).kernel(node).run([q])
        assert got[0, 1, :, :].tolist() == [[6, 6, 7, 7], [6, 6, 7, 7], [8, 8, 9, 9], [8, 8, 9, 9],
                                            [10, 10, 11, 11], [10, 10, 11, 11]]
    channels = make_node("Interpolate", [x], {**node.attrs, "axes": (1, 2)})
    assert _plan_tables(channels) is None and backend(VARIANTS[0]).kernel(channels) is None


def test_int8_mvn_over_leading_axes_is_declined_and_trailing_groups_are_contiguous():
    x = opset.parameter([2, 3, 4, 5], "u8", name="x")
    attrs = {"normalize_variance": True, "eps": 1e-5, "eps_mode": "inside_sqrt", "post_ops": ()}
    trailing = make_node("Int8MVN", [x], {**attrs, "axes": (-1, 2)})
    assert _mvn_layout(trailing) == (6, 20)
    leading = make_node("Int8MVN", [x], {**attrs, "axes": (1,)})
    assert _mvn_layout(leading) is None and backend(VARIANTS[0]).kernel(leading) is None
    # a group of 20 codes: 0, 2 and eighteen 1s: mean 1, variance 2/20 = 0.1, so
    # +-1 / sqrt(0.1 + 1e-5), rounded once to float32
    q = np.zeros((2, 3, 4, 5), np.uint8)
    q[0, 0, 0, 0], q[0, 0, 0, 1] = 0, 2
    q[0, 0, 1:, :] = 1
    q[0, 0, 0, 2:] = 1
    (got,) = backend(VARIANTS[-1]).kernel(trailing).run([q])
    var = np.float64(2.0) / 20   # Q = 4 + 18, S = 20: (20*22 - 400) / 400
    assert got[0, 0, 0, 0] == np.float32((0.0 - 1.0) / np.sqrt(var + 1e-5))
    assert got[0, 0, 0, 1] == np.float32((2.0 - 1.0) / np.sqrt(var + 1e-5))
    assert got[1, 2, 3, 4] == np.float32(0.0)        # a constant group: d = 0


def test_int8_avg_pool_rounds_half_to_even_with_negative_sums():
    # i8 codes, 2x2 windows: sums -2 (mean -0.5 -> -0), -6 (-1.5 -> -2), 10 (2.5 -> 2), 14 (3.5 -> 4)
    q = np.array([[[[-1, -1, -1, -3], [0, 0, -1, -1]],
                   [[2, 3, 3, 4], [2, 3, 3, 4]]]], np.int8).reshape(1, 2, 2, 4)
    x = opset.parameter([1, 2, 2, 4], "i8", name="x")
    node = make_node("Int8AvgPool", [x], {"kernel": (2, 2), "strides": (2, 2)})
    for variant in VARIANTS:
        (got,) = backend(variant).kernel(node).run([q])
        assert got.reshape(-1).tolist() == [0, -2, 2, 4], variant
