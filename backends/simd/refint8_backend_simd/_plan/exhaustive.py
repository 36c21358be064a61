"""Proof by exhaustion that a requantizing Int8Add's folded chain needs no near-midpoint check.

An Int8Add whose operands and post-op operands are single values (``r8_elt.planes`` 1) computes
the same function of every pair of input codes: 256 x 256 pairs. The kernels run it as the folded
chain (r8simd_elt.h ``elt_rq_folded``: ``rint(a*A + (b*B + C))``, two fused multiply-adds),
which lies within a bound of the reference's operations (``fold_fields``): each lane's distance to
a level midpoint is checked and a near lane recomputed op by op (a ``vreduceps`` a vector, a
``vrangeps`` chain and a compare a group of 4: a quarter of the operations of ResNet's residual
adds). Here the kernel itself, in its mode without that check (``RQ_VERIFIED``, r8_elt.rq field
15), runs on all 65536 pairs, and its codes are compared with the reference's Int8Add
(refint8.int8) on the same pairs. Where all agree the field is set and the kernels leave the
check out. Where some disagree (a pair whose exact value lies within the chain's rounding of a
midpoint: ResNet-50's quantized adds have 0 to 2 such pairs each), A, B and C are moved by a few
float32 steps, in a fixed order (:func:`_nearby`), and tried again; the first constants that agree
on every pair are kept with the field set, else the checked chain and its constants stay. Either
way the kernel's codes are the reference's on every input: the inputs are all the ones there are.
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np

from refint8.errors import InputError
from refint8.int8 import INT8_OPS

#: r8_elt.rq fields (r8simd_api.h): A, B, C of the folded chain, its limit (> 0: folded), and
#: the field that leaves the check out
_A, _B, _C, _LIMIT, _VERIFIED = 10, 11, 12, 13, 15
#: the kernel's input types (r8_elt.in0_type / in1_type) and their codes
_CODES = {1: np.arange(256, dtype=np.uint8), 2: np.arange(-128, 128).astype(np.int8)}
#: how many moves of C (each way) and of A and B the search tries
_C_STEPS, _AB_STEPS = 48, 2


def _nearby(a: np.float32, b: np.float32, c: np.float32) -> Iterator[tuple[np.float32, np.float32, np.float32]]:
    """A, B, C moved by whole float32 steps: C by 0, +1, -1, +2, ... up to _C_STEPS, each with A
    and B by up to _AB_STEPS either way (nearest first), the unmoved constants first."""
    def moved(x: np.float32, most: int) -> list[np.float32]:
        """x, then x one step up, one down, two up, ... up to ``most`` steps."""
        up, down, out = x, x, [x]
        for _ in range(most):
            up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(-np.inf))
            out += [up, down]
        return out

    a_moved, b_moved = moved(a, _AB_STEPS), moved(b, _AB_STEPS)
    for c_moved in moved(c, _C_STEPS):
        for a_try in a_moved:
            for b_try in b_moved:
                yield a_try, b_try, c_moved


def prove_without_check(ffi: Any, function: Any, params: Any, table: np.ndarray, node: Any) -> bool:
    """Set ``table``'s field 15 (one row, r8_elt.rq of ``params``) where the kernel ``function``
    without the check gives the reference's codes of ``node`` (an Int8Add) on every pair of input
    codes, with the table's A, B, C or the first nearby ones that do (written into the row).
    Returns whether it did; a step of several planes, another kind, or one without a folded chain
    is left as it is."""
    if params.kind != 1 or params.planes != 1 or table[0, _LIMIT] <= 0:
        return False
    full, empty = np.meshgrid(_CODES[params.in0_type], _CODES[params.in1_type], indexing="ij")
    full, empty = full.reshape(1, 1, 256, 256), empty.reshape(1, 1, 256, 256)
    try:
        (reference,) = INT8_OPS[node.type].compute(node.attrs, full, empty)
    except InputError:   # (a NaN on some pair: the kernels' own check reports it where it occurs)
        return False
    trial = ffi.new("r8_elt *", params[0])
    trial.planes, trial.plane, trial.threads = 1, full.size, 1
    row = table[0].copy()
    row[_VERIFIED] = 1
    trial.rq = ffi.cast("float *", ffi.from_buffer(row))
    out = np.empty(full.shape, reference.dtype)
    args = (ffi.from_buffer(full), ffi.from_buffer(empty), ffi.from_buffer(out))
    for a, b, c in _nearby(row[_A], row[_B], row[_C]):
        row[_A], row[_B], row[_C] = a, b, c
        if function(trial, *args) == 0 and np.array_equal(out, reference):
            table[0] = row
            return True
    return False
