/*
 * common.h - error codes, small helpers and time functions used everywhere.
 *
 * Errors are negative integers generated from one X-macro table (the libuv
 * way) together with their strings: SL_OK is 0, every SL_E* is < 0, and
 * sl_err2str() names any of them.
 */
#ifndef SL_COMMON_H
#define SL_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define SL_ERR_MAP(XX)                                                                             \
    XX(NOMEM, "out of memory")                                                                     \
    XX(INVAL, "invalid argument")                                                                  \
    XX(AGAIN, "resource temporarily unavailable (try again)")                                      \
    XX(IO, "input/output error")                                                                   \
    XX(PARSE, "parse error")                                                                       \
    XX(CORRUPT, "data is corrupt")                                                                 \
    XX(VERSION, "unsupported format version")                                                      \
    XX(TIMEOUT, "timed out")                                                                       \
    XX(NOTFOUND, "not found")                                                                      \
    XX(KAFKA, "kafka error")                                                                       \
    XX(STOPPED, "stopped")                                                                         \
    XX(RANGE, "value out of range")

typedef enum sl_err {
    SL_OK = 0,
#define SL__ERR_ENUM(name, str) SL_E##name,
    SL__ERR_FIRST = -100,
    SL_ERR_MAP(SL__ERR_ENUM)
#undef SL__ERR_ENUM
} sl_err;

/* Returns a static string naming `err` (0 or any SL_E*). Never NULL. */
const char *sl_err2str(int err);

#define SL_LIKELY(x)    __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x)  __builtin_expect(!!(x), 0)
#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SL_CACHE_LINE   64

/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t sl_wall_ms(void);
/* Monotonic nanoseconds, for durations and rates. */
int64_t sl_mono_ns(void);
/* Sleeps `us` microseconds (EINTR tolerant). */
void sl_sleep_us(int64_t us);

/* Waits on `cv` (with `mu` held) for at most `ms` milliseconds; spurious
 * and timed-out wakeups both simply return. Declared with void pointers to
 * keep pthread.h out of this header: pass pthread_cond_t * and
 * pthread_mutex_t *. */
void sl_cond_wait_ms(void *cv, void *mu, int ms);

/* Allocation that aborts the process on failure: for control-path objects
 * whose loss could not be handled sensibly anyway. Hot paths never call it. */
void *sl_xmalloc(size_t n);
void *sl_xcalloc(size_t n, size_t size);
void *sl_xrealloc(void *p, size_t n);
char *sl_xstrdup(const char *s);

/* snprintf into errstr, when errstr is not NULL. Returns `err`. */
int sl_seterr(char *errstr, size_t errstr_size, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 64-bit hash of `len` bytes (stable across runs and machines: used for
 * task routing and hash tables). */
uint64_t sl_hash64(const void *data, size_t len);

#endif
