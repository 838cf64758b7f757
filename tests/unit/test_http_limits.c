/*
 * test_http_limits.c - the HTTP server under hostile clients and with a
 * token:
 *   - 200 slow clients from 8 addresses (connect, then trickle a request
 *     head one byte at a time, reconnecting whenever dropped) while
 *     /healthz is probed from another address: every probe answers 200
 *     within 1 s; the counters show the slow ones were dropped to make
 *     room;
 *   - a client that trickles forever is cut at the total deadline even
 *     though it is never idle;
 *   - a handful of slow clients (under the limits) are left alone;
 *   - bearer token: /metrics and /api/... 401 without, with a wrong, a
 *     prefix or an extended token, 200 with it; /healthz and /readyz open;
 *     sl_http_authorized's parsing rules;
 *   - requests over a socketpair (sl_http_serve_fd), as the fuzz target
 *     drives them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "http.h"
#include "log.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char g_addr[64];
static int g_port;

static sl_http *start_with(sl_http_options *o)
{
    char err[256];
    o->addr = "127.0.0.1:0";
    sl_http *h = sl_http_start(o, err, sizeof(err));
    if (!h)
        fail_msg("start: %s", err);
    g_port = sl_http_port(h);
    snprintf(g_addr, sizeof(g_addr), "127.0.0.1:%d", g_port);
    return h;
}

/* A non-blocking connect to the server from 127.0.0.<from> (0: the
 * default source); -1 if the socket cannot be made. */
static int slow_connect_from(int from)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (from) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(INADDR_LOOPBACK - 1 + (uint32_t)from);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_port = htons((uint16_t)g_port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static int slow_connect(void)
{
    return slow_connect_from(0);
}

/* ---- slow clients ---------------------------------------------------- */

#define NSLOW 200

static const char slow_head[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
static atomic_int stop_slow;
static atomic_long slow_drops; /* times a slow socket saw its server end close */

typedef struct slow_arg {
    int n;
    int interval_ms;
    int naddrs; /* sources 127.0.0.2 .. 127.0.0.(1 + naddrs) */
} slow_arg;

/* Keeps `n` connections open, each sending one byte of a never-ending
 * request head every interval; a dropped one is reopened at once. */
static void *slow_clients(void *arg)
{
    const slow_arg *a = arg;
    int fds[NSLOW];
    size_t sent[NSLOW];
    for (int i = 0; i < a->n; i++) {
        fds[i] = slow_connect_from(2 + i % a->naddrs);
        sent[i] = 0;
    }
    while (!atomic_load(&stop_slow)) {
        for (int i = 0; i < a->n; i++) {
            if (fds[i] < 0) {
                fds[i] = slow_connect_from(2 + i % a->naddrs);
                sent[i] = 0;
                continue;
            }
            char c = sent[i] < sizeof(slow_head) - 1 ? slow_head[sent[i]] : 'a';
            ssize_t w = send(fds[i], &c, 1, MSG_NOSIGNAL);
            char buf[256];
            ssize_t r = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT);
            if (w == 1)
                sent[i]++;
            if ((w < 0 && errno != EAGAIN && errno != ENOTCONN) || r == 0 ||
                (r < 0 && errno != EAGAIN)) {
                close(fds[i]);
                fds[i] = -1;
                atomic_fetch_add(&slow_drops, 1);
            }
        }
        struct timespec ts = {0, (long)a->interval_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < a->n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return NULL;
}

static void test_healthz_under_slow_clients(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    sl_http_options o = {.metrics = m, .deadline_ms = 5000};
    sl_http *h = start_with(&o);
    atomic_store(&stop_slow, 0);
    atomic_store(&slow_drops, 0);
    /* 25 from each of 8 addresses: over the per-address limit (16) on each,
     * and 8 x 16 over the global one (64); the probe comes from 127.0.0.1 */
    slow_arg a = {.n = NSLOW, .interval_ms = 50, .naddrs = 8};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, slow_clients, &a), 0);
    sl_sleep_us(1500000); /* let the slow clients fill the server */

    int64_t worst = 0;
    for (int i = 0; i < 30; i++) {
        char err[256], *body = NULL;
        int status = 0;
        int64_t t0 = sl_mono_ns();
        int rc = sl_http_get(g_addr, "/healthz", 1000, &status, &body, err, sizeof(err));
        int64_t took = sl_mono_ns() - t0;
        if (rc != 0) {
            sl_http_stats st;
            sl_http_stats_get(h, &st);
            fail_msg("probe %d failed after %lld ms: %s (accepted %lu, evicted %lu, deadline %lu, "
                     "refused %lu)",
                     i, (long long)(took / 1000000), err, st.accepted, st.evicted, st.deadline,
                     st.refused);
        }
        assert_int_equal(status, 200);
        assert_string_equal(body, "ok\n");
        free(body);
        if (took > worst)
            worst = took;
        sl_sleep_us(100000);
    }
    atomic_store(&stop_slow, 1);
    pthread_join(t, NULL);
    sl_http_stats st;
    sl_http_stats_get(h, &st);
    fprintf(stderr,
            "slow clients: worst probe %.1f ms; accepted %lu, evicted %lu, deadline %lu, "
            "refused %lu; client saw %ld drops\n",
            (double)worst / 1e6, st.accepted, st.evicted, st.deadline, st.refused,
            atomic_load(&slow_drops));
    assert_true(worst < 1000000000LL);
    /* 200 slow connections against 64 in all: most were dropped */
    assert_true(st.accepted >= NSLOW);
    assert_true(st.evicted >= NSLOW - SL_HTTP_MAX_CONNECTIONS);
    assert_true(atomic_load(&slow_drops) >= NSLOW - SL_HTTP_MAX_CONNECTIONS);
    sl_http_stop(h);
    sl_metrics_free(m);
}

/* A client that is never idle is still cut at the total deadline; a few
 * slow clients under the limits are not dropped before it. */
static void test_total_deadline(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    sl_http_options o = {.metrics = m, .deadline_ms = 1500};
    sl_http *h = start_with(&o);
    enum { N = 4 };
    int fds[N];
    size_t sent[N] = {0};
    int64_t closed_at[N] = {0}, t0 = sl_mono_ns();
    for (int i = 0; i < N; i++)
        assert_true((fds[i] = slow_connect()) >= 0);
    int open = N;
    while (open > 0 && sl_mono_ns() - t0 < 20000000000LL) {
        for (int i = 0; i < N; i++) {
            if (closed_at[i])
                continue;
            char c = sent[i] < sizeof(slow_head) - 1 ? slow_head[sent[i]] : 'a';
            if (send(fds[i], &c, 1, MSG_NOSIGNAL) == 1)
                sent[i]++;
            char buf[64];
            ssize_t r = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                closed_at[i] = sl_mono_ns();
                close(fds[i]);
                open--;
            }
        }
        sl_sleep_us(20000); /* a byte every 20 ms: never idle */
    }
    assert_int_equal(open, 0);
    for (int i = 0; i < N; i++) {
        double s = (double)(closed_at[i] - t0) / 1e9;
        if (s < 1.4 || s > 8.0)
            fail_msg("slow client %d cut after %.2f s (deadline 1.5 s)", i, s);
    }
    sl_http_stats st;
    sl_http_stats_get(h, &st);
    assert_int_equal(st.deadline, N);
    assert_int_equal(st.evicted, 0);
    assert_int_equal(st.refused, 0);
    sl_http_stop(h);
    sl_metrics_free(m);
}

/* ---- bearer token ------------------------------------------------------ */

static int get_auth(const char *path, const char *token, char **body)
{
    char err[256];
    int status = 0;
    if (sl_http_get_auth(g_addr, path, token, 5000, &status, body, err, sizeof(err)) != 0)
        fail_msg("GET %s: %s", path, err);
    return status;
}

static char *status_json(void *arg)
{
    (void)arg;
    return strdup("{\"pipeline\":\"p\"}");
}

static int always_ready(void *arg, char *reason, size_t size)
{
    (void)arg;
    (void)reason;
    (void)size;
    return 1;
}

static void test_token(void **state)
{
    (void)state;
    const char *token = "T0k3n-Zq9+/=";
    sl_metrics *m = sl_metrics_new();
    sl_http_options o = {
        .metrics = m, .token = token, .status = status_json, .ready = always_ready};
    sl_http *h = start_with(&o);
    char *body;
    static const char *const guarded[] = {"/metrics", "/api/status", "/api/other"};
    static const char *const wrong[] = {NULL,           "", "T0k3n-Zq9+/", "T0k3n-Zq9+/=x",
                                        "t0k3n-zq9+/=", "x"};
    for (size_t p = 0; p < SL_ARRAY_LEN(guarded); p++) {
        for (size_t w = 0; w < SL_ARRAY_LEN(wrong); w++) {
            body = NULL;
            assert_int_equal(get_auth(guarded[p], wrong[w], &body), 401);
            assert_null(strstr(body, token));
            free(body);
        }
    }
    assert_int_equal(get_auth("/metrics", token, &body), 200);
    assert_null(strstr(body, "unauthorized"));
    free(body);
    assert_int_equal(get_auth("/api/status", token, &body), 200);
    assert_string_equal(body, "{\"pipeline\":\"p\"}");
    free(body);
    assert_int_equal(get_auth("/api/other", token, &body), 404);
    free(body);
    assert_int_equal(get_auth("/healthz", NULL, &body), 200);
    free(body);
    assert_int_equal(get_auth("/readyz", NULL, &body), 200);
    free(body);
    sl_http_stats st;
    sl_http_stats_get(h, &st);
    assert_int_equal(st.unauthorized, SL_ARRAY_LEN(guarded) * SL_ARRAY_LEN(wrong));
    sl_http_stop(h);

    /* without a token everything is open */
    sl_http_options o2 = {.metrics = m};
    h = start_with(&o2);
    assert_int_equal(get_auth("/metrics", NULL, &body), 200);
    free(body);
    assert_int_equal(get_auth("/metrics", "anything", &body), 200);
    free(body);
    sl_http_stop(h);
    sl_metrics_free(m);

    assert_true(sl_http_authorized("abc", "Bearer abc"));
    assert_true(sl_http_authorized("abc", "bearer abc"));
    assert_true(sl_http_authorized("abc", "BEARER   abc  "));
    assert_false(sl_http_authorized("abc", "Basic abc"));
    assert_false(sl_http_authorized("abc", "Bearerabc"));
    assert_false(sl_http_authorized("abc", "Bearer ab"));
    assert_false(sl_http_authorized("abc", "Bearer abcd"));
    assert_false(sl_http_authorized("abc", "Bearer "));
    assert_false(sl_http_authorized("abc", NULL));
    assert_true(sl_http_authorized(NULL, NULL));
    assert_true(sl_http_authorized("", "Bearer x"));
}

/* ---- requests over a socketpair ---------------------------------------- */

static char *over_pair(sl_http *h, const char *req)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(sl_http_serve_fd(h, sv[1]), 0);
    assert_int_equal(send(sv[0], req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    while (len + 1 < cap && poll(&p, 1, 5000) == 1) {
        ssize_t n = recv(sv[0], buf + len, cap - len - 1, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(sv[0]);
    buf[len] = '\0';
    return buf;
}

static void test_socketpair(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    sl_http_options o = {.metrics = m, .token = "k"};
    sl_http *h = start_with(&o);
    char *r = over_pair(h, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 200", 12) == 0);
    assert_non_null(strstr(r, "\r\n\r\nok\n"));
    assert_non_null(strcasestr(r, "Connection: close"));
    free(r);
    r = over_pair(h, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 401", 12) == 0);
    assert_non_null(strcasestr(r, "WWW-Authenticate: Bearer"));
    free(r);
    r = over_pair(h, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 200", 12) == 0);
    free(r);
    r = over_pair(h, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    assert_true(strncmp(r, "HTTP/1.1 405", 12) == 0);
    free(r);
    sl_http_stop(h);
    sl_metrics_free(m);
}

int main(void)
{
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_socketpair),
        cmocka_unit_test(test_total_deadline),
        cmocka_unit_test(test_healthz_under_slow_clients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
