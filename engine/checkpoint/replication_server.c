/*
 * replication_server.c - the replication server: stores snapshots pushed
 * by peers and answers fetches.
 *
 * Design notes
 * ------------
 * Threads and sockets. One server thread owns the ROUTER bound to the
 * node's `listen` endpoint, a monitor socket that reports failed
 * handshakes, and every checkpoint-store handle it uses. With a secret key
 * the ROUTER is a CURVE server and a ZAP handler thread
 * (replication_auth.c) vets each handshake against the peers' public keys;
 * the server then reads the vetted key's index from each message's
 * "User-Id" property.
 *
 * Work is bounded. A message is at most max_message_bytes (ZMQ_MAXMSGSIZE:
 * libzmq drops a connection that sends more, before buffering it); a PUSH
 * at most SL_REPL_MAX_PUSH_TASKS entries, no task twice. A valid PUSH
 * becomes a job, and the loop stores at most SL__SLICE_FILES snapshot
 * files of one job between two looks at the sockets, so fetches (and the
 * stop request) are answered while a large push is being written. At most
 * one job per origin exists (a newer push from the same origin replaces
 * the pending one, which is answered "superseded"), and origins are
 * bounded (below), so memory is bounded by origins x max_message_bytes.
 *
 * Invariants:
 *   1. A PUSH_ACK with status SL_OK is sent only after every snapshot of
 *      the push and then the checkpoint's manifest are durable in
 *      replicas/<origin>/ (checkpoint_store: write, fsync, rename, fsync
 *      dir), each stored as the image its origin built (verified first).
 *   2. With keys, a push is stored only if its origin is the node id bound
 *      to the key that authenticated the connection: configured
 *      (peers[].node_id) or bound by that key's first push, and never two
 *      keys for one origin. Without keys, at most `npeers` (or
 *      SL_REPL_DEFAULT_MAX_ORIGINS) origins may write.
 *   3. Protected ids only move forward: a push whose checkpoint id is
 *      older than the committed checkpoint it protects for a task is
 *      refused, ids more than a day ahead of the wall clock are refused,
 *      and the committed id an entry names never lowers the protection.
 *   4. A fetch is answered with a verified image or an error, never with
 *      bytes that failed their checks.
 *
 * A job:
 *
 *   (push parsed, authorised) --> PENDING --SL__SLICE_FILES stored--> PENDING
 *   PENDING --last file + manifest stored--> acked OK (freed)
 *   PENDING --store error--> acked error (freed)
 *   PENDING --newer push from its origin--> acked "superseded" (freed)
 *   PENDING --server stops--> dropped unacked (freed)
 */
#include "checkpoint_store.h"
#include "log.h"
#include "replication_internal.h"

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

#define SL__SLICE_FILES   4
#define SL__MSGS_PER_LOOP 16
#define SL__FUTURE_MS     (24LL * 3600 * 1000)

typedef struct sl__area {
    char origin[SL_REPL_NODE_ID_MAX + 1];
    sl_ckpt_store *store;
    int written; /* a push was accepted into it since start */
} sl__area;

typedef struct sl__job {
    zmq_msg_t env[SL__REPL_MAX_FRAMES];
    int nenv;
    zmq_msg_t body; /* owns the bytes the entries point into */
    uint64_t req_id;
    sl__push push;
    sl_ckpt_store *store;
    uint32_t next;
} sl__job;

struct sl_repl_server {
    void *ctx;
    int own_ctx;
    void *router, *ctl_main, *ctl_thread, *monitor;
    pthread_t thread;
    char node_id[SL_REPL_NODE_ID_MAX + 1];
    char endpoint[256];
    char *store_dir;
    char *replicas_dir;
    int keep;
    int curve;
    sl__zap *zap;
    size_t npeers;
    char (*peer_key)[SL_REPL_KEY_LEN + 1];
    char (*peer_node)[SL_REPL_NODE_ID_MAX + 1]; /* configured or bound; "" unbound */
    size_t max_origins;
    int64_t max_msg;
    /* @locality server thread only, after start */
    sl_ckpt_store *own;
    sl__area *areas;
    size_t nareas;
    sl__job **jobs;
    size_t njobs;
    sl__ratelimit rl_handshake, rl_origin, rl_bad;
    _Atomic uint64_t n_pushes, n_push_fail, n_fetches, n_fetch_miss, n_bad, n_refused,
        n_refused_origin;
};

static void sl__count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Returns the replica store of `origin`, opening (creating) it on first
 * use, or NULL with errstr. @locality server thread */
static sl__area *sl__area_get(sl_repl_server *s, const char *origin, int create, char *errstr,
                              size_t errstr_size)
{
    for (size_t i = 0; i < s->nareas; i++)
        if (strcmp(s->areas[i].origin, origin) == 0)
            return &s->areas[i];
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", s->replicas_dir, origin);
    struct stat st;
    if (!create && stat(path, &st) != 0) {
        sl_seterr(errstr, errstr_size, SL_ENOTFOUND, "no replica area for %s", origin);
        return NULL;
    }
    sl_ckpt_store *cs = sl_ckpt_store_open(path, s->keep, errstr, errstr_size);
    if (!cs)
        return NULL;
    sl_ckpt_store_set_origin(cs, origin);
    s->areas = sl_xrealloc(s->areas, (s->nareas + 1) * sizeof *s->areas);
    sl__area *a = &s->areas[s->nareas++];
    memset(a, 0, sizeof *a);
    snprintf(a->origin, sizeof a->origin, "%s", origin);
    a->store = cs;
    return a;
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
        (void)sl__area_get(s, e->d_name, 0, err, sizeof err);
    }
    closedir(d);
}

/* Sends `reply` after the envelope frames env[0..nenv) (consumed). A peer
 * that went away: the ROUTER drops the reply. @locality server thread */
static void sl__send_reply(sl_repl_server *s, zmq_msg_t *env, int nenv, sl_buf *out)
{
    zmq_msg_t reply;
    if (sl__msg_end(out) != SL_OK || sl__msg_from_buf(&reply, out) != SL_OK) {
        sl_buf_free(out);
        for (int i = 0; i < nenv; i++)
            zmq_msg_close(&env[i]);
        return;
    }
    SL__ZMQ_WILL_SEND();
    for (int i = 0; i < nenv; i++)
        if (zmq_msg_send(&env[i], s->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            zmq_msg_close(&env[i]);
    if (zmq_msg_send(&reply, s->router, ZMQ_DONTWAIT) < 0)
        zmq_msg_close(&reply);
}

static void sl__send_ack(sl_repl_server *s, zmq_msg_t *env, int nenv, uint64_t req_id, int status,
                         const char *err, uint64_t ckpt_id)
{
    sl_buf out;
    sl_buf_init(&out);
    sl__count(status == SL_OK ? &s->n_pushes : &s->n_push_fail);
    sl__reply_status(&out, SL__MSG_PUSH_ACK, req_id, status, status == SL_OK ? "" : err);
    sl_buf_put_u64(&out, ckpt_id);
    sl__send_reply(s, env, nenv, &out);
}

static void sl__job_free(sl__job *j)
{
    for (int i = 0; i < j->nenv; i++)
        zmq_msg_close(&j->env[i]);
    zmq_msg_close(&j->body);
    free(j->push.entries);
    free(j);
}

/* Answers and frees job i. @locality server thread */
static void sl__job_finish(sl_repl_server *s, size_t i, int status, const char *err)
{
    sl__job *j = s->jobs[i];
    sl__send_ack(s, j->env, j->nenv, j->req_id, status, err, j->push.ckpt_id);
    j->nenv = 0; /* consumed */
    sl__job_free(j);
    s->jobs[i] = s->jobs[--s->njobs];
}

/* Stores up to SL__SLICE_FILES files of the oldest job. @locality server
 * thread */
static void sl__job_slice(sl_repl_server *s)
{
    sl__job *j = s->jobs[0];
    char err[512];
    for (int k = 0; k < SL__SLICE_FILES && j->next < j->push.count; k++, j->next++) {
        sl__push_entry *e = &j->push.entries[j->next];
        sl_ckpt_store_protect_task(j->store, e->task, e->committed);
        int rc = sl_ckpt_store_put_image(j->store, e->image, e->len, NULL, NULL, err, sizeof err);
        if (rc != SL_OK) {
            sl_warn("replication", "push of checkpoint %" PRIu64 " from %s: %s", j->push.ckpt_id,
                    j->push.origin, err);
            sl__job_finish(s, 0, rc, err);
            return;
        }
    }
    if (j->next < j->push.count)
        return;
    int32_t *tasks = sl_xcalloc(j->push.count ? j->push.count : 1, sizeof *tasks);
    for (uint32_t i = 0; i < j->push.count; i++)
        tasks[i] = j->push.entries[i].task;
    int rc = sl_ckpt_store_put_manifest(j->store, j->push.ckpt_id, tasks, j->push.count, err,
                                        sizeof err);
    free(tasks);
    sl__job_finish(s, 0, rc, err);
}

/* Checks that the connection's key may speak for `origin` (invariant 2),
 * binding an unbound key. Returns SL_OK or SL_EINVAL with err. @locality
 * server thread */
static int sl__authorise(sl_repl_server *s, zmq_msg_t *body, const char *origin, char *err,
                         size_t errsz)
{
    if (!s->curve) {
        for (size_t i = 0; i < s->nareas; i++)
            if (s->areas[i].written && strcmp(s->areas[i].origin, origin) == 0)
                return SL_OK;
        size_t written = 0;
        for (size_t i = 0; i < s->nareas; i++)
            written += s->areas[i].written != 0;
        if (written >= s->max_origins)
            return sl_seterr(err, errsz, SL_EINVAL,
                             "origin %s refused: %zu origins already write here (the number of "
                             "configured peers)",
                             origin, written);
        return SL_OK;
    }
    const char *uid = zmq_msg_gets(body, "User-Id");
    char *end = NULL;
    unsigned long idx = uid ? strtoul(uid, &end, 10) : 0;
    if (!uid || !*uid || *end || idx >= s->npeers)
        return sl_seterr(err, errsz, SL_EINVAL, "connection not authenticated");
    if (s->peer_node[idx][0])
        return strcmp(s->peer_node[idx], origin) == 0
                   ? SL_OK
                   : sl_seterr(err, errsz, SL_EINVAL, "key of peer %s may not push as origin %s",
                               s->peer_node[idx], origin);
    for (size_t i = 0; i < s->npeers; i++)
        if (strcmp(s->peer_node[i], origin) == 0)
            return sl_seterr(err, errsz, SL_EINVAL,
                             "origin %s belongs to another peer's key (key %s pushed as it)",
                             origin, s->peer_key[idx]);
    snprintf(s->peer_node[idx], sizeof s->peer_node[idx], "%s", origin);
    sl_info("replication", "peer key %s speaks for node %s", s->peer_key[idx], origin);
    return SL_OK;
}

/* Validates a PUSH and queues it as a job (taking the frames), or answers
 * it with an error. @locality server thread */
static void sl__handle_push(sl_repl_server *s, zmq_msg_t *frames, int nf, sl__msg *m)
{
    char err[512];
    sl__push p;
    int rc = sl__parse_push(&m->body, SL_REPL_MAX_PUSH_TASKS, &p, err, sizeof err);
    if (rc != SL_OK) {
        sl__count(&s->n_bad);
        sl__warn_limited(&s->rl_bad, "node %s refused a push: %s", s->node_id, err);
        sl__send_ack(s, frames, nf - 1, m->req_id, rc, err, 0);
        zmq_msg_close(&frames[nf - 1]);
        return;
    }
    if (strcmp(p.origin, s->node_id) == 0)
        rc = sl_seterr(err, sizeof err, SL_EINVAL,
                       "push from %s to itself (is this node listed among its peers?)", p.origin);
    else if (p.ckpt_id > (uint64_t)sl_wall_ms() + SL__FUTURE_MS)
        rc = sl_seterr(err, sizeof err, SL_ERANGE,
                       "checkpoint id %" PRIu64 " is more than a day ahead of this node's clock",
                       p.ckpt_id);
    else if ((rc = sl__authorise(s, &frames[nf - 1], p.origin, err, sizeof err)) != SL_OK) {
        sl__count(&s->n_refused_origin);
        sl__warn_limited(&s->rl_origin, "node %s refused a push: %s", s->node_id, err);
    }
    sl__area *a = NULL;
    if (rc == SL_OK && !(a = sl__area_get(s, p.origin, 1, err, sizeof err)))
        rc = SL_EIO;
    for (uint32_t i = 0; rc == SL_OK && i < p.count; i++) {
        uint64_t prot = sl_ckpt_store_protected(a->store, p.entries[i].task);
        if (p.ckpt_id < prot)
            rc = sl_seterr(err, sizeof err, SL_EINVAL,
                           "checkpoint %" PRIu64 " of task %" PRId32
                           " is older than its committed checkpoint %" PRIu64,
                           p.ckpt_id, p.entries[i].task, prot);
    }
    if (rc != SL_OK) {
        free(p.entries);
        sl__send_ack(s, frames, nf - 1, m->req_id, rc, err, p.ckpt_id);
        zmq_msg_close(&frames[nf - 1]);
        return;
    }
    a->written = 1;
    for (size_t i = 0; i < s->njobs; i++)
        if (strcmp(s->jobs[i]->push.origin, p.origin) == 0) {
            snprintf(err, sizeof err, "superseded by checkpoint %" PRIu64, p.ckpt_id);
            sl__job_finish(s, i, SL_EAGAIN, err);
            break;
        }
    sl__job *j = sl_xcalloc(1, sizeof *j);
    for (int i = 0; i < nf - 1; i++)
        j->env[i] = frames[i];
    j->nenv = nf - 1;
    j->body = frames[nf - 1];
    j->req_id = m->req_id;
    j->push = p;
    j->store = a->store;
    s->jobs = sl_xrealloc(s->jobs, (s->njobs + 1) * sizeof *s->jobs);
    s->jobs[s->njobs++] = j;
}

/* Answers a FETCH from the own store or a replica area (invariant 4).
 * @locality server thread */
static void sl__handle_fetch(sl_repl_server *s, sl__msg *m, sl_buf *out)
{
    char err[512] = "";
    sl__fetch_req f = {0};
    void *image = NULL;
    size_t len = 0;
    uint64_t found = 0;
    const char *found_origin = "";
    int status = sl__parse_fetch(&m->body, &f, err, sizeof err);
    if (status != SL_OK) {
        sl__count(&s->n_bad);
        goto reply;
    }
    /* Candidate stores: own checkpoints, then replica areas. */
    sl__open_all_areas(s);
    status = SL_ENOTFOUND;
    sl_seterr(err, sizeof err, SL_ENOTFOUND, "node %s has no snapshot of task %" PRId32 "%s",
              s->node_id, f.task, f.ckpt_id ? "" : " at all");
    for (size_t i = 0; i < 1 + s->nareas; i++) {
        sl_ckpt_store *st = i == 0 ? s->own : s->areas[i - 1].store;
        const char *o = i == 0 ? s->node_id : s->areas[i - 1].origin;
        if (f.origin[0] && strcmp(f.origin, o) != 0)
            continue;
        void *p = NULL;
        size_t n = 0;
        uint64_t id = 0;
        char e2[512];
        int rc = sl_ckpt_store_get_image(st, f.task, f.ckpt_id, &id, &p, &n, e2, sizeof e2);
        if (rc == SL_OK && (status != SL_OK || id > found)) {
            free(image);
            image = p;
            len = n;
            found = id;
            found_origin = o;
            status = SL_OK;
            if (f.ckpt_id)
                break;
        } else {
            free(p);
            if (rc != SL_OK && rc != SL_ENOTFOUND) {
                sl_warn("replication", "node %s: refusing to serve task %" PRId32 ": %s",
                        s->node_id, f.task, e2);
                if (status != SL_OK) { /* a bad copy: say so unless another is found */
                    status = rc;
                    snprintf(err, sizeof err, "%s", e2);
                }
            }
        }
    }
    if (status == SL_OK && len > UINT32_MAX) {
        status = sl_seterr(err, sizeof err, SL_ERANGE, "snapshot too large to send");
        free(image);
        image = NULL;
        len = 0;
    }
reply:
    sl__count(status == SL_OK ? &s->n_fetches : &s->n_fetch_miss);
    sl__reply_status(out, SL__MSG_FETCH_REPLY, m->req_id, status, status == SL_OK ? "" : err);
    sl_buf_put_str(out, status == SL_OK ? found_origin : "");
    sl_buf_put_u32(out, (uint32_t)f.task);
    sl_buf_put_u64(out, status == SL_OK ? found : 0);
    sl_buf_put_blob(out, image, status == SL_OK ? len : 0);
    free(image);
}

/* Receives one request (all its frames), answers it or queues it.
 * Returns 0 when nothing was waiting. @locality server thread */
static int sl__server_handle(sl_repl_server *s)
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
    if (nf == 0)
        return 0;
    if (nf < 2 || too_many) {
        sl__count(&s->n_bad);
        for (int i = 0; i < nf; i++)
            zmq_msg_close(&frames[i]);
        return 1;
    }
    zmq_msg_t *body = &frames[nf - 1];
    sl_buf out;
    sl_buf_init(&out);
    sl__msg m;
    char err[256];
    int rc = sl__msg_open(zmq_msg_data(body), zmq_msg_size(body), &m, err, sizeof err);
    if (rc == SL_OK && m.type == SL__MSG_PUSH) {
        sl__handle_push(s, frames, nf, &m);
        return 1;
    }
    if (rc != SL_OK) {
        sl__count(&s->n_bad);
        sl__warn_limited(&s->rl_bad, "node %s refused a message: %s", s->node_id, err);
        sl__reply_status(&out, SL__MSG_ERROR, 0, rc, err);
    } else if (m.type == SL__MSG_FETCH) {
        sl__handle_fetch(s, &m, &out);
    } else {
        sl__count(&s->n_bad);
        snprintf(err, sizeof err, "unexpected message type %u", m.type);
        sl__reply_status(&out, SL__MSG_ERROR, m.req_id, SL_EINVAL, err);
    }
    sl__send_reply(s, frames, nf - 1, &out);
    zmq_msg_close(body);
    return 1;
}

/* Counts and logs failed handshakes reported by the monitor. @locality
 * server thread */
static void sl__drain_monitor(sl_repl_server *s)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, s->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return;
        }
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev))
            (void)zmq_msg_recv(&addr, s->monitor, 0);
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&ev) >= 6) {
            memcpy(&event, zmq_msg_data(&ev), 2);
            memcpy(&value, (const uint8_t *)zmq_msg_data(&ev) + 2, 4);
        }
        char where[128];
        size_t n = zmq_msg_size(&addr) < sizeof where - 1 ? zmq_msg_size(&addr) : sizeof where - 1;
        memcpy(where, zmq_msg_data(&addr), n);
        where[n] = '\0';
        if (event & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)) {
            sl__count(&s->n_refused);
            sl__warn_limited(&s->rl_handshake, "node %s refused a replication connection on %s: %s",
                             s->node_id, where,
                             event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                                 ? "its key is not among cluster.peers"
                                 : "the handshake failed or was broken off (a plaintext "
                                   "client, or a peer that disconnected during it)");
        }
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
    }
}

static void *sl__server_main(void *arg)
{
    sl_repl_server *s = arg;
    zmq_pollitem_t items[3] = {
        {s->router, 0, ZMQ_POLLIN, 0},
        {s->ctl_thread, 0, ZMQ_POLLIN, 0},
        {s->monitor, 0, ZMQ_POLLIN, 0},
    };
    int nitems = s->monitor ? 3 : 2;
    for (;;) {
        if (zmq_poll(items, nitems, s->njobs ? 0 : -1) < 0) {
            if (errno == ETERM)
                break;
            continue; /* EINTR */
        }
        if (items[1].revents & ZMQ_POLLIN) {
            SL__ZMQ_RECEIVED();
            break;
        }
        if (nitems > 2 && (items[2].revents & ZMQ_POLLIN))
            sl__drain_monitor(s);
        if (items[0].revents & ZMQ_POLLIN)
            for (int k = 0; k < SL__MSGS_PER_LOOP && sl__server_handle(s); k++)
                ;
        if (s->njobs)
            sl__job_slice(s);
    }
    return NULL;
}

static void sl__server_free(sl_repl_server *s)
{
    for (size_t i = 0; i < s->njobs; i++)
        sl__job_free(s->jobs[i]);
    free(s->jobs);
    if (s->router)
        zmq_close(s->router);
    if (s->monitor)
        zmq_close(s->monitor);
    if (s->ctl_main)
        zmq_close(s->ctl_main);
    if (s->ctl_thread)
        zmq_close(s->ctl_thread);
    sl__zap_stop(s->zap);
    if (s->own_ctx && s->ctx)
        zmq_ctx_term(s->ctx);
    sl_ckpt_store_close(s->own);
    for (size_t i = 0; i < s->nareas; i++)
        sl_ckpt_store_close(s->areas[i].store);
    free(s->areas);
    free(s->peer_key);
    free(s->peer_node);
    free(s->store_dir);
    free(s->replicas_dir);
    free(s);
}

/* Copies and checks the peers' keys and node ids. */
static int sl__server_peers(sl_repl_server *s, const sl_repl_server_conf *conf, char *errstr,
                            size_t errstr_size)
{
    s->npeers = conf->npeers;
    s->max_origins = conf->npeers ? conf->npeers : SL_REPL_DEFAULT_MAX_ORIGINS;
    s->peer_key = sl_xcalloc(conf->npeers ? conf->npeers : 1, sizeof *s->peer_key);
    s->peer_node = sl_xcalloc(conf->npeers ? conf->npeers : 1, sizeof *s->peer_node);
    for (size_t i = 0; i < conf->npeers; i++) {
        const char *k = conf->peer_keys ? conf->peer_keys[i] : NULL;
        const char *id = conf->peer_node_ids ? conf->peer_node_ids[i] : NULL;
        if (s->curve && !sl_repl_key_valid(k))
            return sl_seterr(errstr, errstr_size, SL_EINVAL, "replication: peer %zu: %s", i,
                             k ? "public_key is not 40 characters of Z85"
                               : "a public_key is required when this node has a secret key");
        if (id && *id && !sl_repl_node_id_valid(id))
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "replication: peer %zu: invalid node id \"%s\"", i, id);
        snprintf(s->peer_key[i], sizeof s->peer_key[i], "%s", k ? k : "");
        snprintf(s->peer_node[i], sizeof s->peer_node[i], "%s", id ? id : "");
        for (size_t j = 0; j < i; j++)
            if ((s->curve && strcmp(s->peer_key[i], s->peer_key[j]) == 0) ||
                (s->peer_node[i][0] && strcmp(s->peer_node[i], s->peer_node[j]) == 0))
                return sl_seterr(errstr, errstr_size, SL_EINVAL,
                                 "replication: peers %zu and %zu have the same %s", j, i,
                                 s->peer_node[i][0] && strcmp(s->peer_node[i], s->peer_node[j]) == 0
                                     ? "node id"
                                     : "public key");
    }
    return SL_OK;
}

/* Makes the ROUTER a CURVE server vetted by a ZAP handler. */
static int sl__server_curve(sl_repl_server *s, const char *secret, char *errstr, size_t errstr_size)
{
    if (!sl_repl_curve_available())
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "replication: cluster.secret_key is set but this libzmq has no "
                         "CurveZMQ support");
    if (!sl_repl_key_valid(secret))
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "replication: cluster.secret_key is not 40 characters of Z85");
    const char **keys = sl_xcalloc(s->npeers ? s->npeers : 1, sizeof *keys);
    for (size_t i = 0; i < s->npeers; i++)
        keys[i] = s->peer_key[i];
    s->zap = sl__zap_start(s->ctx, keys, s->npeers, s->node_id, errstr, errstr_size);
    free(keys);
    if (!s->zap)
        return SL_EIO;
    sl__set_int(s->router, ZMQ_CURVE_SERVER, 1);
    if (zmq_setsockopt(s->router, ZMQ_CURVE_SECRETKEY, secret, SL_REPL_KEY_LEN + 1) != 0 ||
        zmq_setsockopt(s->router, ZMQ_ZAP_DOMAIN, SL__REPL_ZAP_DOMAIN,
                       strlen(SL__REPL_ZAP_DOMAIN)) != 0)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "replication: CURVE options: %s",
                         zmq_strerror(errno));
    /* Refused handshakes are counted and logged from the monitor: an
     * authentication failure (the ZAP handler said no), a protocol failure,
     * or one without detail, which is what a plaintext client causes (and,
     * indistinguishably, a peer that disconnects during its handshake). */
    static _Atomic uint64_t mon_seq;
    char mon[64];
    snprintf(mon, sizeof mon, "inproc://sl-repl-mon-%" PRIu64,
             atomic_fetch_add_explicit(&mon_seq, 1, memory_order_relaxed));
    if (zmq_socket_monitor(s->router, mon,
                           ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
        !(s->monitor = zmq_socket(s->ctx, ZMQ_PAIR)) || zmq_connect(s->monitor, mon) != 0)
        return sl_seterr(errstr, errstr_size, SL_EIO, "replication: socket monitor: %s",
                         zmq_strerror(errno));
    sl__set_int(s->monitor, ZMQ_LINGER, 0);
    s->curve = 1;
    return SL_OK;
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
    int64_t maxmsg =
        conf->max_message_bytes ? conf->max_message_bytes : SL_REPL_DEFAULT_MAX_MESSAGE;
    if (maxmsg < SL_REPL_MIN_MAX_MESSAGE || maxmsg > SL_REPL_MAX_MAX_MESSAGE) {
        sl_seterr(errstr, errstr_size, SL_ERANGE,
                  "replication: max_message_bytes %lld outside %lld..%lld", (long long)maxmsg,
                  (long long)SL_REPL_MIN_MAX_MESSAGE, (long long)SL_REPL_MAX_MAX_MESSAGE);
        return NULL;
    }
    int curve = conf->secret_key && *conf->secret_key;
    sl_repl_server *s = sl_xcalloc(1, sizeof *s);
    snprintf(s->node_id, sizeof s->node_id, "%s", conf->node_id);
    s->store_dir = sl_xstrdup(conf->store_dir);
    size_t rl = strlen(conf->store_dir) + sizeof "/replicas";
    s->replicas_dir = sl_xmalloc(rl);
    snprintf(s->replicas_dir, rl, "%s/replicas", conf->store_dir);
    s->keep = conf->keep;
    s->max_msg = maxmsg;
    s->curve = curve; /* for the peer checks; set again once CURVE is on */
    if (sl__server_peers(s, conf, errstr, errstr_size) != SL_OK) {
        sl__server_free(s);
        return NULL;
    }
    s->curve = 0;
    s->own = sl_ckpt_store_open(conf->store_dir, conf->keep, errstr, errstr_size);
    if (!s->own) {
        sl__server_free(s);
        return NULL;
    }
    sl_ckpt_store_set_origin(s->own, s->node_id);
    s->ctx = curve ? NULL : conf->zmq_ctx;
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
    sl__set_int(s->router, ZMQ_HANDSHAKE_IVL, 5000);
    zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    /* Few messages queued per connection: a peer that sends faster than
     * this server stores is held back by TCP, not buffered here. */
    sl__set_int(s->router, ZMQ_RCVHWM, 4);
    sl__set_int(s->ctl_main, ZMQ_LINGER, 0);
    sl__set_int(s->ctl_thread, ZMQ_LINGER, 0);
    if (curve && sl__server_curve(s, conf->secret_key, errstr, errstr_size) != SL_OK) {
        sl__server_free(s);
        return NULL;
    }
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
    out->refused_connections = atomic_load_explicit(&m->n_refused, memory_order_relaxed);
    out->refused_origin = atomic_load_explicit(&m->n_refused_origin, memory_order_relaxed);
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
