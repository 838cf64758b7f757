/*
 * http.c - health, readiness, metrics and status endpoints on libmicrohttpd
 * (http.h).
 *
 * The listening socket is created here (so a bind failure reports errno)
 * and handed to MHD, which runs one internal polling thread and closes the
 * socket when stopped. Request callbacks are called with h->mu held, which
 * is what lets sl_http_set_ready/status promise that a replaced callback is
 * no longer running.
 *
 * Connection bookkeeping (h->cmu, h->conns[]):
 *   1. MHD calls on_connection(STARTED) for every accepted socket, before
 *      reading from it, and on_connection(CLOSED) before it closes the
 *      socket. So a slot in conns[] whose `conn` is set always names an
 *      open socket of that connection, and shutdown(2) on slot->fd under
 *      h->cmu can never hit a reused descriptor.
 *   2. Dropping a connection is shutdown(fd, SHUT_RDWR) under h->cmu: MHD
 *      then sees end of stream, closes the socket and calls CLOSED, which
 *      frees the slot. A dropped slot no longer counts toward the limits.
 *   3. `answered` is set when the request head has arrived (on_request),
 *      or is found complete in the socket's receive buffer (MSG_PEEK) at
 *      accept or when the slot is considered for eviction; only
 *      connections without it are dropped to make room, oldest first. So a
 *      client that sends its request at once is never the victim, even
 *      when MHD accepts a burst of connections before reading any.
 *   4. The watchdog thread drops every connection older than the deadline
 *      and writes the rate-limited warning; it takes only h->cmu.
 * Thread roles: MHD's thread runs on_connection, on_request and mhd_log;
 * the watchdog thread runs watchdog_main; anyone may call the setters.
 */
#include "http.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define SL__WARN_EVERY_NS (10 * 1000000000LL)

typedef struct sl__conn {
    struct MHD_Connection *conn; /* NULL: free slot */
    int fd;
    unsigned char ip[16]; /* address only (no port); v4 mapped into v6 form */
    int64_t started_ns;
    int answered; /* the request head has arrived */
    int dropped;  /* shut down by us, waiting for MHD to close it */
} sl__conn;

struct sl_http {
    struct MHD_Daemon *daemon;
    sl_metrics *metrics;
    int port;
    char *token; /* NULL: no authentication */
    pthread_mutex_t mu;
    sl_http_ready_fn ready;
    void *ready_arg;
    sl_http_status_fn status;
    void *status_arg;

    /* connection bookkeeping, under cmu */
    pthread_mutex_t cmu;
    pthread_cond_t cv; /* wakes the watchdog to stop */
    sl__conn *conns;
    size_t nslots;
    int max_connections, max_per_ip;
    int64_t deadline_ns;
    sl_http_stats stats;
    int stop;
    pthread_t watchdog;
    int watchdog_started;
    /* rate-limited warnings (watchdog thread, mhd_log under cmu) */
    sl_http_stats reported;
    int64_t last_warn_ns;
    unsigned long mhd_suppressed;
};

/* ------------------------------------------------------------------------
 * Authentication
 * ------------------------------------------------------------------------ */

int sl_http_authorized(const char *token, const char *authorization)
{
    if (!token || !token[0])
        return 1;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    const char *given = authorization + 7;
    while (*given == ' ')
        given++;
    size_t glen = strlen(given), tlen = strlen(token);
    while (glen > 0 && (given[glen - 1] == ' ' || given[glen - 1] == '\t'))
        glen--;
    /* Every byte of the token is compared whatever the input, so the time
     * says nothing about how much of a guess was right. */
    unsigned diff = glen != tlen;
    for (size_t i = 0; i < tlen; i++)
        diff |= (unsigned)((unsigned char)token[i] ^ (unsigned char)(i < glen ? given[i] : 0));
    return diff == 0;
}

/* ------------------------------------------------------------------------
 * Connection limits and the deadline
 * ------------------------------------------------------------------------ */

static void conn_ip(struct MHD_Connection *conn, unsigned char ip[16])
{
    memset(ip, 0, 16);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (!sa)
        return;
    if (sa->sa_family == AF_INET6) {
        memcpy(ip, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    } else if (sa->sa_family == AF_INET) {
        ip[10] = ip[11] = 0xff;
        memcpy(ip + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    }
}

/* Shuts the slot's socket down (MHD closes it on its next turn). With cmu. */
static void conn_drop(sl__conn *c, unsigned long *counter)
{
    if (c->dropped)
        return;
    shutdown(c->fd, SHUT_RDWR);
    c->dropped = 1;
    (*counter)++;
}

/* 1 when the end of a request head is already waiting in the socket's
 * receive buffer (MHD has not read it yet): the client sent its request
 * at once and must not be taken for a slow one. Peeks, never consumes. */
static int head_buffered(int fd)
{
    char buf[8192];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0)
        return 0;
    for (ssize_t i = 0; i + 1 < n; i++)
        if (buf[i] == '\n' &&
            (buf[i + 1] == '\n' || (buf[i + 1] == '\r' && i + 2 < n && buf[i + 2] == '\n')))
            return 1;
    return 0;
}

/* Live connections from the address `ip`. With cmu. */
static int conn_count_ip(const sl_http *h, const unsigned char *ip)
{
    int n = 0;
    for (size_t i = 0; i < h->nslots; i++)
        n += h->conns[i].conn && !h->conns[i].dropped && memcmp(h->conns[i].ip, ip, 16) == 0;
    return n;
}

/* The connection to drop to make room, or NULL: a live slot other than
 * `self` that has not sent its request. Among those from `ip` when given
 * (the per-address limit), else among those of the address that holds the
 * most connections (the global limit: a crowd from one address never
 * pushes out a lone probe from another); the oldest first. A candidate
 * whose whole head is already buffered is marked answered and passed over.
 * With cmu. */
static sl__conn *conn_victim(sl_http *h, const sl__conn *self, const unsigned char *ip)
{
    for (;;) {
        sl__conn *best = NULL;
        int best_n = 0;
        for (size_t i = 0; i < h->nslots; i++) {
            sl__conn *c = &h->conns[i];
            if (!c->conn || c->dropped || c->answered || c == self)
                continue;
            if (ip && memcmp(c->ip, ip, 16) != 0)
                continue;
            int n = ip ? 0 : conn_count_ip(h, c->ip);
            if (!best || n > best_n || (n == best_n && c->started_ns < best->started_ns)) {
                best = c;
                best_n = n;
            }
        }
        if (!best || !head_buffered(best->fd))
            return best;
        best->answered = 1;
    }
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    sl_http *h = cls;
    pthread_mutex_lock(&h->cmu);
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        sl__conn *c = *socket_context;
        if (c)
            c->conn = NULL;
        *socket_context = NULL;
        pthread_mutex_unlock(&h->cmu);
        return;
    }
    h->stats.accepted++;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    sl__conn *self = NULL;
    for (size_t i = 0; i < h->nslots && ci; i++)
        if (!h->conns[i].conn) {
            self = &h->conns[i];
            break;
        }
    *socket_context = self;
    if (!self) { /* cannot happen: MHD's own limit is nslots */
        if (ci)
            shutdown(ci->connect_fd, SHUT_RDWR);
        h->stats.refused++;
        pthread_mutex_unlock(&h->cmu);
        return;
    }
    memset(self, 0, sizeof(*self));
    self->conn = conn;
    self->fd = ci->connect_fd;
    self->started_ns = sl_mono_ns();
    conn_ip(conn, self->ip);
    self->answered = head_buffered(self->fd);

    int total = 0, same_ip = 0;
    for (size_t i = 0; i < h->nslots; i++) {
        const sl__conn *c = &h->conns[i];
        if (c->conn && !c->dropped) {
            total++;
            same_ip += memcmp(c->ip, self->ip, 16) == 0;
        }
    }
    if (same_ip > h->max_per_ip) {
        sl__conn *v = conn_victim(h, self, self->ip);
        if (v)
            conn_drop(v, &h->stats.evicted);
        else
            conn_drop(self, &h->stats.refused);
        total--;
    }
    if (!self->dropped && total > h->max_connections) {
        sl__conn *v = conn_victim(h, self, NULL);
        if (v)
            conn_drop(v, &h->stats.evicted);
        else
            conn_drop(self, &h->stats.refused);
    }
    pthread_mutex_unlock(&h->cmu);
}

/* Marks the connection as answered (its request head is in). */
static void conn_answered(sl_http *h, struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    pthread_mutex_lock(&h->cmu);
    sl__conn *c = ci ? ci->socket_context : NULL;
    if (c && c->conn == conn)
        c->answered = 1;
    pthread_mutex_unlock(&h->cmu);
}

/* Logs what was dropped since the last report, at most once per 10 s.
 * With cmu. */
static void report_drops(sl_http *h, int64_t now)
{
    if (now - h->last_warn_ns < SL__WARN_EVERY_NS)
        return;
    unsigned long ev = h->stats.evicted - h->reported.evicted,
                  dl = h->stats.deadline - h->reported.deadline,
                  rf = h->stats.refused - h->reported.refused, sup = h->mhd_suppressed;
    if (!ev && !dl && !rf && !sup)
        return;
    sl_warn("http",
            "dropped %lu connection%s (%lu over the limits of %d per address / %d in all, "
            "%lu past the %lld ms deadline, %lu refused), %lu server message%s suppressed",
            ev + dl + rf, ev + dl + rf == 1 ? "" : "s", ev, h->max_per_ip, h->max_connections, dl,
            (long long)(h->deadline_ns / 1000000), rf, sup, sup == 1 ? "" : "s");
    h->reported = h->stats;
    h->mhd_suppressed = 0;
    h->last_warn_ns = now;
}

static void *watchdog_main(void *arg)
{
    sl_http *h = arg;
    pthread_mutex_lock(&h->cmu);
    while (!h->stop) {
        int64_t now = sl_mono_ns();
        for (size_t i = 0; i < h->nslots; i++) {
            sl__conn *c = &h->conns[i];
            if (c->conn && !c->dropped && now - c->started_ns > h->deadline_ns)
                conn_drop(c, &h->stats.deadline);
        }
        report_drops(h, now);
        /* a tenth of a second, finer for (test) deadlines under 200 ms */
        int64_t tick_ms = h->deadline_ns / 2000000;
        sl_cond_wait_ms(&h->cv, &h->cmu, tick_ms < 100 ? (int)(tick_ms > 0 ? tick_ms : 1) : 100);
    }
    pthread_mutex_unlock(&h->cmu);
    return NULL;
}

void sl_http_stats_get(sl_http *h, sl_http_stats *out)
{
    pthread_mutex_lock(&h->cmu);
    *out = h->stats;
    pthread_mutex_unlock(&h->cmu);
}

/* ------------------------------------------------------------------------
 * Request handling (MHD thread)
 * ------------------------------------------------------------------------ */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               char *body, size_t len)
{
    /* takes ownership of body (malloc'd) */
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, body, &free);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"sluice\"");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                    ...) __attribute__((format(printf, 3, 4)));
static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *fmt,
                                    ...)
{
    char *body = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&body, fmt, ap);
    va_end(ap);
    if (n < 0)
        return MHD_NO;
    return respond(conn, status, "text/plain; charset=utf-8", body, (size_t)n);
}

/* Writes `s` as a JSON string body (quotes included) into a new buffer. */
static char *json_error(const char *msg)
{
    size_t n = strlen(msg);
    char *out = malloc(n * 6 + 16), *p = out;
    if (!out)
        return NULL;
    p += sprintf(p, "{\"error\":\"");
    for (const unsigned char *s = (const unsigned char *)msg; *s; s++) {
        if (*s == '"' || *s == '\\')
            p += sprintf(p, "\\%c", *s);
        else if (*s < 0x20)
            p += sprintf(p, "\\u%04x", *s);
        else
            *p++ = (char)*s;
    }
    sprintf(p, "\"}\n");
    return out;
}

static enum MHD_Result handle_readyz(sl_http *h, struct MHD_Connection *conn)
{
    char reason[256] = "starting";
    int ready = 0;
    pthread_mutex_lock(&h->mu);
    if (h->ready) {
        reason[0] = '\0';
        ready = h->ready(h->ready_arg, reason, sizeof(reason));
        if (!ready && !reason[0])
            snprintf(reason, sizeof(reason), "not ready");
    }
    pthread_mutex_unlock(&h->mu);
    reason[strcspn(reason, "\r\n")] = '\0';
    if (ready)
        return respond_text(conn, MHD_HTTP_OK, "ready\n");
    return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s\n", reason);
}

static enum MHD_Result handle_metrics(sl_http *h, struct MHD_Connection *conn)
{
    char *text;
    size_t len;
    if (sl_metrics_render(h->metrics, &text, &len) != SL_OK)
        return respond_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return respond(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static enum MHD_Result handle_status(sl_http *h, struct MHD_Connection *conn)
{
    char *json = NULL;
    int have = 0;
    pthread_mutex_lock(&h->mu);
    if (h->status) {
        have = 1;
        json = h->status(h->status_arg);
    }
    pthread_mutex_unlock(&h->mu);
    unsigned code = MHD_HTTP_OK;
    if (!json) {
        json = json_error(have ? "status unavailable" : "starting");
        code = MHD_HTTP_SERVICE_UNAVAILABLE;
        if (!json)
            return MHD_NO;
    }
    return respond(conn, code, "application/json", json, strlen(json));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    sl_http *h = cls;
    if (!*con_cls) { /* first call: the head is in */
        *con_cls = h;
        conn_answered(h, conn);
    }
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int open = strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0;
    int guarded = strcmp(url, "/metrics") == 0 || strncmp(url, "/api/", 5) == 0;
    if (guarded && !sl_http_authorized(h->token, MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                                             "Authorization"))) {
        *upload_data_size = 0;
        pthread_mutex_lock(&h->cmu);
        h->stats.unauthorized++;
        pthread_mutex_unlock(&h->cmu);
        return respond_text(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized\n");
    }
    if (!open && strcmp(url, "/metrics") != 0 && strcmp(url, "/api/status") != 0)
        return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
    if (!get) {
        *upload_data_size = 0; /* ignore any body */
        return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if (strcmp(url, "/healthz") == 0)
        return respond_text(conn, MHD_HTTP_OK, "ok\n");
    if (strcmp(url, "/readyz") == 0)
        return handle_readyz(h, conn);
    if (strcmp(url, "/metrics") == 0)
        return handle_metrics(h, conn);
    return handle_status(h, conn);
}

/* MHD's own messages (e.g. its connection limit reached): the first one of
 * every 10 s is logged, the rest counted into the next drop report. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    sl_http *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    pthread_mutex_lock(&h->cmu);
    int64_t now = sl_mono_ns();
    int say = now - h->last_warn_ns >= SL__WARN_EVERY_NS;
    if (say)
        h->last_warn_ns = now;
    else
        h->mhd_suppressed++;
    pthread_mutex_unlock(&h->cmu);
    if (say)
        sl_warn("http", "%s", msg);
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------ */

static void http_free(sl_http *h)
{
    if (h->watchdog_started) {
        pthread_mutex_lock(&h->cmu);
        h->stop = 1;
        pthread_cond_signal(&h->cv);
        pthread_mutex_unlock(&h->cmu);
        pthread_join(h->watchdog, NULL);
    }
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->cmu);
    pthread_mutex_destroy(&h->mu);
    free(h->conns);
    free(h->token);
    free(h);
}

sl_http *sl_http_start(const sl_http_options *opt, char *errstr, size_t errstr_size)
{
    sl_http_options defaults;
    memset(&defaults, 0, sizeof(defaults));
    if (!opt)
        opt = &defaults;
    const char *addr = opt->addr ? opt->addr : SL_HTTP_DEFAULT_ADDR;
    if (opt->max_connections < 0 || opt->max_per_ip < 0 || opt->deadline_ms < 0) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "http: negative limit");
        return NULL;
    }

    struct addrinfo *res;
    if (sl__http_resolve(addr, 1, &res, errstr, errstr_size) != SL_OK)
        return NULL;
    int fd = -1, err = 0, family = AF_INET;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 256) == 0) {
            family = ai->ai_family;
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        sl_seterr(errstr, errstr_size, SL_EIO, "http: cannot listen on %s: %s", addr,
                  strerror(err));
        return NULL;
    }

    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0)
        port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&ss)->sin_port);

    sl_http *h = calloc(1, sizeof(*h));
    if (!h) {
        close(fd);
        sl_seterr(errstr, errstr_size, SL_ENOMEM, "http: out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->cmu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->metrics = opt->metrics ? opt->metrics : sl_metrics_default();
    h->port = port;
    h->ready = opt->ready;
    h->ready_arg = opt->ready_arg;
    h->status = opt->status;
    h->status_arg = opt->status_arg;
    h->token = opt->token && opt->token[0] ? strdup(opt->token) : NULL;
    h->max_connections = opt->max_connections ? opt->max_connections : SL_HTTP_MAX_CONNECTIONS;
    h->max_per_ip = opt->max_per_ip ? opt->max_per_ip : SL_HTTP_MAX_PER_IP;
    if (h->max_per_ip > h->max_connections)
        h->max_per_ip = h->max_connections;
    int deadline_ms = opt->deadline_ms ? opt->deadline_ms : SL_HTTP_DEADLINE_MS;
    h->deadline_ns = (int64_t)deadline_ms * 1000000;
    /* Dropped sockets wait a turn of MHD's loop before they are closed:
     * room for as many again. */
    h->nslots = (size_t)h->max_connections * 2 + 8;
    h->conns = calloc(h->nslots, sizeof(*h->conns));
    h->last_warn_ns = sl_mono_ns() - SL__WARN_EVERY_NS;
    if (!h->conns || (opt->token && opt->token[0] && !h->token)) {
        close(fd);
        http_free(h);
        sl_seterr(errstr, errstr_size, SL_ENOMEM, "http: out of memory");
        return NULL;
    }
    if (pthread_create(&h->watchdog, NULL, watchdog_main, h) != 0) {
        close(fd);
        http_free(h);
        sl_seterr(errstr, errstr_size, SL_EIO, "http: cannot start the watchdog thread");
        return NULL;
    }
    h->watchdog_started = 1;

    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    unsigned timeout_s = (unsigned)((deadline_ms + 999) / 1000);
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->nslots,
        MHD_OPTION_CONNECTION_TIMEOUT, timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
    if (!h->daemon) {
        close(fd);
        http_free(h);
        sl_seterr(errstr, errstr_size, SL_EIO, "http: cannot start the server on %s", addr);
        return NULL;
    }
    return h;
}

int sl_http_serve_fd(sl_http *h, int fd)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (MHD_add_connection(h->daemon, fd, (const struct sockaddr *)&sa, sizeof(sa)) != MHD_YES)
        return SL_EIO; /* MHD closed fd */
    return SL_OK;
}

int sl_http_port(const sl_http *h)
{
    return h ? h->port : 0;
}

void sl_http_set_ready(sl_http *h, sl_http_ready_fn fn, void *arg)
{
    pthread_mutex_lock(&h->mu);
    h->ready = fn;
    h->ready_arg = arg;
    pthread_mutex_unlock(&h->mu);
}

void sl_http_set_status(sl_http *h, sl_http_status_fn fn, void *arg)
{
    pthread_mutex_lock(&h->mu);
    h->status = fn;
    h->status_arg = arg;
    pthread_mutex_unlock(&h->mu);
}

void sl_http_stop(sl_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon); /* joins its thread and closes the socket */
    http_free(h);
}
