/*
 * http.h - the service's HTTP endpoints, served by libmicrohttpd on its own
 * thread:
 *
 *   GET /healthz     200 "ok\n" while the process is alive
 *   GET /readyz      200 "ready\n" when the readiness callback says so,
 *                    else 503 with the callback's reason ("starting\n"
 *                    before a callback is set)
 *   GET /metrics     the metrics registry in Prometheus text format 0.0.4
 *                    (Content-Type: text/plain; version=0.0.4)
 *   GET /api/status  JSON from the status callback (application/json);
 *                    503 {"error":...} before a callback is set
 *
 * HEAD works wherever GET does; other methods get 405, other paths 404.
 * Nothing here runs on the engine's hot path.
 */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include "metrics.h"

#include <stddef.h>

typedef struct sl_http sl_http;

#define SL_HTTP_DEFAULT_ADDR "127.0.0.1:9464"

/* Readiness: returns 1 when ready; otherwise 0 and a one-line reason in
 * `reason` (e.g. "restoring task 3"). Called on the HTTP thread. */
typedef int (*sl_http_ready_fn)(void *arg, char *reason, size_t reason_size);
/* Status: returns a malloc'd NUL-terminated JSON document (the server frees
 * it), or NULL (503). Called on the HTTP thread. */
typedef char *(*sl_http_status_fn)(void *arg);

typedef struct sl_http_options {
    const char *addr;    /* "host:port", "[v6addr]:port" or ":port" (all
                            interfaces); port 0 = ephemeral; NULL =
                            SL_HTTP_DEFAULT_ADDR */
    sl_metrics *metrics; /* NULL = sl_metrics_default() */
    sl_http_ready_fn ready;
    void *ready_arg;
    sl_http_status_fn status;
    void *status_arg;
} sl_http_options;

/* Splits "host:port" / "[v6]:port" / ":port" into host (empty for ":port")
 * and port (0..65535). Returns 0, or SL_EINVAL with errstr filled. */
int sl_http_parse_addr(const char *addr, char *host, size_t host_size, int *port, char *errstr,
                       size_t errstr_size);

/* Binds the address and starts serving on a new thread. `opt` is borrowed
 * (NULL = all defaults). Returns the server, or NULL with errstr filled,
 * e.g. "http: cannot listen on 127.0.0.1:9464: Address already in use";
 * nothing is left running on failure. */
sl_http *sl_http_start(const sl_http_options *opt, char *errstr, size_t errstr_size);

/* The bound port (useful with port 0). */
int sl_http_port(const sl_http *h);

/* Replace the callbacks (fn NULL removes). Any thread. When these return,
 * the old callback is not running and will not be called again, so its
 * argument may be freed. */
void sl_http_set_ready(sl_http *h, sl_http_ready_fn fn, void *arg);
void sl_http_set_status(sl_http *h, sl_http_status_fn fn, void *arg);

/* Stops the server (waits for its thread, closes the socket) and frees it.
 * NULL is a no-op. */
void sl_http_stop(sl_http *h);

/* A minimal blocking HTTP/1.0 client for `sluice health` and tests:
 * GET http://addr/path (addr as above, ":port" meaning 127.0.0.1).
 * Returns 0 with *status and, if body is not NULL, a malloc'd
 * NUL-terminated *body (caller frees); or SL_EIO / SL_ETIMEOUT / SL_EINVAL
 * with errstr filled. */
int sl_http_get(const char *addr, const char *path, int timeout_ms, int *status, char **body,
                char *errstr, size_t errstr_size);

#endif
