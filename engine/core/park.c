/*
 * park.c - futex parking (see park.h for the protocol and why it cannot
 * miss a wake-up).
 */
#include "park.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void sl_park_init(sl_parker *p)
{
    atomic_init(&p->parked, 0);
    atomic_init(&p->wakes, 0);
}

void sl_park_prepare(sl_parker *p)
{
    atomic_store_explicit(&p->parked, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
}

void sl_park_cancel(sl_parker *p)
{
    atomic_store_explicit(&p->parked, 0, memory_order_relaxed);
}

void sl_park_wait(sl_parker *p, int64_t timeout_ns)
{
    if (timeout_ns < 1000)
        timeout_ns = 1000;
    struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000),
                          .tv_nsec = (long)(timeout_ns % 1000000000)};
    /* Returns at once if a waker already cleared the flag (EAGAIN). */
    syscall(SYS_futex, (uint32_t *)&p->parked, FUTEX_WAIT_PRIVATE, 1u, &ts, NULL, 0);
    atomic_store_explicit(&p->parked, 0, memory_order_relaxed);
}

void sl_park_wake(sl_parker *p)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&p->parked, memory_order_relaxed) &&
        atomic_exchange_explicit(&p->parked, 0, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&p->wakes, 1, memory_order_relaxed);
        syscall(SYS_futex, (uint32_t *)&p->parked, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    }
}
