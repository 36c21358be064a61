/* ISA-independent kernels, compiled with the baseline flags: data movement (Concat, nearest
 * Interpolate) and the normalization step of Int8MVN. Copies are exact by construction; MVN's
 * arithmetic is the specification's (refint8/int8/mvn.py), one float64 operation at a time. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "r8simd_api.h"

int r8_team(int requested);

void r8_concat(const r8_concat_args *p, const void *const *in, void *out) {
    const int nt = r8_team(p->threads);
    long total = 0;
    for (int i = 0; i < p->ninputs; i++) total += p->block[i];
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && p->outer > 1)
    for (long o = 0; o < p->outer; o++) {
        uint8_t *dst = (uint8_t *)out + o * total;
        for (int i = 0; i < p->ninputs; i++) {
            memcpy(dst, (const uint8_t *)in[i] + o * p->block[i], (size_t)p->block[i]);
            dst += p->block[i];
        }
    }
}

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
