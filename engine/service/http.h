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
 * With a token set, /metrics and every /api/ path need the header
 * "Authorization: Bearer <token>" (else 401); /healthz and /readyz stay
 * open so probes need no secret. Nothing here runs on the engine's hot path.
 *
 * A probe can always get in. Every connection serves one request and is
 * closed ("Connection: close"), and each is bounded three ways:
 *   - at most max_connections at once, at most max_per_ip from one address;
 *     when a new connection goes over either limit, a connection that has
 *     not yet sent a complete request head is dropped to make room: the
 *     oldest of that address for the per-address limit, the oldest of the
 *     address holding the most connections for the global limit; only when
 *     every candidate is already being answered is the newcomer refused;
 *   - a total deadline (deadline_ms from accept to close, not an inactivity
 *     timeout): a client trickling bytes is cut at the deadline;
 *   - MHD's own per-connection memory limit bounds the request head.
 * So slow clients from other addresses never delay a probe by more than an
 * accept. (Slow clients from the probe's own address that reconnect in
 * bursts can, rarely, push out a probe whose client had not yet sent its
 * request when accepted.)
 * Dropped and refused connections are counted (sl_http_stats) and reported
 * in at most one warning per 10 s.
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
    const char *token;   /* bearer token for /metrics and /api/ (copied);
                            NULL or "" = no authentication */
    int max_connections; /* 0 = SL_HTTP_MAX_CONNECTIONS */
    int max_per_ip;      /* 0 = SL_HTTP_MAX_PER_IP */
    int deadline_ms;     /* 0 = SL_HTTP_DEADLINE_MS */
} sl_http_options;

#define SL_HTTP_MAX_CONNECTIONS 64
#define SL_HTTP_MAX_PER_IP      16
#define SL_HTTP_DEADLINE_MS     10000

/* Connections dropped so far (all counters only grow). */
typedef struct sl_http_stats {
    unsigned long accepted;     /* connections that reached the server */
    unsigned long evicted;      /* dropped to make room for a newer one */
    unsigned long deadline;     /* cut at the total deadline */
    unsigned long refused;      /* refused: every slot busy answering */
    unsigned long unauthorized; /* requests answered 401 */
} sl_http_stats;

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

/* Copies the counters. Any thread. */
void sl_http_stats_get(sl_http *h, sl_http_stats *out);

/* Hands an already connected stream socket to the server as if accepted
 * from 127.0.0.1 (tests and the fuzz target use a socketpair). Takes
 * ownership of fd, also on failure. Returns 0 or SL_EIO. */
int sl_http_serve_fd(sl_http *h, int fd);

/* 1 when the Authorization header value `authorization` (may be NULL)
 * carries `token` as a bearer token ("Bearer <token>", scheme
 * case-insensitive); 0 otherwise. The comparison of the secret takes the
 * same time wherever the first difference is. A NULL or empty token
 * authorizes everything. */
int sl_http_authorized(const char *token, const char *authorization);

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
/* The same with "Authorization: Bearer <token>" (token NULL = none). */
int sl_http_get_auth(const char *addr, const char *path, const char *token, int timeout_ms,
                     int *status, char **body, char *errstr, size_t errstr_size);

/* Internal, shared by the server and the client: resolves "host:port"
 * (`passive`: an empty host means every interface, otherwise loopback).
 * Returns 0 and *res (freeaddrinfo), or SL_EINVAL with errstr. */
struct addrinfo;
int sl__http_resolve(const char *addr, int passive, struct addrinfo **res, char *errstr,
                     size_t errstr_size);

#endif
