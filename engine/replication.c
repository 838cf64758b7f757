/*
 * replication.c - checkpoint snapshots shipped between nodes over ZeroMQ.
 *
 * Design notes
 * ------------
 * Sockets. Every node runs one server: a ROUTER bound to its `listen`
 * endpoint, owned by the server thread, which also owns the checkpoint-store
 * handles it uses. The client (the checkpoint coordinator's thread) holds
 * one DEALER per peer, connected with ZMQ_IMMEDIATE so nothing is queued for
 * a peer that is not connected (a message to a down peer is not sent at all
 * rather than delivered stale when it comes back), ZMQ_LINGER 0, and
 * ZMQ heartbeats so a vanished peer's connection is dropped.
 *
 * Wire format: one frame per message (the ROUTER adds and strips the
 * identity frames; a server echoes whatever envelope frames came before the
 * body). All integers little-endian (snapshot.h); str/blob = u32 length +
 * bytes.
 *
 *   header  magic "SLRP" | version u32 (1) | type u8 | request id u64
 *   body    per type, below
 *   trailer CRC32C u32 of header + body
 *
 *   PUSH        origin str | ckpt id u64 | committed id u64 | count u32 |
 *               count x (task u32 | payload blob)
 *   PUSH_ACK    status u32 (sl_err) | message str | ckpt id u64
 *   FETCH       origin str ("" = any) | task u32 | ckpt id u64 (0 = newest)
 *   FETCH_REPLY status u32 | message str | origin str | task u32 | ckpt id u64 |
 *               payload blob
 *   ERROR       status u32 | message str   (request id 0 if the request's
 *               CRC failed: its id could not be trusted)
 *
 * Invariants:
 *   1. A message is acted on only after its magic, version and CRC check
 *      and its body parses exactly (no byte missing or left over). A server
 *      parses a whole PUSH before storing any snapshot of it: a bad message
 *      stores nothing.
 *   2. A PUSH_ACK with status SL_OK is sent only after every snapshot of the
 *      push and then the checkpoint's manifest are durable in
 *      replicas/<origin>/ (checkpoint_store: write, fsync, rename, fsync dir).
 *   3. A client counts an answer only if it carries the request id of the
 *      current call and comes from the peer's own socket; answers to
 *      earlier, timed-out calls are discarded. So an ack can never be
 *      credited to the wrong checkpoint.
 *   4. sl_repl_push returns SL_OK only with `replicas` distinct peers' OK
 *      acks for this checkpoint id; on any other outcome the caller must not
 *      commit offsets for the checkpoint.
 *   5. Origin node ids are validated ([A-Za-z0-9._-], no leading '.') before
 *      they become a path, so a peer cannot write outside replicas/.
 *
 * A client call, per peer:
 *
 *   UNSENT --send ok (peer connected, room in pipe)--> WAITING
 *   UNSENT --deadline--> (no answer: "not connected")
 *   WAITING --reply with our request id--> ANSWERED (ok / error / not found)
 *   WAITING --corrupt or stale reply--> WAITING (noted)
 *   WAITING --deadline--> (no answer)
 *
 * The call ends when its goal is met (push: `replicas` OK acks; fetch of a
 * given id: the first copy), when it can no longer be met (push: too many
 * error acks), when every peer answered, or at the deadline.
 */
#include "replication.h"
#include "checkpoint_store.h"
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

/* ThreadSanitizer cannot see the synchronisation inside libzmq (built
 * without instrumentation), so a buffer written by one thread and read by
 * another after passing through a socket looks like a race. Model every
 * send as a release and every receive as an acquire on one token. */
#if defined(__SANITIZE_THREAD__)
#define SL__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SL__TSAN 1
#endif
#endif
#ifdef SL__TSAN
#include <sanitizer/tsan_interface.h>
static char sl__tsan_zmq_token;
#define SL__ZMQ_WILL_SEND() __tsan_release(&sl__tsan_zmq_token)
#define SL__ZMQ_RECEIVED()  __tsan_acquire(&sl__tsan_zmq_token)
#else
#define SL__ZMQ_WILL_SEND() ((void)0)
#define SL__ZMQ_RECEIVED()  ((void)0)
#endif

#define SL__REPL_MAGIC      "SLRP"
#define SL__REPL_HDR        17 /* magic 4 + version 4 + type 1 + request id 8 */
#define SL__REPL_MAX_FRAMES 8
#define SL__REPL_MAX_TASKS  (1u << 20)
#define SL__REPL_MAX_MSG    (1LL << 30)

enum {
    SL__MSG_PUSH = 1,
    SL__MSG_PUSH_ACK = 2,
    SL__MSG_FETCH = 3,
    SL__MSG_FETCH_REPLY = 4,
    SL__MSG_ERROR = 5,
};

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

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */
/* ------------------------------------------------------------------------ */

static void sl__msg_begin(sl_buf *b, uint8_t type, uint64_t req_id)
{
    sl_buf_reset(b);
    sl_buf_put_bytes(b, SL__REPL_MAGIC, 4);
    sl_buf_put_u32(b, SL_REPL_PROTOCOL_VERSION);
    sl_buf_put_u8(b, type);
    sl_buf_put_u64(b, req_id);
}

/* Appends the CRC trailer. Returns SL_OK or SL_ENOMEM. */
static int sl__msg_end(sl_buf *b)
{
    if (b->failed)
        return SL_ENOMEM;
    sl_buf_put_u32(b, sl_crc32c(0, b->data, b->len));
    return b->failed ? SL_ENOMEM : SL_OK;
}

typedef struct sl__msg {
    uint8_t type;
    uint64_t req_id;
    sl_reader body;
} sl__msg;

/* Checks magic, version and CRC (invariant 1). On SL_OK m->body reads the
 * body. */
static int sl__msg_open(const void *data, size_t len, sl__msg *m, char *errstr, size_t errstr_size)
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

/* Reads a str field into out[cap] (NUL-terminated). Fails the reader when
 * it does not fit or contains a NUL. */
static void sl__read_str(sl_reader *r, char *out, size_t cap)
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

static void sl__free_buf(void *data, void *hint)
{
    (void)hint;
    SL__ZMQ_RECEIVED(); /* called by libzmq from whichever thread */
    free(data);
}

/* Hands the buffer's memory to a zmq message (zero copy); resets b. */
static int sl__msg_from_buf(zmq_msg_t *msg, sl_buf *b)
{
    if (zmq_msg_init_data(msg, b->data, b->len, sl__free_buf, NULL) != 0)
        return SL_ENOMEM;
    sl_buf_init(b);
    return SL_OK;
}

/* ------------------------------------------------------------------------ */
/* Server                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct sl__area {
    char origin[SL_REPL_NODE_ID_MAX + 1];
    sl_ckpt_store *store;
} sl__area;

struct sl_repl_server {
    void *ctx;
    int own_ctx;
    void *router, *ctl_main, *ctl_thread;
    pthread_t thread;
    char node_id[SL_REPL_NODE_ID_MAX + 1];
    char endpoint[256];
    char *store_dir;
    char *replicas_dir;
    int keep;
    /* @locality server thread only, after start */
    sl_ckpt_store *own;
    sl__area *areas;
    size_t nareas;
    _Atomic uint64_t n_pushes, n_push_fail, n_fetches, n_fetch_miss, n_bad;
};

/* Returns the replica store of `origin`, opening (creating) it on first
 * use, or NULL with errstr. @locality server thread */
static sl_ckpt_store *sl__area_store(sl_repl_server *s, const char *origin, int create,
                                     char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < s->nareas; i++)
        if (strcmp(s->areas[i].origin, origin) == 0)
            return s->areas[i].store;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->replicas_dir, origin);
    struct stat st;
    if (!create && stat(path, &st) != 0) {
        sl_seterr(errstr, errstr_size, SL_ENOTFOUND, "no replica area for %s", origin);
        return NULL;
    }
    sl_ckpt_store *st_ = sl_ckpt_store_open(path, s->keep, errstr, errstr_size);
    if (!st_)
        return NULL;
    s->areas = sl_xrealloc(s->areas, (s->nareas + 1) * sizeof *s->areas);
    snprintf(s->areas[s->nareas].origin, sizeof s->areas[0].origin, "%s", origin);
    s->areas[s->nareas].store = st_;
    s->nareas++;
    return st_;
}

/* Opens every replica area present on disk (after a restart the cache is
 * empty). @locality server thread */
static void sl__open_all_areas(sl_repl_server *s)
{
    DIR *d = opendir(s->replicas_dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!sl_repl_node_id_valid(e->d_name))
            continue;
        char err[64];
        (void)sl__area_store(s, e->d_name, 0, err, sizeof err);
    }
    closedir(d);
}

static void sl__reply_status(sl_buf *b, uint8_t type, uint64_t req_id, int status,
                             const char *message)
{
    sl__msg_begin(b, type, req_id);
    sl_buf_put_u32(b, (uint32_t)status);
    sl_buf_put_str(b, message);
}

static void sl__handle_push(sl_repl_server *s, sl__msg *m, sl_buf *out)
{
    char origin[SL_REPL_NODE_ID_MAX + 1], err[512];
    sl_reader *r = &m->body;
    uint32_t olen = 0;
    const uint8_t *op = sl_read_blob(r, &olen);
    uint64_t ckpt_id = sl_read_u64(r);
    uint64_t committed = sl_read_u64(r);
    uint32_t count = sl_read_u32(r);
    int status = SL_OK;
    /* Each entry takes at least 8 bytes: bounds the allocation by the
     * message size before trusting `count`. */
    if (r->failed || count > SL__REPL_MAX_TASKS || (uint64_t)count * 8 > r->len - r->pos) {
        status = sl_seterr(err, sizeof err, SL_ECORRUPT, "malformed push");
        goto reply;
    }
    sl_repl_snapshot *snaps = sl_xcalloc(count ? count : 1, sizeof *snaps);
    int32_t *tasks = sl_xcalloc(count ? count : 1, sizeof *tasks);
    for (uint32_t i = 0; i < count; i++) {
        tasks[i] = snaps[i].task = (int32_t)sl_read_u32(r);
        uint32_t n = 0;
        snaps[i].data = sl_read_blob(r, &n);
        snaps[i].len = n;
    }
    if (!sl_reader_done(r)) {
        status = sl_seterr(err, sizeof err, SL_ECORRUPT, "malformed push (%s)",
                           r->failed ? "truncated" : "trailing bytes");
    } else if (!op || olen == 0 || olen > SL_REPL_NODE_ID_MAX) {
        status = sl_seterr(err, sizeof err, SL_EINVAL, "push without a valid origin node id");
    } else {
        memcpy(origin, op, olen);
        origin[olen] = '\0';
        if (!sl_repl_node_id_valid(origin))
            status = sl_seterr(err, sizeof err, SL_EINVAL, "invalid origin node id");
        else if (strcmp(origin, s->node_id) == 0)
            status =
                sl_seterr(err, sizeof err, SL_EINVAL,
                          "push from %s to itself (is this node listed among its peers?)", origin);
        else if (ckpt_id == 0)
            status = sl_seterr(err, sizeof err, SL_EINVAL, "checkpoint id 0");
    }
    if (status == SL_OK) {
        sl_ckpt_store *st = sl__area_store(s, origin, 1, err, sizeof err);
        if (!st)
            status = SL_EIO;
        if (st) {
            sl_ckpt_store_protect(st, committed);
            for (uint32_t i = 0; i < count && status == SL_OK; i++)
                status = sl_ckpt_store_put(st, snaps[i].task, ckpt_id, snaps[i].data, snaps[i].len,
                                           err, sizeof err);
            if (status == SL_OK)
                status = sl_ckpt_store_put_manifest(st, ckpt_id, tasks, count, err, sizeof err);
        }
    }
    free(snaps);
    free(tasks);
reply:
    atomic_fetch_add_explicit(status == SL_OK ? &s->n_pushes : &s->n_push_fail, 1,
                              memory_order_relaxed);
    if (status == SL_ECORRUPT)
        atomic_fetch_add_explicit(&s->n_bad, 1, memory_order_relaxed);
    sl__reply_status(out, SL__MSG_PUSH_ACK, m->req_id, status, status == SL_OK ? "" : err);
    sl_buf_put_u64(out, ckpt_id);
}

static void sl__handle_fetch(sl_repl_server *s, sl__msg *m, sl_buf *out)
{
    char origin[SL_REPL_NODE_ID_MAX + 1], err[512] = "";
    sl_reader *r = &m->body;
    sl__read_str(r, origin, sizeof origin);
    int32_t task = (int32_t)sl_read_u32(r);
    uint64_t want = sl_read_u64(r);
    void *payload = NULL;
    size_t len = 0;
    uint64_t found = 0;
    const char *found_origin = "";
    int status;
    if (!sl_reader_done(r)) {
        status = sl_seterr(err, sizeof err, SL_ECORRUPT, "malformed fetch");
        atomic_fetch_add_explicit(&s->n_bad, 1, memory_order_relaxed);
        goto reply;
    }
    if (origin[0] && !sl_repl_node_id_valid(origin)) {
        status = sl_seterr(err, sizeof err, SL_EINVAL, "invalid origin node id");
        goto reply;
    }
    /* Candidate stores: own checkpoints, then replica areas. */
    sl__open_all_areas(s);
    size_t ncand = 1 + s->nareas;
    status = SL_ENOTFOUND;
    sl_seterr(err, sizeof err, SL_ENOTFOUND, "node %s has no snapshot of task %" PRId32 "%s",
              s->node_id, task, want ? "" : " at all");
    for (size_t i = 0; i < ncand; i++) {
        sl_ckpt_store *st = i == 0 ? s->own : s->areas[i - 1].store;
        const char *o = i == 0 ? s->node_id : s->areas[i - 1].origin;
        if (origin[0] && strcmp(origin, o) != 0)
            continue;
        void *p = NULL;
        size_t n = 0;
        uint64_t id = want;
        char e2[512];
        int rc = want ? sl_ckpt_store_get(st, task, want, &p, &n, e2, sizeof e2)
                      : sl_ckpt_store_get_latest(st, task, &id, &p, &n, e2, sizeof e2);
        if (rc == SL_OK && (status != SL_OK || id > found)) {
            free(payload);
            payload = p;
            len = n;
            found = id;
            found_origin = o;
            status = SL_OK;
            if (want)
                break;
        } else {
            free(p);
            if (rc != SL_OK && rc != SL_ENOTFOUND && status != SL_OK) {
                /* A bad copy: say so unless another copy is found. */
                status = rc;
                snprintf(err, sizeof err, "%s", e2);
            }
        }
    }
    if (status == SL_OK && len > UINT32_MAX) {
        status = sl_seterr(err, sizeof err, SL_ERANGE, "snapshot too large to send");
        free(payload);
        payload = NULL;
        len = 0;
    }
reply:
    atomic_fetch_add_explicit(status == SL_OK ? &s->n_fetches : &s->n_fetch_miss, 1,
                              memory_order_relaxed);
    sl__reply_status(out, SL__MSG_FETCH_REPLY, m->req_id, status, status == SL_OK ? "" : err);
    sl_buf_put_str(out, found_origin);
    sl_buf_put_u32(out, (uint32_t)task);
    sl_buf_put_u64(out, found);
    sl_buf_put_blob(out, payload, status == SL_OK ? len : 0);
    free(payload);
}

/* Receives one request (all its frames), answers it. @locality server
 * thread */
static void sl__server_handle(sl_repl_server *s)
{
    zmq_msg_t frames[SL__REPL_MAX_FRAMES];
    int nf = 0, more = 1, too_many = 0;
    while (more) {
        zmq_msg_t f;
        zmq_msg_init(&f);
        if (zmq_msg_recv(&f, s->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f);
            break;
        }
        SL__ZMQ_RECEIVED();
        more = zmq_msg_more(&f);
        if (nf < SL__REPL_MAX_FRAMES)
            frames[nf++] = f;
        else {
            too_many = 1;
            zmq_msg_close(&f);
        }
    }
    if (nf < 2 || too_many) {
        atomic_fetch_add_explicit(&s->n_bad, 1, memory_order_relaxed);
        for (int i = 0; i < nf; i++)
            zmq_msg_close(&frames[i]);
        return;
    }
    zmq_msg_t *body = &frames[nf - 1];
    sl_buf out;
    sl_buf_init(&out);
    sl__msg m;
    char err[256];
    int rc = sl__msg_open(zmq_msg_data(body), zmq_msg_size(body), &m, err, sizeof err);
    if (rc != SL_OK) {
        atomic_fetch_add_explicit(&s->n_bad, 1, memory_order_relaxed);
        sl__reply_status(&out, SL__MSG_ERROR, 0, rc, err);
    } else if (m.type == SL__MSG_PUSH) {
        sl__handle_push(s, &m, &out);
    } else if (m.type == SL__MSG_FETCH) {
        sl__handle_fetch(s, &m, &out);
    } else {
        atomic_fetch_add_explicit(&s->n_bad, 1, memory_order_relaxed);
        snprintf(err, sizeof err, "unexpected message type %u", m.type);
        sl__reply_status(&out, SL__MSG_ERROR, m.req_id, SL_EINVAL, err);
    }
    zmq_msg_t reply;
    if (sl__msg_end(&out) != SL_OK || sl__msg_from_buf(&reply, &out) != SL_OK) {
        sl_buf_free(&out);
        for (int i = 0; i < nf; i++)
            zmq_msg_close(&frames[i]);
        return;
    }
    /* Echo the envelope, then the reply. A peer that went away: the ROUTER
     * drops the reply. */
    SL__ZMQ_WILL_SEND();
    for (int i = 0; i < nf - 1; i++)
        if (zmq_msg_send(&frames[i], s->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            zmq_msg_close(&frames[i]);
    if (zmq_msg_send(&reply, s->router, ZMQ_DONTWAIT) < 0)
        zmq_msg_close(&reply);
    zmq_msg_close(body);
}

static void *sl__server_main(void *arg)
{
    sl_repl_server *s = arg;
    zmq_pollitem_t items[2] = {
        {s->router, 0, ZMQ_POLLIN, 0},
        {s->ctl_thread, 0, ZMQ_POLLIN, 0},
    };
    for (;;) {
        if (zmq_poll(items, 2, -1) < 0) {
            if (errno == ETERM)
                break;
            continue; /* EINTR */
        }
        if (items[1].revents & ZMQ_POLLIN) {
            SL__ZMQ_RECEIVED();
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            sl__server_handle(s);
    }
    return NULL;
}

static void sl__set_int(void *sock, int opt, int v)
{
    (void)zmq_setsockopt(sock, opt, &v, sizeof v);
}

static void sl__server_free(sl_repl_server *s)
{
    if (s->router)
        zmq_close(s->router);
    if (s->ctl_main)
        zmq_close(s->ctl_main);
    if (s->ctl_thread)
        zmq_close(s->ctl_thread);
    if (s->own_ctx && s->ctx)
        zmq_ctx_term(s->ctx);
    sl_ckpt_store_close(s->own);
    for (size_t i = 0; i < s->nareas; i++)
        sl_ckpt_store_close(s->areas[i].store);
    free(s->areas);
    free(s->store_dir);
    free(s->replicas_dir);
    free(s);
}

sl_repl_server *sl_repl_server_start(const sl_repl_server_conf *conf, char *errstr,
                                     size_t errstr_size)
{
    if (!conf || !sl_repl_node_id_valid(conf->node_id)) {
        sl_seterr(errstr, errstr_size, SL_EINVAL,
                  "replication: node id must be 1..64 of [A-Za-z0-9._-], not starting with '.'");
        return NULL;
    }
    if (!conf->endpoint || !conf->store_dir || conf->keep < 1) {
        sl_seterr(errstr, errstr_size, SL_EINVAL,
                  "replication: endpoint, store directory and keep >= 1 are required");
        return NULL;
    }
    sl_repl_server *s = sl_xcalloc(1, sizeof *s);
    snprintf(s->node_id, sizeof s->node_id, "%s", conf->node_id);
    s->store_dir = sl_xstrdup(conf->store_dir);
    size_t rl = strlen(conf->store_dir) + sizeof "/replicas";
    s->replicas_dir = sl_xmalloc(rl);
    snprintf(s->replicas_dir, rl, "%s/replicas", conf->store_dir);
    s->keep = conf->keep;
    s->own = sl_ckpt_store_open(conf->store_dir, conf->keep, errstr, errstr_size);
    if (!s->own) {
        sl__server_free(s);
        return NULL;
    }
    s->ctx = conf->zmq_ctx;
    if (!s->ctx) {
        s->ctx = zmq_ctx_new();
        s->own_ctx = 1;
        if (!s->ctx) {
            sl_seterr(errstr, errstr_size, SL_ENOMEM, "replication: zmq_ctx_new: %s",
                      zmq_strerror(errno));
            sl__server_free(s);
            return NULL;
        }
    }
    s->router = zmq_socket(s->ctx, ZMQ_ROUTER);
    s->ctl_main = zmq_socket(s->ctx, ZMQ_PAIR);
    s->ctl_thread = zmq_socket(s->ctx, ZMQ_PAIR);
    if (!s->router || !s->ctl_main || !s->ctl_thread) {
        sl_seterr(errstr, errstr_size, SL_EIO, "replication: zmq_socket: %s", zmq_strerror(errno));
        sl__server_free(s);
        return NULL;
    }
    sl__set_int(s->router, ZMQ_LINGER, 0);
    sl__set_int(s->router, ZMQ_HEARTBEAT_IVL, 1000);
    sl__set_int(s->router, ZMQ_HEARTBEAT_TIMEOUT, 3000);
    int64_t maxmsg = SL__REPL_MAX_MSG;
    zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    sl__set_int(s->ctl_main, ZMQ_LINGER, 0);
    sl__set_int(s->ctl_thread, ZMQ_LINGER, 0);
    if (zmq_bind(s->router, conf->endpoint) != 0) {
        sl_seterr(errstr, errstr_size, SL_EIO, "replication: binding %s: %s", conf->endpoint,
                  zmq_strerror(errno));
        sl__server_free(s);
        return NULL;
    }
    size_t elen = sizeof s->endpoint;
    if (zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, s->endpoint, &elen) != 0)
        snprintf(s->endpoint, sizeof s->endpoint, "%s", conf->endpoint);
    /* A fresh name each time: zmq_close unbinds inproc names asynchronously,
     * so reusing one (e.g. the same heap address) could hit EADDRINUSE. */
    static _Atomic uint64_t ctl_seq;
    char ctl[64];
    snprintf(ctl, sizeof ctl, "inproc://sl-repl-ctl-%" PRIu64,
             atomic_fetch_add_explicit(&ctl_seq, 1, memory_order_relaxed));
    if (zmq_bind(s->ctl_thread, ctl) != 0 || zmq_connect(s->ctl_main, ctl) != 0) {
        sl_seterr(errstr, errstr_size, SL_EIO, "replication: control pipe: %s",
                  zmq_strerror(errno));
        sl__server_free(s);
        return NULL;
    }
    int prc = pthread_create(&s->thread, NULL, sl__server_main, s);
    if (prc != 0) {
        sl_seterr(errstr, errstr_size, SL_EIO, "replication: starting thread: %s", strerror(prc));
        sl__server_free(s);
        return NULL;
    }
    return s;
}

const char *sl_repl_server_endpoint(const sl_repl_server *s)
{
    return s->endpoint;
}

void sl_repl_server_stats_get(const sl_repl_server *s, sl_repl_server_stats *out)
{
    sl_repl_server *m = (sl_repl_server *)s;
    out->pushes_stored = atomic_load_explicit(&m->n_pushes, memory_order_relaxed);
    out->push_failures = atomic_load_explicit(&m->n_push_fail, memory_order_relaxed);
    out->fetches_served = atomic_load_explicit(&m->n_fetches, memory_order_relaxed);
    out->fetch_misses = atomic_load_explicit(&m->n_fetch_miss, memory_order_relaxed);
    out->bad_messages = atomic_load_explicit(&m->n_bad, memory_order_relaxed);
}

void sl_repl_server_stop(sl_repl_server *s)
{
    if (!s)
        return;
    SL__ZMQ_WILL_SEND();
    (void)zmq_send(s->ctl_main, "", 0, 0);
    pthread_join(s->thread, NULL);
    sl__server_free(s);
}

/* ------------------------------------------------------------------------ */
/* Client                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct sl__peer {
    char *endpoint;
    void *sock;
} sl__peer;

struct sl_repl_client {
    void *ctx;
    int own_ctx;
    char node_id[SL_REPL_NODE_ID_MAX + 1];
    sl__peer *peers;
    size_t npeers;
    uint64_t next_req;
};

enum { SL__P_UNSENT, SL__P_WAITING, SL__P_ANSWERED };

#define SL__NOTE_SIZE 256

/* One call in progress: per-peer state and notes for errstr. */
typedef struct sl__call {
    sl_repl_client *c;
    uint64_t req_id;
    uint8_t reply_type;
    int *state;
    char (*note)[SL__NOTE_SIZE];
    /* Called for each answer to this call (type reply_type or ERROR with
     * this request id). Returns 1 when the call's goal is decided. */
    int (*on_reply)(struct sl__call *call, size_t peer, sl__msg *m);
    void *ctx;
} sl__call;

void sl_repl_client_free(sl_repl_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npeers; i++) {
        if (c->peers[i].sock)
            zmq_close(c->peers[i].sock);
        free(c->peers[i].endpoint);
    }
    free(c->peers);
    if (c->own_ctx && c->ctx)
        zmq_ctx_term(c->ctx);
    free(c);
}

sl_repl_client *sl_repl_client_new(const sl_repl_client_conf *conf, char *errstr,
                                   size_t errstr_size)
{
    if (!conf || !sl_repl_node_id_valid(conf->node_id)) {
        sl_seterr(errstr, errstr_size, SL_EINVAL,
                  "replication: node id must be 1..64 of [A-Za-z0-9._-], not starting with '.'");
        return NULL;
    }
    if (conf->npeers && !conf->peers) {
        sl_seterr(errstr, errstr_size, SL_EINVAL, "replication: peers missing");
        return NULL;
    }
    sl_repl_client *c = sl_xcalloc(1, sizeof *c);
    snprintf(c->node_id, sizeof c->node_id, "%s", conf->node_id);
    c->next_req = ((uint64_t)sl_mono_ns() << 16) | 1; /* distinct across restarts */
    c->ctx = conf->zmq_ctx;
    if (!c->ctx) {
        c->ctx = zmq_ctx_new();
        c->own_ctx = 1;
        if (!c->ctx) {
            sl_seterr(errstr, errstr_size, SL_ENOMEM, "replication: zmq_ctx_new: %s",
                      zmq_strerror(errno));
            free(c);
            return NULL;
        }
    }
    c->peers = sl_xcalloc(conf->npeers ? conf->npeers : 1, sizeof *c->peers);
    c->npeers = conf->npeers;
    for (size_t i = 0; i < conf->npeers; i++) {
        sl__peer *p = &c->peers[i];
        p->endpoint = sl_xstrdup(conf->peers[i] ? conf->peers[i] : "");
        p->sock = zmq_socket(c->ctx, ZMQ_DEALER);
        if (!p->sock) {
            sl_seterr(errstr, errstr_size, SL_EIO, "replication: zmq_socket: %s",
                      zmq_strerror(errno));
            sl_repl_client_free(c);
            return NULL;
        }
        sl__set_int(p->sock, ZMQ_LINGER, 0);
        sl__set_int(p->sock, ZMQ_IMMEDIATE, 1);
        sl__set_int(p->sock, ZMQ_SNDHWM, 16);
        sl__set_int(p->sock, ZMQ_RECONNECT_IVL, 100);
        sl__set_int(p->sock, ZMQ_RECONNECT_IVL_MAX, 1000);
        sl__set_int(p->sock, ZMQ_HEARTBEAT_IVL, 1000);
        sl__set_int(p->sock, ZMQ_HEARTBEAT_TIMEOUT, 3000);
        if (zmq_connect(p->sock, p->endpoint) != 0) {
            sl_seterr(errstr, errstr_size, SL_EINVAL, "replication: peer %s: %s", p->endpoint,
                      zmq_strerror(errno));
            sl_repl_client_free(c);
            return NULL;
        }
    }
    return c;
}

/* Receives and dispatches every message waiting on peer i's socket.
 * Returns 1 when on_reply decided the call. */
static int sl__drain_peer(sl__call *call, size_t i)
{
    void *sock = call->c->peers[i].sock;
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return 0;
        }
        SL__ZMQ_RECEIVED();
        int multi = zmq_msg_more(&msg);
        while (zmq_msg_more(&msg)) { /* a well-behaved peer sends one frame */
            zmq_msg_close(&msg);
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, sock, 0) < 0)
                break;
        }
        sl__msg m;
        char err[SL__NOTE_SIZE - 32];
        int rc = multi ? SL_ECORRUPT
                       : sl__msg_open(zmq_msg_data(&msg), zmq_msg_size(&msg), &m, err, sizeof err);
        int decided = 0;
        if (rc != SL_OK) {
            snprintf(call->note[i], SL__NOTE_SIZE, "refused its reply: %s",
                     multi ? "unexpected frames" : err);
        } else if (m.req_id != call->req_id) {
            if (m.req_id == 0 && m.type == SL__MSG_ERROR) { /* our request arrived corrupt? */
                uint32_t st = sl_read_u32(&m.body);
                sl__read_str(&m.body, err, sizeof err);
                snprintf(call->note[i], SL__NOTE_SIZE, "reported a bad message (%s): %s",
                         sl_err2str((int)st), err);
            }
            /* else: the answer to an earlier call; dropped (invariant 3). */
        } else if (call->state[i] == SL__P_WAITING &&
                   (m.type == call->reply_type || m.type == SL__MSG_ERROR)) {
            call->state[i] = SL__P_ANSWERED;
            decided = call->on_reply(call, i, &m);
        } else {
            snprintf(call->note[i], SL__NOTE_SIZE, "unexpected reply type %u", m.type);
        }
        zmq_msg_close(&msg);
        if (decided)
            return 1;
    }
}

/* Sends `req` to every peer and processes answers until on_reply decides,
 * every peer answered, or timeout_ms passed. Returns 1 if decided. */
static int sl__exchange(sl__call *call, zmq_msg_t *req, int timeout_ms)
{
    sl_repl_client *c = call->c;
    int64_t deadline = sl_mono_ns() + (int64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
    zmq_pollitem_t *items = sl_xcalloc(c->npeers ? c->npeers : 1, sizeof *items);
    size_t *which = sl_xcalloc(c->npeers ? c->npeers : 1, sizeof *which);
    int decided = 0;
    for (size_t i = 0; i < c->npeers; i++) {
        call->state[i] = SL__P_UNSENT;
        snprintf(call->note[i], SL__NOTE_SIZE, "not connected");
        /* Drop answers to earlier calls now, so they cannot fill the pipe. */
        (void)sl__drain_peer(call, i);
        snprintf(call->note[i], SL__NOTE_SIZE, "not connected");
    }
    for (;;) {
        /* Try to send to peers not sent to yet. */
        for (size_t i = 0; i < c->npeers; i++) {
            if (call->state[i] != SL__P_UNSENT)
                continue;
            zmq_msg_t copy;
            zmq_msg_init(&copy);
            zmq_msg_copy(&copy, req);
            SL__ZMQ_WILL_SEND();
            if (zmq_msg_send(&copy, c->peers[i].sock, ZMQ_DONTWAIT) >= 0) {
                call->state[i] = SL__P_WAITING;
                snprintf(call->note[i], SL__NOTE_SIZE, "no answer");
            } else {
                zmq_msg_close(&copy);
            }
        }
        size_t k = 0;
        for (size_t i = 0; i < c->npeers; i++) {
            if (call->state[i] == SL__P_ANSWERED)
                continue;
            items[k] = (zmq_pollitem_t){
                c->peers[i].sock, 0, call->state[i] == SL__P_UNSENT ? ZMQ_POLLOUT : ZMQ_POLLIN, 0};
            which[k++] = i;
        }
        int64_t left_ms = (deadline - sl_mono_ns() + 999999) / 1000000;
        if (k == 0 || left_ms <= 0)
            break;
        int rc = zmq_poll(items, (int)k, (long)left_ms);
        if (rc < 0 && errno != EINTR)
            break;
        for (size_t j = 0; rc > 0 && j < k && !decided; j++)
            if (items[j].revents & ZMQ_POLLIN)
                decided = sl__drain_peer(call, which[j]);
        if (decided)
            break;
    }
    free(items);
    free(which);
    return decided;
}

/* Appends "; <endpoint>: <note>" to errstr for every peer (skipping those
 * with ok[i] set, when ok is given). */
static void sl__append_notes(sl__call *call, char *errstr, size_t errstr_size, const int *ok)
{
    if (!errstr || !errstr_size)
        return;
    size_t used = strlen(errstr);
    for (size_t i = 0; i < call->c->npeers && used + 1 < errstr_size; i++) {
        if (ok && ok[i])
            continue;
        int w = snprintf(errstr + used, errstr_size - used, "; %s: %s", call->c->peers[i].endpoint,
                         call->note[i]);
        if (w < 0)
            break;
        used += (size_t)w;
        if (used >= errstr_size)
            used = errstr_size - 1;
    }
}

typedef struct sl__push_ctx {
    uint64_t ckpt_id;
    size_t needed, acks, fails;
    int *ok;
} sl__push_ctx;

static int sl__on_push_reply(sl__call *call, size_t i, sl__msg *m)
{
    sl__push_ctx *px = call->ctx;
    char msg[SL__NOTE_SIZE - 16];
    uint32_t status = sl_read_u32(&m->body);
    sl__read_str(&m->body, msg, sizeof msg);
    uint64_t id = m->type == SL__MSG_PUSH_ACK ? sl_read_u64(&m->body) : 0;
    if (!sl_reader_done(&m->body)) {
        snprintf(call->note[i], SL__NOTE_SIZE, "malformed ack");
        px->fails++;
    } else if (m->type == SL__MSG_PUSH_ACK && (int)status == SL_OK && id == px->ckpt_id) {
        px->ok[i] = 1;
        px->acks++;
    } else {
        snprintf(call->note[i], SL__NOTE_SIZE, "error: %s", msg[0] ? msg : sl_err2str((int)status));
        px->fails++;
    }
    return px->acks >= px->needed || px->fails > call->c->npeers - px->needed;
}

int sl_repl_push(sl_repl_client *c, uint64_t ckpt_id, uint64_t committed_id,
                 const sl_repl_snapshot *snaps, size_t n, int replicas, int timeout_ms,
                 char *errstr, size_t errstr_size)
{
    if (replicas < 0 || (size_t)replicas > c->npeers)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "replication: %d replicas required but only %zu peers configured",
                         replicas, c->npeers);
    if (ckpt_id == 0 || n > SL__REPL_MAX_TASKS || (n && !snaps))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "replication: invalid push");
    if (replicas == 0)
        return SL_OK;
    uint64_t req_id = c->next_req++;
    sl_buf b;
    sl_buf_init(&b);
    sl__msg_begin(&b, SL__MSG_PUSH, req_id);
    sl_buf_put_str(&b, c->node_id);
    sl_buf_put_u64(&b, ckpt_id);
    sl_buf_put_u64(&b, committed_id);
    sl_buf_put_u32(&b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        if (snaps[i].len > UINT32_MAX || (snaps[i].len && !snaps[i].data)) {
            sl_buf_free(&b);
            return sl_seterr(errstr, errstr_size, SL_ERANGE,
                             "replication: snapshot of task %" PRId32 " too large (%zu bytes)",
                             snaps[i].task, snaps[i].len);
        }
        sl_buf_put_u32(&b, (uint32_t)snaps[i].task);
        sl_buf_put_blob(&b, snaps[i].data, snaps[i].len);
    }
    zmq_msg_t req;
    if (sl__msg_end(&b) != SL_OK || b.len > (size_t)SL__REPL_MAX_MSG ||
        sl__msg_from_buf(&req, &b) != SL_OK) {
        int big = !b.failed && b.len > (size_t)SL__REPL_MAX_MSG;
        sl_buf_free(&b);
        return sl_seterr(errstr, errstr_size, big ? SL_ERANGE : SL_ENOMEM,
                         "replication: checkpoint %" PRIu64 ": %s", ckpt_id,
                         big ? "message larger than 1 GiB" : "out of memory");
    }
    int *state = sl_xcalloc(c->npeers, sizeof *state);
    int *ok = sl_xcalloc(c->npeers, sizeof *ok);
    char(*note)[SL__NOTE_SIZE] = sl_xcalloc(c->npeers, sizeof *note);
    sl__push_ctx px = {.ckpt_id = ckpt_id, .needed = (size_t)replicas, .ok = ok};
    sl__call call = {.c = c,
                     .req_id = req_id,
                     .reply_type = SL__MSG_PUSH_ACK,
                     .state = state,
                     .note = note,
                     .on_reply = sl__on_push_reply,
                     .ctx = &px};
    int64_t t0 = sl_mono_ns();
    (void)sl__exchange(&call, &req, timeout_ms);
    zmq_msg_close(&req);
    int rc;
    if (px.acks >= px.needed) {
        rc = SL_OK;
    } else {
        rc = px.fails > c->npeers - px.needed ? SL_EIO : SL_ETIMEOUT;
        sl_seterr(errstr, errstr_size, rc,
                  "replication of checkpoint %" PRIu64 ": %zu of %d required acks after %lld ms",
                  ckpt_id, px.acks, replicas, (long long)((sl_mono_ns() - t0) / 1000000));
        sl__append_notes(&call, errstr, errstr_size, ok);
    }
    free(state);
    free(ok);
    free(note);
    return rc;
}

typedef struct sl__fetch_ctx {
    int32_t task;
    uint64_t want;
    uint64_t best_id;
    void *best;
    size_t best_len;
    int have;
    size_t notfound;
} sl__fetch_ctx;

static int sl__on_fetch_reply(sl__call *call, size_t i, sl__msg *m)
{
    sl__fetch_ctx *fx = call->ctx;
    char msg[SL__NOTE_SIZE - 16], origin[SL_REPL_NODE_ID_MAX + 1];
    uint32_t status = sl_read_u32(&m->body);
    sl__read_str(&m->body, msg, sizeof msg);
    if (m->type == SL__MSG_ERROR) {
        snprintf(call->note[i], SL__NOTE_SIZE, "error: %s", msg);
        return 0;
    }
    sl__read_str(&m->body, origin, sizeof origin);
    int32_t task = (int32_t)sl_read_u32(&m->body);
    uint64_t id = sl_read_u64(&m->body);
    uint32_t len = 0;
    const uint8_t *p = sl_read_blob(&m->body, &len);
    if (!sl_reader_done(&m->body) || task != fx->task) {
        snprintf(call->note[i], SL__NOTE_SIZE, "malformed fetch reply");
        return 0;
    }
    if ((int)status == SL_ENOTFOUND) {
        snprintf(call->note[i], SL__NOTE_SIZE, "not found");
        fx->notfound++;
        return 0;
    }
    if ((int)status != SL_OK || (fx->want && id != fx->want) || id == 0) {
        snprintf(call->note[i], SL__NOTE_SIZE, "error: %s", msg[0] ? msg : sl_err2str((int)status));
        return 0;
    }
    if (!fx->have || id > fx->best_id) {
        void *copy = malloc(len ? len : 1);
        if (!copy) {
            snprintf(call->note[i], SL__NOTE_SIZE, "out of memory for %u bytes", len);
            return 0;
        }
        if (len)
            memcpy(copy, p, len);
        free(fx->best);
        fx->best = copy;
        fx->best_len = len;
        fx->best_id = id;
        fx->have = 1;
    }
    snprintf(call->note[i], SL__NOTE_SIZE, "has checkpoint %" PRIu64 " (from %s)", id, origin);
    return fx->want != 0; /* a given id: the first copy decides */
}

int sl_repl_fetch(sl_repl_client *c, const char *origin, int32_t task, uint64_t ckpt_id,
                  int timeout_ms, uint64_t *found_id, void **payload, size_t *len, char *errstr,
                  size_t errstr_size)
{
    *payload = NULL;
    *len = 0;
    if (origin && *origin && !sl_repl_node_id_valid(origin))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "replication: invalid origin node id");
    if (c->npeers == 0)
        return sl_seterr(errstr, errstr_size, SL_ENOTFOUND,
                         "replication: no peers to fetch task %" PRId32 " from", task);
    uint64_t req_id = c->next_req++;
    sl_buf b;
    sl_buf_init(&b);
    sl__msg_begin(&b, SL__MSG_FETCH, req_id);
    sl_buf_put_str(&b, origin ? origin : "");
    sl_buf_put_u32(&b, (uint32_t)task);
    sl_buf_put_u64(&b, ckpt_id);
    zmq_msg_t req;
    if (sl__msg_end(&b) != SL_OK || sl__msg_from_buf(&req, &b) != SL_OK) {
        sl_buf_free(&b);
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "replication: out of memory");
    }
    int *state = sl_xcalloc(c->npeers, sizeof *state);
    char(*note)[SL__NOTE_SIZE] = sl_xcalloc(c->npeers, sizeof *note);
    sl__fetch_ctx fx = {.task = task, .want = ckpt_id};
    sl__call call = {.c = c,
                     .req_id = req_id,
                     .reply_type = SL__MSG_FETCH_REPLY,
                     .state = state,
                     .note = note,
                     .on_reply = sl__on_fetch_reply,
                     .ctx = &fx};
    (void)sl__exchange(&call, &req, timeout_ms);
    zmq_msg_close(&req);
    int rc = SL_OK;
    if (fx.have) {
        *payload = fx.best;
        *len = fx.best_len;
        if (found_id)
            *found_id = fx.best_id;
    } else {
        size_t answered = 0;
        for (size_t i = 0; i < c->npeers; i++)
            answered += state[i] == SL__P_ANSWERED;
        rc = answered == c->npeers ? SL_ENOTFOUND : SL_ETIMEOUT;
        char idbuf[32];
        snprintf(idbuf, sizeof idbuf, "%" PRIu64, ckpt_id);
        sl_seterr(errstr, errstr_size, rc,
                  "replication: no peer returned task %" PRId32 " checkpoint %s%s%s", task,
                  ckpt_id ? idbuf : "(newest)", origin && *origin ? " of " : "",
                  origin && *origin ? origin : "");
        sl__append_notes(&call, errstr, errstr_size, NULL);
    }
    free(state);
    free(note);
    return rc;
}
