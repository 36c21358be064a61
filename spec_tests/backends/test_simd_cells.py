"""Activations in 4-channel cells between the steps of a simd sequence (_plan/layout.py).

A sequence keeps a tensor that never leaves it as ``[N][C/4][S][4 bytes]`` where a requantizing
convolution stores it (AMX's kernels; avx512_vnni's channel-lane kernel; on avx512_vnni a
convolution fused with its requantizing Int8Add, whose add stores the cells; the depthwise r8_dwc
on VNNI builds with VBMI) and every reader can take it: convolutions (as their planes, or packing
their planes from the cells; alone or fused with their consumer, which may read its other input in
cells too; r8_dwc into its padded cell planes) and layout-blind elementwise steps. The results
must be the reference's, bit for bit; the cells themselves are checked by hand against that
layout.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refint8
from refint8 import opset
from refint8.backend import BackendOptions, PlannedStep
from refint8.errors import BackendError
from refint8.graph import make_node
from refint8.int8 import INT8_OPS
from refint8.int8.post_ops import Add, Multiply, Quantize, Relu

from simd_support import AMX, AVAILABLE, BYTE_DEPTHWISE, REGISTRY, VARIANTS, backend

#: the variants whose convolutions store cells: AMX's kernels, on tiles or emulated in C, and
#: avx512_vnni's channel-lane kernel (which these tests' plans run: channel_lanes)
CELL_VARIANTS = [v for v in VARIANTS if v in AMX or v == "avx512_vnni"]
pytestmark = pytest.mark.skipif(not CELL_VARIANTS, reason="no AVX-512 VNNI here (its kernels, and AMX's emulated)")


@contextlib.contextmanager
def channel_lanes(variant: str):
    """Plans built inside run avx512_vnni's requantizing convolutions on its channel-lane kernel
    (the one of its kernels that stores cells) wherever they can; other variants as they are."""
    from refint8_backend_simd._plan import common

    before = common.CHANNELS_ACROSS_LANES
    if variant == "avx512_vnni":
        common.CHANNELS_ACROSS_LANES = "always"
    try:
        yield
    finally:
        common.CHANNELS_ACROSS_LANES = before


def u8_codes(scale: float = 1.0, low: float = 0.0, high: float = 255.0):
    """Multiply(scale), Add(0), then Quantize over [low, high] onto 256 u8 levels."""
    return (Multiply(np.float32(scale)), Add(np.float32(0)),
            Quantize(np.float32(low), np.float32(high), np.float32(0), np.float32(255), 256, element_type="u8"))


def i8_codes():
    """Multiply(1), Add(0), then Quantize over [-128, 127] onto 256 i8 levels: the code of an
    integer y in that range is y."""
    return (Multiply(np.float32(1)), Add(np.float32(0)),
            Quantize(np.float32(-128), np.float32(127), np.float32(-128), np.float32(127), 256, element_type="i8"))


def convolution(x_shape, dtype, weights, post_ops, name, strides=(1, 1), pads=((0, 0), (0, 0)), dilations=(1, 1),
                input_zero_point=None, weight_zero_point=None):
    x = opset.parameter(list(x_shape), dtype, name=f"{name}_in")
    return make_node("Int8Convolution", [x, opset.constant(weights, name=f"{name}_w")], {
        "strides": strides, "pads_begin": pads[0], "pads_end": pads[1], "dilations": dilations, "group": 1,
        "input_zero_point": input_zero_point, "weight_zero_point": weight_zero_point, "post_ops": post_ops,
        "accumulation": "exact"}, name=name)


def depthwise(x_shape, dtype, weights, post_ops, name, strides=(1, 1), pads=((1, 1), (1, 1)),
              input_zero_point=None):
    """A depthwise Int8Convolution (one channel a group) of a tensor of x_shape."""
    x = opset.parameter(list(x_shape), dtype, name=f"{name}_in")
    return make_node("Int8Convolution", [x, opset.constant(weights, name=f"{name}_w")], {
        "strides": strides, "pads_begin": pads[0], "pads_end": pads[1], "dilations": (1, 1),
        "group": x_shape[1], "input_zero_point": input_zero_point, "weight_zero_point": None,
        "post_ops": post_ops, "accumulation": "exact"}, name=name)


def int8_add(first, second, name, shift=0.0, scale=1.0, multiply=1.0, high=255.0, op="Int8Add"):
    """Int8Add of two code tensors: t = (first - shift) * scale + second (Int8Multiply: t = (first -
    shift) * second), then Multiply and a Quantize over [0, high] onto 256 u8 levels (single
    values: the consumer's requantizing kernel)."""
    attrs = {"full_shift": np.float32(shift), "post_ops": (
        Multiply(np.float32(multiply)),
        Quantize(np.float32(0), np.float32(high), np.float32(0), np.float32(255), 256, element_type="u8"))}
    if op == "Int8Add":
        attrs["full_scale"] = np.float32(scale)
    return make_node(op, [first, second], attrs, name=name)


def reference_convolution(node, x, weights):
    (out,) = INT8_OPS["Int8Convolution"].compute(node.attrs, x, weights)
    return out


def sequence(variant, kernels_and_slots, threads=1, last_read_after=True):
    """backend.sequence of PlannedSteps (kernel, input slots, output slot); only the last output is
    read after the sequence (unless last_read_after is false: then none)."""
    b = backend(variant, threads)
    with channel_lanes(variant):
        steps = [PlannedStep(b.kernel(node), inputs, (out,), (last_read_after and k == len(kernels_and_slots) - 1,))
                 for k, (node, inputs, out) in enumerate(kernels_and_slots)]
    run = b.sequence(steps)
    assert run is not None
    return run


def infer(run, slots_count, inputs):
    slots = list(inputs) + [None] * (slots_count - len(inputs))
    run(slots, [])
    return slots


def assert_cells_hold(buffer, s, image):
    """The cell tensor in buffer, S = s positions a cell plane, holds image [C][H][W]: byte j of
    cell (c4, y*W + x) is channel 4*c4 + j at (y, x)."""
    c, h, w = image.shape
    stored = buffer[:c * s].reshape(c // 4, s, 4)
    for c4 in range(c // 4):
        for y in range(h):
            for col in range(w):
                for j in range(4):
                    assert stored[c4, y * w + col, j] == image[4 * c4 + j, y, col], (c4, y, col, j)


# -- the layout, by hand -----------------------------------------------------------------------------

@pytest.mark.parametrize("variant", CELL_VARIANTS)
def test_a_copying_convolution_stores_the_documented_cells(variant):
    # A: 1x1, weights the identity over 8 channels, codes kept (level = acc): its output is its
    # input. Stored as cells: byte j of cell (c4, y*W + x) is channel 4*c4 + j at (y, x), the cell
    # planes S apart, S the reading 1x1 layer's plane_pos (it reads them as its planes). B adds
    # channel pairs: B[o] = x[2o] + x[2o + 1] (u8, clamped at 255)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 128, size=(1, 8, 3, 5)).astype(np.uint8)
    a = convolution(x.shape, "u8", np.eye(8, dtype=np.int8).reshape(8, 8, 1, 1), u8_codes(), "a")
    pairs = np.zeros((4, 8, 1, 1), np.int8)
    for o in range(4):
        pairs[o, 2 * o:2 * o + 2] = 1
    b = convolution(x.shape, "u8", pairs, u8_codes(), "b")
    run = sequence(variant, [(a, (0,), 1), (b, (1,), 2)])
    (cells,) = run.cell_classes
    assert cells.tensors == [0] and cells.readers == [1]
    plan_b = run.plans[1][0]
    s = plan_b.params.plane_pos
    assert cells.positions == s >= 15 and plan_b.params.in_cells == s and run.plans[0][0].params.out_cells == s
    slots = infer(run, 3, [x])
    assert_cells_hold(run.buffers[0], s, x[0])
    expected = np.stack([x[0, 2 * o].astype(int) + x[0, 2 * o + 1] for o in range(4)])[None].astype(np.uint8)
    np.testing.assert_array_equal(slots[2], expected)


@pytest.mark.skipif("avx512_vnni" not in CELL_VARIANTS, reason="only avx512_vnni's position kernel has a tail")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("side, tail", [(7, 1), (14, 4)])
def test_a_1x1_layer_with_a_tail_reads_the_cells_as_its_planes(side, tail, threads):
    # A copies 8 channels into cells (its channel-lane kernel); B, a 1x1 layer on the position
    # kernel whose plane ends in a vector of 1 or 4 positions (7x7, 14x14), reads them as its
    # planes, its tail's rows in the scratch, not after the cells (r8_conv.tail_at). B adds
    # channel pairs: B[o] = x[2o] + x[2o + 1] (u8, clamped at 255)
    rng = np.random.default_rng(side)
    x = rng.integers(0, 200, size=(1, 8, side, side)).astype(np.uint8)
    a = convolution(x.shape, "u8", np.eye(8, dtype=np.int8).reshape(8, 8, 1, 1), u8_codes(), "a")
    pairs = np.zeros((4, 8, 1, 1), np.int8)
    for o in range(4):
        pairs[o, 2 * o:2 * o + 2] = 1
    b = convolution(x.shape, "u8", pairs, u8_codes(), "b")
    simd = backend("avx512_vnni", threads)
    with channel_lanes("avx512_vnni"):
        kernel_a = simd.kernel(a)
    run = simd.sequence([PlannedStep(kernel_a, (0,), (1,), (False,)), PlannedStep(simd.kernel(b), (1,), (2,), (True,))])
    plan_b = run.plans[1][0]
    assert plan_b.params.tail_n == tail and plan_b.params.in_cells == plan_b.params.plane_pos
    expected = np.minimum(x[0, 0::2].astype(int) + x[0, 1::2], 255)[None].astype(np.uint8)
    np.testing.assert_array_equal(infer(run, 3, [x])[2], expected)


@pytest.mark.parametrize("variant", CELL_VARIANTS)
def test_codes_on_midpoints_are_rounded_half_to_even_in_cells(variant):
    # A: 1x1, channel c copies input channel c, Multiply(0.5): an odd code lands on a midpoint
    # (the Quantize's (y/255)*255 gives k + 0.5 back exactly in float32 for these k), which the
    # fused chain cannot decide; its channel is done again (amx_rq_cell_recheck) and its bytes
    # rewritten in their cells: round half to even, 1/2 -> 0, 3/2 -> 2, 5/2 -> 2. B copies A.
    x = np.arange(4 * 2 * 40, dtype=np.int64).reshape(1, 4, 2, 40).astype(np.uint8)
    identity = np.eye(4, dtype=np.int8).reshape(4, 4, 1, 1)
    a = convolution(x.shape, "u8", identity, u8_codes(0.5), "a")
    b = convolution(x.shape, "u8", identity, u8_codes(), "b")
    run = sequence(variant, [(a, (0,), 1), (b, (1,), 2)])
    assert len(run.cell_classes) == 1
    halves = x.astype(np.int64)
    expected = ((halves // 2) + ((halves % 2 == 1) & ((halves // 2) % 2 == 1))).astype(np.uint8)
    np.testing.assert_array_equal(infer(run, 3, [x])[2], expected)


def sum_next_to_midpoints(x: np.ndarray, oc: int, rng: np.random.Generator, name: str):
    """A 1x1 convolution of x's two channels with weights 1 onto oc channels: s = (q0 + q1)/64
    exactly, then per-channel Quantize ranges of width 2-3 that put one value x0 of each channel
    next to a level midpoint (il = x0 - (k + 1/2)(ih - il)/255, rounded to float32), where the
    fused chain's one rounding can land on the other side of it than the reference's operations.
    Returns the node, its weights and its reference codes, which the reciprocal's shortcut misses
    somewhere (the reference's formula is needed)."""
    x0 = rng.integers(0, 255, size=(1, oc, 1, 1)) / 64
    di = rng.uniform(2.0, 3.0, size=x0.shape)
    il = (x0 - (rng.integers(0, 255, size=x0.shape) + 0.5) * di / 255).astype(np.float32)
    ih = (il + di).astype(np.float32)
    weights = np.ones((oc, 2, 1, 1), np.int8)
    node = convolution(x.shape, "u8", weights, (Multiply(np.float32(1 / 64)), Add(np.float32(0)),
                                               Quantize(il, ih, np.float32(0), np.float32(255), 256,
                                                        element_type="u8")), name)
    codes = reference_convolution(node, x, weights)
    s = (x.astype(np.int64).sum(axis=1, keepdims=True) / 64).astype(np.float32)
    with np.errstate(all="ignore"):
        m = (np.float64(255) / (ih - il).astype(np.float64)).astype(np.float32)
        shortcut = np.rint(np.clip((s - il) * m, 0, 255))
    assert not np.array_equal(shortcut, codes)
    return node, weights, codes


@pytest.mark.parametrize("variant", CELL_VARIANTS)
def test_codes_next_to_midpoints_take_the_reference_formula_in_cells(variant):
    # A sums two channels next to midpoints of its 48 channels' Quantize ranges
    # (sum_next_to_midpoints): such lanes must take the reference's formula before their levels
    # go into cells. B copies A.
    rng = np.random.default_rng(11)
    oc = 48
    x = rng.integers(0, 255, size=(1, 2, 9, 40)).astype(np.uint8)
    a, _, codes_a = sum_next_to_midpoints(x, oc, rng, "a")
    identity = np.eye(oc, dtype=np.int8).reshape(oc, oc, 1, 1)
    b = convolution(codes_a.shape, "u8", identity, u8_codes(), "b")
    run = sequence(variant, [(a, (0,), 1), (b, (1,), 2)])
    assert len(run.cell_classes) == 1
    np.testing.assert_array_equal(infer(run, 3, [x])[2], codes_a)


@pytest.mark.parametrize("variant", CELL_VARIANTS)
def test_a_residual_block_keeps_its_trunk_in_cells(variant):
    # i8 codes from two convolutions (A: x*1, D: x*2 per channel, Quantize over [-128, 127]: codes
    # min(x, 127) and min(2x, 127)), their Int8Add (h 0, r 1: u = a + d, onto u8 codes 0 .. 255)
    # read by a 1x1 layer that copies it: the add's one plane of scalar operands is layout-blind,
    # so A, D and the add make one class, in cells, read by B
    x = np.arange(8 * 4 * 4, dtype=np.int64).reshape(1, 8, 4, 4).astype(np.uint8) % 100
    identity = np.eye(8, dtype=np.int8).reshape(8, 8, 1, 1)
    a = convolution(x.shape, "u8", identity, i8_codes(), "a")
    d = convolution(x.shape, "u8", 2 * identity, i8_codes(), "d")
    add = int8_add(opset.parameter(list(x.shape), "i8", name="p"), opset.parameter(list(x.shape), "i8", name="q"),
                   "add")
    b = convolution(x.shape, "u8", identity, u8_codes(), "b")
    run = sequence(variant, [(a, (0,), 1), (d, (0,), 2), (add, (1, 2), 3), (b, (3,), 4)])
    (cells,) = run.cell_classes
    assert sorted(cells.tensors) == [0, 1, 2] and cells.readers == [3]
    codes_a, codes_d = np.minimum(x.astype(int), 127), np.minimum(2 * x.astype(int), 127)
    expected = np.clip(codes_a + codes_d, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(infer(run, 5, [x])[4], expected)


#: the variants whose depthwise layers can read and store cells (r8simd_dwc.h r8_dwc: VBMI)
DEPTHWISE_CELL_VARIANTS = [v for v in CELL_VARIANTS if v in BYTE_DEPTHWISE]


@pytest.mark.parametrize("variant", DEPTHWISE_CELL_VARIANTS)
def test_a_depthwise_layer_reads_and_stores_cells(variant):
    # A copies 8 channels (1x1, identity weights) into cells; D, depthwise 3x3 with pad 1 and the
    # left tap (ky = 1, kx = 0) its only weight 1, codes kept: D[c, y, x] = A[c, y, x - 1], and 0
    # (the pad code, zero point 0) at x = 0; B copies D. D reads A's cells (16 positions a
    # plane: 3x5 rounded up) and stores its own as cells, by hand: byte j of cell (c4, y*5 + x) is
    # channel 4*c4 + j at (y, x - 1); B reads them as its planes (S its plane_pos)
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(1, 8, 3, 5)).astype(np.uint8)
    identity = np.eye(8, dtype=np.int8).reshape(8, 8, 1, 1)
    left = np.zeros((8, 1, 3, 3), np.int8)
    left[:, 0, 1, 0] = 1
    a = convolution(x.shape, "u8", identity, u8_codes(), "a")
    d = depthwise(x.shape, "u8", left, u8_codes(), "d")
    b = convolution(x.shape, "u8", identity, u8_codes(), "b")
    run = sequence(variant, [(a, (0,), 1), (d, (1,), 2), (b, (2,), 3)])
    plan_d, plan_b = run.plans[1][0], run.plans[2][0]
    assert plan_d.function.__name__.startswith("r8_dwc_")
    assert sorted((c.tensors, c.readers) for c in run.cell_classes) == [([0], [1]), ([1], [2])]
    s = plan_b.params.plane_pos
    assert plan_d.params.in_cells == 16 and plan_d.params.out_cells == s == plan_b.params.in_cells
    shifted = np.zeros_like(x)
    shifted[..., 1:] = x[..., :-1]
    slots = infer(run, 4, [x])
    assert_cells_hold(run.buffers[1], s, shifted[0])
    np.testing.assert_array_equal(slots[3], shifted)


@st.composite
def inverted_residuals(draw):
    """MobileNetV2's block without its add: E, a 1x1 layer onto c channels of u8 codes; D,
    depthwise 3x3 or 5x5 (stride 1 or 2, pads, an input zero point) onto u8 or i8 codes; P, a 1x1
    layer of D onto float32. 1 or 2 images, 1 or 2 threads."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, cin, c = draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([4, 8])), draw(st.sampled_from([4, 8, 20, 64]))
    h, w = draw(st.integers(3, 16)), draw(st.integers(3, 40))
    k, stride = draw(st.sampled_from([3, 3, 5])), draw(st.integers(1, 2))
    pad = draw(st.integers(k // 2 - 1, k // 2))
    if min(h, w) + 2 * pad < k:
        pad = k // 2
    x = rng.integers(0, 256, size=(n, cin, h, w)).astype(np.uint8)
    we = rng.integers(-128, 128, size=(c, cin, 1, 1)).astype(np.int8)
    e = convolution(x.shape, "u8", we, u8_codes(rng.uniform(0.5, 2) / (cin * 128 * 64)), "e")
    oe = reference_convolution(e, x, we)
    wd = rng.integers(-128, 128, size=(c, 1, k, k)).astype(np.int8)
    zero_point = draw(st.sampled_from([0, 9]))
    out_type = draw(st.sampled_from(["u8", "i8"]))
    low = 0 if out_type == "u8" else -128
    scale = (rng.uniform(0.5, 1.5, size=(1, c, 1, 1)) / (k * k * 128 * 64)).astype(np.float32)
    d = depthwise(oe.shape, "u8", wd, (Multiply(scale), Add(np.float32(0.1)),
                                       Quantize(np.float32(-1), np.float32(1), np.float32(low), np.float32(low + 255),
                                                256, element_type=out_type)),
                  "d", strides=(stride, stride), pads=((pad, pad), (pad, pad)), input_zero_point=(zero_point,))
    od = reference_convolution(d, oe, wd)
    wp = rng.integers(-128, 128, size=(8, c, 1, 1)).astype(np.int8)
    p = convolution(od.shape, out_type, wp, (Multiply(np.float32(1e-3)),), "p")
    return (e, we), (d, wd), (p, wp), x, draw(st.sampled_from([1, 1, 2]))


@given(inverted_residuals())
def test_a_depthwise_layer_between_cells_gives_the_reference_result(case):
    (e, we), (d, wd), (p, wp), x, threads = case
    expected = reference_convolution(p, reference_convolution(d, reference_convolution(e, x, we), wd), wp)
    for variant in DEPTHWISE_CELL_VARIANTS:
        run = sequence(variant, [(e, (0,), 1), (d, (1,), 2), (p, (2,), 3)], threads=threads)
        plan_d = run.plans[1][0]
        # D reads E's cells, and stores cells where P can read them (u8 codes: not i8)
        assert plan_d.function.__name__.startswith("r8_dwc_") and plan_d.params.in_cells, variant
        assert bool(plan_d.params.out_cells) == (d.output_types[0].dtype == np.uint8), variant
        got = infer(run, 4, [x])[3]
        assert got.dtype == expected.dtype and np.array_equal(got, expected, equal_nan=True), variant


# -- what stays NCHW -----------------------------------------------------------------------------------

def _copy_pair():
    """Two 1x1 layers that copy 8 channels of u8 codes, the second reading the first."""
    x_shape = (1, 8, 3, 5)
    identity = np.eye(8, dtype=np.int8).reshape(8, 8, 1, 1)
    return (convolution(x_shape, "u8", identity, u8_codes(), "a"),
            convolution(x_shape, "u8", identity, u8_codes(), "b"))


def two_steps(variant, first, second, first_read_after=False):
    """A sequence of two convolutions, the second reading the first's output; the kernels built
    as channel_lanes has them."""
    b_ = backend(variant)
    with channel_lanes(variant):
        kernels = b_.kernel(first), b_.kernel(second)
    run = b_.sequence([PlannedStep(kernels[0], (0,), (1,), (first_read_after,)),
                       PlannedStep(kernels[1], (1,), (2,), (True,))])
    return run, kernels


@pytest.mark.parametrize("variant", CELL_VARIANTS)
def test_an_output_read_after_the_sequence_stays_nchw(variant):
    run, _ = two_steps(variant, *_copy_pair(), first_read_after=True)
    assert run.cell_classes == [] and run.plans[1][0].params.in_cells == 0


def test_outputs_whose_producer_or_reader_cannot_take_cells_stay_nchw():
    # a producer: avx512_vnni's position kernel stores NCHW only (the copy pair's 8-channel layers
    # run it unless told otherwise), and so does a convolution whose chain is not the
    # requantization its kernel runs (a Relu inside); a reader: a convolution of i8 codes (its pack
    # adds 128 to each)
    identity = np.eye(8, dtype=np.int8).reshape(8, 8, 1, 1)
    a, b = _copy_pair()
    if "avx512_vnni" in AVAILABLE:
        vnni = REGISTRY.create("simd", BackendOptions(isa="avx512_vnni", threads=1))
        ka = vnni.kernel(a)
        assert ka.run.plan.params.w_oc == ka.run.plan.ffi.NULL   # the position kernel
        run = vnni.sequence([PlannedStep(ka, (0,), (1,), (False,)), PlannedStep(vnni.kernel(b), (1,), (2,), (True,))])
        assert run.cell_classes == []
    relu = convolution((1, 8, 3, 5), "u8", identity, (Multiply(np.float32(1)), Relu()) + u8_codes()[2:], "relu")
    signed_a = convolution((1, 8, 3, 5), "u8", identity, i8_codes(), "signed_a")
    signed_b = convolution((1, 8, 3, 5), "i8", identity, u8_codes(), "signed_b")
    for variant in CELL_VARIANTS:
        for first, second in ((relu, b), (signed_a, signed_b)):
            run, kernels = two_steps(variant, first, second)
            assert run.cell_classes == [], (variant, first.name)
        assert not two_steps(variant, relu, b)[1][0].run.plan.requantizes
        assert two_steps(variant, signed_a, b)[1][0].run.plan.requantizes
        # the same pairs of requantizing, unsigned steps do form a class
        run, _ = two_steps(variant, a, b)
        assert len(run.cell_classes) == 1, variant


@pytest.mark.parametrize("variant", CELL_VARIANTS)
def test_a_plan_set_up_for_cells_refuses_to_run_alone(variant):
    run, kernels = two_steps(variant, *_copy_pair())
    assert len(run.cell_classes) == 1
    x = np.zeros((1, 8, 3, 5), np.uint8)
    for kernel in kernels:
        with pytest.raises(BackendError, match="4-channel cells"):
            kernel.run([x])


# -- any geometry, against the reference -------------------------------------------------------------

@st.composite
def conv_pairs(draw):
    """A: a requantizing convolution onto u8 codes (1x1 or 3x3, strides 1-2, pads); B any
    convolution of A's output (1x1 at stride 1 reads the cells as its planes, others pack them),
    with input and weight zero points; 1 or 2 images, 1 or 2 threads. (A's plane may end inside a
    vector, and its 3x3 rows drop columns: the stores of partial vectors.)"""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.sampled_from([1, 1, 2]))
    c, oc = draw(st.sampled_from([4, 8, 16, 20, 64])), draw(st.sampled_from([4, 8, 36, 64, 68]))
    # rows up to 72 codes: B's stride-2 pack takes 16 cells a step from rows of 34 or more
    h, w = draw(st.integers(3, 9)), draw(st.integers(3, 72))
    ka = draw(st.sampled_from([1, 3]))
    sa, pa = draw(st.integers(1, 2)), (ka // 2 if draw(st.booleans()) else 0)
    x = rng.integers(0, 256, size=(n, c, h, w)).astype(np.uint8)
    wa = rng.integers(-128, 128, size=(oc, c, ka, ka)).astype(np.int8)
    acc = c * ka * ka * 255 * 128
    scale = np.float32(draw(st.sampled_from([0.5, 2, 8, 64]))) * 255 / np.float32(acc)
    per_channel = rng.uniform(0.5, 1.5, size=(1, oc, 1, 1)).astype(np.float32)
    a = convolution(x.shape, "u8", wa, (
        Multiply(scale * per_channel), Add(np.float32(draw(st.sampled_from([0, 0.3])))),
        Quantize(np.float32(0), np.float32(1), np.float32(0), np.float32(255), 256, element_type="u8")),
        "a", strides=(sa, sa), pads=((pa, pa), (pa, pa)))
    oa_shape = reference_convolution(a, x, wa).shape
    kb = draw(st.sampled_from([(1, 1), (1, 1), (3, 3), (5, 5), (1, 3)]))
    sb = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    db = draw(st.sampled_from([(1, 1), (1, 1), (2, 1)]))
    pb = tuple(draw(st.integers(0, k // 2 + 1)) for k in (kb[0], kb[1]))
    if any(oa_shape[2 + i] + 2 * pb[i] < (kb[i] - 1) * db[i] + 1 for i in (0, 1)):
        kb, pb, db = (1, 1), (0, 0), (1, 1)    # (the window does not fit: a 1x1 layer instead)
    ob = draw(st.sampled_from([3, 16, 40]))
    wb = rng.integers(-128, 128, size=(ob, oa_shape[1], *kb)).astype(np.int8)
    za = draw(st.sampled_from([None, 0, 7, "channel"]))
    za = tuple(rng.integers(0, 256, size=oa_shape[1]).tolist()) if za == "channel" else (None if za is None else (za,))
    zw = draw(st.sampled_from([None, (3,)]))
    b = convolution(oa_shape, "u8", wb, (Multiply(np.float32(1e-3)),), "b", strides=sb, pads=(pb, pb),
                    dilations=db, input_zero_point=za, weight_zero_point=zw)
    return a, wa, b, wb, x, draw(st.sampled_from([1, 1, 2]))


@given(conv_pairs())
def test_a_convolution_reading_cells_gives_the_reference_result(case):
    a, wa, b, wb, x, threads = case
    expected = reference_convolution(b, reference_convolution(a, x, wa), wb)
    for variant in CELL_VARIANTS:
        run = sequence(variant, [(a, (0,), 1), (b, (1,), 2)], threads=threads)
        # (no class where B reads unfolded windows: AMX's convolutions of at most 4 input
        # channels, r8_conv.im2col, which cannot read cells)
        assert len(run.cell_classes) == (not run.plans[1][0].params.im2col), variant
        got = infer(run, 3, [x])[2]
        assert got.dtype == expected.dtype and np.array_equal(got, expected, equal_nan=True), variant


@pytest.mark.parametrize("variant", CELL_VARIANTS)
def test_resnet_runs_with_its_cells_as_without(variant, monkeypatch):
    from refint8.models.resnet import quantized_resnet50
    from refint8_backend_simd._plan import layout
    from refint8_backend_simd._plan.convolution import ConvPlan
    from refint8_backend_simd._plan.fusion import ConvConsumerPlan

    model = quantized_resnet50(image_size=32, calibration_samples=1)
    x = np.random.default_rng(0).normal(0, 1, (1, 3, 32, 32)).astype(np.float32)
    config = {"isa": "amx" if variant in AMX else variant, "threads": 1,
              "simd": {"emulate_amx": variant == "amx_emu"}}
    with_cells = refint8.compile(model, backend="simd", config=config)
    (run,) = [entry.run for entry in with_cells._program]
    plans = [plan for plan, _ in run.plans]
    if variant in AMX:
        trunk = [c for c in run.cell_classes if len(c.tensors) > 1]
        assert len(run.cell_classes) >= 32 and trunk     # every conv -> conv edge, and residual trunks
    else:
        # avx512_vnni fuses each residual add into the convolution before it: its classes are
        # single outputs, every 3x3 layer's (8x8 planes and smaller here, 576+ products an output:
        # channel lanes), each read by the 1x1 layer after it, fused with its add; and the trunks
        # those pairs store (rq_consume_cells), each read by the next block's 1x1 layer and, within
        # a stage, by the next pair as its other input (stages of 3, 4, 6 blocks: 10 such), but
        # not layer4's: its last trunk goes to the pooling, so its pair stores NCHW, and a pair
        # storing NCHW reads its other input so too (the two trunks before it)
        assert all(len(c.tensors) == 1 for c in run.cell_classes)
        made = [plans[c.tensors[0]] for c in run.cell_classes]
        channel_lanes = [plan for plan in made if isinstance(plan, ConvPlan) and plan.params.w_oc != plan.ffi.NULL]
        trunks = [c for c, plan in zip(run.cell_classes, made) if isinstance(plan, ConvConsumerPlan)]
        assert len(channel_lanes) >= 16 and len(trunks) == 13 and len(made) == len(channel_lanes) + len(trunks)
        assert sum(bool(c.others) for c in trunks) == 10
        assert sum(isinstance(plans[r], ConvConsumerPlan) for c in run.cell_classes for r in c.readers) >= 16
    monkeypatch.setattr(layout, "ENABLED", False)
    without = refint8.compile(model, backend="simd", config=config)
    (plain,) = [entry.run for entry in without._program]
    assert plain.cell_classes == []
    for got, expected in zip(with_cells.infer([x]).values(), without.infer([x]).values()):
        assert got.tobytes() == expected.tobytes()


def spread(x, weights, draw, pads=((0, 0), (0, 0))):
    """A Multiply that maps one standard deviation of the convolution's sums onto 64, 128 or 256
    code steps: codes over all of 0 .. 255, some clamped at either end."""
    sums = reference_convolution(convolution(x.shape, "u8", weights, (), "sums", pads=pads), x, weights)
    return np.float32(draw(st.sampled_from([64, 128, 256])) / max(float(np.std(sums)), 1.0))


@st.composite
def fused_readers(draw):
    """A: a requantizing convolution onto u8 codes, its output channels a multiple of 4 (cells);
    B: a requantizing 1x1 or 3x3 convolution of A's output fused with the Int8Add of its codes and
    another input's (NCHW), both requantizing (rq_consume in place), on B's position kernel or its
    channel-lane one; 1 or 2 images, 1 or 2 threads."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, threads = draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 2]))
    c, oc = draw(st.sampled_from([4, 16, 64])), draw(st.sampled_from([4, 8, 36, 64]))
    h, w = draw(st.integers(2, 9)), draw(st.integers(2, 40))
    x = rng.integers(0, 256, size=(n, c, h, w)).astype(np.uint8)
    wa = rng.integers(-128, 128, size=(oc, c, 1, 1)).astype(np.int8)
    a = convolution(x.shape, "u8", wa, u8_codes(spread(x, wa, draw)), "a")
    kb = draw(st.sampled_from([1, 3]))
    ob = draw(st.sampled_from([8, 64]))
    wb = rng.integers(-128, 128, size=(ob, oc, kb, kb)).astype(np.int8)
    pads = ((kb // 2, kb // 2), (kb // 2, kb // 2))
    b = convolution((n, oc, h, w), "u8", wb, u8_codes(spread(reference_convolution(a, x, wa), wb, draw, pads)), "b",
                    pads=pads)
    add = int8_add(b.output(0), opset.parameter([n, ob, h, w], "u8", name="other"), "add", shift=3.0, scale=0.5,
                   multiply=0.01, high=2.0)
    other = rng.integers(0, 256, size=(n, ob, h, w)).astype(np.uint8)
    return a, wa, b, wb, add, x, other, threads, draw(st.sampled_from(["auto", "always", "never"]))


@pytest.mark.skipif("avx512_vnni" not in CELL_VARIANTS, reason="only avx512_vnni fuses a requantizing pair in place")
@given(fused_readers())
def test_a_convolution_fused_with_its_add_reads_cells_as_the_two_reference_layers(case):
    # (AMX's kernels run such a pair apart: SimdBackend.fuse declines it, and its add is a step of
    # its own, layout-blind)
    from refint8_backend_simd._plan import common
    from refint8_backend_simd._plan.fusion import ConvConsumerPlan

    a, wa, b, wb, add, x, other, threads, lanes = case
    codes_a = reference_convolution(a, x, wa)
    (expected,) = INT8_OPS["Int8Add"].compute(add.attrs, reference_convolution(b, codes_a, wb), other)
    for variant in ("avx512_vnni",):
        simd = backend(variant, threads)
        with channel_lanes(variant):
            ka = simd.kernel(a)
        before, common.CHANNELS_ACROSS_LANES = common.CHANNELS_ACROSS_LANES, lanes
        try:
            fused = simd.fuse(b, add)
        finally:
            common.CHANNELS_ACROSS_LANES = before
        run = simd.sequence([PlannedStep(ka, (0,), (3,), (False,)), PlannedStep(fused, (3, 1, 2), (4,), (True,))])
        assert isinstance(run.plans[1][0], ConvConsumerPlan)
        (cells,) = run.cell_classes
        assert cells.tensors == [0] and cells.readers == [1], variant
        got = infer(run, 5, [x, wb, other])[4]
        assert got.dtype == expected.dtype and np.array_equal(got, expected), (variant, lanes)


# -- a fused add storing cells (rq_consume_cells) ---------------------------------------------------

@pytest.mark.skipif("avx512_vnni" not in CELL_VARIANTS, reason="only avx512_vnni fuses a requantizing pair")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("channels, kc", [(20, 1), (44, 3)])
def test_a_residual_add_fused_into_its_convolution_stores_the_documented_cells(threads, channels, kc):
    # Every convolution copies its channels (the identity, at the centre of C's 3x3 window with
    # padding 1; codes kept): A(x) = x. P1: B(A) + y, y from outside the sequence (NCHW); P2:
    # p1 + C(P1), the convolution's codes the add's second input this time, its first P1 read back
    # in cells; E copies P2 and leaves the sequence. So P1 = min(x + y, 255), P2 = min(2 P1, 255).
    # The pairs' convolutions store their codes in blocks of 6 channels (of 20: channels 4-7 and
    # 16-19 straddle two blocks), and their adds store cells: byte j of cell (c4, y*W + x) is
    # channel 4*c4 + j at (y, x). C's 44 channels 3x3 are 8 blocks whose weights make runs of 3
    # blocks a work item (conv_split_of): cut so, channels 28-31 would straddle two items, which
    # 2 threads run apart; the runs are whole pairs of blocks instead
    rng = np.random.default_rng(5)
    shape = (1, channels, 3, 7)
    x = rng.integers(0, 100, size=shape).astype(np.uint8)
    y = rng.integers(0, 160, size=shape).astype(np.uint8)
    identity = np.eye(channels, dtype=np.int8).reshape(channels, channels, 1, 1)
    centre = np.zeros((channels, channels, kc, kc), np.int8)
    centre[:, :, kc // 2, kc // 2] = identity[:, :, 0, 0]
    a, b, e = (convolution(shape, "u8", identity, u8_codes(), name) for name in "abe")
    c = convolution(shape, "u8", centre, u8_codes(), "c", pads=((kc // 2,) * 2, (kc // 2,) * 2))
    add1 = int8_add(b.output(0), opset.parameter(list(shape), "u8", name="y"), "add1")
    add2 = int8_add(opset.parameter(list(shape), "u8", name="p1"), c.output(0), "add2")
    simd = backend("avx512_vnni", threads)
    from refint8_backend_simd._plan.fusion import ConvConsumerPlan

    p1, p2 = simd.fuse(b, add1), simd.fuse(c, add2)
    assert p1 is not None and p2 is not None
    # slots: 0 x, 1 y, 2 (the weights' place, unread), 3 A, 4 P1, 5 P2, 6 E
    run = simd.sequence([PlannedStep(simd.kernel(a), (0,), (3,), (False,)),
                         PlannedStep(p1, (3, 2, 1), (4,), (False,)),
                         PlannedStep(p2, (4, 2, 4), (5,), (False,)),
                         PlannedStep(simd.kernel(e), (5,), (6,), (True,))])
    plans = [plan for plan, _ in run.plans]
    assert isinstance(plans[1], ConvConsumerPlan) and isinstance(plans[2], ConvConsumerPlan)
    classes = {cls.tensors[0]: cls for cls in run.cell_classes}
    assert sorted(classes) == [1, 2]          # A: the position kernel (20 channels), NCHW
    assert classes[1].readers == [2] and classes[1].others == [2] and classes[2].readers == [3]
    s1, s2 = classes[1].positions, classes[2].positions
    assert plans[1].params.out_cells == s1 >= 21 and plans[2].params.out_cells == s2 >= 21
    assert plans[2].params.w_oc == plans[2].ffi.NULL      # C: the position kernel
    assert plans[1].params.elt_other_cells == 0 and plans[2].params.elt_other_cells == s1
    slots = infer(run, 7, [x, y])
    expected_p1 = np.minimum(x.astype(int) + y, 255)
    expected_p2 = np.minimum(2 * expected_p1, 255)
    for step, s, expected in ((1, s1, expected_p1), (2, s2, expected_p2)):
        stored = run.buffers[step].reshape(channels // 4, s, 4)
        for c4 in range(channels // 4):
            for row in range(3):
                for col in range(7):
                    for j in range(4):
                        assert stored[c4, row * 7 + col, j] == expected[0, 4 * c4 + j, row, col], (step, c4, row, col, j)
    np.testing.assert_array_equal(slots[6], expected_p2.astype(np.uint8))


@st.composite
def residual_chains(draw):
    """x -> A (1x1, u8 codes) and D (the shortcut: 1x1, stride 1 or 2 with A's too); P1: B(A) fused
    with its Int8Add (or Int8Multiply) of D; P2: C(P1) (1x1 or 3x3) fused with its Int8Add (or
    Int8Multiply) of P1; E: any convolution
    of P2, read after the sequence. Channels that straddle the pairs' blocks of 6 (20, 44, 68) and
    runs of blocks of odd length (256 input channels: 5 blocks' weights a run), the convolution's
    codes either input of the add, D on the channel-lane kernel (cells) or the position kernel
    (NCHW), the pairs on either (cells from the position kernel's only), the convolutions' codes
    u8 or i8 (ResNet's: i8 codes added to u8 cells or i8 NCHW ones, rq_consume_cells' own loops),
    1 or 2 images and threads."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, threads = draw(st.sampled_from([1, 1, 2])), draw(st.sampled_from([1, 2]))
    c, m = draw(st.sampled_from([4, 16, 64])), draw(st.sampled_from([8, 64, 256]))
    ob = draw(st.sampled_from([4, 20, 44, 68, 132]))
    stride = draw(st.sampled_from([1, 1, 2]))
    h, w = draw(st.integers(2, 12)), draw(st.integers(2, 40))
    x = rng.integers(0, 256, size=(n, c, h, w)).astype(np.uint8)
    wa = rng.integers(-128, 128, size=(m, c, 1, 1)).astype(np.int8)
    a = convolution(x.shape, "u8", wa, u8_codes(spread(x, wa, draw)), "a", strides=(stride, stride))
    codes_a = reference_convolution(a, x, wa)

    def codes(scale):
        """u8 codes as u8_codes gives them, or i8 ones: Quantize over [-128, 127] onto 256 levels."""
        if draw(st.booleans()):
            return u8_codes(scale)
        return (Multiply(np.float32(scale)), Add(np.float32(0)),
                Quantize(np.float32(-128), np.float32(127), np.float32(-128), np.float32(127), 256, element_type="i8"))

    wd = rng.integers(-128, 128, size=(ob, c, 1, 1)).astype(np.int8)
    d = convolution(x.shape, "u8", wd, codes(spread(x, wd, draw)), "d", strides=(stride, stride))
    wb = rng.integers(-128, 128, size=(ob, m, 1, 1)).astype(np.int8)
    b = convolution(codes_a.shape, "u8", wb, codes(spread(codes_a, wb, draw)), "b")
    trunk_shape = (n, ob, *codes_a.shape[2:])
    kc = draw(st.sampled_from([1, 3]))
    wc = rng.integers(-128, 128, size=(ob, ob, kc, kc)).astype(np.int8)
    pads = ((kc // 2, kc // 2), (kc // 2, kc // 2))
    c_node = convolution(trunk_shape, "u8", wc, codes(np.float32(draw(st.sampled_from([1e-4, 1e-3])))), "c",
                         pads=pads)
    adds = []
    for k in (1, 2):
        conv = (b, c_node)[k - 1]
        other_type = d.attrs["post_ops"][-1].element_type if k == 1 else "u8"   # D's codes, or P1's
        other = opset.parameter(list(trunk_shape), other_type, name=f"other{k}")
        operands = [conv.output(0), other] if draw(st.booleans()) else [other, conv.output(0)]
        op = draw(st.sampled_from(["Int8Add", "Int8Add", "Int8Multiply"]))
        multiply = draw(st.sampled_from([0.5, 1.0] if op == "Int8Add" else [1 / 64, 1 / 256]))
        adds.append(int8_add(*operands, f"add{k}", shift=draw(st.sampled_from([0.0, 3.0])),
                             scale=draw(st.sampled_from([1.0, 0.5])), multiply=multiply,
                             high=draw(st.sampled_from([255.0, 300.0])), op=op))
    ke = draw(st.sampled_from([1, 3]))
    we = rng.integers(-128, 128, size=(8, ob, ke, ke)).astype(np.int8)
    e = convolution(trunk_shape, "u8", we, (Multiply(np.float32(1e-3)),), "e", pads=((ke // 2,) * 2, (ke // 2,) * 2))
    lanes = draw(st.sampled_from(["auto", "always", "never"]))
    return x, (a, wa), (d, wd), (b, wb), (c_node, wc), adds, (e, we), threads, lanes


def _add(node, conv_codes, other):
    """The reference Int8Add (or Int8Multiply) with the convolution's codes in their place among
    its inputs."""
    first = node.inputs[0].node.type == "Int8Convolution"
    (out,) = INT8_OPS[node.type].compute(node.attrs, *((conv_codes, other) if first else (other, conv_codes)))
    return out


@pytest.mark.skipif("avx512_vnni" not in CELL_VARIANTS, reason="only avx512_vnni fuses a requantizing pair")
@given(residual_chains())
def test_residual_trunks_in_cells_give_the_reference_result(case):
    from refint8_backend_simd._plan import common
    from refint8_backend_simd._plan.fusion import ConvConsumerPlan

    x, (a, wa), (d, wd), (b, wb), (c_node, wc), (add1, add2), (e, we), threads, lanes = case
    codes_a, codes_d = reference_convolution(a, x, wa), reference_convolution(d, x, wd)
    p1 = _add(add1, reference_convolution(b, codes_a, wb), codes_d)
    p2 = _add(add2, reference_convolution(c_node, p1, wc), p1)
    expected = reference_convolution(e, p2, we)
    simd = backend("avx512_vnni", threads)
    before, common.CHANNELS_ACROSS_LANES = common.CHANNELS_ACROSS_LANES, lanes
    try:
        kernels = [simd.kernel(a), simd.kernel(d), simd.fuse(b, add1), simd.fuse(c_node, add2), simd.kernel(e)]
    finally:
        common.CHANNELS_ACROSS_LANES = before
    # slots: 0 x, 1 (weights' place, unread), 2 A, 3 D, 4 P1, 5 P2, 6 E
    run = simd.sequence([PlannedStep(kernels[0], (0,), (2,), (False,)), PlannedStep(kernels[1], (0,), (3,), (False,)),
                         PlannedStep(kernels[2], (2, 1, 3), (4,), (False,)),
                         PlannedStep(kernels[3], (4, 1, 4), (5,), (False,)),
                         PlannedStep(kernels[4], (5,), (6,), (True,))])
    plans = [plan for plan, _ in run.plans]
    assert isinstance(plans[2], ConvConsumerPlan) and isinstance(plans[3], ConvConsumerPlan)
    stored = {cls.tensors[0]: cls.positions for cls in run.cell_classes}
    # the trunks: the pairs on the position kernel store cells; P1's only where P2 stores them too
    # (P2 reads it as its other input)
    positions = [plans[k].params.w_oc == plans[k].ffi.NULL for k in (2, 3)]
    assert (3 in stored) == positions[1] and (2 in stored) == (positions[0] and positions[1])
    assert plans[3].params.elt_other_cells == stored.get(2, 0)
    assert plans[2].params.elt_other_cells == (stored.get(1, 0) if 2 in stored else 0)
    got = infer(run, 7, [x])[6]
    assert got.dtype == expected.dtype and np.array_equal(got, expected, equal_nan=True), lanes


@pytest.mark.skipif("avx512_vnni" not in CELL_VARIANTS, reason="only avx512_vnni fuses a requantizing pair")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("height, width, tail", [(9, 40, False), (4, 13, True)])
def test_a_fused_add_storing_cells_takes_its_convolutions_codes_next_to_midpoints_by_the_formula(
        height, width, tail, threads):
    # B sums two channels next to midpoints of its 48 channels' Quantize ranges
    # (sum_next_to_midpoints). B's codes go through the thread's ring of floats to its fused
    # Int8Add (P = min(B + y, 255)), which stores cells; E copies P. B's near lanes must take the
    # reference's formula on the way into the ring, from the interleaved tiles and from those
    # requantized after their products (rq_interleave 1 and 0), and from the tail vector (4 x 13
    # = 52 positions: 3 vectors and 4 lanes, r8_conv.tail_n).
    from refint8_backend_simd._plan import common
    from refint8_backend_simd._plan.fusion import ConvConsumerPlan

    rng = np.random.default_rng(13)
    oc = 48
    shape = (1, 2, height, width)
    x = rng.integers(0, 255, size=shape).astype(np.uint8)
    y = rng.integers(0, 30, size=(1, oc, height, width)).astype(np.uint8)
    b, _, codes_b = sum_next_to_midpoints(x, oc, rng, "b")
    add = int8_add(b.output(0), opset.parameter([1, oc, height, width], "u8", name="y"), "add")
    expected = np.minimum(codes_b.astype(np.int64) + y, 255).astype(np.uint8)
    identity = np.eye(oc, dtype=np.int8).reshape(oc, oc, 1, 1)
    e = convolution(expected.shape, "u8", identity, u8_codes(), "e")
    simd = backend("avx512_vnni", threads)
    before, common.CHANNELS_ACROSS_LANES = common.CHANNELS_ACROSS_LANES, "never"
    try:
        pair = simd.fuse(b, add)
        run = simd.sequence([PlannedStep(pair, (0, 1, 2), (3,), (False,)),
                             PlannedStep(simd.kernel(e), (3,), (4,), (True,))])
    finally:
        common.CHANNELS_ACROSS_LANES = before
    plan = run.plans[0][0]
    assert isinstance(plan, ConvConsumerPlan) and plan.params.out_cells > 0   # through the ring
    assert (plan.params.tail_n > 0) == tail
    for interleave in (0, 1):
        plan.params.rq_interleave = interleave
        got = infer(run, 5, [x, None, y])[4]
        np.testing.assert_array_equal(got, expected, err_msg=f"rq_interleave {interleave}")
