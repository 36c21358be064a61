"""Int8Convolution (refint8.int8.convolution): hand-worked cases, errors, and properties.

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
from refint8.int8.post_ops import Add, Multiply, Quantize, Subtract

from int8_layer_cases import i8, layer_node, run_layer, u8

Int8Convolution = INT8_OPS["Int8Convolution"]


def conv_node(q_shape, q_dtype, w, name="conv", **attrs):
    return layer_node("Int8Convolution", q_shape, q_dtype, w, name, **attrs)


def run(q, w, **attrs):
    return run_layer("Int8Convolution", q, w, "conv", **attrs)


def col(values):
    """[1, C, 1, 1] activations, or [1, C, 1, 1] weights of one output channel."""
    return np.asarray(values).reshape(1, -1, 1, 1)


# -- accumulation modes -----------------------------------------------------------------------------


def test_onednn_example_two_channels_one_tap():
    # 1x1 conv, C = 2: q = [255, 255], w = [127, 127].
    # exact: 255*127 + 255*127 = 32385 + 32385 = 64770.
    # s16_pairs: the two channels form one pair at the tap: sat16(64770) = 32767.
    q, w = col(u8([255, 255])), col([127, 127])
    assert run(q, w).reshape(-1).tolist() == [64770.0]
    assert run(q, w, accumulation="s16_pairs").reshape(-1).tolist() == [32767.0]


def test_pairs_do_not_straddle_kernel_taps():
    # C = 1, kernel 1x2 over a 1x2 image of 255s, w = [127, 127] (two taps, one channel each).
    # s16_pairs: each tap is its own pair (255*127 + zero partner = 32385, no saturation):
    # 32385 + 32385 = 64770 = exact. Had the pair spanned the two taps: sat16(64770) = 32767.
    q = u8([[[[255, 255]]]])
    w = [[[[127, 127]]]]
    assert run(q, w, accumulation="s16_pairs").reshape(-1).tolist() == [64770.0]
    assert run(q, w).reshape(-1).tolist() == [64770.0]


def test_odd_channel_count():
    # C = 3, all q = 255, w = 127. exact: 3 * 32385 = 97155.
    # s16: pair (c0, c1) -> sat16(64770) = 32767; c2 with a zero partner -> 32385; 32767 + 32385 = 65152.
    q, w = col(u8([255, 255, 255])), col([127, 127, 127])
    assert run(q, w).reshape(-1).tolist() == [97155.0]
    assert run(q, w, accumulation="s16_pairs").reshape(-1).tolist() == [65152.0]


def test_i8_activations_in_s16_mode():
    # i8 q = [127, 127], w = [127, 127]. exact: 2 * 127*127 = 32258.
    # s16: u = q + 128 = [255, 255] -> sat16(64770) = 32767; minus 128 * Σw = 128 * 254 = 32512:
    # 32767 - 32512 = 255.
    q, w = col(i8([127, 127])), col([127, 127])
    assert run(q, w).reshape(-1).tolist() == [32258.0]
    assert run(q, w, accumulation="s16_pairs").reshape(-1).tolist() == [255.0]
    # q = [-128, -128], w = [-128, -128]: exact 2 * 16384 = 32768. s16: u = [0, 0] -> 0; minus
    # 128 * (-256) = -32768 -> 32768, equal to exact.
    q, w = col(i8([-128, -128])), col([-128, -128])
    assert run(q, w).reshape(-1).tolist() == [32768.0]
    assert run(q, w, accumulation="s16_pairs").reshape(-1).tolist() == [32768.0]


def test_s16_zero_point_terms_are_exact():
    # q = [255, 255], za = 5, w = [127, 127], s16: raw Σq*w saturates: sat16(64770) = 32767;
    # then - za*Σw = -5*254 = -1270 exactly: 32767 - 1270 = 31497.
    # (exact mode: (250*127)*2 = 63500.)
    q, w = col(u8([255, 255])), col([127, 127])
    assert run(q, w, input_zero_point=[5], accumulation="s16_pairs").reshape(-1).tolist() == [31497.0]
    assert run(q, w, input_zero_point=[5]).reshape(-1).tolist() == [63500.0]


# -- zero points and padding --------------------------------------------------------------------------


def test_zero_point_padding():
    # 1x1 image q = 10, za = 4, 3x3 kernel of ones, pads 1: only the centre tap reads the image:
    # (10 - 4)*1 = 6; each of the 8 padded taps holds the code za = 4: (4 - 4)*1 = 0. acc = 6.
    q = u8([[[[10]]]])
    w = np.ones((1, 1, 3, 3))
    for mode in ("exact", "s16_pairs"):
        y = run(q, w, pads_begin=[1, 1], pads_end=[1, 1], input_zero_point=[4], accumulation=mode)
        assert y.reshape(-1).tolist() == [6.0]
    # Padding with the code 0 instead would give 6 + 8 * (0 - 4) = -26: the same image padded
    # with zeros by hand, no padding in the layer.
    zero_padded = u8([[[[0, 0, 0], [0, 10, 0], [0, 0, 0]]]])
    assert run(zero_padded, w, input_zero_point=[4]).reshape(-1).tolist() == [-26.0]


def test_per_channel_input_zero_points():
    # q = [5, 7], za = [1, 2], w = [3, -2]: (5-1)*3 + (7-2)*(-2) = 12 - 10 = 2.
    assert run(col(u8([5, 7])), col([3, -2]), input_zero_point=[1, 2]).reshape(-1).tolist() == [2.0]


def test_weight_zero_point():
    # q = [5, 7], za = [1, 2] -> q - za = [4, 5]. OC = 2: w0 = [3, -2], w1 = [1, 1].
    w = np.array([[3, -2], [1, 1]]).reshape(2, 2, 1, 1)
    q = col(u8([5, 7]))
    # per OC zw = [1, -1]: oc0: 4*(3-1) + 5*(-2-1) = 8 - 15 = -7; oc1: 4*(1+1) + 5*(1+1) = 18.
    y = run(q, w, input_zero_point=[1, 2], weight_zero_point=[1, -1])
    assert y.reshape(-1).tolist() == [-7.0, 18.0]
    # one zw = 1 for both: oc0: -7 as above; oc1: 4*0 + 5*0 = 0.
    y = run(q, w, input_zero_point=[1, 2], weight_zero_point=[1])
    assert y.reshape(-1).tolist() == [-7.0, 0.0]


def test_i8_data_with_zero_point():
    # i8 q = [-100, 20], za = -28: q - za = [-72, 48]; w = [2, 3]: -144 + 144 = 0.
    # s16: u = q + 128 = [28, 148]: 28*2 + 148*3 = 56 + 444 = 500 (fits); minus 128*5 = 640: -140 = Σq*w
    # (= -200 + 60); then - za*Σw = +28*5 = 140: 0.
    for mode in ("exact", "s16_pairs"):
        y = run(col(i8([-100, 20])), col([2, 3]), input_zero_point=[-28], accumulation=mode)
        assert y.reshape(-1).tolist() == [0.0]


# -- geometry ------------------------------------------------------------------------------------------


def test_grouped():
    # C = 4, q = [1, 2, 3, 4], group 2, OC 2, 1x1: oc0 reads channels 0-1 with w = [1, 1]: 1 + 2 = 3;
    # oc1 reads channels 2-3 with w = [1, -1]: 3 - 4 = -1.
    w = np.array([[1, 1], [1, -1]]).reshape(2, 2, 1, 1)
    assert run(col(u8([1, 2, 3, 4])), w, group=2).reshape(-1).tolist() == [3.0, -1.0]


def test_depthwise():
    # group = C = OC = 2, 2x2 kernels on 2x2 images:
    # ch0 [[1,2],[3,4]] * [[1,0],[0,1]] = 1 + 4 = 5; ch1 [[5,6],[7,8]] * [[0,1],[1,0]] = 6 + 7 = 13.
    q = u8([[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]])
    w = [[[[1, 0], [0, 1]]], [[[0, 1], [1, 0]]]]
    assert run(q, w, group=2).reshape(-1).tolist() == [5.0, 13.0]


def test_stride_and_dilation():
    # 5x5 image q[h, w] = 5h + w (0..24), 2x2 kernel of ones, dilation 2 (taps at offsets 0 and 2),
    # stride 2: OH = OW = (5 - ((2-1)*2 + 1)) // 2 + 1 = 2.
    # (0,0): q[0,0] + q[0,2] + q[2,0] + q[2,2] = 0 + 2 + 10 + 12 = 24
    # (0,1): q[0,2] + q[0,4] + q[2,2] + q[2,4] = 2 + 4 + 12 + 14 = 32
    # (1,0): q[2,0] + q[2,2] + q[4,0] + q[4,2] = 10 + 12 + 20 + 22 = 64
    # (1,1): 12 + 14 + 22 + 24 = 72
    q = np.arange(25, dtype=np.uint8).reshape(1, 1, 5, 5)
    y = run(q, np.ones((1, 1, 2, 2)), strides=[2, 2], dilations=[2, 2])
    assert y.shape == (1, 1, 2, 2)
    assert y.reshape(-1).tolist() == [24.0, 32.0, 64.0, 72.0]


def test_asymmetric_pads():
    # 1x2 image [3, 5], 1x2 kernel [1, 2], pads_begin (0, 1), pads_end (0, 0), za = 0:
    # OW = (2 + 1 - 2) + 1 = 2; x=0 reads [pad 0, 3]: 0*1 + 3*2 = 6; x=1 reads [3, 5]: 3 + 10 = 13.
    y = run(u8([[[[3, 5]]]]), [[[[1, 2]]]], pads_begin=[0, 1], pads_end=[0, 0])
    assert y.reshape(-1).tolist() == [6.0, 13.0]


# -- post-ops -------------------------------------------------------------------------------------------


def test_post_op_order():
    # acc = 3 (q = 3, w = 1). Multiply(2) then Add(1): 7. Add(1) then Multiply(2): 8.
    q, w = col(u8([3])), col([1])
    assert run(q, w, post_ops=(Multiply(2.0), Add(1.0))).reshape(-1).tolist() == [7.0]
    assert run(q, w, post_ops=(Add(1.0), Multiply(2.0))).reshape(-1).tolist() == [8.0]


def test_float32_rounding_of_the_scaled_accumulator():
    # float32(acc) is exact here (|acc| <= 2^24); the rounding is in the post-ops, each one float32
    # operation. acc = 3, Multiply(1 + 2^-23): 3 + 3*2^-23 is halfway
    # between 3 + 2^-22 and 3 + 2^-21 (spacing 2^-22 in [2, 4)); ties to the even significand ->
    # 3 + 2^-21. Subtract(3) -> 2^-21 exactly (not the real-number 3*2^-23).
    y = run(col(u8([3])), col([1]), post_ops=(Multiply(1 + 2**-23), Subtract(3.0)))
    assert y.reshape(-1).tolist() == [2.0**-21]


def test_float32_conversion_of_a_large_accumulator():
    # The int32 bound K*255*128 exceeds 2^24 from K = 515 on, so float32(acc) can round.
    # 1x1 conv, C = 520: 518 channels of 255*127 = 32385 (518*32385 = 16775430), then 255*7 = 1785
    # and 2*1 = 2: acc = 16775430 + 1787 = 16777217 = 2^24 + 1, halfway between 2^24 and 2^24 + 2
    # (float32 spacing 2 there); ties to the even significand -> 16777216.
    q = col(u8([255] * 518 + [255, 2]))
    w = col([127] * 518 + [7, 1])
    assert run(q, w).reshape(-1).tolist() == [16777216.0]


def test_per_channel_scale_and_bias():
    # OC = 2, q = [2], w = [[3], [-1]]: acc = [6, -2]; Multiply([1,2,1,1] = [0.5, 4]) -> [3, -8];
    # Add([1,2,1,1] = [1, 1]) -> [4, -7].
    w = np.array([3, -1]).reshape(2, 1, 1, 1)
    scale = np.array([0.5, 4.0]).reshape(1, 2, 1, 1)
    y = run(col(u8([2])), w, post_ops=(Multiply(scale), Add(np.ones((1, 2, 1, 1)))))
    assert y.reshape(-1).tolist() == [4.0, -7.0]


def test_quantize_u8_ties_half_even():
    # C = 2, three pixels, w = [1, 1]: acc = [253 + 0, 255 + 0, 255 + 254] = [253, 255, 509];
    # Multiply(0.5) -> [126.5, 127.5, 254.5] (exact); Quantize u8 [0,255]: 126, 128, 254.
    q = u8([[[[253, 255, 255]], [[0, 0, 254]]]])
    quant = Quantize(0.0, 255.0, 0.0, 255.0, 256, "u8")
    y = run(q, col([1, 1]), post_ops=(Multiply(0.5), quant))
    assert y.dtype == np.uint8
    assert y.reshape(-1).tolist() == [126, 128, 254]


def test_quantize_u8_saturation():
    # acc = [200, 0]; Multiply(2), Subtract(10) -> [390, -10]; Quantize u8: 390 > 255 -> 255,
    # -10 <= 0 -> 0.
    quant = Quantize(0.0, 255.0, 0.0, 255.0, 256, "u8")
    y = run(u8([[[[200, 0]]]]), col([1]), post_ops=(Multiply(2.0), Subtract(10.0), quant))
    assert y.reshape(-1).tolist() == [255, 0]


def test_quantize_i8_ties_and_saturation():
    # i8 data, w = 1: acc = q. Add(0.5): [-128, 0, 126] -> [-127.5, 0.5, 126.5]; Quantize i8
    # [-128, 127]: level index ties 0.5 -> 0, 128.5 -> 128, 254.5 -> 254, i.e. -128, 0, 126.
    quant = Quantize(-128.0, 127.0, -128.0, 127.0, 256, "i8")
    y = run(i8([[[[-128, 0, 126]]]]), col([1]), post_ops=(Add(0.5), quant))
    assert y.dtype == np.int8
    assert y.reshape(-1).tolist() == [-128, 0, 126]
    # Multiply(2): [-100, 100] -> [-200, 200] -> saturate to -128, 127.
    y = run(i8([[[[-100, 100]]]]), col([1]), post_ops=(Multiply(2.0), quant))
    assert y.reshape(-1).tolist() == [-128, 127]


# -- errors ---------------------------------------------------------------------------------------------


def expect_error(attribute, *, q_shape=(1, 2, 3, 3), q_dtype="u8", w=None, **attrs):
    w = np.ones((1, 2, 1, 1), np.int8) if w is None else w
    with pytest.raises(GraphError) as info:
        conv_node(q_shape, q_dtype, w, name="bad_conv", **attrs)
    err = info.value
    assert err.node == "bad_conv" and err.op == "Int8Convolution"
    assert err.attribute == attribute, str(err)
    return err


def test_error_data_dtype():
    err = expect_error("input[0]", q_dtype="f32")
    assert "u8/i8" in str(err) and "f32" in str(err)


def test_error_weights_dtype():
    x = opset.parameter([1, 2, 3, 3], "u8", name="x")
    w = opset.constant(np.ones((1, 2, 1, 1), np.uint8), name="w_u8")
    with pytest.raises(GraphError) as info:
        make_node("Int8Convolution", [x, w], {}, name="bad_conv")
    assert info.value.attribute == "input[1]" and "i8" in str(info.value)


def test_error_zero_point_out_of_range():
    err = expect_error("input_zero_point", input_zero_point=[256])
    assert err.value == (256,) and "[0, 255]" in str(err)
    err = expect_error("input_zero_point", q_dtype="i8", input_zero_point=[200])
    assert "[-128, 127]" in str(err)
    err = expect_error("input_zero_point", input_zero_point=[1, 2, 3])     # C = 2
    assert err.value == (1, 2, 3)
    err = expect_error("weight_zero_point", weight_zero_point=[128])
    assert err.value == (128,)
    err = expect_error("weight_zero_point", weight_zero_point=[1, 2])        # OC = 1
    assert err.value == (1, 2)


def test_error_channel_mismatch():
    err = expect_error("group", q_shape=(1, 3, 3, 3))   # weights [1, 2, 1, 1] need C = 2
    assert "3 channels" in str(err)


def test_error_accumulator_bound():
    # C = 8192, 3x3 kernel: K = 73728 terms > 65793, the largest K whose bound 255*128*K fits int32.
    err = expect_error("weights", q_shape=(1, 8192, 3, 3), w=np.ones((1, 8192, 3, 3), np.int8))
    assert "73728" in str(err) and "int32" in str(err)


def test_error_post_ops():
    err = expect_error("post_ops", post_ops=(Multiply(np.ones(5)),))
    assert "does not broadcast" in str(err)


# -- properties against an independent model ----------------------------------------------------------


def naive_conv(q, w, *, strides, dilations, pads_begin, pads_end, group, za, zw, mode):
    """Python loops and ints: acc[n, o, y, x] per the module docstring (padded taps hold za)."""
    n, c, h, wd = q.shape
    oc, cg, kh, kw = w.shape
    ocg = oc // group
    za = list(za) * c if len(za) == 1 else list(za)
    zw = [0] * oc if not zw else (list(zw) * oc if len(zw) == 1 else list(zw))
    (sy, sx), (dy, dx), (pt, pl), (pb, pr) = strides, dilations, pads_begin, pads_end
    oh = (h + pt + pb - ((kh - 1) * dy + 1)) // sy + 1
    ow = (wd + pl + pr - ((kw - 1) * dx + 1)) // sx + 1
    signed = q.dtype == np.int8
    out = np.zeros((n, oc, oh, ow), dtype=np.int64)
    for b in range(n):
        for o in range(oc):
            g = o // ocg
            for y in range(oh):
                for x in range(ow):
                    total = 0
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = y * sy + ky * dy - pt, x * sx + kx * dx - pl
                            codes, weights, zps = [], [], []
                            for ci in range(cg):
                                ch = g * cg + ci
                                inside = 0 <= iy < h and 0 <= ix < wd
                                codes.append(int(q[b, ch, iy, ix]) if inside else za[ch])
                                weights.append(int(w[o, ci, ky, kx]))
                                zps.append(za[ch])
                            if mode == "exact":
                                raw = sum(a * v for a, v in zip(codes, weights))
                            else:
                                u = [a + 128 for a in codes] if signed else codes
                                uu, ww = u + [0], weights + [0]
                                raw = sum(min(max(uu[j] * ww[j] + uu[j + 1] * ww[j + 1], -32768), 32767)
                                          for j in range(0, len(u), 2))
                                if signed:
                                    raw -= 128 * sum(weights)
                            total += raw
                            total += sum(-z * v - zw[o] * a + z * zw[o]
                                         for a, v, z in zip(codes, weights, zps))
                    out[b, o, y, x] = total
    return out


@st.composite
def conv_case(draw, max_code=None):
    group = draw(st.integers(1, 3))
    cg, ocg = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    c, oc = group * cg, group * ocg
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dy, dx = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    sy, sx = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    # the input must be at least as large as the dilated kernel minus the padding
    h = draw(st.integers(max(1, (kh - 1) * dy + 1 - pads[0] - pads[2]), 5))
    wd = draw(st.integers(max(1, (kw - 1) * dx + 1 - pads[1] - pads[3]), 5))
    signed = draw(st.booleans()) if max_code is None else False
    lo, hi = (-128, 127) if signed else (0, 255 if max_code is None else max_code)
    dtype = np.int8 if signed else np.uint8
    q = draw(hnp.arrays(dtype, (draw(st.integers(1, 2)), c, h, wd), elements=st.integers(lo, hi)))
    w = draw(hnp.arrays(np.int8, (oc, cg, kh, kw), elements=st.integers(-128, 127)))
    zp = st.integers(lo, hi)
    za = draw(st.one_of(st.lists(zp, min_size=1, max_size=1), st.lists(zp, min_size=c, max_size=c)))
    zw = draw(st.one_of(st.just([]), st.lists(st.integers(-128, 127), min_size=1, max_size=1),
                        st.lists(st.integers(-128, 127), min_size=oc, max_size=oc)))
    attrs = dict(strides=[sy, sx], dilations=[dy, dx], pads_begin=pads[:2], pads_end=pads[2:],
                 group=group, input_zero_point=za, weight_zero_point=zw)
    return q, w, attrs


def naive_attrs(attrs):
    return dict(strides=attrs["strides"], dilations=attrs["dilations"],
                pads_begin=attrs["pads_begin"], pads_end=attrs["pads_end"], group=attrs["group"],
                za=attrs["input_zero_point"], zw=attrs["weight_zero_point"])


@given(conv_case())
def test_exact_matches_naive_model(case):
    q, w, attrs = case
    y = run(q, w, **attrs)
    expected = naive_conv(q, w, mode="exact", **naive_attrs(attrs))
    np.testing.assert_array_equal(y, expected.astype(np.float32))


@given(conv_case())
def test_s16_pairs_matches_naive_model(case):
    q, w, attrs = case
    y = run(q, w, accumulation="s16_pairs", **attrs)
    expected = naive_conv(q, w, mode="s16_pairs", **naive_attrs(attrs))
    np.testing.assert_array_equal(y, expected.astype(np.float32))


@given(conv_case(max_code=127))
def test_s16_pairs_equals_exact_when_pairs_fit(case):
    # u8 codes and zero points <= 127: every pair |u0*w0 + u1*w1| <= 2*127*128 = 32512 <= 32767.
    q, w, attrs = case
    np.testing.assert_array_equal(run(q, w, accumulation="s16_pairs", **attrs), run(q, w, **attrs))
