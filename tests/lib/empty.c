/* Keeps the test support library non-empty. */
typedef int sl_testlib_empty;
