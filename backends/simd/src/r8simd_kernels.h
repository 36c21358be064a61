/* refint8 simd backend: the kernels, written once over the primitives of r8simd_isa.h and
 * compiled once per ISA (the including file defines the ISA macro and SFX()).
 *
 * Int8Convolution ("pixel vectors"): a vector holds VL consecutive virtual output positions
 * v = oy*Wq + ox of one output channel (ox < Wq; the columns ox >= OW are computed and dropped),
 * so every kernel tap of every stride/dilation is one contiguous vector load from a phase plane
 * (see r8simd_api.h), and a vector of results is a run of one NCHW output row-major plane.
 * Register block: CONV_MR vectors x CONV_NR output channels; the reduction runs over every tap
 * and channel group, in integers, exactly (vdot); then float32(acc) and the post-ops, one IEEE
 * float32 operation each, in the order of refint8.int8.post_ops.
 *
 * The AVX-512 VNNI build adds a convolution with output channels across the lanes for small
 * planes (r8simd_conv_oc.h, included by r8simd_conv.h), on the same phase planes and epilogue.
 *
 * The kernels are in parts, one a layer kind or a stage of the convolution (r8simd_post.h ...
 * r8simd_pool.h, included at the end in the order they build on each other); AMX's tile kernels
 * are r8_amx.c's, over these.
 *
 * Int8MatMul ("feature vectors"): a vector holds VL consecutive output features of one row.
 */
#include <omp.h>

#if defined(R8_SSE42) || defined(R8_AVX2)
#define CONV_MR 2
#define CONV_NR 6
#define MM_MR 2
#define MM_NR 4
#else
#define CONV_MR 4
#define CONV_NR 6
#define MM_MR 4
#define MM_NR 4
#endif

#if defined(R8_VNNI) || defined(R8_AMX) || defined(R8_AMX_EMU) || defined(R8_PAIRS)
#define R8_MODE 0
#else
#define R8_MODE 1
#endif

#define R8_MIN(a, b) ((a) < (b) ? (a) : (b))
#define R8_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ceil(a / b) for b > 0 and any sign of a (C's division truncates toward zero). */
R8_INLINE int ceil_div(int a, int b) { return a >= 0 ? (a + b - 1) / b : a / b; }

/* The parts, in the order they build on each other (each included once, here). */
#include "r8simd_post.h"           /* post-ops, stores and loads of results */
#include "r8simd_conv_pack.h"      /* Int8Convolution: inputs into phase planes of cells */
#include "r8simd_conv_epilogue.h"  /* Int8Convolution: the general epilogue (and SSE4.2/AVX2's rq) */
#include "r8simd_rq.h"             /* Int8Convolution: the fused requantization (AVX-512) */
#include "r8simd_conv.h"           /* Int8Convolution: tiles, work items, r8_conv */
#include "r8simd_dw.h"             /* depthwise Int8Convolution, r8_dw */
#if defined(R8_VNNI) || defined(R8_AMX) || defined(R8_AMX_EMU)
#include "r8simd_dwb.h"            /* depthwise on byte planes, r8_dwb */
#include "r8simd_dwc.h"            /* depthwise on 4-channel cells, r8_dwc */
#endif
#include "r8simd_mm.h"             /* Int8MatMul, r8_mm */
#ifndef R8_PAIRS  /* the s16_pairs units only provide Int8Convolution and Int8MatMul */
#include "r8simd_elt.h"            /* elementwise layers, r8_elt */
#include "r8simd_pool.h"           /* pooling, r8_avgpool and r8_maxpool */
#endif
