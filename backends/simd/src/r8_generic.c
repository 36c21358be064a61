/* ISA-independent kernels, compiled with the baseline flags: data movement (Concat, nearest
 * Interpolate), Int8AvgPool, Relu on codes, and the normalization step of Int8MVN. Copies are exact
 * by construction; AvgPool's arithmetic is integer (refint8/int8/avg_pool.py) and MVN's the
 * specification's (refint8/int8/mvn.py), one float64 operation at a time. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#include "r8simd_api.h"

int r8_team(int requested);

/* Outer indices o0 .. o1 - 1 of a Concat, input by input: each input's block of every such index,
 * a block of 1, 2, 4, 8 or 16 bytes (an element or a few: a Concat along the last axis) as one
 * move of that size (a memcpy of a constant size), others by memcpy. A memcpy call per block of
 * a few bytes had the Concat of three 1000 x 1 columns of float32 take 1.6x NumPy's time. */
static void concat_outer(const r8_concat_args *p, const void *const *in, uint8_t *out, int64_t total,
                         long o0, long o1) {
    int64_t at = 0;   /* the input's offset in an outer index's output */
    for (int i = 0; i < p->ninputs; i++) {
        const int64_t b = p->block[i];
        const uint8_t *src = (const uint8_t *)in[i];
        uint8_t *dst = out + at;
        switch (b) {
#define CONCAT_FIXED(n) \
    case n: \
        for (long o = o0; o < o1; o++) memcpy(dst + o * total, src + o * (n), n); \
        break;
            CONCAT_FIXED(1) CONCAT_FIXED(2) CONCAT_FIXED(4) CONCAT_FIXED(8) CONCAT_FIXED(16)
#undef CONCAT_FIXED
        default:
            for (long o = o0; o < o1; o++) memcpy(dst + o * total, src + o * b, (size_t)b);
        }
        at += b;
    }
}

void r8_concat(const r8_concat_args *p, const void *const *in, void *out) {
    const int nt = r8_team(p->threads);
    int64_t total = 0;
    for (int i = 0; i < p->ninputs; i++) total += p->block[i];
#pragma omp parallel num_threads(nt) if (nt > 1 && p->outer > 1)
    {
        const long k = omp_get_num_threads(), t = omp_get_thread_num();
        concat_outer(p, in, (uint8_t *)out, total, p->outer * t / k, p->outer * (t + 1) / k);
    }
}

void r8_copy(const r8_copy_args *p, const void *in, void *out) { memcpy(out, in, (size_t)p->bytes); }

/* out[plane][oy][ox] = in[plane][row[oy]][col[ox]] for elements of `size` bytes (1 or 4). */
void r8_resize_nearest(const r8_resize_args *p, const void *in, void *out) {
    const int nt = r8_team(p->threads);
    const long ip = (long)p->H * p->W, op = (long)p->OH * p->OW;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && p->planes > 1)
    for (long pl = 0; pl < p->planes; pl++) {
        for (int oy = 0; oy < p->OH; oy++) {
            const long src = pl * ip + (long)p->row[oy] * p->W, dst = pl * op + (long)oy * p->OW;
            if (p->size == 1) {
                const uint8_t *s = (const uint8_t *)in + src;
                uint8_t *d = (uint8_t *)out + dst;
                for (int ox = 0; ox < p->OW; ox++) d[ox] = s[p->col[ox]];
            } else {
                const uint32_t *s = (const uint32_t *)in + src;
                uint32_t *d = (uint32_t *)out + dst;
                for (int ox = 0; ox < p->OW; ox++) d[ox] = s[p->col[ox]];
            }
        }
    }
}

/* Int8MVN before its post-ops, per group of n consecutive codes (refint8/int8/mvn.py):
 * S, Q exact in int64; mean = S / n; var = (n*Q - S*S) / (n*n); y = float32(d / sqrt(var + eps))
 * (inside), d / (sqrt(var) + eps) (outside), or d, with d = q - mean; all in float64. */
void r8_mvn_normalize(const r8_mvn_args *p, const void *in, float *y) {
    const int nt = r8_team(p->threads);
    const long n = p->n;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && p->groups > 1)
    for (long g = 0; g < p->groups; g++) {
        const uint8_t *u = (const uint8_t *)in + g * n;
        const int8_t *s8 = (const int8_t *)in + g * n;
        int64_t S = 0, Q = 0;
        for (long k = 0; k < n; k++) {
            const int64_t q = p->in_signed ? s8[k] : u[k];
            S += q;
            Q += q * q;
        }
        const double mean = (double)S / (double)n;
        double denom = 1.0;
        if (p->normalize) {
            const double var = (double)(n * Q - S * S) / ((double)n * (double)n);
            denom = p->inside ? sqrt(var + p->eps) : sqrt(var) + p->eps;
        }
        float *dst = y + g * n;
        for (long k = 0; k < n; k++) {
            const double d = (double)(p->in_signed ? s8[k] : u[k]) - mean;
            dst[k] = (float)(p->normalize ? d / denom : d);
        }
    }
}

/* Int8AvgPool (refint8/int8/avg_pool.py): per output, S = the window's codes inside the input
 * (int64) + extra[o] (the include-padding term), D = div[o]; out = S / D rounded half to even,
 * exactly (floor division, then the remainder decides). */
void r8_avgpool_codes(const r8_avgpool_codes_args *p, const void *in, void *out) {
    const int nt = r8_team(p->threads);
    const long ip = (long)p->H * p->W, op = (long)p->OH * p->OW;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && p->planes > 1)
    for (long pl = 0; pl < p->planes; pl++) {
        const uint8_t *u = (const uint8_t *)in + pl * ip;
        const int8_t *s8 = (const int8_t *)in + pl * ip;
        for (int oy = 0; oy < p->OH; oy++) {
            for (int ox = 0; ox < p->OW; ox++) {
                const long o = (long)oy * p->OW + ox;
                int64_t S = p->extra[o];
                for (int i = 0; i < p->kh; i++) {
                    const int y = oy * p->sy + i - p->pt;
                    if (y < 0 || y >= p->H) continue;
                    for (int j = 0; j < p->kw; j++) {
                        const int x = ox * p->sx + j - p->pl;
                        if (x >= 0 && x < p->W) S += p->in_signed ? s8[(long)y * p->W + x] : u[(long)y * p->W + x];
                    }
                }
                const int64_t D = p->div[o];
                int64_t k = S / D, r = S % D;          /* C truncates: make it floor division */
                if (r < 0) { k -= 1; r += D; }
                if (2 * r > D || (2 * r == D && (k & 1))) k += 1;
                if (p->in_signed) ((int8_t *)out)[pl * op + o] = (int8_t)k;
                else ((uint8_t *)out)[pl * op + o] = (uint8_t)k;
            }
        }
    }
}

/* Relu on u8/i8 codes: max(q, 0) (u8 codes are copied). */
void r8_relu_codes(long n, int in_signed, const void *in, void *out) {
    if (!in_signed) {
        memcpy(out, in, (size_t)n);
        return;
    }
    const int8_t *s = (const int8_t *)in;
    int8_t *d = (int8_t *)out;
    for (long i = 0; i < n; i++) d[i] = s[i] > 0 ? s[i] : 0;
}
