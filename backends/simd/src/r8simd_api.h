/* The C interface of refint8's simd backend (also the cffi cdef: plain declarations only).
 *
 * Python (refint8_backend_simd/_plan/) computes every layout, packs the weights and the
 * post-op tables once at compile time and fills these structs; the C kernels only run.
 */

/* A post-op operand: vector i of a block is the VL floats at
 * data + outer * s_outer + inner * s_inner + i * step. Convolution: outer = n*OC + oc, inner = the
 * first virtual position of the block; matmul: outer = row, inner = the block's first feature.
 * A value constant along the vector is stored replicated VL times (step 0), so every operand is
 * a plain vector load. */
typedef struct {
    const float *data;
    long s_outer;
    long s_inner;
    long step;
} r8_operand;

/* One post-op. type: 0 Multiply, 1 Add, 2 Subtract, 3 Relu, 4 Clamp, 5 FakeQuantize,
 * 6 Quantize (FakeQuantize then round-half-even, saturate; must be last), 7 Quantize onto an
 * integer grid (oh - ol == steps: the levels are the codes), 8 the same by the reciprocal
 * steps / (ih - il), with near-midpoint lanes recomputed by 7 (_plan/post_ops.py proves both exact).
 * a: Multiply/Add/Subtract a[0]; Clamp a[0] = low, a[1] = high;
 *    (Fake)Quantize a[0..6] = il, ih - il, ol, oh - ol, oh, min(il, ih), max(il, ih);
 *    type 8 has steps / (ih - il) in a[3].
 * The kernels' out_type: bits 0-1 the output (0 float32, 1 u8, 2 i8); bit 2: the last post-op
 * yields integers inside the code range (no round/clamp at the store); bit 3: no NaN can reach
 * the store (not counted). */
typedef struct {
    int type;
    float steps;
    r8_operand a[7];
} r8_post;

/* Elementwise int8 layers over an output viewed as [planes][plane] (planes = N*C of NCHW):
 * kind 0: y = float32(in0) (Dequantize; FakeQuantize with its ranges as a post-op);
 * kind 1: Int8Add: t = float32(in0) - h; t = t * r; y = t + float32(in1);
 * kind 2: Int8Multiply: t = float32(in0) - h; y = t * float32(in1);
 * then the post-ops. Input types: 0 f32, 1 u8, 2 i8, 3 i32. Operands as for the convolution
 * (outer = plane index, inner = element index in the plane). */
typedef struct {
    int kind;
    int in0_type;
    int in1_type;
    long planes;
    long plane;
    r8_operand h;
    r8_operand r;
    int npost;
    const r8_post *post;
    int out_type;
    int threads;
    /* The requantization chain on codes (r8simd_elt.h elt_rq) or NULL: set by
     * _plan/elementwise.py where both inputs are u8/i8 codes, h and r are constant over each plane,
     * and the post-ops are exactly Multiply, reciprocal Quantize (type 8) with such operands, codes
     * in range, never NaN: rq[plane*16 + k] holds h (0), r (1), the Multiply operand (2), il (3),
     * m (4), ol (5), and for the exact recomputation ih - il (6), oh (7), lo (8), hi (9); the
     * folded chain (elt_rq_folded) A (10), B (11), C (12) and its near-midpoint limit (13; <= 0:
     * not folded); 1 in 14 where the folded chain with ol 0 may leave its clamp to the stores'
     * saturation (256 levels, |a*A + b*B + C| below 2^30 for all codes: elt_rq_folded_levels);
     * 1 in 15 where the folded chain, with no near-midpoint check, gives the reference's code for
     * every pair of input codes (one plane, checked on all of them: _plan/exhaustive.py). */
    const float *rq;
    /* 1: a FakeQuantize of float32 onto codes (kind 0, in0 f32, one plane, the one post-op a
     * reciprocal Quantize (type 8) of single values, out_type u8/i8 with bit 2): elt_quantize_f32,
     * its arithmetic post_group_ case 8's without the post-op interpreter (set by
     * _plan/elementwise.py; AVX-512 builds). */
    int quantize_f32;
} r8_elt;

/* Int8Convolution. mode 0 (VNNI/AMX): the input is packed as u8 codes (i8 codes + 128) with the
 * zero point as padding, raw = sum q'*w, acc = raw + comp[oc] - zw[oc]*window_sum.
 * mode 1 (exact s16, SSE4.2/AVX2/AVX-512): the input is packed as s16 (q - za), padding 0, the
 * weights as s16 (w - zw), acc = raw + comp[oc] (comp = 0).
 * Input layout (scratch): [G][nphase][ck][plane_pos][4 bytes] where one 4-byte cell holds 4 u8
 * channels (mode 0) or 2 s16 channels (mode 1) of one position of a phase plane: the padded input
 * rows y = ry + sy*yq and columns x = rx + sx*xq at position yq*Wq + xq. A tap (ky, kx) reads
 * plane phase (ky*dy % sy, kx*dx % sx) at virtual position v + tap_off (v = oy*Wq + ox).
 * Where threads pack their own positions (r8simd_conv_pack.h conv_planes_are_image, CONV_COMPUTE_PACKING),
 * thread t's positions v0 .. v1 - 1 are planes of their own: [ck][v1 - v0][4 bytes] from cell ck*v0. */
typedef struct {
    int N, C, H, W;
    int OC, OH, OW;
    int G, Cg, OCg;
    int in_signed;
    int mode;
    int pt, pl, sy, sx;
    int Wq;
    int nphase;
    const int *phase_ry;
    const int *phase_rx;
    int ck;
    /* 0, or the cells a position as packed where the kernel reads them one at a time (ck 1): the
     * planes [G][nphase/pack_ck][pack_ck][plane_pos] are read as [G][nphase][1][plane_pos], the
     * kernel's phase ph*pack_ck + c being cell c of packed phase ph (phase_ry/rx index the packed
     * phases). Mode 1 only, where the last cell holds one channel (Cg odd; the plan sets it for Cg
     * 3, an RGB input, whose padding zero took a quarter of the products): that cell at position u
     * then holds the channel's values at u and u + 1 (conv_pair_lone), so one cell takes two taps
     * of one phase at plane offsets off and off + 1 (_plan/convolution.py _lone_pairs). */
    int pack_ck;
    long plane_pos;
    int ntaps;
    const int *tap_phase;
    const int *tap_off;
    int nvec;
    long nvpad;
    const unsigned *vmask;
    const int *vstart;
    int nr;
    int kc;
    const void *w;
    const int *comp;
    const int *zw;
    const void *ones;
    const int *pad;
    const void *perm;   /* r8_dwb, r8_dwc: the 64 byte indices of their vpermb (r8simd_dwb.h, r8simd_dwc.h) */
    const unsigned long long *pack_mask;   /* r8_dwb at stride 1 with VBMI2: per 64-byte block of
                                              the plane, the bytes that hold input codes; r8_dwc:
                                              per 64-byte block of its padded cell plane, the cells
                                              that are input cells (bits 0-15) */
    int npost;
    const r8_post *post;
    int out_type;
    int threads;
    void *scratch;   /* set for each call: the calling thread's shared buffer (_plan/common.py scratch_pointer) */
    int *wsum;
    /* An elementwise consumer fused into the epilogue (NULL: none; the runtime's fusion contract):
     * the codes this convolution would store (its post-ops, then round and saturate to its
     * out_type) are the consumer's input elt_input (0 or 1), its other input is elt_other (u8/i8,
     * the output's NCHW shape), and elt's step, post-ops and out_type give what is stored in out.
     * elt's operands are in this convolution's coordinates (outer n*OC + oc, inner the virtual
     * position). With rq set, elt is instead the consumer's own struct with its requantization
     * (elt->rq, 1 or N*OC planes): the requantizing kernels of avx512 and avx512_vnni store this
     * convolution's codes, then run the consumer's requantizing step on them in place
     * (r8simd_elt.h rq_consume). */
    const r8_elt *elt;
    int elt_input;
    const void *elt_other;
    /* The interleaved requantization (r8simd_conv.h conv_compute_rq; on AMX r8_amx.c
     * amx_rq_channels, between the next block's tile steps; on SSE4.2 and AVX2 rq_epilogue, in
     * the epilogue, acc*A + B without an FMA) or NULL. Set by
     * _plan/convolution.py only where the post-ops are exactly Multiply, Add, Quantize (type 8)
     * with operands constant over each output plane, the results are codes in range that cannot be
     * NaN (out_type bits 2 and 3), and there are no weight zero points:
     * rq[(n*OC + oc)*11 + k] holds that plane's Multiply operand (k 0), Add operand (1), il (2),
     * ol (3), and for the exact recomputation ih - il (4), oh (5), lo (6), hi (7), the values of
     * the post-op tables; then the fused chain's A (8) and B (9), and ol as an int32 (10, its
     * bits in the float slot) for the addition to the codes: rq_vector
     * takes rint(min(steps, max(0, fma(acc, A, B)))) as the code where its distance from a
     * midpoint leaves room for the chain's and its own rounding errors (rq_near_limit below;
     * _plan/fused_requantization.py). With a fused consumer (elt) it stays set only where the
     * consumer requantizes too (its step then runs in place, rq_consume); otherwise it is NULL and
     * the pair runs the general epilogue. */
    const float *rq;
    float rq_near_limit;   /* a lane whose fused value lies at least this far from its integer (a
                          midpoint's neighbourhood) is recomputed op by op (rq_vector_exact) */
    int rq_ol_zero;    /* every rq ol (k 3) is 0: the code is stored as it is */
    int rq_ol_flip;    /* not rq_ol_zero, every ol is -128 (i8 codes): the AMX kernel's rq_vector
                          stores the code's byte with its top bit flipped instead of adding ol */
    int rq_saturate;   /* the rq steps are 255 and every fma(acc, A, B) the layer can reach lies below
                          2^30: with rq_ol_zero or rq_ol_flip, AMX's whole blocks and the VNNI
                          position kernel's whole tiles of 1x1 layers leave the clamp to 0 .. 255 to
                          their saturating packs (r8simd_rq.h rq_level, rq_store_levels) */
    /* Per plane (n*OC + oc), nonzero where the fused chain gives the reference's code for every
     * accumulator the layer can reach (_plan/threshold_proof.py, which runs it through
     * r8_rq_fused_codes), or NULL: the direct tiles of a block of such planes and the AVX-512
     * depthwise kernels' channels (r8_dwb, r8_dw's rq_channel) leave out the near-midpoint check
     * (its gaps, their maximum, the compare, the raw sums kept for it). */
    const unsigned char *rq_proven;
    /* With rq: each plane's A, B and ol (rq's k 8, 9, 10) again, field by field, [3][N*OC]
     * (rq_columns + k*N*OC + n*OC + oc): the requantization of the position kernel's tail with
     * the output channels across the lanes (r8simd_conv.h tail_rq). */
    const float *rq_columns;
    int rq_interleave; /* conv_compute_rq: 1, a tile's requantization runs between the next tile's
                          input-channel steps (conv_rq_item; AMD: the float operations issue beside
                          vpdpbusd); 0, from its accumulators in registers once its dot products
                          are done (conv_direct_item; Intel: vpdpbusd takes the same two ports) */
    /* The last virtual vector computed output channels across the lanes (conv_tail; 0: no tail)
     * where only tail_n <= VL/4 of its lanes are valid (e.g. 1 of 16 on a 7x7 plane): the tiles
     * cover nvec - 1 vectors, and the tail's positions tail_pos[tail_n] (virtual) meet the tiles'
     * weights w with the channels across the lanes, their input cells laid out in the scratch
     * after the phase planes. Set by _plan/convolution.py for the general kernels without weight
     * zero points (not AMX). */
    int tail_n;
    const int *tail_pos;
    int *tail_at;       /* NULL, or where conv_tail_inputs writes the tail's rows instead of the scratch
                           after the phase planes: the scratch itself, where the planes are the
                           input's cells (r8simd_conv.h conv_on_cells; set on its copy of the struct) */
    /* The kernel with output channels across the lanes (r8simd_conv_oc.h; AVX-512 VNNI, with rq
     * only) or NULL: its weights [G][nob][ntaps][ck][64][4 bytes] and the virtual position of each
     * output position oy*OW + ox. Where it is set, w (the position kernel's layout) is NULL. */
    const void *w_oc;
    const int *oc_vpos;
    /* Where the channel-lane kernel leaves out taps that read only padding (NULL: every tile runs
     * every tap; r8simd_conv_oc.h oc_chunk_tiles): for output row oy the kernel rows ky whose input
     * row is real, oc_tap_rows[oy] = first | end << 16; the same of kx for each run of output
     * columns that share it, oc_col_runs[3k .. 3k + 2] = first column, end column,
     * first | end << 16 (k < oc_ncol_runs); and each tap's products with the padding cells,
     * oc_pad_sums[t*OC + oc] (NULL: every padding code is 0), which a tile that leaves tap t out
     * adds to comp[oc] in their place: the sums are the same integers. */
    const int *oc_tap_rows;
    const int *oc_col_runs;
    int oc_ncol_runs;
    const int *oc_pad_sums;
    /* AMX with one group of at most 4 input channels, horizontal dilation 1 and no weight zero
     * points (r8_amx.c amx_conv_compute_im2col; 0: the phase planes): the input packed chunk by
     * chunk of 512 positions, in each thread's part of the scratch, as rows of the unfolded
     * windows, row r = (c*kh + ky)*ceil(kw/4) + gx holding for each output position (virtual
     * v = oy*OW + ox, Wq = OW) the 4 codes of input channel c, row oy*sy + ky*dy - pt, columns
     * ox*sx + 4*gx - pl + 0..3 (pad[c] outside the input): one tap (ntaps 1, nphase 1) of ck rows
     * (the rows past Cg*kh*ceil(kw/4) are left as they are: their weights are 0), so each tile
     * product sums up to 64 of the window's products instead of 4. */
    int im2col;
    int kh, kw, dy;
    /* The first pf_next_bytes of the weights the sequence's next step with weights reads first
     * (_plan/sequence.py), or NULL: on one thread the requantizing avx512_vnni kernels (channel
     * lanes, positions with the requantization after each tile) prefetch them into L2 over their
     * last items, so that the next layer does not start on weights in L3 or memory. */
    const char *pf_next;
    long pf_next_bytes;
    /* Activations in 4-channel cells between two steps of a sequence (_plan/layout.py), 0: NCHW.
     * in_cells: the input is [N][C/4][in_cells][4 bytes], cell (c4, y*W + x) holding the u8 codes
     * of channels 4*c4 .. 4*c4 + 3 at (y, x): a 1x1 layer at stride 1 without padding whose
     * plane_pos is in_cells reads it as its phase planes, any other layer packs its planes from it
     * (r8simd_conv_pack.h conv_pack_cells; r8_dwc its padded cell planes, r8simd_dwc.h dwc_pack).
     * out_cells: the codes (u8 or i8) are stored so, out_cells positions a cell plane (AMX's
     * requantizing blocks: r8_amx.c amx_rq_cell_channels; avx512_vnni's channel-lane kernel:
     * r8simd_conv_oc.h oc_requantize_cells; r8_dwc, whose vectors are 4 cells). With a fused requantizing
     * consumer (elt with elt->rq, one row; the position kernel) out_cells is the consumer's output
     * instead: the convolution stores its codes in elt_codes, a ring of 12 planes of float32 codes
     * for each thread (a buffer of the sequence; r8simd_conv.h conv_plane_codes, RQ_RING), and the consumer's step reads
     * them there with its other input (in cells of elt_other_cells positions a plane, or NCHW
     * where 0) and stores its codes as cells (rq_consume_cells). */
    long in_cells;
    long out_cells;
    void *elt_codes;
    long elt_other_cells;
    /* r8_dwc (r8simd_dwc.h): each item's padded cell plane (rows of pl + W + pr cells) in
     * dwc_bytes of the scratch (whole cache lines, room for the loads past its end; two a thread);
     * its dwc_nvec vectors of up to 4 output positions, dwc_vec[3v .. 3v + 2] = vector v's input
     * byte in the plane, its first output position, its count of positions. */
    long dwc_bytes;
    int dwc_nvec;
    const int *dwc_vec;
} r8_conv;

/* Int8MatMul: rows [M][K] of codes, weights packed [N/nbw][kk][nbw][4 bytes] (nbw = nr * VL),
 * mode as for the convolution (mode 0 adds comp[n] - zw[n]*rowsum[m]). */
typedef struct {
    int M, K, N;
    int in_signed;
    int mode;
    int za;
    int kk;
    int nr;
    long npad;
    const void *w;
    const int *comp;
    const int *zw;
    int npost;
    const r8_post *post;
    int out_type;
    int threads;
    void *scratch;
    int *rowsum;
} r8_mm;

/* MaxPool on u8/i8 codes (the maximum of the real elements of each window; padding never wins;
 * a window wholly in the padding gives the lowest code). scratch: a padded plane per thread. */
typedef struct {
    int in_signed;
    int planes;
    int H, W, OH, OW;
    int kh, kw, sy, sx, pt, pl;
    int Hp, Wp;
    int threads;
    void *scratch;
} r8_pool;

/* AvgPool on float32 (refint8.ops.avg_pool): per output, the float64 sum of the window's input
 * elements in tap order (row-major over the kernel, from +0.0), divided by div[oy*OW + ox]
 * (float64, the reference's divisor table), rounded once to float32. */
typedef struct {
    long planes;
    int H, W, OH, OW;
    int kh, kw, sy, sx, pt, pl;
    const double *div;
    int threads;
} r8_avgpool;

/* ISA-independent kernels (r8_generic.c). Concat: per outer index (the product of the dimensions
 * before the axis), each input's contiguous block of block[i] bytes, in input order. */
typedef struct {
    long outer;
    int ninputs;
    const long long *block;
    int threads;
} r8_concat_args;

/* Nearest Interpolate over the last two axes of [planes][H][W]: out[p][oy][ox] =
 * in[p][row[oy]][col[ox]], elements of size 1 or 4 bytes. */
typedef struct {
    long planes;
    int H, W, OH, OW;
    const int *row;
    const int *col;
    int size;
    int threads;
} r8_resize_args;

/* Int8MVN's normalization over groups of n consecutive u8/i8 codes, into float32 (its post-ops run
 * after it, as an elementwise kernel). inside: eps inside the square root. */
typedef struct {
    long groups;
    long n;
    int in_signed;
    int normalize;
    int inside;
    double eps;
    int threads;
} r8_mvn_args;

/* Int8AvgPool on [planes][H][W] codes: per output o = oy*OW + ox, the window's codes inside the
 * input plus extra[o] (the include-padding term), divided by div[o] with exact rounding half to
 * even (both tables from the specification's own counts, _plan/pooling.py). */
typedef struct {
    long planes;
    int H, W, OH, OW;
    int kh, kw, sy, sx, pt, pl;
    int in_signed;
    const long long *div;
    const long long *extra;
    int threads;
} r8_avgpool_codes_args;

/* Reshape, Squeeze, Unsqueeze inside a sequence: the same bytes under the output's shape. */
typedef struct {
    long long bytes;
} r8_copy_args;

void r8_concat(const r8_concat_args *p, const void *const *in, void *out);
void r8_copy(const r8_copy_args *p, const void *in, void *out);
void r8_avgpool_codes(const r8_avgpool_codes_args *p, const void *in, void *out);
void r8_relu_codes(long n, int in_signed, const void *in, void *out);
void r8_resize_nearest(const r8_resize_args *p, const void *in, void *out);
void r8_mvn_normalize(const r8_mvn_args *p, const void *in, float *y);

/* One step of a sequence the backend runs in one call (r8_run_steps; _plan/sequence.py builds
 * them): a kernel of this header called as fn(params, in0, out), or fn(params, in0, in1, out) with
 * two_inputs; returns_count: it returns the count of NaNs that reached a quantizing FakeQuantize
 * (int), else void; consumer: an r8_conv with a fused consumer, whose other input in1 goes into
 * params->elt_other for the call. */
typedef struct {
    void *fn;
    void *params;
    const void *in0;
    const void *in1;
    void *out;
    int returns_count;
    int two_inputs;
    int consumer;
} r8_step;

/* Run steps[0 .. n) in order, each timed: ns[2i] its wall time (CLOCK_MONOTONIC, Python's
 * perf_counter_ns) and ns[2i + 1] its share of the run's CPU time (CLOCK_PROCESS_CPUTIME_ID,
 * process_time_ns, read at the start and the end of the run only), in proportion to its wall
 * time; the shares add up to the run's CPU time exactly. Stops after a step that returned a
 * nonzero count: returns its index, or n when all ran. */
int r8_run_steps(r8_step *steps, int n, long long *ns);

unsigned r8_cpu_features(void);
int r8_amx_request(void);
int r8_max_threads(void);
int r8_team(int requested);

int r8_conv_sse42(const r8_conv *p, const void *in, void *out);
int r8_conv_avx2(const r8_conv *p, const void *in, void *out);
int r8_conv_avx512(const r8_conv *p, const void *in, void *out);
int r8_conv_avx512_vnni(const r8_conv *p, const void *in, void *out);
int r8_conv_amx(const r8_conv *p, const void *in, void *out);
int r8_conv_amx_emu(const r8_conv *p, const void *in, void *out);

int r8_dw_sse42(const r8_conv *p, const void *in, void *out);
int r8_dw_avx2(const r8_conv *p, const void *in, void *out);
int r8_dw_avx512(const r8_conv *p, const void *in, void *out);
int r8_dw_avx512_vnni(const r8_conv *p, const void *in, void *out);
int r8_dw_amx(const r8_conv *p, const void *in, void *out);
int r8_dw_amx_emu(const r8_conv *p, const void *in, void *out);

/* The codes the AVX-512 kernels' fused requantization of p (r8_conv.rq, without its near-midpoint
 * check: rq_vector unchecked) stores for accumulators acc[r*count + i] of plane row r (rows rows,
 * count a multiple of 16), into codes[r*count + i] (u8 or i8 bytes): what _plan/threshold_proof.py
 * compares with the reference. */
void r8_rq_fused_codes_avx512(const r8_conv *p, const int *acc, int rows, long count, unsigned char *codes);
void r8_rq_fused_codes_avx512_vnni(const r8_conv *p, const int *acc, int rows, long count, unsigned char *codes);
void r8_rq_fused_codes_amx(const r8_conv *p, const int *acc, int rows, long count, unsigned char *codes);
void r8_rq_fused_codes_amx_emu(const r8_conv *p, const int *acc, int rows, long count, unsigned char *codes);

/* Depthwise Int8Convolution on byte planes (AVX-512 VNNI + VBMI; r8simd_dwb.h r8_dwb). */
int r8_dwb_avx512_vnni(const r8_conv *p, const void *in, void *out);
int r8_dwb_amx(const r8_conv *p, const void *in, void *out);
int r8_dwb_amx_emu(const r8_conv *p, const void *in, void *out);
/* Depthwise Int8Convolution on 4-channel cells (AVX-512 VNNI + VBMI; r8simd_dwc.h r8_dwc). */
int r8_dwc_avx512_vnni(const r8_conv *p, const void *in, void *out);
int r8_dwc_amx(const r8_conv *p, const void *in, void *out);
int r8_dwc_amx_emu(const r8_conv *p, const void *in, void *out);

int r8_conv_sse42_pairs(const r8_conv *p, const void *in, void *out);
int r8_conv_avx2_pairs(const r8_conv *p, const void *in, void *out);
int r8_conv_avx512_pairs(const r8_conv *p, const void *in, void *out);
int r8_mm_sse42_pairs(const r8_mm *p, const void *in, void *out);
int r8_mm_avx2_pairs(const r8_mm *p, const void *in, void *out);
int r8_mm_avx512_pairs(const r8_mm *p, const void *in, void *out);

int r8_mm_sse42(const r8_mm *p, const void *in, void *out);
int r8_mm_avx2(const r8_mm *p, const void *in, void *out);
int r8_mm_avx512(const r8_mm *p, const void *in, void *out);
int r8_mm_avx512_vnni(const r8_mm *p, const void *in, void *out);
int r8_mm_amx(const r8_mm *p, const void *in, void *out);
int r8_mm_amx_emu(const r8_mm *p, const void *in, void *out);

int r8_elt_sse42(const r8_elt *p, const void *in0, const void *in1, void *out);
int r8_elt_avx2(const r8_elt *p, const void *in0, const void *in1, void *out);
int r8_elt_avx512(const r8_elt *p, const void *in0, const void *in1, void *out);
int r8_elt_avx512_vnni(const r8_elt *p, const void *in0, const void *in1, void *out);
int r8_elt_amx(const r8_elt *p, const void *in0, const void *in1, void *out);
int r8_elt_amx_emu(const r8_elt *p, const void *in0, const void *in1, void *out);

void r8_avgpool_sse42(const r8_avgpool *p, const float *in, float *out);
void r8_avgpool_avx2(const r8_avgpool *p, const float *in, float *out);
void r8_avgpool_avx512(const r8_avgpool *p, const float *in, float *out);
void r8_avgpool_avx512_vnni(const r8_avgpool *p, const float *in, float *out);
void r8_avgpool_amx(const r8_avgpool *p, const float *in, float *out);
void r8_avgpool_amx_emu(const r8_avgpool *p, const float *in, float *out);

void r8_maxpool_sse42(const r8_pool *p, const void *in, void *out);
void r8_maxpool_avx2(const r8_pool *p, const void *in, void *out);
void r8_maxpool_avx512(const r8_pool *p, const void *in, void *out);
void r8_maxpool_avx512_vnni(const r8_pool *p, const void *in, void *out);
void r8_maxpool_amx(const r8_pool *p, const void *in, void *out);
void r8_maxpool_amx_emu(const r8_pool *p, const void *in, void *out);

double r8_peak_sse42(long iters);
double r8_peak_avx2(long iters);
double r8_peak_avx512(long iters);
double r8_peak_avx512_vnni(long iters);
double r8_peak_amx(long iters);
/* The AMX convolution's tile step in a loop (4 tile loads, 4 products, 2x2 blocking: r8_amx.c
 * amx_block) with the weights streaming through a_bytes and the input rows (16 rows 4 KB apart)
 * b_offset bytes past a 64-byte line: the number of products (MAC), -1 without AMX. */
double r8_amx_tile_steps(long steps, long a_bytes, int b_offset);
/* The AMX convolution's block on the tile unit alone (r8_amx.c amx_block without its
 * requantization): its 4 accumulator tiles loaded from compensation rows, `steps` tile steps with
 * the operands in L1, and with `store` the 4 accumulators stored to one of two alternating 4 KB
 * buffers: the number of products (MAC) of `blocks` blocks, -1 without AMX. */
double r8_amx_tile_blocks(long blocks, int steps, int store);
