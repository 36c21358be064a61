/* AMX variant: AMX-INT8 tiles for Int8Convolution; the AVX-512 VNNI code for everything else
 * (packing, window sums, epilogue, matmul).
 *
 * Tiles: C = [16 output channels][16 positions] int32 (a row of C is a run of one NCHW plane),
 * A = weights [16 output channels][kc channel groups x 4] s8 (packed at compile time),
 * B = input [kc channel groups][16 positions x 4 channels] u8: rows of the phase plane, loaded
 * in place (row stride = one channel-group plane). TDPBSUD (s8 A x u8 B) sums exactly in int32.
 * Blocking 2x2: 32 output channels x 32 positions, tmm0-3 accumulators, tmm4-5 A, tmm6-7 B.
 *
 * Compiled twice: with -mamx-tile -mamx-int8 (R8_AMX, the real instructions), and with
 * R8_AMX_EMU, where the tile instructions are C functions with the same semantics, so the tiling
 * and the layouts are testable on CPUs without AMX.
 */
#include <stdint.h>
#include <string.h>

#ifdef R8_AMX_EMU
#define SFX(x) x##_amx_emu
#else
#define R8_AMX 1
#define SFX(x) x##_amx
#endif

#include "r8simd_api.h"
#include "r8simd_isa.h"

#define R8_CUSTOM_CONV_COMPUTE 1
static int amx_conv_compute(const r8_conv *p, int n, void *out, int nt);
#define CONV_COMPUTE amx_conv_compute
#include "r8simd_kernels.h"

typedef struct {
    uint8_t palette_id;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) tile_config;

#ifdef R8_AMX_EMU
typedef struct { int rows, colsb; uint8_t d[16][64]; } emu_tile;
static __thread emu_tile emu_t[8];
static void emu_config(const tile_config *c) {
    for (int i = 0; i < 8; i++) { emu_t[i].rows = c->rows[i]; emu_t[i].colsb = c->colsb[i]; memset(emu_t[i].d, 0, sizeof emu_t[i].d); }
}
static void emu_load(int t, const void *p, long stride) {
    for (int r = 0; r < emu_t[t].rows; r++) memcpy(emu_t[t].d[r], (const uint8_t *)p + r * stride, emu_t[t].colsb);
}
static void emu_store(int t, void *p, long stride) {
    for (int r = 0; r < emu_t[t].rows; r++) memcpy((uint8_t *)p + r * stride, emu_t[t].d[r], emu_t[t].colsb);
}
static void emu_zero(int t) { memset(emu_t[t].d, 0, sizeof emu_t[t].d); }
/* TDPBSUD: C[m][n] += sum_k sum_i s8(A[m][4k+i]) * u8(B[k][4n+i]) */
static void emu_dpbsud(int c, int a, int b) {
    emu_tile *C = &emu_t[c], *A = &emu_t[a], *B = &emu_t[b];
    for (int m = 0; m < C->rows; m++)
        for (int n = 0; n < C->colsb / 4; n++) {
            int32_t s;
            memcpy(&s, &C->d[m][4 * n], 4);
            for (int k = 0; k < A->colsb / 4; k++)
                for (int i = 0; i < 4; i++) s += (int32_t)(int8_t)A->d[m][4 * k + i] * (int32_t)B->d[k][4 * n + i];
            memcpy(&C->d[m][4 * n], &s, 4);
        }
}
#define TILE_CONFIG(c) emu_config(c)
#define TILE_LOAD(t, p, s) emu_load(t, p, s)
#define TILE_STORE(t, p, s) emu_store(t, p, s)
#define TILE_ZERO(t) emu_zero(t)
#define TILE_DPBSUD(c, a, b) emu_dpbsud(c, a, b)
#define TILE_DPBUSD(c, a, b) emu_dpbsud(c, a, b)
#define TILE_RELEASE() ((void)0)
#else
/* gcc 12 does not treat ldtilecfg as reading its 64 bytes: without the barrier (which hands it
 * the address and says memory may be read) it drops the stores that fill a local configuration,
 * and ldtilecfg faults (#GP) on the rows and columns left unset. */
#define TILE_CONFIG(c) do { __asm__ volatile("" : : "r"(c) : "memory"); _tile_loadconfig(c); } while (0)
#define TILE_LOAD(t, p, s) _tile_loadd(t, p, s)
#define TILE_STORE(t, p, s) _tile_stored(t, p, s)
#define TILE_ZERO(t) _tile_zero(t)
#define TILE_DPBSUD(c, a, b) _tile_dpbsud(c, a, b)
#define TILE_DPBUSD(c, a, b) _tile_dpbusd(c, a, b)
#define TILE_RELEASE() _tile_release()
#endif

/* p->kc: channel groups per chunk (<= 16); p->ck is a multiple of it. Weights packed
 * [G][OCg/32][ntaps][ck/kc][32 oc][kc*4]. Position blocks of 2 vectors (p->nvec may be odd: the
 * planes have room for the extra vector, whose results are dropped). */
#define AMX_CHV 32   /* vectors per work item (16 position tiles of 2 vectors) */
static int amx_conv_compute(const r8_conv *p, int n, void *out, int nt) {
    const int kc = p->kc, nch = p->ck / kc;
    const long ppos = p->plane_pos;
    const int nob = (p->OCg + 31) / 32;
    const int nchunk = (p->nvec + AMX_CHV - 1) / AMX_CHV;
    const long items = (long)p->G * nob * nchunk;
    const long asz = 16L * kc * 4;
    int nan = 0;
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(+ : nan)
    {
        tile_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.palette_id = 1;
        for (int t = 0; t < 4; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
        for (int t = 4; t < 6; t++) { cfg.rows[t] = 16; cfg.colsb[t] = (uint16_t)(kc * 4); }
        for (int t = 6; t < 8; t++) { cfg.rows[t] = (uint8_t)kc; cfg.colsb[t] = 64; }
        TILE_CONFIG(&cfg);
        static __thread int32_t raw[32][AMX_CHV * 16] __attribute__((aligned(64)));
#pragma omp for schedule(static)
        for (long it = 0; it < items; it++) {
            const int chunk = (int)(it % nchunk);
            const long r = it / nchunk;
            const int ob = (int)(r % nob), g = (int)(r / nob);
            const int vb0 = chunk * AMX_CHV, nv = R8_MIN(AMX_CHV, p->nvec - vb0);
            const uint8_t *base = (const uint8_t *)p->scratch + (long)g * p->nphase * p->ck * ppos * 4;
            const int8_t *wblock = (const int8_t *)p->w + (long)(g * nob + ob) * p->ntaps * nch * 2 * asz;
            for (int pb = 0; pb < nv; pb += 2) {
                const long v0 = (long)(vb0 + pb) * VL;
                const int8_t *wa = wblock;
                TILE_ZERO(0); TILE_ZERO(1); TILE_ZERO(2); TILE_ZERO(3);
                for (int t = 0; t < p->ntaps; t++) {
                    const uint8_t *src = base + ((long)p->tap_phase[t] * p->ck * ppos + v0 + p->tap_off[t]) * 4;
                    for (int ch = 0; ch < nch; ch++) {
                        TILE_LOAD(6, src, ppos * 4);
                        TILE_LOAD(7, src + 64, ppos * 4);
                        TILE_LOAD(4, wa, kc * 4);
                        TILE_LOAD(5, wa + asz, kc * 4);
                        TILE_DPBSUD(0, 4, 6);
                        TILE_DPBSUD(1, 4, 7);
                        TILE_DPBSUD(2, 5, 6);
                        TILE_DPBSUD(3, 5, 7);
                        src += (long)kc * ppos * 4;
                        wa += 2 * asz;
                    }
                }
                const long stride = AMX_CHV * 16 * 4;  /* bytes between output-channel rows of raw */
                TILE_STORE(0, &raw[0][pb * 16], stride);
                TILE_STORE(1, &raw[0][pb * 16 + 16], stride);
                TILE_STORE(2, &raw[16][pb * 16], stride);
                TILE_STORE(3, &raw[16][pb * 16 + 16], stride);
            }
            const int ocs = R8_MIN(32, p->OCg - ob * 32);
            nan += SFX(conv_epilogue)(p, n, g, g * p->OCg + ob * 32, ocs, vb0, nv, raw[0], AMX_CHV * 16, 1, out);
        }
        TILE_RELEASE();
    }
    return nan;
}

#ifndef R8_AMX_EMU
/* Register-only limit: 2x2 tile blocking, TDPBUSD 16x16x64 (16384 MAC each). */
double r8_peak_amx(long iters) {
    if (r8_amx_request() != 0) return -1.0;
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    static uint8_t zero[1024] __attribute__((aligned(64)));
    TILE_CONFIG(&cfg);
    TILE_ZERO(0); TILE_ZERO(1); TILE_ZERO(2); TILE_ZERO(3);
    TILE_LOAD(4, zero, 64); TILE_LOAD(5, zero, 64); TILE_LOAD(6, zero, 64); TILE_LOAD(7, zero, 64);
    for (long i = 0; i < iters; i++) {
        TILE_DPBUSD(0, 4, 6);
        TILE_DPBUSD(1, 4, 7);
        TILE_DPBUSD(2, 5, 6);
        TILE_DPBUSD(3, 5, 7);
    }
    TILE_RELEASE();
    return (double)iters * 4 * 16384;
}
#endif
