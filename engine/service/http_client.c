/*
 * http_client.c - address parsing and the minimal blocking HTTP/1.0 client
 * behind `sluice health` and the tests (http.h).
 */
#include "http.h"

#include "log.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

int sl__http_resolve(const char *addr, int passive, struct addrinfo **res, char *errstr,
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
    return sl_http_get_auth(addr, path, NULL, timeout_ms, status, body, errstr, errstr_size);
}

int sl_http_get_auth(const char *addr, const char *path, const char *token, int timeout_ms,
                     int *status, char **body, char *errstr, size_t errstr_size)
{
    if (!path || path[0] != '/' || strpbrk(path, " \r\n"))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "http: bad path");
    if (token && strpbrk(token, "\r\n"))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "http: bad token (line break)");
    struct addrinfo *res;
    int rc = sl__http_resolve(addr, 0, &res, errstr, errstr_size);
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

    char req[2048];
    int n = snprintf(
        req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n%s%s%s\r\n", path,
        addr, token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
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
