"""The avx512_vnni convolution with output channels across the lanes (r8simd_conv_oc.h) against the
reference, bit for bit, and where the plan chooses it.

Its sums are the general kernel's products in another order (integers: the same sums) and its
epilogue is the interleaved requantization's rq_vector on the transposed sums, so every case here
must equal the reference exactly: channel counts that leave a last block of 1-63 channels, output
planes that leave a last block of 1-15 positions, groups, strides, dilations, padding with zero
points, u8 and i8 inputs, batches, and 1 or 3 threads.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_simd_backend import (VARIANTS, backend, codes, conv, output_channel_lanes, requantization_chains, same,
                               weight_codes, zero_points)

from refint8 import opset
from refint8.graph import make_node
from refint8.int8 import INT8_OPS
from refint8.int8.post_ops import Add, Multiply, Quantize, Relu

pytestmark = pytest.mark.skipif("avx512_vnni" not in VARIANTS, reason="no AVX-512 VNNI on this CPU")


@st.composite
def wide_conv_cases(draw):
    """Convolutions with the interleaved requantization's chain and no weight zero points: up to 3
    blocks of 64 output channels (the last partial), output planes of 1 to ~250 positions."""
    dtype = draw(st.sampled_from(["u8", "i8"]))
    group = draw(st.sampled_from([1, 1, 1, 2, 3]))
    cg = draw(st.sampled_from([2, 3, 4, 17, 64, 65]))   # (one input channel: the depthwise kernels)
    ocg = draw(st.sampled_from([1, 15, 16, 17, 63, 64, 65, 128, 130]))
    c, oc = group * cg, group * ocg
    kh, kw = draw(st.sampled_from([(1, 1), (3, 3), (5, 5), (1, 3)]))
    sy, sx = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    dy, dx = draw(st.sampled_from([(1, 1), (1, 1), (2, 2)]))
    pads = [draw(st.integers(0, k // 2 + 1)) for k in (kh, kh, kw, kw)]
    ext_h, ext_w = (kh - 1) * dy + 1, (kw - 1) * dx + 1
    min_h, min_w = max(1, ext_h - pads[0] - pads[1]), max(1, ext_w - pads[2] - pads[3])
    h, w = draw(st.integers(min_h, max(min_h, 15))), draw(st.integers(min_w, max(min_w, 17)))
    n = draw(st.sampled_from([1, 1, 2]))
    q = codes(draw, (n, c, h, w), dtype)
    weights = weight_codes(draw, (oc, cg, kh, kw))
    za, _ = zero_points(draw, dtype, c, oc)
    oh = (h + pads[0] + pads[1] - ext_h) // sy + 1
    ow = (w + pads[2] + pads[3] - ext_w) // sx + 1

    def axis_shape(channels):
        return (1, channels, 1, 1) if channels else (1, oc, oh, ow)

    attrs = dict(strides=(sy, sx), dilations=(dy, dx), pads_begin=(pads[0], pads[2]), pads_end=(pads[1], pads[3]),
                 group=group, input_zero_point=za, weight_zero_point=(),
                 post_ops=draw(requantization_chains(oc, axis_shape, acc_scale=cg * kh * kw * 255 * 128)),
                 accumulation="exact")
    x = opset.parameter(list(q.shape), dtype, name="x")
    node = make_node("Int8Convolution", [x, opset.constant(weights, name="w")], attrs, name="conv")
    return node, q, weights


def to_u8(scale: float, bias: float = 0.0) -> tuple:
    """The interleaved requantization's chain: Multiply, Add, Quantize [0, 1] onto u8 codes."""
    return (Multiply(np.float32(scale)), Add(np.float32(bias)),
            Quantize(np.float32(0), np.float32(1), np.float32(0), np.float32(255), 256, element_type="u8"))


def check_channel_lanes(node, q, weights, threads=1):
    (reference,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    with output_channel_lanes("always"):
        kernel = backend("avx512_vnni", threads).kernel(node)
    plan = kernel.run.plan
    assert plan.params.w_oc != plan.ffi.NULL and plan.params.rq != plan.ffi.NULL
    (got,) = kernel.run([q])
    if not same(got, reference):
        bad = np.argwhere(got != reference)
        raise AssertionError(f"{len(bad)} differences, first at {bad[:3].tolist()}: "
                             f"{got[tuple(bad[0])]} != {reference[tuple(bad[0])]}")


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(wide_conv_cases(), st.sampled_from([1, 1, 3]))
def test_channels_across_lanes_equal_the_reference(case, threads):
    check_channel_lanes(*case, threads=threads)


def test_partial_blocks_of_channels_and_positions():
    # 65 output channels (a block of 64 and one of 1) over a 5x7 plane (two blocks of 16 positions
    # and one of 3, tiles of 6, 5, 5 and 3): every output equals the reference
    rng = np.random.default_rng(21)
    q = rng.integers(0, 256, size=(1, 20, 5, 7)).astype(np.uint8)
    weights = rng.integers(-128, 128, size=(65, 20, 3, 3)).astype(np.int8)
    check_channel_lanes(conv(q, weights, post_ops=to_u8(2e-5, 0.25), pads_begin=(1, 1), pads_end=(1, 1),
                             input_zero_point=(7,)), q, weights)


def test_a_channel_lane_plan_holds_only_its_own_weights():
    # The channel-lane kernel replaces the position kernel wherever w_oc is set, so the position
    # layout is not packed (ResNet-50: about 20 MB); a plan of the position kernel packs only that.
    # A requantizing convolution is fused only with a consumer that requantizes too (its own step
    # then runs in place on the codes, rq_consume); with the general epilogue the pair is refused
    # (it would need the position weights)
    from refint8_backend_simd import _plan

    rng = np.random.default_rng(22)
    q = rng.integers(0, 256, size=(1, 8, 7, 7)).astype(np.uint8)
    weights = rng.integers(-128, 128, size=(64, 8, 1, 1)).astype(np.int8)
    u8 = Quantize(np.float32(0), np.float32(2), np.float32(0), np.float32(255), 256, element_type="u8")
    node = conv(q, weights, post_ops=(Multiply(np.float32(1e-4)), Add(np.float32(0.5)), u8))
    add = make_node("Int8Add", [node.output(0), opset.parameter([1, 64, 7, 7], "u8", name="o")],
                    {"post_ops": (Multiply(np.float32(0.01)), u8), "full_shift": np.float32(3),
                     "full_scale": np.float32(0.5)}, name="add")
    (codes_out,) = INT8_OPS["Int8Convolution"].compute(node.attrs, q, weights)
    other = rng.integers(0, 256, size=(1, 64, 7, 7)).astype(np.uint8)
    (added,) = INT8_OPS["Int8Add"].compute(add.attrs, codes_out, other)
    for mode, lanes in (("always", True), ("never", False)):
        with output_channel_lanes(mode):
            simd = backend("avx512_vnni")
            fused = simd.fuse(node, add)
            plan = simd.kernel(node).run.plan
        assert fused.run.plan.params.elt.rq != plan.ffi.NULL
        assert same(fused.run([q, weights, other])[0], added)
        assert plan.requantizes
        assert (plan.params.w_oc != plan.ffi.NULL) == lanes and (plan.params.w != plan.ffi.NULL) != lanes
        assert same(plan.run([q]), codes_out)
    with pytest.raises(ValueError, match="requantizing"):
        _plan.ConvConsumerPlan(plan.ffi, plan, add, 0, 1, np.float32(3), np.float32(0.5), add.attrs["post_ops"], 1)


def _resnet_layer(c, size, oc, k, stride):
    pad = k // 2
    node = conv(np.zeros((1, c, size, size), np.uint8), np.zeros((oc, c, k, k), np.int8),
                post_ops=to_u8(1e-4), strides=(stride, stride), pads_begin=(pad, pad), pads_end=(pad, pad))
    return backend("avx512_vnni").kernel(node).run.plan


@pytest.mark.parametrize("layer, across", [
    ((512, 7, 512, 3, 1), True),      # 49 outputs: at most 64 positions
    ((2048, 7, 512, 1, 1), True),
    ((512, 7, 2048, 1, 1), True),
    ((256, 14, 256, 3, 1), True),     # 196 outputs, 2304 products each
    ((1024, 14, 256, 1, 1), True),    # 196 outputs, 1024 products
    ((256, 14, 1024, 1, 1), False),   # 196 outputs, 256 products
    ((128, 28, 128, 3, 1), True),     # 784 outputs, 3x3, 1152 products
    ((128, 56, 128, 3, 2), True),     # the same plane at stride 2
    ((512, 28, 128, 1, 1), False),    # 784 outputs, 1x1
    ((64, 56, 64, 3, 1), False),      # 3136 outputs
    ((960, 7, 320, 1, 1), True),      # MobileNetV2's: 960 products, 5 full blocks of 64 channels
    ((160, 7, 960, 1, 1), False),     # 160 products
    ((960, 7, 160, 1, 1), False),     # 160 channels: a block of 32, 1/6 of the lanes idle
])
def test_the_plan_runs_channels_across_lanes_on_small_planes(layer, across):
    with output_channel_lanes("auto"):
        plan = _resnet_layer(*layer)
    assert (plan.params.w_oc != plan.ffi.NULL) == across


def test_only_avx512_vnni_without_weight_zero_points_runs_channels_across_lanes():
    rng = np.random.default_rng(23)
    q = rng.integers(0, 256, size=(1, 16, 7, 7)).astype(np.uint8)
    weights = rng.integers(-128, 128, size=(32, 16, 3, 3)).astype(np.int8)
    chain = to_u8(1e-4)
    cases = {"plain": conv(q, weights, post_ops=chain),
             "weight zero points": conv(q, weights, post_ops=chain, weight_zero_point=(3,)),
             "general chain": conv(q, weights, post_ops=(Multiply(np.float32(1e-4)), Relu())),
             "depthwise": conv(q, weights[:16, :1], post_ops=chain, group=16)}
    with output_channel_lanes("always"):
        for name, node in cases.items():
            for variant in VARIANTS:
                plan = backend(variant).kernel(node).run.plan
                want = variant == "avx512_vnni" and name == "plain"
                assert (plan.params.w_oc != plan.ffi.NULL) == want, (name, variant)



def test_the_kernel_rows_and_columns_that_read_real_input():
    # _real_tap_ranges: for each output row, the kernel rows whose input row o*stride + t*dilation -
    # pad is real, as first | end << 16 (a tile runs only those; the others read padding)
    from refint8_backend_simd._plan.convolution import _real_tap_ranges

    def ranges(*args):
        return [(int(r) & 0xFFFF, int(r) >> 16) for r in _real_tap_ranges(*args)]

    # 3 taps, pad 1, a 7-row input: the first row has no input above it, the last none below
    assert ranges(7, 3, 1, 1, 1, 7) == [(1, 3)] + [(0, 3)] * 5 + [(0, 2)]
    # stride 2 over 56 rows (28 outputs): only the first row reads padding (row 2*27 + 2 - 1 = 55)
    assert ranges(28, 3, 2, 1, 1, 56) == [(1, 3)] + [(0, 3)] * 27
    # dilation 2, pad 2, 5 rows: output 0 reads rows -2, 0, 2; output 3 rows 1, 3, 5; output 4 2, 4, 6
    assert ranges(5, 3, 1, 2, 2, 5) == [(1, 3), (1, 3), (0, 3), (0, 2), (0, 2)]
    # a 1x1 kernel with pad 1 on 3 rows: the outer outputs read nothing real (an empty range)
    assert ranges(5, 1, 1, 1, 1, 3) == [(0, 0), (0, 1), (0, 1), (0, 1), (0, 0)]


@pytest.mark.parametrize("dtype, zero_point", [(np.uint8, 7), (np.int8, -3)])
def test_tiles_leave_padding_taps_out_and_add_their_padding_products(dtype, zero_point):
    # Two 3x3 input channels at the zero point but for channel 0's centre, one code above it, through
    # a 3x3 layer with padding 1: output (oy, ox) is that centre times tap (2 - oy, 2 - ox) of
    # channel 0, the kernel turned half round, so with the chain acc + 128 onto u8 codes the codes
    # are 128 + w[oc, 0, 2 - oy, 2 - ox]. (One input channel would run the depthwise kernel.)
    # The tiles of output rows 0 and 2 leave kernel rows 2 and 0 out (they read only padding); the
    # padding cell holds the zero point (plus 128 for i8), so the kernel adds those taps' products
    # with it in their place: without them every code of rows 0 and 2 would be off.
    info = np.iinfo(dtype)
    q = np.full((1, 2, 3, 3), zero_point, dtype)
    q[0, 0, 1, 1] = zero_point + 1
    weights = np.random.default_rng(24).integers(-100, 101, size=(64, 2, 3, 3)).astype(np.int8)
    chain = (Multiply(np.float32(1)), Add(np.float32(128)),
             Quantize(np.float32(0), np.float32(255), np.float32(0), np.float32(255), 256, element_type="u8"))
    node = conv(q, weights, post_ops=chain, pads_begin=(1, 1), pads_end=(1, 1), input_zero_point=(zero_point,))
    expected = (128 + weights[:, 0, ::-1, ::-1].astype(np.int64)).astype(np.uint8)[None]
    assert info.min < zero_point < info.max
    with output_channel_lanes("always"):
        kernel = backend("avx512_vnni").kernel(node)
    params = kernel.run.plan.params
    assert params.oc_tap_rows != kernel.run.plan.ffi.NULL and params.oc_pad_sums != kernel.run.plan.ffi.NULL
    (got,) = kernel.run([q])
    np.testing.assert_array_equal(got, expected)
    check_channel_lanes(node, q, weights)


@pytest.mark.parametrize("dtype, zero_point", [(np.uint8, 3), (np.int8, 0)])
def test_edge_rows_and_columns_of_a_7x7_plane_run_only_their_real_taps(dtype, zero_point):
    # Channel 0 one code above the zero point everywhere, channel 1 at it, through a 3x3 layer with
    # padding 1 on a 7x7 plane: output (oy, ox) sums tap (ky, kx) of channel 0 over the taps whose
    # input row oy + ky - 1 and column ox + kx - 1 are inside the plane (the others read padding,
    # the zero point: nothing), so with the chain acc + 128 the codes are 128 + that sum. The
    # plane is one chunk (7 rows of 7): the tiles of its top and bottom rows run kernel rows 1-2
    # and 0-1, those of its left and right columns (5 positions each) kernel columns 1-2 and 0-1,
    # the corners join their rows; each adds the padding products of the taps it leaves out.
    q = np.full((1, 2, 7, 7), zero_point, dtype)
    q[0, 0] += 1
    weights = np.random.default_rng(26).integers(-12, 13, size=(64, 2, 3, 3)).astype(np.int8)
    chain = (Multiply(np.float32(1)), Add(np.float32(128)),
             Quantize(np.float32(0), np.float32(255), np.float32(0), np.float32(255), 256, element_type="u8"))
    node = conv(q, weights, post_ops=chain, pads_begin=(1, 1), pads_end=(1, 1), input_zero_point=(zero_point,))
    expected = np.zeros((1, 64, 7, 7), np.uint8)
    for oy in range(7):
        for ox in range(7):
            ky = [k for k in range(3) if 0 <= oy + k - 1 < 7]
            kx = [k for k in range(3) if 0 <= ox + k - 1 < 7]
            expected[0, :, oy, ox] = 128 + weights[:, 0][:, ky][:, :, kx].astype(np.int64).sum(axis=(1, 2))
    with output_channel_lanes("always"):
        kernel = backend("avx512_vnni").kernel(node)
    params = kernel.run.plan.params
    runs = [tuple(params.oc_col_runs[3 * k + i] for i in range(3)) for k in range(params.oc_ncol_runs)]
    assert runs == [(0, 1, 1 | 3 << 16), (1, 6, 3 << 16), (6, 7, 2 << 16)]
    (got,) = kernel.run([q])
    np.testing.assert_array_equal(got, expected)
    check_channel_lanes(node, q, weights, threads=2)


def test_only_layers_with_padding_taps_leave_taps_out():
    # the tables are set where some output reads only padding with some tap; padding sums only where
    # some padding code is not 0 (u8 codes with zero point 0: nothing to add)
    rng = np.random.default_rng(25)
    q = rng.integers(0, 256, size=(1, 8, 7, 7)).astype(np.uint8)
    chain = to_u8(1e-4)
    cases = [(conv(q, rng.integers(-128, 128, size=(64, 8, 3, 3)).astype(np.int8), post_ops=chain,
                   pads_begin=(1, 1), pads_end=(1, 1)), True, False),
             (conv(q, rng.integers(-128, 128, size=(64, 8, 3, 3)).astype(np.int8), post_ops=chain,
                   pads_begin=(1, 1), pads_end=(1, 1), input_zero_point=(1,)), True, True),
             (conv(q, rng.integers(-128, 128, size=(64, 8, 3, 3)).astype(np.int8), post_ops=chain), False, False),
             (conv(q, rng.integers(-128, 128, size=(64, 8, 1, 1)).astype(np.int8), post_ops=chain), False, False)]
    with output_channel_lanes("always"):
        for node, tables, sums in cases:
            plan = backend("avx512_vnni").kernel(node).run.plan
            assert plan.params.w_oc != plan.ffi.NULL
            assert (plan.params.oc_tap_rows != plan.ffi.NULL) == tables
            assert (plan.params.oc_pad_sums != plan.ffi.NULL) == sums
