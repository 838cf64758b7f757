/*
 * test_http.c - the HTTP endpoints on 127.0.0.1 with an ephemeral port:
 * status codes, bodies and headers of /healthz, /readyz, /metrics (a valid
 * Prometheus exposition) and /api/status; 404/405/HEAD; bind failures;
 * address parsing; callbacks replaced while requests are in flight; and
 * concurrent scrapes while metrics are updated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "prom_check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char g_addr[64];

static sl_http *start(sl_metrics *m)
{
    char err[256];
    sl_http_options o = {.addr = "127.0.0.1:0", .metrics = m};
    sl_http *h = sl_http_start(&o, err, sizeof(err));
    if (!h)
        fail_msg("start: %s", err);
    assert_true(sl_http_port(h) > 0);
    snprintf(g_addr, sizeof(g_addr), "127.0.0.1:%d", sl_http_port(h));
    return h;
}

static int get(const char *path, char **body)
{
    char err[256];
    int status = 0;
    if (sl_http_get(g_addr, path, 5000, &status, body, err, sizeof(err)) != 0)
        fail_msg("GET %s: %s", path, err);
    return status;
}

/* Sends `req` verbatim and returns the whole response (headers and body). */
static char *raw(const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_port = htons((uint16_t)atoi(strchr(g_addr, ':') + 1));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while ((n = recv(fd, buf + len, cap - len - 1, 0)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    return buf;
}

static void test_healthz_and_defaults(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    sl_http *h = start(m);
    char *body;
    assert_int_equal(get("/healthz", &body), 200);
    assert_string_equal(body, "ok\n");
    free(body);
    /* no callbacks yet: not ready, status unavailable */
    assert_int_equal(get("/readyz", &body), 503);
    assert_string_equal(body, "starting\n");
    free(body);
    assert_int_equal(get("/api/status", &body), 503);
    assert_string_equal(body, "{\"error\":\"starting\"}\n");
    free(body);
    assert_int_equal(get("/nope", &body), 404);
    free(body);
    assert_int_equal(get("/healthz/", &body), 404);
    free(body);
    assert_int_equal(get("/metrics", &body), 200);
    assert_string_equal(body, ""); /* empty registry */
    free(body);

    char *r = raw("POST /healthz HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
    assert_true(strncmp(r, "HTTP/1.1 405", 12) == 0 || strncmp(r, "HTTP/1.0 405", 12) == 0);
    free(r);
    r = raw("HEAD /healthz HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(r, " 200 "));
    char *sep = strstr(r, "\r\n\r\n");
    assert_non_null(sep);
    assert_string_equal(sep + 4, ""); /* no body */
    free(r);
    r = raw("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    free(r);
    sl_http_stop(h);
    sl_metrics_free(m);
}

static int ready_state;

static int ready_cb(void *arg, char *reason, size_t size)
{
    int *st = arg;
    if (*st == 1)
        return 1;
    snprintf(reason, size, "restoring task %d\nsecond line", 3);
    return 0;
}

static char *status_cb(void *arg)
{
    const char *s = arg;
    return s ? strdup(s) : NULL;
}

static void test_readyz_status(void **state)
{
    (void)state;
    sl_metrics *m = sl_metrics_new();
    sl_http *h = start(m);
    char *body;
    ready_state = 0;
    sl_http_set_ready(h, ready_cb, &ready_state);
    assert_int_equal(get("/readyz", &body), 503);
    assert_string_equal(body, "restoring task 3\n"); /* one line only */
    free(body);
    ready_state = 1;
    assert_int_equal(get("/readyz", &body), 200);
    assert_string_equal(body, "ready\n");
    free(body);
    sl_http_set_ready(h, NULL, NULL);
    assert_int_equal(get("/readyz", &body), 503);
    free(body);

    const char *doc = "{\"pipeline\":\"orders\",\"node\":\"n1\",\"tasks\":[]}";
    sl_http_set_status(h, status_cb, (void *)doc);
    assert_int_equal(get("/api/status", &body), 200);
    assert_string_equal(body, doc);
    free(body);
    char *r = raw("GET /api/status HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(r, "Content-Type: application/json"));
    free(r);
    sl_http_set_status(h, status_cb, NULL); /* callback fails */
    assert_int_equal(get("/api/status", &body), 503);
    assert_string_equal(body, "{\"error\":\"status unavailable\"}\n");
    free(body);
    sl_http_stop(h);
    sl_metrics_free(m);
}

static void test_metrics_endpoint(void **state)
{
    (void)state;
    char err[256];
    sl_metrics *m = sl_metrics_new();
    sl_sluice_metrics f;
    assert_int_equal(sl_metrics_register_sluice(m, &f, err, sizeof(err)), 0);
    const char *const v[] = {"kafka", "orders", "2"};
    sl_cell *c = sl_metric_cell(f.events_in, v, 3);
    sl_cell_add(c, 1234);
    const char *const r[] = {"bad\"reason\\x\ny"};
    sl_cell_add(sl_metric_cell(f.bad_events, r, 1), 2);
    sl_hist_observe(sl_metric_hist(f.checkpoint_duration, NULL, 0), 0.02);
    sl_http *h = start(m);

    char *raw_resp = raw("GET /metrics HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(raw_resp, "Content-Type: text/plain; version=0.0.4"));
    free(raw_resp);

    char *body;
    assert_int_equal(get("/metrics", &body), 200);
    if (prom_parse(body, NULL, NULL, err, sizeof(err)) != 0)
        fail_msg("invalid /metrics: %s\n%s", err, body);
    assert_non_null(strstr(
        body, "sluice_events_in_total{source=\"kafka\",topic=\"orders\",partition=\"2\"} 1234\n"));
    assert_non_null(strstr(body, "sluice_bad_events_total{reason=\"bad\\\"reason\\\\x\\ny\"} 2\n"));
    assert_non_null(strstr(body, "sluice_checkpoint_duration_seconds_count 1\n"));
    assert_non_null(strstr(body, "\nsluice_process_resident_memory_bytes "));
    free(body);
    sl_http_stop(h);
    sl_metrics_free(m);
}

static void test_bind_errors_and_addresses(void **state)
{
    (void)state;
    char err[256];
    sl_metrics *m = sl_metrics_new();
    sl_http *h = start(m);
    int port = sl_http_port(h);

    /* the same port again: a clear error naming the address */
    sl_http_options o = {.addr = g_addr, .metrics = m};
    assert_null(sl_http_start(&o, err, sizeof(err)));
    assert_non_null(strstr(err, g_addr));
    assert_non_null(strstr(err, "Address already in use"));

    /* after stop the port is free again (the socket was closed) */
    sl_http_stop(h);
    h = sl_http_start(&o, err, sizeof(err));
    if (!h)
        fail_msg("restart on %s: %s", g_addr, err);
    assert_int_equal(sl_http_port(h), port);
    sl_http_stop(h);

    const char *bad[] = {"",
                         "9464",
                         "127.0.0.1",
                         "127.0.0.1:",
                         "127.0.0.1:70000",
                         "127.0.0.1:-1",
                         "127.0.0.1:x",
                         "[::1]9464",
                         "::1:9464",
                         "[::1:9464"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        o.addr = bad[i];
        err[0] = '\0';
        sl_http *x = sl_http_start(&o, err, sizeof(err));
        if (x)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_true(strlen(err) > 0);
    }
    o.addr = "192.0.2.1:0"; /* TEST-NET address not on this machine */
    assert_null(sl_http_start(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot listen on 192.0.2.1:0"));

    char host[64];
    int p;
    assert_int_equal(sl_http_parse_addr("[::1]:81", host, sizeof(host), &p, err, sizeof(err)), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(p, 81);
    assert_int_equal(sl_http_parse_addr(":9464", host, sizeof(host), &p, err, sizeof(err)), 0);
    assert_string_equal(host, "");
    assert_int_equal(p, 9464);
    assert_int_equal(sl_http_parse_addr("localhost:0", host, sizeof(host), &p, err, sizeof(err)),
                     0);
    assert_string_equal(host, "localhost");
    assert_int_equal(
        sl_http_parse_addr("averyveryverylonghostname:1", host, 8, &p, err, sizeof(err)),
        SL_EINVAL);

    /* IPv6 loopback, where the machine has it */
    o.addr = "[::1]:0";
    h = sl_http_start(&o, err, sizeof(err));
    if (h) {
        snprintf(g_addr, sizeof(g_addr), "[::1]:%d", sl_http_port(h));
        char *body;
        assert_int_equal(get("/healthz", &body), 200);
        free(body);
        sl_http_stop(h);
    }

    /* the client against a closed port */
    int status;
    assert_int_equal(sl_http_get(g_addr, "/healthz", 1000, &status, NULL, err, sizeof(err)),
                     SL_EIO);
    assert_non_null(strstr(err, "cannot connect"));
    assert_int_equal(sl_http_get(g_addr, "healthz", 1000, &status, NULL, err, sizeof(err)),
                     SL_EINVAL);
    sl_http_stop(NULL);
    sl_metrics_free(m);
}

/* ---- callbacks replaced and freed while requests run ---------------- */

typedef struct rarg {
    int ready;
    char pad[60];
} rarg;

static int rarg_ready(void *arg, char *reason, size_t size)
{
    rarg *a = arg;
    snprintf(reason, size, "x");
    return a->ready; /* a use after free would show under ASan */
}

static atomic_int stop_clients;
static atomic_int requests;
static atomic_int client_errors; /* cmocka asserts only on the main thread */

#define CLIENT_FAIL(...)                                                                           \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        atomic_fetch_add(&client_errors, 1);                                                       \
    } while (0)

static void *client(void *arg)
{
    (void)arg;
    char err[256];
    while (!atomic_load(&stop_clients)) {
        int status = 0;
        char *body = NULL;
        const char *path = atomic_load(&requests) % 2 ? "/readyz" : "/metrics";
        if (sl_http_get(g_addr, path, 5000, &status, &body, err, sizeof(err)) != 0) {
            CLIENT_FAIL("client: %s", err);
            break;
        }
        if (!strcmp(path, "/metrics")) {
            if (status != 200 || prom_parse(body, NULL, NULL, err, sizeof(err)) != 0)
                CLIENT_FAIL("bad /metrics under load: %d %s", status, err);
        } else if (status != 200 && status != 503) {
            CLIENT_FAIL("bad /readyz status %d", status);
        }
        free(body);
        atomic_fetch_add(&requests, 1);
    }
    return NULL;
}

static void *updater(void *arg)
{
    sl_metric *fam = arg;
    const char *const v[] = {"w"};
    sl_cell *c = sl_metric_cell(fam, v, 1);
    uint64_t local = 0;
    while (!atomic_load(&stop_clients)) {
        local += 17;
        sl_cell_set(c, local);
    }
    return NULL;
}

static void test_concurrent_requests(void **state)
{
    (void)state;
    char err[256];
    sl_metrics *m = sl_metrics_new();
    const char *const ln[] = {"worker"};
    sl_metric *fam = sl_metrics_counter(m, "t_batches_total", "b", ln, 1, err, sizeof(err));
    sl_http *h = start(m);
    atomic_store(&stop_clients, 0);
    atomic_store(&requests, 0);
    atomic_store(&client_errors, 0);
    pthread_t cl[3], up;
    for (int i = 0; i < 3; i++)
        pthread_create(&cl[i], NULL, client, NULL);
    pthread_create(&up, NULL, updater, fam);
    for (int i = 0; i < 200; i++) {
        rarg *a = malloc(sizeof(*a));
        a->ready = i % 2;
        sl_http_set_ready(h, rarg_ready, a);
        sl_sleep_us(500);
        sl_http_set_ready(h, NULL, NULL);
        memset(a, 0xff, sizeof(*a));
        free(a); /* safe: the callback can no longer run with it */
    }
    while (atomic_load(&requests) < 100 && !atomic_load(&client_errors))
        sl_sleep_us(1000);
    atomic_store(&stop_clients, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(cl[i], NULL);
    pthread_join(up, NULL);
    assert_int_equal(atomic_load(&client_errors), 0);
    sl_http_stop(h);
    sl_metrics_free(m);
}

int main(void)
{
    sl_log_set_level(SL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_and_defaults),
        cmocka_unit_test(test_readyz_status),
        cmocka_unit_test(test_metrics_endpoint),
        cmocka_unit_test(test_bind_errors_and_addresses),
        cmocka_unit_test(test_concurrent_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
