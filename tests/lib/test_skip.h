/*
 * test_skip.h - skipping a CMocka test in ctest's terms. SL_TEST_SKIP(why)
 * prints "SKIP: why", remembers it and skips the current test (CMocka's
 * skip()); main returns sl_test_status(cmocka_run_group_tests(...)): the
 * failure count when something failed, otherwise 77 (SKIP_RETURN_CODE:
 * ctest reports the executable as skipped, not passed) when a test was
 * skipped, otherwise 0.
 */
#ifndef SL_TEST_SKIP_H
#define SL_TEST_SKIP_H

#include <stdio.h>

static int sl__test_skipped;

#define SL_TEST_SKIP(why)                                                                          \
    do {                                                                                           \
        printf("SKIP: %s\n", why);                                                                 \
        fflush(stdout);                                                                            \
        sl__test_skipped = 1;                                                                      \
        skip();                                                                                    \
    } while (0)

static inline int sl_test_status(int failed)
{
    return failed ? failed : sl__test_skipped ? 77 : 0;
}

#endif
