/*
 * http.c - health, readiness, metrics and status endpoints on libmicrohttpd.
 *
 * The listening socket is created here (so a bind failure reports errno)
 * and handed to MHD, which runs one internal polling thread and closes the
 * socket when stopped. Callbacks are called with h->mu held, which is what
 * lets sl_http_set_ready/status promise that a replaced callback is no
 * longer running.
 */
#include "http.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct sl_http {
    struct MHD_Daemon *daemon;
    sl_metrics *metrics;
    int port;
    pthread_mutex_t mu;
    sl_http_ready_fn ready;
    void *ready_arg;
    sl_http_status_fn status;
    void *status_arg;
};

/* ------------------------------------------------------------------------
 * Addresses
 * ------------------------------------------------------------------------ */

int sl_http_parse_addr(const char *addr, char *host, size_t host_size, int *port, char *errstr,
                       size_t errstr_size)
{
    if (!addr || !*addr)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "http: empty address");
    const char *h = addr, *hend, *colon;
    if (*addr == '[') {
        hend = strchr(addr, ']');
        if (!hend || hend[1] != ':')
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "http: bad address \"%s\" (want [v6addr]:port)", addr);
        h = addr + 1;
        colon = hend + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "http: bad address \"%s\" (want host:port)", addr);
        hend = colon;
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen + 1 > host_size)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "http: host too long in \"%s\"", addr);
    const char *p = colon + 1;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (!*p || *end || errno || v < 0 || v > 65535 || *p == '-' || *p == '+')
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "http: bad port in \"%s\"", addr);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)v;
    return SL_OK;
}

/* Resolves host:port. `passive`: an empty host means every interface,
 * otherwise loopback. Returns 0 and *res (freeaddrinfo), or an error. */
static int resolve(const char *addr, int passive, struct addrinfo **res, char *errstr,
                   size_t errstr_size)
{
    char host[256];
    int port;
    int rc = sl_http_parse_addr(addr, host, sizeof(host), &port, errstr, errstr_size);
    if (rc)
        return rc;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int gai = getaddrinfo(*host ? host : (passive ? NULL : "127.0.0.1"), service, &hints, res);
    if (gai != 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "http: cannot resolve \"%s\": %s", addr,
                         gai_strerror(gai));
    return SL_OK;
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
    (void)con_cls;
    sl_http *h = cls;
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int known = strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0 ||
                strcmp(url, "/metrics") == 0 || strcmp(url, "/api/status") == 0;
    if (!known)
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

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    sl_warn("http", "%s", msg);
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------ */

sl_http *sl_http_start(const sl_http_options *opt, char *errstr, size_t errstr_size)
{
    sl_http_options defaults;
    memset(&defaults, 0, sizeof(defaults));
    if (!opt)
        opt = &defaults;
    const char *addr = opt->addr ? opt->addr : SL_HTTP_DEFAULT_ADDR;

    struct addrinfo *res;
    if (resolve(addr, 1, &res, errstr, errstr_size) != SL_OK)
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
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
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
    if (!h || pthread_mutex_init(&h->mu, NULL) != 0) {
        free(h);
        close(fd);
        sl_seterr(errstr, errstr_size, SL_ENOMEM, "http: out of memory");
        return NULL;
    }
    h->metrics = opt->metrics ? opt->metrics : sl_metrics_default();
    h->port = port;
    h->ready = opt->ready;
    h->ready_arg = opt->ready_arg;
    h->status = opt->status;
    h->status_arg = opt->status_arg;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                                 mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!h->daemon) {
        close(fd);
        pthread_mutex_destroy(&h->mu);
        free(h);
        sl_seterr(errstr, errstr_size, SL_EIO, "http: cannot start the server on %s", addr);
        return NULL;
    }
    return h;
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
    pthread_mutex_destroy(&h->mu);
    free(h);
}

/* ------------------------------------------------------------------------
 * Client
 * ------------------------------------------------------------------------ */

/* Waits for `events` on fd until the deadline. 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline_ns)
{
    for (;;) {
        int64_t left_ms = (deadline_ns - sl_mono_ns()) / 1000000;
        if (left_ms <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)left_ms);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

int sl_http_get(const char *addr, const char *path, int timeout_ms, int *status, char **body,
                char *errstr, size_t errstr_size)
{
    if (!path || path[0] != '/' || strpbrk(path, " \r\n"))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "http: bad path");
    struct addrinfo *res;
    int rc = resolve(addr, 0, &res, errstr, errstr_size);
    if (rc)
        return rc;
    int64_t deadline = sl_mono_ns() + (int64_t)timeout_ms * 1000000;
    int fd = -1, err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            int ok = 0;
            if (errno == EINPROGRESS) {
                int w = wait_fd(fd, POLLOUT, deadline);
                socklen_t sl = sizeof(err);
                if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err == 0)
                    ok = 1;
                else if (w == 0)
                    err = ETIMEDOUT;
            } else {
                err = errno;
            }
            if (!ok) {
                close(fd);
                fd = -1;
            }
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return sl_seterr(errstr, errstr_size, err == ETIMEDOUT ? SL_ETIMEOUT : SL_EIO,
                         "http: cannot connect to %s: %s", addr, strerror(err));

    char req[1024];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     path, addr);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        close(fd);
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "http: request too long");
    }
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline) == 1)
            continue;
        close(fd);
        return sl_seterr(errstr, errstr_size, SL_EIO, "http: send to %s failed", addr);
    }

    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    rc = SL_OK;
    while (buf) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r > 0) {
            len += (size_t)r;
            continue;
        }
        if (r == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            int w = wait_fd(fd, POLLIN, deadline);
            if (w == 1)
                continue;
            rc = w == 0 ? SL_ETIMEOUT : SL_EIO;
        } else {
            rc = SL_EIO;
        }
        break;
    }
    close(fd);
    if (!buf)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "http: out of memory");
    if (rc) {
        free(buf);
        return sl_seterr(errstr, errstr_size, rc, "http: reading from %s: %s", addr,
                         rc == SL_ETIMEOUT ? "timed out" : "failed");
    }
    buf[len] = '\0';
    int code = 0;
    char *sep = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/%*d.%*d %d", &code) != 1 || !sep) {
        free(buf);
        return sl_seterr(errstr, errstr_size, SL_EIO, "http: bad response from %s", addr);
    }
    *status = code;
    if (body) {
        size_t blen = len - (size_t)(sep + 4 - buf);
        memmove(buf, sep + 4, blen + 1);
        *body = buf;
    } else {
        free(buf);
    }
    return SL_OK;
}
