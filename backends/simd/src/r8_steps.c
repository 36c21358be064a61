/* The sequence executor: a run of the plan's steps in one call from Python, so that a model's
 * layers follow each other without the interpreter between them (per step it cost 6-10 us with
 * its caches warm and 15-30 us with them cold, as they are after a convolution: 1.4 ms of a
 * ResNet-50 inference, 0.9 ms of a MobileNetV2 one). Each step is timed here with the clocks the
 * runtime's counters use. */
#include <time.h>

#include "r8simd_api.h"

typedef int (*r8_count_1)(const void *, const void *, void *);
typedef int (*r8_count_2)(const void *, const void *, const void *, void *);
typedef void (*r8_void_1)(const void *, const void *, void *);
typedef void (*r8_void_2)(const void *, const void *, const void *, void *);

static long long r8_clock_ns(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* One step's call, its kernel cast back to the type it was declared with (r8_step's fields). */
static int r8_call(const r8_step *s) {
    if (s->returns_count)
        return s->two_inputs ? ((r8_count_2)s->fn)(s->params, s->in0, s->in1, s->out)
                             : ((r8_count_1)s->fn)(s->params, s->in0, s->out);
    if (s->two_inputs) ((r8_void_2)s->fn)(s->params, s->in0, s->in1, s->out);
    else ((r8_void_1)s->fn)(s->params, s->in0, s->out);
    return 0;
}

/* The clocks are read once per boundary between steps (the end of one is the start of the next:
 * the loop's own few instructions count to the next step), since the CPU clock is a system call
 * (about 0.5 us here, where CLOCK_MONOTONIC is read in user space). */
int r8_run_steps(r8_step *steps, int n, long long *ns) {
    long long wall = r8_clock_ns(CLOCK_MONOTONIC), cpu = r8_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < n; i++) {
        r8_step *s = &steps[i];
        int count;
        if (s->consumer) {
            r8_conv *conv = (r8_conv *)s->params;
            conv->elt_other = s->in1;
            count = ((r8_count_1)s->fn)(s->params, s->in0, s->out);
            conv->elt_other = NULL;
        } else {
            count = r8_call(s);
        }
        const long long cpu_end = r8_clock_ns(CLOCK_PROCESS_CPUTIME_ID), wall_end = r8_clock_ns(CLOCK_MONOTONIC);
        ns[2 * i] = wall_end - wall, ns[2 * i + 1] = cpu_end - cpu;
        wall = wall_end, cpu = cpu_end;
        if (count) return i;
    }
    return n;
}
