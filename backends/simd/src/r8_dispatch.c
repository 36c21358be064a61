/* CPU feature detection (baseline x86-64 code: safe to call on any machine). */
#include <cpuid.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/resource.h>
#include "r8simd_api.h"

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* bit 0: SSE4.2 (with SSE4.1/SSSE3), 1: AVX2 (+ OS AVX state), 2: AVX-512 F/BW/VL/DQ (+ OS zmm/opmask
 * state), 3: AVX-512 VNNI, 4: AMX-TILE + AMX-INT8 (+ OS tile state in XCR0; the per-process
 * permission is r8_amx_request), 5: AVX-512 VBMI (vpermb; with bit 2), 6: AVX-512 VBMI2 (vpexpandb;
 * with bit 2), 7: an AMD CPU (vendor AuthenticAMD; r8_conv.rq_interleave). */
unsigned r8_cpu_features(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    const int amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;   /* "Auth" "enti" "cAMD" */
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int sse42 = (c >> 20 & 1) && (c >> 19 & 1) && (c >> 9 & 1);
    int osxsave = c >> 27 & 1, avx = c >> 28 & 1;
    if (sse42) f |= 1u;
    uint64_t xcr0 = osxsave ? xgetbv0() : 0;
    unsigned max_leaf = __get_cpuid_max(0, 0);
    if (max_leaf < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    int ymm_os = (xcr0 & 0x6) == 0x6, zmm_os = (xcr0 & 0xE6) == 0xE6, tile_os = (xcr0 & 0x60000) == 0x60000;
    if (sse42 && avx && ymm_os && (b >> 5 & 1)) f |= 2u;
    if ((f & 2u) && zmm_os && (b >> 16 & 1) && (b >> 17 & 1) && (b >> 30 & 1) && (b >> 31 & 1)) f |= 4u;
    if ((f & 4u) && (c >> 11 & 1)) f |= 8u;
    if ((f & 8u) && tile_os && (d >> 24 & 1) && (d >> 25 & 1)) f |= 16u;
    if ((f & 4u) && (c >> 1 & 1)) f |= 32u;
    if ((f & 4u) && (c >> 6 & 1)) f |= 64u;
    if (amd) f |= 128u;
    return f;
}

/* Ask Linux for permission to use AMX tile data (once per process; idempotent). 0 on success. */
int r8_amx_request(void) {
    static int state = 1; /* 1: not asked yet */
    if (state == 1) state = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0 ? 0 : -1;
    return state;
}

int r8_max_threads(void) { return omp_get_num_procs(); }

/* The OpenMP team size for a layer: `requested`, unless other processes left too few CPUs free
 * for it. Every 100 ms (first caller past the deadline) the CPU time other processes used is
 * estimated as (busy time of the whole machine from /proc/stat) - (this process's CPU time); if it
 * exceeds (CPUs - requested) + 0.5 the layers run on one thread until it drops below that - 0.2.
 * A team whose second thread has no CPU of its own waits at every barrier for a time slice
 * (measured: MobileNetV2 on 2 threads next to one busy process took 2.2x the 1-thread time).
 * Results never depend on the team size. REFINT8_SIMD_ADAPTIVE=0 disables it. */
static double r8_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int r8_machine_busy(double *busy) {   /* busy CPU seconds of the machine since boot */
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 7) return 0;
    static long hz = 0;
    if (!hz) hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0) return 0;
    *busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)hz;   /* user nice system irq softirq steal */
    return 1;
}

static double r8_self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

int r8_team(int requested) {
    if (requested <= 1) return 1;
    static int enabled = -1, solo = 0, busy_flag = 0;
    static double last_t = 0, last_busy = 0, last_self = 0;
    if (enabled < 0) {
        const char *e = getenv("REFINT8_SIMD_ADAPTIVE");
        enabled = !(e && e[0] == '0');
    }
    if (!enabled) return requested;
    double now = r8_now();
    if (now - last_t >= 0.1 && !__atomic_exchange_n(&busy_flag, 1, __ATOMIC_ACQUIRE)) {
        double busy, self = r8_self_cpu();
        if (r8_machine_busy(&busy)) {
            if (last_t > 0) {
                double others = ((busy - last_busy) - (self - last_self)) / (now - last_t);
                double spare = (double)omp_get_num_procs() - requested;
                if (others > spare + 0.5) solo = 1;
                else if (others < spare + 0.3) solo = 0;
            }
            last_busy = busy;
            last_self = self;
        }
        last_t = now;
        __atomic_store_n(&busy_flag, 0, __ATOMIC_RELEASE);
    }
    return solo ? 1 : requested;
}
