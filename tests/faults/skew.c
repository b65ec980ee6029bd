/* A wrong wall clock for one process, as a counter whose clock is off has: the seconds
 * in the file named by TILLMESH_SKEW_FILE (e.g. "5400" or "-2700") are added to
 * CLOCK_REALTIME, re-read once a second, so the clock can be set wrong and put right
 * while the process runs, as NTP steps a clock. CLOCK_MONOTONIC is left alone, as it is
 * on a real machine: timers, waits and sleeps are untouched. Loaded with LD_PRELOAD. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long offset_ns;  /* read and written with __atomic: any thread may refresh */
static long long read_at = -1;  /* the real second it was last read in */

static int (*real_clock_gettime)(clockid_t, struct timespec *);

static void refresh(long long now_s) {
    if (__atomic_exchange_n(&read_at, now_s, __ATOMIC_RELAXED) == now_s)
        return;
    const char *path = getenv("TILLMESH_SKEW_FILE");
    FILE *f = path ? fopen(path, "r") : NULL;
    double seconds;
    if (f != NULL) {
        if (fscanf(f, "%lf", &seconds) == 1)
            __atomic_store_n(&offset_ns, (long long)(seconds * 1e9), __ATOMIC_RELAXED);
        fclose(f);
    }
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
    if (real_clock_gettime == NULL)
        real_clock_gettime = dlsym(RTLD_NEXT, "clock_gettime");
    int result = real_clock_gettime(clock, ts);
    if (result == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) {
        refresh(ts->tv_sec);
        long long ns = ts->tv_sec * 1000000000LL + ts->tv_nsec
                       + __atomic_load_n(&offset_ns, __ATOMIC_RELAXED);
        ts->tv_sec = ns / 1000000000LL;
        ts->tv_nsec = ns % 1000000000LL;
        if (ts->tv_nsec < 0) {
            ts->tv_nsec += 1000000000LL;
            ts->tv_sec -= 1;
        }
    }
    return result;
}

int gettimeofday(struct timeval *tv, void *tz) {
    (void)tz;
    struct timespec ts;
    int result = clock_gettime(CLOCK_REALTIME, &ts);
    if (result == 0 && tv != NULL) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return result;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out != NULL)
        *out = ts.tv_sec;
    return ts.tv_sec;
}
