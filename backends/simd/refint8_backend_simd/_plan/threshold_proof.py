"""Proof that a convolution's fused requantization gives the reference's codes: its thresholds.

A requantizing convolution (r8_conv.rq) turns each integer accumulator ``acc`` of output plane
``r`` into a code. The reference runs its post-ops on ``float32(acc)``: ``Multiply(c)``,
``Add(b)``, ``Quantize(il, ih, ol, oh, levels)`` (refint8.int8.post_ops, refint8.ops.fake_quantize);
the AVX-512 kernels run the fused chain ``rint(min(steps, max(0, fma(float32(acc), A, B)))) + ol``
(r8simd_rq.h ``rq_vector``), which _plan/fused_requantization.py bounds within ``0.5 - limit`` of
the reference's level, so that only lanes near a midpoint need the reference's formula: each
vector's gap (``vreduceps``), their maximum (``vrangeps``) and a compare a tile, and the raw sums
kept for a recheck. On MobileNetV2's 1x1 layers of 16 to 32 input channels these are a quarter
of the tile's operations.

Both chains are monotone functions of ``acc`` on each plane, in the same direction: every step is
(a float32 rounding, multiplication by a constant of the sign of A, addition, the clamps, ``rint``;
the Quantize with ``il < ih``, ``ol <= oh`` and its top value ``(oh - ol) + ol <= oh``: checked
here). So each is a staircase of levels 0 .. steps, and two staircases are the same function iff,
for every level k, they reach k at the same accumulator. Per plane and level, the fused chain's
threshold ``t_k`` (the least ``acc`` whose code reaches ``ol + k``, in the direction of A) is
estimated from ``(k - 0.5 - B) / |A|`` and moved until the kernel's own chain
(``r8_rq_fused_codes``) is below k at ``t_k - 1`` and at k or above at ``t_k``; the reference's
thresholds likewise from there. Over the accumulators the layer can reach (``|acc| <= K*255*128``:
no weight zero points, K taps and input channels), equal thresholds are equal codes for every
input. On about one plane in 25 of MobileNetV2's some level's thresholds differ (the reference's
rounding moves a crossing past an accumulator); there B is put in the middle of the values that
place every crossing where the reference's thresholds are (:func:`_centred_b`), with A and that B
moved by up to 2 float32 steps (:data:`_MOVES_AB`) where that is not enough, and the first that
agree are kept (97.5 % of MobileNetV2's planes end proven). The plan sets r8_conv.rq_proven per
plane; the kernels that read it (the direct tiles, for a block of proven planes, and the AVX-512
depthwise kernels r8_dwb and r8_dw, per channel) leave the check out there. Cost: two evaluations of each chain per plane and level and a
few for the moved planes: 0.4 s for MobileNetV2's 30 layers that read it.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from refint8.int8.post_ops import Add, Multiply, Quantize, apply_post_ops

#: plans prove their chains (tests turn it off to build kernels that keep the check everywhere)
ENABLED = True
#: how many times a threshold estimate may move by one accumulator before the proof gives up
_SETTLE_ROUNDS = 8
#: r8_conv.rq fields (r8simd_api.h): ol (3), the fused chain's A (8) and B (9)
_OL, _A, _B = 3, 8, 9
#: the moves of a plane's A and of the B centred for it (float32 steps) tried where its
#: thresholds differ, nearest first (on MobileNetV2 the centred B alone agrees for 3 planes in 4)
_MOVES_AB = sorted(((d_a, d_b) for d_a in range(-2, 3) for d_b in range(-2, 3)),
                   key=lambda d: (abs(d[0]) + abs(d[1]), abs(d[0]), -d[0], -d[1]))


def _plane_values(operand: np.ndarray, n: int, oc: int) -> np.ndarray:
    """A post-op operand as one float32 value a plane (n*OC rows); ValueError if it varies
    within a plane."""
    return np.broadcast_to(np.asarray(operand, np.float32), (n, oc, 1, 1)).reshape(n * oc)


def _monotone_chain(post_ops: Sequence[Any], n: int, oc: int, a: np.ndarray) -> bool:
    """Whether the reference's chain is exactly Multiply, Add, Quantize, monotone on every plane
    in the direction of the fused chain's A."""
    if [type(op) for op in post_ops] != [Multiply, Add, Quantize]:
        return False
    multiply, _, quantize = post_ops
    try:
        c = _plane_values(multiply.operand, n, oc)
        il, ih, ol, oh = (_plane_values(getattr(quantize, name), n, oc)
                          for name in ("input_low", "input_high", "output_low", "output_high"))
    except ValueError:
        return False
    with np.errstate(all="ignore"):
        top = (oh - ol) + ol   # the middle piece's largest value (float32, the reference's order)
    return bool(np.all(a != 0) and np.all(np.sign(c) == np.sign(a)) and np.all(il < ih)
                and np.all(ol <= oh) and np.all(top <= oh))


def _moved(x: np.ndarray, steps: int) -> np.ndarray:
    """Float32 values x moved by ``steps`` float32 steps each (up for positive steps)."""
    toward = np.float32(np.inf if steps > 0 else -np.inf)
    for _ in range(abs(steps)):
        x = np.nextafter(x, toward)
    return x


def _centred_b(a: np.ndarray, thresholds: np.ndarray, k: np.ndarray, reach: int) -> np.ndarray:
    """Per plane, the B (float32) in the middle of those whose line |A|*j + B crosses k - 0.5 between
    j = t_k - 1 and t_k for every level k at the given thresholds t_k (rows x levels, in the
    reach): |A|*t_k + B >= k - 0.5 > |A|*(t_k - 1) + B, computed in float64. Where no real B
    does (by less than the float32 rounding of the kernel's value, which then may), the middle
    of the two bounds all the same."""
    slope = np.abs(a.astype(np.float64))[:, None]
    half = k - 0.5
    low = np.where(thresholds <= reach, half - slope * thresholds, -np.inf).max(axis=1)
    high = np.where(thresholds - 1 >= -reach, half - slope * (thresholds - 1), np.inf).min(axis=1)
    return ((low + high) / 2).astype(np.float32)


def _settle(levels_at: Callable[[np.ndarray, np.ndarray], np.ndarray], t: np.ndarray, k: np.ndarray,
            reach: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's thresholds of the staircase ``levels_at`` (``levels_at(j, rows)``: the levels
    at j of those rows): from the estimates t, moved by one at a time until the level is below k
    at t - 1 and at least k at t (within the reach, t in -reach .. reach + 1). Returns them and
    which rows settled within _SETTLE_ROUNDS moves; each round evaluates only the rows still moving."""
    t, steps = t.copy(), t.shape[1]
    settled = np.zeros(t.shape[0], bool)
    todo = np.arange(t.shape[0])
    for _ in range(_SETTLE_ROUNDS):
        now = t[todo]
        both = levels_at(np.concatenate([now, now - 1], axis=1), todo)
        at, before = both[:, :steps], both[:, steps:]
        up = (now <= reach) & (at < k)               # not reached at t: the threshold lies above
        down = (now - 1 >= -reach) & (before >= k)   # reached before t: it lies below
        moving = (up | down).any(axis=1)
        settled[todo[~moving]] = True
        t[todo] = now + up - down
        todo = todo[moving]
        if todo.size == 0:
            break
    return t, settled


def prove_thresholds(ffi: Any, fused_codes: Callable[..., None], params: Any, table: np.ndarray,
                     post_ops: Sequence[Any], n: int, oc: int, reach: int) -> np.ndarray:
    """Per plane (n*OC rows), whether the fused chain of ``params`` (r8_conv with rq set to
    ``table``, its rows the planes' r8_conv.rq fields) gives the reference's codes (``post_ops``
    on float32(acc)) for every accumulator ``|acc| <= reach``, by the thresholds of each level
    (module doc). A plane whose thresholds differ somewhere has its B centred on the reference's
    thresholds (:func:`_centred_b`), then A and B moved (:data:`_MOVES_AB`); the first A and B that
    agree are written into ``table`` (exact on every accumulator, checked or not). ``fused_codes``:
    the variant's r8_rq_fused_codes."""
    proven = np.zeros(n * oc, bool)
    if not _monotone_chain(post_ops, n, oc, table[:, _A]):
        return proven
    quantize = post_ops[-1]
    steps = quantize.levels - 1
    code_type = np.int8 if quantize.element_type == "i8" else np.uint8
    k = np.arange(1, steps + 1, dtype=np.int32)[None, :]

    def kernel_levels(rq: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """The kernel's levels at j (acc = the direction of A times j, clamped into the reach) of
        the planes whose rq fields are the rows of rq."""
        def levels_at(j: np.ndarray, rows: np.ndarray) -> np.ndarray:
            fields = np.ascontiguousarray(rq[rows])
            trial = ffi.new("r8_conv *", params[0])
            trial.rq = ffi.cast("float *", ffi.from_buffer(fields))
            count = -(-j.shape[1] // 16) * 16
            acc = np.zeros((rows.size, count), np.int32)
            acc[:, :j.shape[1]] = np.sign(fields[:, _A]).astype(np.int32)[:, None] * np.clip(j, -reach, reach)
            codes = np.empty(acc.shape, np.uint8)
            fused_codes(trial, ffi.cast("int *", ffi.from_buffer(acc)), rows.size, count,
                        ffi.cast("unsigned char *", ffi.from_buffer(codes)))
            return codes[:, :j.shape[1]].view(code_type).astype(np.int32) - fields[:, _OL].astype(np.int32)[:, None]
        return levels_at

    direction, ol = np.sign(table[:, _A]).astype(np.int32)[:, None], table[:, _OL].astype(np.int32)[:, None]

    def reference_levels(j: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The reference's levels at j of the planes rows (the post-ops run on every plane)."""
        every = np.zeros((n * oc, j.shape[1]), np.int32)
        every[rows] = j
        y = (direction * np.clip(every, -reach, reach)).astype(np.float32).reshape(n, oc, 1, -1)
        return (apply_post_ops(y, post_ops).reshape(n * oc, -1).astype(np.int32) - ol)[rows]

    a, b = table[:, _A].astype(np.float64), table[:, _B].astype(np.float64)
    with np.errstate(all="ignore"):
        estimate = np.ceil((k - 0.5 - b[:, None]) / np.abs(a)[:, None])
    t0 = np.clip(np.nan_to_num(estimate, nan=0.0), -reach, reach + 1).astype(np.int32)
    fused, fused_settled = _settle(kernel_levels(table), t0, k, reach)
    reference, settled = _settle(reference_levels, fused, k, reach)
    if not settled.all():
        return proven
    wrong = np.flatnonzero(~fused_settled | (fused != reference).any(axis=1))
    for d_a, d_b in _MOVES_AB:   # nearest first: most planes agree with the centred B alone
        if wrong.size == 0:
            break
        trial = table[wrong].copy()
        trial[:, _A] = _moved(trial[:, _A], d_a)
        trial[:, _B] = _moved(_centred_b(trial[:, _A], reference[wrong], k, reach), d_b)
        fused, settled = _settle(kernel_levels(trial), reference[wrong], k, reach)
        agree = settled & (fused == reference[wrong]).all(axis=1)
        table[wrong[agree]] = trial[agree]
        wrong = wrong[~agree]
    proven[:] = True
    proven[wrong] = False
    return proven
