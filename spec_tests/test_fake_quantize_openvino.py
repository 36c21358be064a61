"""Differential test: ``refint8.ops.fake_quantize.fake_quantize`` against OpenVINO's reference kernel.

OpenVINO is a test dependency only. Each FakeQuantize is built with ``openvino.opset13`` over five
``Parameter`` nodes of the tensors' shapes and evaluated with ``Node.evaluate``, which runs
``ov::reference::fake_quantize`` (the CPU plugin differs on NaN, degenerate and reversed ranges and
near ties; it is not what refint8 specifies). Outputs must agree bit for bit, NaN matching NaN.
Shape acceptance (which range shapes OpenVINO's shape inference accepts) is compared too.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from refint8.errors import InputError
from refint8.ops.fake_quantize import fake_quantize

from test_fake_quantize import fq_cases  # the same strategy: ranges with NaN/inf/huge, x on (near-)ties

ov = pytest.importorskip("openvino", reason="openvino is a test dependency; install with the test extras")
ov_ops = pytest.importorskip("openvino.opset13", reason="openvino is a test dependency; install with the test extras")

f32 = np.float32
NAN = float("nan")
INF = float("inf")


def _f32(a) -> np.ndarray:
    # np.array, not np.ascontiguousarray: the latter turns a 0-d array into shape [1].
    return np.array(a, dtype=np.float32, order="C", copy=True)


def ov_node(shapes, levels: int, auto_broadcast: str = "numpy"):
    """An opset1 FakeQuantize node over five f32 Parameters of ``shapes`` (raises if OV rejects them)."""
    params = [ov_ops.parameter(list(s), np.float32) for s in shapes]
    return ov_ops.fake_quantize(*params, levels, auto_broadcast=auto_broadcast)


def ov_fake_quantize(x, il, ih, ol, oh, levels: int, auto_broadcast: str = "numpy") -> np.ndarray:
    """OpenVINO's reference evaluation of FakeQuantize (``Node.evaluate``), as a float32 array."""
    arrays = [_f32(a) for a in (x, il, ih, ol, oh)]
    node = ov_node([a.shape for a in arrays], levels, auto_broadcast)
    out = ov.Tensor(ov.Type.f32, ov.Shape(list(arrays[0].shape)))
    assert node.evaluate([out], [ov.Tensor(a) for a in arrays]), "OpenVINO could not evaluate FakeQuantize"
    assert tuple(out.shape) == arrays[0].shape
    return np.array(out.data, dtype=np.float32).reshape(arrays[0].shape)


def assert_same_as_openvino(x, il, ih, ol, oh, levels: int, auto_broadcast: str = "numpy") -> None:
    ours = fake_quantize(_f32(x), _f32(il), _f32(ih), _f32(ol), _f32(oh), levels, auto_broadcast=auto_broadcast)
    theirs = ov_fake_quantize(x, il, ih, ol, oh, levels, auto_broadcast)
    assert ours.dtype == np.float32 and ours.shape == theirs.shape
    same = (ours.view(np.uint32) == theirs.view(np.uint32)) | (np.isnan(ours) & np.isnan(theirs))
    if not same.all():
        bad = np.argwhere(~same)[:10] if ours.ndim else [()]
        lines = [
            f"  at {tuple(i)}: x={_f32(x)[tuple(i)]!r} refint8={ours[tuple(i)]!r} openvino={theirs[tuple(i)]!r}"
            for i in bad
        ]
        pytest.fail(
            f"{int((~same).sum())} of {same.size} elements differ (levels={levels}, "
            f"il={il!r}, ih={ih!r}, ol={ol!r}, oh={oh!r}):\n" + "\n".join(lines)
        )


def up(v) -> np.float32:
    return np.nextafter(f32(v), f32(INF))


def down(v) -> np.float32:
    return np.nextafter(f32(v), f32(-INF))


# -- the hand-worked cases of test_fake_quantize.py, against OpenVINO ------------------------------

HAND_CASES = {
    "ties-5": ([0.5, 1.5, 2.5, 3.5], 0, 4, 0, 4, 5),
    "ties-256": ([126.5, 127.5, 254.5], 0, 255, 0, 255, 256),
    "ties-signed": ([-127.5, 0.5, 126.5], -128, 127, -128, 127, 256),
    "ties-255-symmetric": ([-126.5, -0.5, 0.5, 1.5, 126.5], -127, 127, -127, 127, 255),
    "near-ties-5": ([down(0.5), up(0.5), down(1.5), up(1.5), down(2.5), up(2.5), down(3.5), up(3.5)], 0, 4, 0, 4, 5),
    "near-ties-256": ([down(126.5), up(126.5), down(127.5), up(127.5), down(254.5), up(254.5)], 0, 255, 0, 255, 256),
    "near-ties-absorbed-256": ([down(0.5), up(0.5)], -128, 127, -128, 127, 256),
    "near-ties-absorbed-255": ([down(0.5), up(0.5)], -127, 127, -127, 127, 255),
    "near-ties-65536": ([down(32767.5), up(32767.5)], 0, 65535, 0, 65535, 65536),
    "evaluation-order": ([f32(0.15294118225574493), f32(0.29411765933036804), f32(1.541176438331604)], 0, 6, 0, 255, 256),
    "boundaries": ([-INF, down(-1.0), -1.0, 1.0, up(1.0), INF], -1, 1, -3, 5, 3),
    "x-equal-ih-off-oh": ([1.0, up(1.0)], 0, 1, -1, 0.1, 256),
    "nan-x": ([NAN, 0.5], 0, 4, 0, 4, 256),
    "nan-x-step": ([NAN], 2, 2, -1, 1, 256),
    "nan-x-constant": ([NAN], 0, 1, 2.5, 2.5, 256),
    "nan-ih": ([-1.0, 0.0, 0.5, 5.0, NAN], 0, NAN, 0, 4, 5),
    "nan-il": ([-1.0, 0.0, 0.5, 5.0, NAN], NAN, 4, 0, 4, 5),
    "nan-il-reversed": ([-1.0, 0.0, 0.5, 4.0, 5.0], 4, NAN, 0, 4, 5),
    "nan-ol": ([-1.0, 0.0, 1.0, 4.0, 5.0], 0, 4, NAN, 4, 5),
    "inf-range": ([-INF, -1.0, 0.0, 1.0, INF], -INF, INF, 0, 4, 5),
    "inf-ih": ([-1.0, 0.0, 1.0, 1e38, INF], 0, INF, 0, 4, 5),
    "step": ([-INF, 1.0, 2.0, up(2.0), 3.0, INF], 2, 2, -1, 1, 256),
    "step-levels2": ([-1.0, 0.0, up(0.0), 1.0], 0, 0, 0, 1, 2),
    "reversed": ([0.0, up(0.0), 0.5, 1.0, 1.5, 4.0, 5.0], 4, 0, 0, 4, 5),
    "reversed-negative-zero-ol": ([4.0, 3.0], 4, 0, -0.0, 4, 5),
    "decreasing": ([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 0, 4, 4, 0, 5),
    "constant": ([-INF, -1.0, 0.3, 1.0, 7.0, INF], 0, 1, 2.5, 2.5, 256),
    "levels2": ([0.25, 0.5, up(0.5), 0.75, 1.0], 0, 1, 0, 1, 2),
    "levels2-symmetric": ([0.0, up(0.0), down(0.0)], -1, 1, -1, 1, 2),
    "levels3": ([-0.5, 0.0, 0.5], -1, 1, -1, 1, 3),
    "levels16": ([0.5, 6.5, 7.5, 14.5], 0, 15, 0, 15, 16),
    "levels65536": ([0.5, 1.5, 32767.5, 32768.5, 65534.5], 0, 65535, 0, 65535, 65536),
    # levels - 1 = 2**25 + 2 is not a float32; both round it to 2**25 (ties to even).
    "levels-2**25+3": ([0.3, 0.5, 0.7], 0, 1, 0, 1, 2**25 + 3),
    # Dequantization is q/(L-1) * (oh-ol) + ol in two roundings: a fused multiply-add differs here.
    "dequant-not-fused": (np.arange(256, dtype=np.float32), 0, 255, -1.1, 2.3, 256),
    "subnormal-range": ([0.0, 1e-45, 2e-45, 3e-45, 1e-44], 0, 1e-44, 0, 1, 256),
    "huge-range": ([-3e38, 0.0, 3e38], -3e38, 3e38, -3e38, 3e38, 256),
}


@pytest.mark.parametrize("case", HAND_CASES.values(), ids=HAND_CASES.keys())
def test_hand_worked_cases_match_openvino(case):
    x, il, ih, ol, oh, levels = case
    assert_same_as_openvino(x, il, ih, ol, oh, levels)


def test_broadcast_shapes_match_openvino():
    rng = np.random.default_rng(7)
    x = rng.uniform(-2, 6, size=(2, 3, 4, 5)).astype(np.float32)
    shapes = [(), (1,), (5,), (4, 5), (1, 3, 1, 1), (3, 1, 1), (2, 1, 1, 1), (1, 1, 4, 1), (1, 1, 1, 5),
              (2, 3, 4, 5), (1, 1, 3, 1, 1), (1, 2, 3, 4, 5), (1, 1, 1, 1, 1, 1)]
    for shape in shapes:
        lo = rng.uniform(-1, 1, size=shape).astype(np.float32)
        hi = (lo + rng.uniform(0.5, 5, size=shape)).astype(np.float32)
        assert_same_as_openvino(x, lo, hi, -lo, hi * 3, 256)
    # Mixed shapes among the four ranges (distinct inner strides; old kernels indexed oh with ol's
    # stride here), and every permutation of which range is per-channel.
    il = np.array([0.0, 1.0, 2.0, 3.0, 0.5], dtype=np.float32).reshape(1, 1, 1, 5)
    oh = np.array([4.0, 8.0, 12.0, 16.0, 20.0], dtype=np.float32).reshape(1, 1, 1, 5)
    assert_same_as_openvino(x, il, 4.0, 0.0, oh, 5)
    assert_same_as_openvino(x, il, 4.0, -oh, 0.0, 17)
    per_c = np.array([0.1, -0.2, 0.3], dtype=np.float32).reshape(1, 3, 1, 1)
    assert_same_as_openvino(x, per_c, il + 4, per_c * 5, oh.reshape(5), 256)
    # auto_broadcast none: all shapes equal.
    same = [rng.uniform(-1, 1, size=x.shape).astype(np.float32) for _ in range(2)]
    assert_same_as_openvino(x, same[0], same[0] + 3, same[1], same[1] + 1, 256, "none")


# Deliberate divergence: OpenVINO's shape inference broadcasts a higher-rank range into a copy of
# x's shape and then keeps x's shape, so it also accepts leading extra dimensions that are not 1
# (e.g. [2,1,3,1,1] on [2,3,4,5]); its kernel then reads only index 0 of those dimensions and
# silently ignores the rest of the range. refint8 rejects such a range (extra dimensions must be 1).
OPENVINO_ONLY = {(2, 1, 3, 1, 1), (3, 1, 1, 1, 1, 1)}


@pytest.mark.parametrize(
    "range_shape",
    [(), (1,), (5,), (4,), (3, 1, 1), (1, 3, 1, 1), (1, 4, 1, 1), (2, 1, 1), (4, 5), (2, 3, 4, 5),
     (1, 1, 3, 1, 1), (1, 2, 3, 4, 5), (1, 2, 3, 1, 5), (3, 4, 1), (1, 1, 4, 1, 1), *sorted(OPENVINO_ONLY)],
)
@pytest.mark.parametrize("mode", ["numpy", "none"])
def test_shape_acceptance_matches_openvino(range_shape, mode):
    # refint8 accepts a range shape exactly when OpenVINO's shape inference does (but see above).
    x_shape = (2, 3, 4, 5)
    try:
        ov_node([x_shape] + [range_shape] * 4, 256, mode)
        ov_accepts = True
    except RuntimeError:
        ov_accepts = False
    x = np.zeros(x_shape, dtype=np.float32)
    r = np.zeros(range_shape, dtype=np.float32)
    try:
        fake_quantize(x, r, r + 1, r, r + 1, 256, auto_broadcast=mode)
        ours = True
    except InputError:
        ours = False
    if mode == "numpy" and range_shape in OPENVINO_ONLY:
        assert ov_accepts and not ours
    else:
        assert ours == ov_accepts


# -- dense near-tie sweeps -----------------------------------------------------------------------


def level_midpoints(il, ih, levels: int, ulps: int = 2) -> np.ndarray:
    """All level midpoints of [il, ih] (and one beyond each end), each nudged by -ulps..+ulps."""
    k = np.arange(-1, levels, dtype=np.float64)
    mids = (np.float64(il) + (np.float64(ih) - np.float64(il)) * (k + 0.5) / (levels - 1)).astype(np.float32)
    out = [mids]
    below, above = mids, mids
    for _ in range(ulps):
        below, above = np.nextafter(below, f32(-INF)), np.nextafter(above, f32(INF))
        out += [below, above]
    return np.concatenate(out + [np.array([il, ih], dtype=np.float32)])


SWEEPS = [
    (0.0, 255.0, 0.0, 255.0, 256),
    (-128.0, 127.0, -128.0, 127.0, 256),
    (-127.0, 127.0, -127.0, 127.0, 255),
    (0.0, 6.0, 0.0, 6.0, 256),
    (-2.5, 2.5, -2.5, 2.5, 256),
    (0.0, 1.0, 0.0, 255.0, 256),
    (-0.73, 1.91, -0.73, 1.91, 256),
    (-1.003, 1.55, -1.003, 1.55, 256),
    (0.3, 2.85, 0.3, 2.85, 255),
    (2.85, 0.3, 0.3, 2.85, 256),
    (-3.0, 5.0, 7.0, -1.0, 16),
    (-10.0, 10.0, -1.0, 1.0, 65536),
    (0.017, 0.018, -5.0, 5.0, 1001),
]


@pytest.mark.parametrize("sweep", SWEEPS, ids=[f"{s[0]},{s[1]}->{s[2]},{s[3]}@{s[4]}" for s in SWEEPS])
def test_level_midpoint_sweeps_match_openvino(sweep):
    il, ih, ol, oh, levels = sweep
    x = level_midpoints(f32(il), f32(ih), levels)
    assert_same_as_openvino(x, il, ih, ol, oh, levels)


def test_per_channel_random_inputs_match_openvino():
    # 16 channels with ranges of mixed scale and sign (some reversed, one degenerate), 64k values.
    rng = np.random.default_rng(2026)
    c = 16
    il = (rng.standard_normal(c) * 10).astype(np.float32)
    ih = (il + rng.standard_normal(c) * 20).astype(np.float32)
    ih[3] = il[3]
    ol = (rng.standard_normal(c) * 100).astype(np.float32)
    oh = (rng.standard_normal(c) * 100).astype(np.float32)
    x = (rng.standard_normal((1, c, 64, 64)) * 30).astype(np.float32)
    for levels in (255, 256):
        assert_same_as_openvino(x, il.reshape(1, c, 1, 1), ih.reshape(1, c, 1, 1), ol.reshape(1, c, 1, 1),
                                oh.reshape(1, c, 1, 1), levels)


# -- Hypothesis: random shapes, ranges, levels and inputs concentrated on (near-)ties ---------------

@given(fq_cases())
def test_random_cases_match_openvino(case):
    x, il, ih, ol, oh, levels, mode = case
    assert_same_as_openvino(x, il, ih, ol, oh, levels, mode)
