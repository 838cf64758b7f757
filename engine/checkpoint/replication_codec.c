/*
 * replication_codec.c - the replication wire format, its parsers, and the
 * Curve key helpers.
 *
 * Design notes
 * ------------
 * One frame per message (the ROUTER adds and strips the identity frames; a
 * server echoes whatever envelope frames came before the body). All
 * integers little-endian (snapshot.h); str/blob = u32 length + bytes.
 *
 *   header  magic "SLRP" | version u32 (2) | type u8 | request id u64
 *   body    per type, below
 *   trailer CRC32C u32 of header + body
 *
 *   PUSH        origin str | ckpt id u64 | count u32 |
 *               count x (task u32 | committed id u64 | image blob)
 *   PUSH_ACK    status u32 (sl_err) | message str | ckpt id u64
 *   FETCH       origin str ("" = any) | task u32 | ckpt id u64 (0 = newest)
 *   FETCH_REPLY status u32 | message str | origin str | task u32 | ckpt id u64 |
 *               image blob
 *   ERROR       status u32 | message str   (request id 0 if the request's
 *               CRC failed: its id could not be trusted)
 *
 * An image is a whole snapshot file (checkpoint_image.c): built and
 * checksummed by the origin, stored verbatim by replicas, verified again by
 * whoever restores it, so a copy is checked end to end.
 *
 * Invariants:
 *   1. A message is acted on only after its magic, version and CRC check
 *      and its body parses exactly (no byte missing or left over).
 *   2. A PUSH is parsed and every image in it verified before any of it is
 *      stored: a bad message stores nothing. Its entry count is bounded
 *      (SL_REPL_MAX_PUSH_TASKS, and by the bytes present) before anything
 *      is allocated; a task appears at most once.
 *   3. Origin node ids are validated ([A-Za-z0-9._-], no leading '.')
 *      before they become a path, so a peer cannot write outside replicas/.
 */
#include "checkpoint_store.h"
#include "replication_internal.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SL__TSAN
char sl__repl_tsan_token;
#endif

bool sl_repl_node_id_valid(const char *id)
{
    if (!id || !*id || *id == '.')
        return false;
    size_t n = 0;
    for (const char *p = id; *p; p++, n++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return n <= SL_REPL_NODE_ID_MAX;
}

void sl__msg_begin(sl_buf *b, uint8_t type, uint64_t req_id)
{
    sl_buf_reset(b);
    sl_buf_put_bytes(b, SL__REPL_MAGIC, 4);
    sl_buf_put_u32(b, SL_REPL_PROTOCOL_VERSION);
    sl_buf_put_u8(b, type);
    sl_buf_put_u64(b, req_id);
}

int sl__msg_end(sl_buf *b)
{
    if (b->failed)
        return SL_ENOMEM;
    sl_buf_put_u32(b, sl_crc32c(0, b->data, b->len));
    return b->failed ? SL_ENOMEM : SL_OK;
}

int sl__msg_open(const void *data, size_t len, sl__msg *m, char *errstr, size_t errstr_size)
{
    const uint8_t *p = data;
    if (len < SL__REPL_HDR + 4)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "truncated message (%zu bytes)", len);
    if (memcmp(p, SL__REPL_MAGIC, 4) != 0)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "not a replication message");
    sl_reader r;
    sl_reader_init(&r, p + 4, len - 4);
    uint32_t version = sl_read_u32(&r);
    if (version != SL_REPL_PROTOCOL_VERSION)
        return sl_seterr(errstr, errstr_size, SL_EVERSION,
                         "protocol version %" PRIu32 ", this node speaks %u", version,
                         SL_REPL_PROTOCOL_VERSION);
    sl_reader t;
    sl_reader_init(&t, p + len - 4, 4);
    if (sl_read_u32(&t) != sl_crc32c(0, p, len - 4))
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "message checksum mismatch");
    m->type = sl_read_u8(&r);
    m->req_id = sl_read_u64(&r);
    sl_reader_init(&m->body, p + SL__REPL_HDR, len - SL__REPL_HDR - 4);
    return SL_OK;
}

void sl__read_str(sl_reader *r, char *out, size_t cap)
{
    uint32_t n = 0;
    const uint8_t *p = sl_read_blob(r, &n);
    out[0] = '\0';
    if (!p)
        return;
    if (n >= cap || memchr(p, 0, n)) {
        r->failed = 1;
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

void sl__reply_status(sl_buf *b, uint8_t type, uint64_t req_id, int status, const char *message)
{
    sl__msg_begin(b, type, req_id);
    sl_buf_put_u32(b, (uint32_t)status);
    sl_buf_put_str(b, message);
}

static int sl__cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

int sl__parse_push(sl_reader *r, uint32_t max_tasks, sl__push *out, char *errstr,
                   size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    sl__read_str(r, out->origin, sizeof out->origin);
    out->ckpt_id = sl_read_u64(r);
    uint32_t count = sl_read_u32(r);
    if (r->failed)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "malformed push");
    if (!sl_repl_node_id_valid(out->origin))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "push without a valid origin node id");
    if (out->ckpt_id == 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "checkpoint id 0");
    if (count > max_tasks)
        return sl_seterr(errstr, errstr_size, SL_ERANGE,
                         "push of %" PRIu32 " tasks, at most %" PRIu32 " allowed", count,
                         max_tasks);
    /* Each entry takes at least 16 bytes plus an image header: bounds the
     * allocation by the message size before trusting `count`. */
    if ((uint64_t)count * (16 + SL_CKPT_HEADER_SIZE) > r->len - r->pos)
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "malformed push (%" PRIu32 " entries cannot fit in %zu bytes)", count,
                         r->len - r->pos);
    sl__push_entry *e = calloc(count ? count : 1, sizeof *e);
    int32_t *sorted = calloc(count ? count : 1, sizeof *sorted);
    if (!e || !sorted) {
        free(e);
        free(sorted);
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory for %" PRIu32 " entries",
                         count);
    }
    int rc = SL_OK;
    for (uint32_t i = 0; i < count && rc == SL_OK; i++) {
        e[i].task = sorted[i] = (int32_t)sl_read_u32(r);
        e[i].committed = sl_read_u64(r);
        e[i].image = sl_read_blob(r, &e[i].len);
        if (r->failed)
            rc = sl_seterr(errstr, errstr_size, SL_ECORRUPT, "malformed push (truncated)");
    }
    if (rc == SL_OK && !sl_reader_done(r))
        rc = sl_seterr(errstr, errstr_size, SL_ECORRUPT, "malformed push (trailing bytes)");
    if (rc == SL_OK) {
        qsort(sorted, count, sizeof *sorted, sl__cmp_i32);
        for (uint32_t i = 1; i < count && rc == SL_OK; i++)
            if (sorted[i] == sorted[i - 1])
                rc = sl_seterr(errstr, errstr_size, SL_EINVAL, "push names task %" PRId32 " twice",
                               sorted[i]);
    }
    for (uint32_t i = 0; i < count && rc == SL_OK; i++) {
        char origin[SL_CKPT_ORIGIN_MAX + 1], name[48];
        int32_t task;
        uint64_t id;
        const uint8_t *p;
        size_t plen;
        snprintf(name, sizeof name, "of task %" PRId32, e[i].task);
        rc = sl_ckpt_parse(e[i].image, e[i].len, name, &task, &id, origin, &p, &plen, errstr,
                           errstr_size);
        if (rc == SL_OK &&
            (task != e[i].task || id != out->ckpt_id || strcmp(origin, out->origin) != 0))
            rc = sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                           "snapshot of task %" PRId32 " names task %" PRId32 " checkpoint %" PRIu64
                           " origin \"%s\" (push: checkpoint %" PRIu64 " from %s)",
                           e[i].task, task, id, origin, out->ckpt_id, out->origin);
        if (rc == SL_OK && e[i].committed > out->ckpt_id)
            rc = sl_seterr(errstr, errstr_size, SL_EINVAL,
                           "task %" PRId32 ": committed checkpoint %" PRIu64
                           " is newer than the pushed one",
                           e[i].task, e[i].committed);
    }
    free(sorted);
    if (rc != SL_OK) {
        free(e);
        return rc;
    }
    out->count = count;
    out->entries = e;
    return SL_OK;
}

int sl__parse_fetch(sl_reader *r, sl__fetch_req *out, char *errstr, size_t errstr_size)
{
    sl__read_str(r, out->origin, sizeof out->origin);
    out->task = (int32_t)sl_read_u32(r);
    out->ckpt_id = sl_read_u64(r);
    if (!sl_reader_done(r))
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT, "malformed fetch");
    if (out->origin[0] && !sl_repl_node_id_valid(out->origin))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "invalid origin node id");
    return SL_OK;
}

int sl__parse_ack(sl_reader *r, uint8_t type, sl__ack *out)
{
    out->status = (int)sl_read_u32(r);
    sl__read_str(r, out->message, sizeof out->message);
    out->ckpt_id = type == SL__MSG_PUSH_ACK ? sl_read_u64(r) : 0;
    return sl_reader_done(r) ? SL_OK : SL_ECORRUPT;
}

int sl__parse_fetch_reply(sl_reader *r, uint8_t type, sl__fetch_reply *out)
{
    memset(out, 0, sizeof *out);
    out->status = (int)sl_read_u32(r);
    sl__read_str(r, out->message, sizeof out->message);
    if (type == SL__MSG_ERROR)
        return sl_reader_done(r) ? SL_OK : SL_ECORRUPT;
    sl__read_str(r, out->origin, sizeof out->origin);
    out->task = (int32_t)sl_read_u32(r);
    out->ckpt_id = sl_read_u64(r);
    out->image = sl_read_blob(r, &out->len);
    if (!sl_reader_done(r) || (out->origin[0] && !sl_repl_node_id_valid(out->origin)))
        return SL_ECORRUPT;
    return SL_OK;
}

int sl__repl_parse_any(const void *data, size_t len, char *errstr, size_t errstr_size)
{
    sl__msg m;
    int rc = sl__msg_open(data, len, &m, errstr, errstr_size);
    if (rc != SL_OK)
        return rc;
    switch (m.type) {
    case SL__MSG_PUSH: {
        sl__push p;
        rc = sl__parse_push(&m.body, SL_REPL_MAX_PUSH_TASKS, &p, errstr, errstr_size);
        if (rc == SL_OK)
            free(p.entries);
        return rc;
    }
    case SL__MSG_FETCH: {
        sl__fetch_req f;
        return sl__parse_fetch(&m.body, &f, errstr, errstr_size);
    }
    case SL__MSG_PUSH_ACK:
    case SL__MSG_ERROR: {
        sl__ack a;
        return sl__parse_ack(&m.body, m.type, &a);
    }
    case SL__MSG_FETCH_REPLY: {
        sl__fetch_reply f;
        rc = sl__parse_fetch_reply(&m.body, m.type, &f);
        if (rc == SL_OK && f.status == SL_OK) {
            int32_t task;
            uint64_t id;
            char origin[SL_CKPT_ORIGIN_MAX + 1];
            const uint8_t *p;
            size_t plen;
            rc = sl_ckpt_parse(f.image, f.len, "fetched", &task, &id, origin, &p, &plen, errstr,
                               errstr_size);
        }
        return rc;
    }
    default:
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "unexpected message type %u", m.type);
    }
}

static void sl__free_buf(void *data, void *hint)
{
    (void)hint;
    SL__ZMQ_RECEIVED(); /* called by libzmq from whichever thread */
    free(data);
}

int sl__msg_from_buf(zmq_msg_t *msg, sl_buf *b)
{
    if (zmq_msg_init_data(msg, b->data, b->len, sl__free_buf, NULL) != 0)
        return SL_ENOMEM;
    sl_buf_init(b);
    return SL_OK;
}

void sl__set_int(void *sock, int opt, int v)
{
    (void)zmq_setsockopt(sock, opt, &v, sizeof v);
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                      */
/* ------------------------------------------------------------------------ */

bool sl_repl_curve_available(void)
{
    return zmq_has("curve") != 0;
}

int sl_repl_keygen(char *pub, char *sec, char *errstr, size_t errstr_size)
{
    if (!sl_repl_curve_available())
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "this libzmq has no CurveZMQ support (built without libsodium)");
    /* Keys are pasted into definitions, where "${" starts a variable
     * reference: a pair with "${" in either key is drawn again (about one
     * pair in a hundred). */
    for (int tries = 0; tries < 1000; tries++) {
        if (zmq_curve_keypair(pub, sec) != 0)
            return sl_seterr(errstr, errstr_size, SL_EIO, "zmq_curve_keypair: %s",
                             zmq_strerror(zmq_errno()));
        if (!strstr(pub, "${") && !strstr(sec, "${"))
            return SL_OK;
    }
    return sl_seterr(errstr, errstr_size, SL_EIO, "zmq_curve_keypair: no usable key pair");
}

bool sl_repl_key_valid(const char *key)
{
    uint8_t bin[32];
    return key && strlen(key) == SL_REPL_KEY_LEN && zmq_z85_decode(bin, key) != NULL;
}

int sl_repl_public_key(const char *secret, char *pub)
{
    if (!sl_repl_key_valid(secret) || zmq_curve_public(pub, secret) != 0)
        return SL_EINVAL;
    return SL_OK;
}

bool sl_repl_endpoint_is_loopback(const char *ep)
{
    if (!ep)
        return false;
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
        return true;
    if (strncmp(ep, "tcp://", 6) != 0)
        return false;
    const char *h = ep + 6;
    char host[256];
    size_t n;
    if (*h == '[') { /* [v6]:port */
        const char *e = strchr(h, ']');
        if (!e)
            return false;
        n = (size_t)(e - h - 1);
        h++;
    } else {
        const char *e = strrchr(h, ':');
        n = e ? (size_t)(e - h) : strlen(h);
    }
    if (n == 0 || n >= sizeof host)
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    if (strcmp(host, "localhost") == 0)
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}
