/*
 * replication_client.c - pushing a checkpoint's snapshots to the peers and
 * fetching a snapshot back.
 *
 * Design notes
 * ------------
 * The client (the checkpoint coordinator's thread, or a restoring worker's
 * own client) holds one DEALER per peer, connected with ZMQ_IMMEDIATE so
 * nothing is queued for a peer that is not connected (a message to a down
 * peer is not sent at all rather than delivered stale when it comes back),
 * ZMQ_LINGER 0, and ZMQ heartbeats so a vanished peer's connection is
 * dropped. With a secret key each DEALER is a CURVE client that accepts
 * only the server key configured for its peer.
 *
 * Invariants:
 *   1. A client counts an answer only if it carries the request id of the
 *      current call and comes from the peer's own socket; answers to
 *      earlier, timed-out calls are discarded. So an ack can never be
 *      credited to the wrong checkpoint.
 *   2. sl_repl_push returns SL_OK only with `replicas` distinct peers' OK
 *      acks for this checkpoint id; on any other outcome the caller must
 *      not commit offsets for the checkpoint.
 *   3. A fetched copy counts only once its image verifies and names the
 *      task, checkpoint id and origin asked for.
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
 * given id: the first verified copy), when it can no longer be met (push:
 * too many error acks), when every peer answered, or at the deadline.
 */
#include "checkpoint_store.h"
#include "replication_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SL__NOTE_SIZE 256

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
    int64_t max_msg;
};

enum { SL__P_UNSENT, SL__P_WAITING, SL__P_ANSWERED };

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

/* Makes peer socket `sock` a CURVE client of server key `server_key`. */
static int sl__client_curve(void *sock, const char *secret, const char *server_key, char *errstr,
                            size_t errstr_size)
{
    char pub[SL_REPL_KEY_LEN + 1];
    if (sl_repl_public_key(secret, pub) != SL_OK)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "replication: cluster.secret_key is not 40 characters of Z85");
    if (!sl_repl_key_valid(server_key))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "replication: %s",
                         server_key ? "public_key is not 40 characters of Z85"
                                    : "a public_key is required when this "
                                      "node has a secret key");
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_key, SL_REPL_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, SL_REPL_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret, SL_REPL_KEY_LEN + 1) != 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "replication: CURVE options: %s",
                         zmq_strerror(errno));
    return SL_OK;
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
    int curve = conf->secret_key && *conf->secret_key;
    if (curve && !sl_repl_curve_available()) {
        sl_seterr(errstr, errstr_size, SL_EINVAL,
                  "replication: cluster.secret_key is set but this libzmq has no CurveZMQ "
                  "support");
        return NULL;
    }
    sl_repl_client *c = sl_xcalloc(1, sizeof *c);
    snprintf(c->node_id, sizeof c->node_id, "%s", conf->node_id);
    c->next_req = ((uint64_t)sl_mono_ns() << 16) | 1; /* distinct across restarts */
    c->max_msg = conf->max_message_bytes ? conf->max_message_bytes : SL_REPL_DEFAULT_MAX_MESSAGE;
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
        /* A reply carries one snapshot image (plus a small envelope). */
        int64_t maxin = c->max_msg + 4096;
        zmq_setsockopt(p->sock, ZMQ_MAXMSGSIZE, &maxin, sizeof maxin);
        if (curve &&
            sl__client_curve(p->sock, conf->secret_key, conf->peer_keys ? conf->peer_keys[i] : NULL,
                             errstr, errstr_size) != SL_OK) {
            size_t used = errstr ? strlen(errstr) : 0;
            if (errstr && used + 1 < errstr_size)
                snprintf(errstr + used, errstr_size - used, " (peer %s)", p->endpoint);
            sl_repl_client_free(c);
            return NULL;
        }
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
            /* else: the answer to an earlier call; dropped (invariant 1). */
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
    sl__ack a;
    if (sl__parse_ack(&m->body, m->type, &a) != SL_OK) {
        snprintf(call->note[i], SL__NOTE_SIZE, "malformed ack");
        px->fails++;
    } else if (m->type == SL__MSG_PUSH_ACK && a.status == SL_OK && a.ckpt_id == px->ckpt_id) {
        px->ok[i] = 1;
        px->acks++;
    } else {
        snprintf(call->note[i], SL__NOTE_SIZE, "error: %.200s",
                 a.message[0] ? a.message : sl_err2str(a.status));
        px->fails++;
    }
    return px->acks >= px->needed || px->fails > call->c->npeers - px->needed;
}

static int sl__cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return x < y ? -1 : x > y;
}

/* Builds the PUSH message of checkpoint ckpt_id into b. */
static int sl__build_push(sl_repl_client *c, sl_buf *b, uint64_t req_id, uint64_t ckpt_id,
                          uint64_t committed_id, const sl_repl_snapshot *snaps, size_t n,
                          char *errstr, size_t errstr_size)
{
    int32_t *tasks = sl_xcalloc(n ? n : 1, sizeof *tasks);
    for (size_t i = 0; i < n; i++)
        tasks[i] = snaps[i].task;
    qsort(tasks, n, sizeof *tasks, sl__cmp_i32);
    for (size_t i = 1; i < n; i++)
        if (tasks[i] == tasks[i - 1]) {
            int32_t t = tasks[i];
            free(tasks);
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "replication: task %" PRId32 " appears twice in one push", t);
        }
    free(tasks);
    /* The size is known before anything is copied: refuse at once. */
    uint64_t need = SL__REPL_HDR + 4 + 4 + strlen(c->node_id) + 8 + 4;
    for (size_t i = 0; i < n; i++)
        need += 4 + 8 + 4 + SL_CKPT_HEADER_SIZE + (uint64_t)snaps[i].len;
    if (need > (uint64_t)c->max_msg)
        return sl_seterr(errstr, errstr_size, SL_ERANGE,
                         "replication: checkpoint %" PRIu64 " needs a message of %" PRIu64
                         " bytes, more than cluster.max_message_bytes (%lld)",
                         ckpt_id, need, (long long)c->max_msg);
    sl__msg_begin(b, SL__MSG_PUSH, req_id);
    sl_buf_put_str(b, c->node_id);
    sl_buf_put_u64(b, ckpt_id);
    sl_buf_put_u32(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        if (snaps[i].len > UINT32_MAX - SL_CKPT_HEADER_SIZE || (snaps[i].len && !snaps[i].data))
            return sl_seterr(errstr, errstr_size, SL_ERANGE,
                             "replication: snapshot of task %" PRId32 " too large (%zu bytes)",
                             snaps[i].task, snaps[i].len);
        uint64_t committed = snaps[i].committed ? snaps[i].committed : committed_id;
        if (committed > ckpt_id)
            committed = 0;
        uint8_t hdr[SL_CKPT_HEADER_SIZE];
        sl_ckpt_header_build(hdr, snaps[i].task, ckpt_id, c->node_id, snaps[i].data, snaps[i].len);
        sl_buf_put_u32(b, (uint32_t)snaps[i].task);
        sl_buf_put_u64(b, committed);
        sl_buf_put_u32(b, (uint32_t)(SL_CKPT_HEADER_SIZE + snaps[i].len));
        sl_buf_put_bytes(b, hdr, sizeof hdr);
        sl_buf_put_bytes(b, snaps[i].data, snaps[i].len);
    }
    if (sl__msg_end(b) != SL_OK)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM,
                         "replication: checkpoint %" PRIu64 ": out of memory", ckpt_id);
    return SL_OK;
}

int sl_repl_push(sl_repl_client *c, uint64_t ckpt_id, uint64_t committed_id,
                 const sl_repl_snapshot *snaps, size_t n, int replicas, int timeout_ms,
                 char *errstr, size_t errstr_size)
{
    if (replicas < 0 || (size_t)replicas > c->npeers)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "replication: %d replicas required but only %zu peers configured",
                         replicas, c->npeers);
    if (n > SL_REPL_MAX_PUSH_TASKS)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "replication: %zu tasks in one checkpoint, at most %d can be replicated",
                         n, SL_REPL_MAX_PUSH_TASKS);
    if (ckpt_id == 0 || (n && !snaps))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "replication: invalid push");
    if (replicas == 0)
        return SL_OK;
    uint64_t req_id = c->next_req++;
    sl_buf b;
    sl_buf_init(&b);
    int rc = sl__build_push(c, &b, req_id, ckpt_id, committed_id, snaps, n, errstr, errstr_size);
    zmq_msg_t req;
    if (rc == SL_OK && sl__msg_from_buf(&req, &b) != SL_OK)
        rc = sl_seterr(errstr, errstr_size, SL_ENOMEM, "replication: out of memory");
    if (rc != SL_OK) {
        sl_buf_free(&b);
        return rc;
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
    const char *origin; /* asked for, or NULL */
    uint64_t best_id;
    void *best;
    size_t best_len;
    int have;
    size_t notfound, corrupt;
} sl__fetch_ctx;

static int sl__on_fetch_reply(sl__call *call, size_t i, sl__msg *m)
{
    sl__fetch_ctx *fx = call->ctx;
    sl__fetch_reply f;
    if (sl__parse_fetch_reply(&m->body, m->type, &f) != SL_OK ||
        (m->type == SL__MSG_FETCH_REPLY && f.task != fx->task)) {
        snprintf(call->note[i], SL__NOTE_SIZE, "malformed fetch reply");
        return 0;
    }
    if (m->type == SL__MSG_ERROR) {
        snprintf(call->note[i], SL__NOTE_SIZE, "error: %.200s", f.message);
        return 0;
    }
    if (f.status == SL_ENOTFOUND) {
        snprintf(call->note[i], SL__NOTE_SIZE, "not found");
        fx->notfound++;
        return 0;
    }
    if (f.status != SL_OK || (fx->want && f.ckpt_id != fx->want) || f.ckpt_id == 0) {
        snprintf(call->note[i], SL__NOTE_SIZE, "error: %.200s",
                 f.message[0] ? f.message : sl_err2str(f.status));
        if (f.status == SL_ECORRUPT || f.status == SL_EVERSION)
            fx->corrupt++;
        return 0;
    }
    /* Invariant 3: the image names what was asked for. */
    char origin[SL_CKPT_ORIGIN_MAX + 1], err[160];
    int32_t task;
    uint64_t id;
    const uint8_t *p;
    size_t plen;
    const char *want_origin = fx->origin ? fx->origin : f.origin;
    int rc =
        sl_ckpt_parse(f.image, f.len, "fetched", &task, &id, origin, &p, &plen, err, sizeof err);
    /* A copy without an origin is a format-1 file (from before origins were
     * recorded): accepted only from the area of the origin asked for. */
    if (rc == SL_OK &&
        (task != fx->task || id != f.ckpt_id || (origin[0] && strcmp(origin, want_origin) != 0) ||
         strcmp(f.origin, want_origin) != 0 || !want_origin[0]))
        rc = sl_seterr(err, sizeof err, SL_ECORRUPT,
                       "copy names task %" PRId32 " checkpoint %" PRIu64
                       " origin \"%s\", wanted origin \"%s\"",
                       task, id, origin, want_origin);
    if (rc != SL_OK) {
        snprintf(call->note[i], SL__NOTE_SIZE, "refused its copy: %s", err);
        fx->corrupt++;
        return 0;
    }
    if (!fx->have || id > fx->best_id) {
        void *copy = malloc(plen ? plen : 1);
        if (!copy) {
            snprintf(call->note[i], SL__NOTE_SIZE, "out of memory for %zu bytes", plen);
            return 0;
        }
        if (plen)
            memcpy(copy, p, plen);
        free(fx->best);
        fx->best = copy;
        fx->best_len = plen;
        fx->best_id = id;
        fx->have = 1;
    }
    snprintf(call->note[i], SL__NOTE_SIZE, "has checkpoint %" PRIu64 " (from %s)", id, f.origin);
    return fx->want != 0; /* a given id: the first verified copy decides */
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
    sl__fetch_ctx fx = {.task = task, .want = ckpt_id, .origin = origin && *origin ? origin : NULL};
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
        rc = fx.corrupt ? SL_ECORRUPT : answered == c->npeers ? SL_ENOTFOUND : SL_ETIMEOUT;
        char idbuf[32];
        snprintf(idbuf, sizeof idbuf, "%" PRIu64, ckpt_id);
        sl_seterr(errstr, errstr_size, rc,
                  "replication: no peer returned a verified copy of task %" PRId32
                  " checkpoint %s%s%s",
                  task, ckpt_id ? idbuf : "(newest)", origin && *origin ? " of " : "",
                  origin && *origin ? origin : "");
        sl__append_notes(&call, errstr, errstr_size, NULL);
    }
    free(state);
    free(note);
    return rc;
}
