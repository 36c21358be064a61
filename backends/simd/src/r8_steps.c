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

/* The wall clock is read once per boundary between steps (the end of one is the start of the
 * next: the loop's own few instructions count to the next step), in user space. The CPU clock is
 * a system call (0.57 us in a loop here): read once per step before session 11, it cost about
 * 50 us of a MobileNetV2 inference of 4.0 ms (69 steps; minima of 5 alternating runs of 400). It is read at the start and
 * the end of the run, and the run's CPU time is shared out over the timed steps by their wall
 * times (cumulative rounding: the shares add up exactly). With one thread a step's CPU time is its
 * wall time but for preemption; with several, the kernel folds the other threads' time into the
 * process clock at scheduler ticks, so a per-step reading was lumpy anyway. */
int r8_run_steps(r8_step *steps, int n, long long *ns) {
    const long long cpu_start = r8_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    const long long wall_start = r8_clock_ns(CLOCK_MONOTONIC);
    long long wall = wall_start;
    int done = n, timed = n;
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
        const long long wall_end = r8_clock_ns(CLOCK_MONOTONIC);
        ns[2 * i] = wall_end - wall;
        wall = wall_end;
        if (count) { done = i, timed = i + 1; break; }
    }
    const long long cpu = r8_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start, total = wall - wall_start;
    long long before = 0, share_before = 0;
    for (int i = 0; i < timed; i++) {
        before += ns[2 * i];
        const long long share = i == timed - 1 ? cpu
                              : total > 0 ? (long long)((double)cpu * (double)before / (double)total + 0.5) : 0;
        ns[2 * i + 1] = share - share_before;
        share_before = share;
    }
    return done;
}
