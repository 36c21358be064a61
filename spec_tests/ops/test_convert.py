"""Convert: the float-to-integer rules (truncate, then wrap), integer wrap-around, to-f32 rounding.

Every expected value is worked out by hand in the comments from the rules of
``refint8.ops.convert.convert``: float to i32 truncates toward zero, and a value outside the i32
range (also NaN and ±inf) becomes -2^31; to u8/i8 the i32 value then keeps its low 8 bits; integer
to integer wraps modulo 2^N; to f32 rounds to nearest, ties to even. These rules are what OpenVINO
2026.4 computes on x86-64: its reference kernel (``op.evaluate``) gave every expected value below,
and its CPU plugin too except for float to i64 (it computes i64 as i32, see the op's docstring).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refint8 import opset
from refint8.errors import GraphError, InputError, UnsupportedError
from refint8.ops.convert import Convert, convert

f32 = np.float32
NAN, INF = float("nan"), float("inf")
I32_MIN = -(2**31)
I64_MIN = -(2**63)


def assert_same(actual, expected, dtype) -> None:
    expected = np.asarray(expected, dtype=dtype)
    assert actual.dtype == np.dtype(dtype) and actual.shape == expected.shape
    if actual.dtype.kind == "f":
        same = (actual.view(np.uint32) == expected.view(np.uint32)) | (np.isnan(actual) & np.isnan(expected))
        assert same.all(), f"\nactual   {actual!r}\nexpected {expected!r}"
    else:
        assert np.array_equal(actual, expected), f"\nactual   {actual!r}\nexpected {expected!r}"


def assert_names(excinfo, node: str, attribute: str, value) -> None:
    err, msg = excinfo.value, str(excinfo.value)
    assert f"node '{node}'" in msg and f"attribute '{attribute}'" in msg and repr(value) in msg, msg
    assert (err.node, err.attribute, err.value) == (node, attribute, value)


# -- float to integer ----------------------------------------------------------------------------


def test_f32_to_i32_truncates_toward_zero():
    # trunc: 2.7 -> 2, -2.7 -> -2, 0.5 -> 0, -0.5 -> 0 (no rounding to nearest: 2.5 -> 2,
    # 1.5 -> 1, -1.5 -> -1), 2147483520 (largest float32 below 2^31) -> itself,
    # -2147483648 = -2^31 fits exactly.
    x = f32([2.7, -2.7, 0.5, -0.5, 2.5, 1.5, -1.5, 2147483520.0, -2147483648.0])
    assert_same(convert(x, "i32"), [2, -2, 0, 0, 2, 1, -1, 2147483520, I32_MIN], np.int32)


def test_f32_to_i32_out_of_range_nan_inf_give_int_min():
    # 2^31 = 2147483648 does not fit i32 (max 2^31 - 1) -> -2^31, whatever the sign of x;
    # 3e9 and -3e9 likewise; NaN, +inf, -inf -> -2^31.
    x = f32([2147483648.0, 3e9, -3e9, NAN, INF, -INF])
    assert_same(convert(x, "i32"), [I32_MIN] * 6, np.int32)


def test_f32_to_u8_truncates_then_wraps():
    # trunc, then modulo 256:
    #   0.9 -> 0; 2.7 -> 2; 255.9 -> 255; 256.0 -> 256 mod 256 = 0; 300.0 -> 300 - 256 = 44;
    #   -0.5 -> 0; -1.5 -> -1 -> -1 + 256 = 255; -300.0 -> -300 + 512 = 212.
    x = f32([0.9, 2.7, 255.9, 256.0, 300.0, -0.5, -1.5, -300.0])
    assert_same(convert(x, "u8"), [0, 2, 255, 0, 44, 0, 255, 212], np.uint8)


def test_f32_to_i8_truncates_then_wraps():
    # trunc, then into [-128, 127] modulo 256:
    #   127.9 -> 127; 128.0 -> 128 - 256 = -128; 255.5 -> 255 - 256 = -1; -128.5 -> -128;
    #   -129.0 -> -129 + 256 = 127; 300.0 -> 44; -300.0 -> -300 + 256 = -44.
    x = f32([127.9, 128.0, 255.5, -128.5, -129.0, 300.0, -300.0])
    assert_same(convert(x, "i8"), [127, -128, -1, -128, 127, 44, -44], np.int8)


def test_f32_to_8bit_nan_inf_huge_give_zero():
    # Through i32: NaN, ±inf, 1e10, -1e10 -> -2^31 = 0x80000000, whose low byte is 0.
    # 2147483520 = 0x7FFFFF80 -> low byte 0x80 = 128 (u8) / -128 (i8).
    x = f32([NAN, INF, -INF, 1e10, -1e10, 2147483520.0])
    assert_same(convert(x, "u8"), [0, 0, 0, 0, 0, 128], np.uint8)
    assert_same(convert(x, "i8"), [0, 0, 0, 0, 0, -128], np.int8)


def test_f32_to_i64():
    # trunc: 1e10 -> 10000000000 (exact in float32: 10^10 = 2^10 * 9765625, 24-bit odd part);
    # -2.5 -> -2; 2^40 + 0.0 -> 2^40. 2^63 (float32 of 9.2233720e18) does not fit i64 -> -2^63;
    # -2^63 fits; NaN and ±inf -> -2^63.
    x = f32([1e10, -2.5, 2.0 ** 40, 2.0 ** 63, -(2.0 ** 63), NAN, INF, -INF])
    expected = [10**10, -2, 2**40, I64_MIN, I64_MIN, I64_MIN, I64_MIN, I64_MIN]
    assert_same(convert(x, "i64"), expected, np.int64)


def test_f32_to_f32_is_identity():
    x = f32([1.5, -0.0, NAN, INF, 1e-45])
    assert_same(convert(x, "f32"), x, np.float32)


# -- integer sources ---------------------------------------------------------------------------


def test_integer_to_integer_wraps():
    # i32 -> u8 modulo 256: 300 -> 44, -1 -> 255, 256 -> 0, -129 -> 127, 255 -> 255.
    assert_same(convert(np.int32([300, -1, 256, -129, 255]), "u8"), [44, 255, 0, 127, 255], np.uint8)
    # i32 -> i8: 128 -> -128, 255 -> -1, -129 -> 127, 127 -> 127.
    assert_same(convert(np.int32([128, 255, -129, 127]), "i8"), [-128, -1, 127, 127], np.int8)
    # u8 -> i8: 200 -> 200 - 256 = -56; i8 -> u8: -128 -> 128, -1 -> 255.
    assert_same(convert(np.uint8([200, 127]), "i8"), [-56, 127], np.int8)
    assert_same(convert(np.int8([-128, -1, 5]), "u8"), [128, 255, 5], np.uint8)
    # i64 -> i32 modulo 2^32: 2^31 -> -2^31; 2^32 + 5 -> 5; -2^31 - 1 -> 2^31 - 1.
    assert_same(convert(np.int64([2**31, 2**32 + 5, -(2**31) - 1]), "i32"),
                [I32_MIN, 5, 2**31 - 1], np.int32)
    # Widening keeps the value: i8 -1 -> i32 -1, u8 255 -> i64 255.
    assert_same(convert(np.int8([-1]), "i32"), [-1], np.int32)
    assert_same(convert(np.uint8([255]), "i64"), [255], np.int64)


def test_integer_to_f32_rounds_to_nearest_even():
    # 2^24 + 1 = 16777217 is halfway between 16777216 and 16777218: even mantissa -> 16777216.
    # 2^24 + 3 = 16777219 is halfway between 16777218 (odd) and 16777220 (even) -> 16777220.
    # 2^31 - 1 -> 2^31 (the float32 spacing there is 128; 2^31 - 1 is 1 below 2^31).
    x = np.int32([16777217, 16777219, 2**31 - 1, -5])
    assert_same(convert(x, "f32"), [16777216.0, 16777220.0, 2147483648.0, -5.0], np.float32)
    # i64 2^60 + 2^36 + 1: spacing at 2^60 is 2^37; the value is just above the midpoint
    # 2^60 + 2^36, so it rounds up to 2^60 + 2^37 (a double rounding via float64 would give 2^60).
    assert_same(convert(np.int64([2**60 + 2**36 + 1]), "f32"), [2.0**60 + 2.0**37], np.float32)


def test_boolean_source():
    # false -> 0, true -> 1 in every destination.
    b = np.array([False, True])
    assert_same(convert(b, "u8"), [0, 1], np.uint8)
    assert_same(convert(b, "f32"), [0.0, 1.0], np.float32)


def test_shape_is_kept():
    y = convert(np.zeros((2, 3, 1), np.float32), "i8")
    assert y.shape == (2, 3, 1) and y.dtype == np.int8


def test_function_rejects_unknown_destination():
    with pytest.raises(InputError, match="destination_type 'f16' is not supported"):
        convert(f32([1.0]), "f16")


# -- properties against independent formulations --------------------------------------------------

in_i32_range = st.floats(min_value=-2147483520.0, max_value=2147483520.0, width=32)


@settings(max_examples=50)
@given(hnp.arrays(np.float32, 16, elements=in_i32_range))
def test_float_to_integer_matches_python_trunc_and_modulo(x):
    # Python's math.trunc is truncation toward zero and % is the mathematical modulo; the 8-bit
    # results are the truncated integer modulo 256, shifted into [-128, 127] for i8.
    t = [math.trunc(float(v)) for v in x]
    assert convert(x, "i32").tolist() == t
    assert convert(x, "i64").tolist() == t
    assert convert(x, "u8").tolist() == [v % 256 for v in t]
    assert convert(x, "i8").tolist() == [(v + 128) % 256 - 128 for v in t]


@settings(max_examples=50)
@given(hnp.arrays(np.int64, 16, elements=st.integers(-(2**63), 2**63 - 1)))
def test_integer_wrap_matches_python_modulo(v):
    values = [int(a) for a in v]
    assert convert(v, "u8").tolist() == [a % 256 for a in values]
    assert convert(v, "i8").tolist() == [(a + 128) % 256 - 128 for a in values]
    assert convert(v, "i32").tolist() == [(a + 2**31) % 2**32 - 2**31 for a in values]
    assert convert(v, "i64").tolist() == values


@settings(max_examples=50)
@given(hnp.arrays(np.int32, 16, elements=st.integers(-(2**31), 2**31 - 1)))
def test_i32_to_f32_is_nearest_float32(v):
    # The result is a float32 no farther from v than any other float32: compare with its two
    # float32 neighbours, in exact integer arithmetic.
    y = convert(v, "f32")
    for a, r in zip(v.tolist(), y):
        err = abs(int(r) - a)
        assert err <= abs(int(np.nextafter(r, f32(INF))) - a)
        assert err <= abs(int(np.nextafter(r, f32(-INF))) - a)


# -- the node ------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["f32", "u8", "i8", "i32", "i64"])
@pytest.mark.parametrize("destination", ["f32", "u8", "i8", "i32", "i64"])
def test_node_inference(source, destination):
    x = opset.parameter([2, 3], element_type=source, name="x")
    y = opset.convert(x, destination, name="c")
    assert y.type.shape == (2, 3)
    assert y.dtype == {"f32": np.float32, "u8": np.uint8, "i8": np.int8,
                       "i32": np.int32, "i64": np.int64}[destination]


def test_compute():
    # 300.7 -> trunc 300 -> 300 mod 256 = 44.
    (y,) = Convert.compute({"destination_type": "u8"}, f32([300.7]))
    assert_same(y, [44], np.uint8)


def test_node_error_unsupported_destination():
    x = opset.parameter([2], name="x")
    with pytest.raises(UnsupportedError) as excinfo:
        opset.convert(x, "f16", name="to_f16")
    assert_names(excinfo, "to_f16", "destination_type", "f16")
    assert "f32, u8, i8, i32, i64" in str(excinfo.value)


def test_node_error_missing_destination():
    from refint8.graph import make_node

    x = opset.parameter([2], name="x")
    with pytest.raises(GraphError) as excinfo:
        make_node("Convert", [x], {}, name="no_dst")
    assert excinfo.value.node == "no_dst" and excinfo.value.attribute == "destination_type"
