/*
 * fuzz_http.c - fuzz target for the HTTP request path: each input is sent,
 * as raw bytes, over a socketpair to a live in-process server
 * (sl_http_serve_fd: MHD's request parser, then our routing, token check
 * and handlers), with a token set and status/readiness callbacks.
 *
 * The input is followed by an empty line, so every request head ends and
 * the server answers at once (MHD does not always notice a peer's end of
 * stream right after a partial head or garbage; then only the deadline
 * closes it: this server's deadline is 40 ms, and "no hang" means closed
 * within 5 s).
 *
 * Contracts (abort otherwise):
 *   - the server answers and closes within 5 s (no hang on any input);
 *   - whatever it sends is an HTTP/1.x status line with a 3-digit code;
 *   - no authentication bypass: a response carrying guarded content (the
 *     status document or the metrics) needs the token in the request;
 *   - sl_http_authorized agrees with a plain reading of the rules on the
 *     input split into a token and a header value.
 * Built with libFuzzer (SL_FUZZ) or with tests/fuzz/replay_driver.c.
 */
#include "http.h"
#include "log.h"
#include "metrics.h"

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

long sl_fuzz_replay_runs = 4000; /* a round trip through a thread per input */

#define TOKEN "fuzz-token-7Q"

static sl_http *g_http;
static sl_metrics *g_metrics;

static char *status_json(void *arg)
{
    (void)arg;
    return strdup("{\"guarded_status\":1}");
}

static int ready(void *arg, char *reason, size_t size)
{
    (void)arg;
    snprintf(reason, size, "fuzzing");
    return 0;
}

static void fuzz_setup(void)
{
    char err[256];
    sl_log_set_level(SL_LOG_ERROR);
    g_metrics = sl_metrics_new();
    sl_metric *m =
        sl_metrics_counter(g_metrics, "fuzz_guarded_total", "g", NULL, 0, err, sizeof(err));
    if (!m || !sl_metric_cell(m, NULL, 0))
        abort();
    sl_http_options o = {.addr = "127.0.0.1:0",
                         .metrics = g_metrics,
                         .token = TOKEN,
                         .status = status_json,
                         .ready = ready,
                         .deadline_ms = 40};
    g_http = sl_http_start(&o, err, sizeof(err));
    if (!g_http) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        abort();
    }
}

static int contains(const uint8_t *p, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(p + i, s, k) == 0)
            return 1;
    return 0;
}

static void round_trip(const uint8_t *input, size_t input_size)
{
    size_t size = input_size + 4;
    uint8_t *data = malloc(size);
    if (!data)
        abort();
    memcpy(data, input, input_size);
    memcpy(data + input_size, "\r\n\r\n", 4);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    if (sl_http_serve_fd(g_http, sv[1]) != 0) {
        close(sv[0]);
        free(data);
        return; /* refused (the server is full): nothing to check */
    }
    size_t off = 0;
    static char resp[1 << 17];
    size_t len = 0;
    int eof = 0;
    int64_t deadline = sl_mono_ns() + 5000000000LL;
    while (!eof) {
        struct pollfd p = {.fd = sv[0], .events = POLLIN | (off < size ? POLLOUT : 0)};
        int64_t left = (deadline - sl_mono_ns()) / 1000000;
        if (left <= 0) {
            fprintf(stderr, "fuzz_http: no answer within 5 s\n");
            abort();
        }
        if (poll(&p, 1, (int)left) < 0)
            abort();
        if ((p.revents & POLLOUT) && off < size) {
            ssize_t w = send(sv[0], data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0)
                off += (size_t)w;
            else
                off = size; /* the server closed its side */
            if (off == size)
                shutdown(sv[0], SHUT_WR);
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(sv[0], resp + len, sizeof(resp) - 1 - len, MSG_DONTWAIT);
            if (r > 0)
                len += (size_t)r;
            else if (r == 0 || len + 1 >= sizeof(resp))
                eof = 1;
            else if (r < 0 && (p.revents & (POLLHUP | POLLERR)))
                eof = 1;
        }
    }
    close(sv[0]);
    resp[len] = '\0';
    if (len == 0) {
        free(data);
        return; /* closed without a word (e.g. nothing parseable) */
    }
    int code = 0;
    if (sscanf(resp, "HTTP/1.%*1[01] %3d ", &code) != 1 || code < 100 || code > 599) {
        fprintf(stderr, "fuzz_http: not a status line: %.80s\n", resp);
        abort();
    }
    if ((strstr(resp, "guarded_status") || strstr(resp, "fuzz_guarded_total")) &&
        !contains(data, size, TOKEN)) {
        fprintf(stderr, "fuzz_http: guarded content served without the token\n");
        abort();
    }
    free(data);
}

/* The rules of http.h, written out plainly. */
static int reference_authorized(const char *token, const char *h)
{
    if (!token[0])
        return 1;
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h);
    while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
        n--;
    return n == strlen(token) && memcmp(h, token, n) == 0;
}

static void check_authorized(const uint8_t *data, size_t size)
{
    char buf[512];
    size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
    memcpy(buf, data, n);
    buf[n] = '\0';
    char *nl = strchr(buf, '\n');
    if (!nl)
        return;
    *nl = '\0';
    const char *token = buf, *header = nl + 1;
    if (sl_http_authorized(token, header) != reference_authorized(token, header))
        abort();
    if (sl_http_authorized(token, NULL) != (token[0] == '\0'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_http)
        fuzz_setup();
    check_authorized(data, size);
    round_trip(data, size);
    return 0;
}
