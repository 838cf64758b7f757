/*
 * replication_auth.c - the ZAP handler that decides which CurveZMQ clients
 * a replication server accepts, and the rate-limited warnings the
 * replication modules share.
 *
 * libzmq asks the handler bound to inproc://zeromq.zap.01 in the socket's
 * context about every CURVE handshake (ZAP, RFC 27): frames version "1.0",
 * request id, domain, address, routing id, mechanism, then the client's
 * 32-byte public key. The handler answers 200 for a key among the allowed
 * ones, with the key's index as the User-Id that every message of that
 * connection then carries (zmq_msg_gets "User-Id"), and 400 otherwise.
 *
 * @locality one handler thread per server; the keys are copied at start
 * and never change.
 */
#include "log.h"
#include "replication_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SL__ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define SL__RATE_NS      (10LL * 1000000000LL)

void sl__warn_limited(sl__ratelimit *rl, const char *fmt, ...)
{
    int64_t now = sl_mono_ns();
    if (rl->last_ns && now - rl->last_ns < SL__RATE_NS) {
        rl->suppressed++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (rl->suppressed)
        sl_warn("replication", "%s (and %" PRIu64 " more like it in the last %lld s)", msg,
                rl->suppressed, (long long)((now - rl->last_ns) / 1000000000LL));
    else
        sl_warn("replication", "%s", msg);
    rl->last_ns = now;
    rl->suppressed = 0;
}

struct sl__zap {
    void *rep, *ctl_main, *ctl_thread;
    pthread_t thread;
    int started;
    uint8_t (*keys)[32];
    size_t nkeys;
    char node_id[SL_REPL_NODE_ID_MAX + 1];
    sl__ratelimit rl;
};

static void sl__zap_send(void *sock, const char *s, int more)
{
    (void)zmq_send(sock, s, strlen(s), more ? ZMQ_SNDMORE : 0);
}

/* Answers one ZAP request. @locality handler thread */
static void sl__zap_handle(sl__zap *z)
{
    zmq_msg_t f[8];
    int nf = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->rep, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (nf < 8)
            f[nf++] = m;
        else
            zmq_msg_close(&m);
    }
    if (nf < 6) { /* not a ZAP request: REP needs an answer anyway */
        for (int i = 0; i < nf; i++)
            zmq_msg_close(&f[i]);
        if (nf > 0)
            sl__zap_send(z->rep, "", 0);
        return;
    }
    char reqid[64] = "", address[64] = "", mech[16] = "";
    size_t n = zmq_msg_size(&f[1]) < sizeof reqid - 1 ? zmq_msg_size(&f[1]) : sizeof reqid - 1;
    memcpy(reqid, zmq_msg_data(&f[1]), n);
    n = zmq_msg_size(&f[3]) < sizeof address - 1 ? zmq_msg_size(&f[3]) : sizeof address - 1;
    memcpy(address, zmq_msg_data(&f[3]), n);
    n = zmq_msg_size(&f[5]) < sizeof mech - 1 ? zmq_msg_size(&f[5]) : sizeof mech - 1;
    memcpy(mech, zmq_msg_data(&f[5]), n);
    long index = -1;
    if (strcmp(mech, "CURVE") == 0 && nf >= 7 && zmq_msg_size(&f[6]) == 32)
        for (size_t i = 0; i < z->nkeys && index < 0; i++)
            if (memcmp(zmq_msg_data(&f[6]), z->keys[i], 32) == 0)
                index = (long)i;
    char key[SL_REPL_KEY_LEN + 1] = "(none)";
    if (index < 0 && nf >= 7 && zmq_msg_size(&f[6]) == 32)
        zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
    /* Reply: version, request id, status code, status text, user id, metadata. */
    zmq_msg_t idcopy;
    zmq_msg_init(&idcopy);
    zmq_msg_copy(&idcopy, &f[1]);
    sl__zap_send(z->rep, "1.0", 1);
    if (zmq_msg_send(&idcopy, z->rep, ZMQ_SNDMORE) < 0)
        zmq_msg_close(&idcopy);
    if (index >= 0) {
        char uid[24];
        snprintf(uid, sizeof uid, "%ld", index);
        sl__zap_send(z->rep, "200", 1);
        sl__zap_send(z->rep, "OK", 1);
        sl__zap_send(z->rep, uid, 1);
    } else {
        sl__zap_send(z->rep, "400", 1);
        sl__zap_send(z->rep, "unknown key", 1);
        sl__zap_send(z->rep, "", 1);
        sl__warn_limited(&z->rl,
                         "node %s refused a replication connection from %s: public key %s is "
                         "not among cluster.peers",
                         z->node_id, address[0] ? address : "(unknown address)", key);
    }
    sl__zap_send(z->rep, "", 0);
    (void)reqid;
    for (int i = 0; i < nf; i++)
        zmq_msg_close(&f[i]);
}

static void *sl__zap_main(void *arg)
{
    sl__zap *z = arg;
    zmq_pollitem_t items[2] = {{z->rep, 0, ZMQ_POLLIN, 0}, {z->ctl_thread, 0, ZMQ_POLLIN, 0}};
    for (;;) {
        if (zmq_poll(items, 2, -1) < 0) {
            if (errno == ETERM)
                break;
            continue;
        }
        if (items[1].revents & ZMQ_POLLIN)
            break;
        if (items[0].revents & ZMQ_POLLIN)
            sl__zap_handle(z);
    }
    return NULL;
}

static void sl__zap_free(sl__zap *z)
{
    if (z->rep)
        zmq_close(z->rep);
    if (z->ctl_main)
        zmq_close(z->ctl_main);
    if (z->ctl_thread)
        zmq_close(z->ctl_thread);
    free(z->keys);
    free(z);
}

sl__zap *sl__zap_start(void *ctx, const char *const *keys, size_t nkeys, const char *node_id,
                       char *errstr, size_t errstr_size)
{
    sl__zap *z = sl_xcalloc(1, sizeof *z);
    snprintf(z->node_id, sizeof z->node_id, "%s", node_id ? node_id : "");
    z->keys = sl_xcalloc(nkeys ? nkeys : 1, sizeof *z->keys);
    z->nkeys = nkeys;
    for (size_t i = 0; i < nkeys; i++) {
        if (!sl_repl_key_valid(keys[i]) || !zmq_z85_decode(z->keys[i], keys[i])) {
            sl_seterr(errstr, errstr_size, SL_EINVAL,
                      "replication: peer %zu: public key is not 40 characters of Z85", i);
            sl__zap_free(z);
            return NULL;
        }
    }
    z->rep = zmq_socket(ctx, ZMQ_REP);
    z->ctl_main = zmq_socket(ctx, ZMQ_PAIR);
    z->ctl_thread = zmq_socket(ctx, ZMQ_PAIR);
    if (!z->rep || !z->ctl_main || !z->ctl_thread) {
        sl_seterr(errstr, errstr_size, SL_EIO, "replication: zmq_socket: %s", zmq_strerror(errno));
        sl__zap_free(z);
        return NULL;
    }
    sl__set_int(z->rep, ZMQ_LINGER, 0);
    sl__set_int(z->ctl_main, ZMQ_LINGER, 0);
    sl__set_int(z->ctl_thread, ZMQ_LINGER, 0);
    static _Atomic uint64_t seq;
    char ctl[64];
    snprintf(ctl, sizeof ctl, "inproc://sl-zap-ctl-%" PRIu64,
             atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed));
    if (zmq_bind(z->rep, SL__ZAP_ENDPOINT) != 0 || zmq_bind(z->ctl_thread, ctl) != 0 ||
        zmq_connect(z->ctl_main, ctl) != 0) {
        sl_seterr(errstr, errstr_size, SL_EIO, "replication: ZAP handler: %s", zmq_strerror(errno));
        sl__zap_free(z);
        return NULL;
    }
    int prc = pthread_create(&z->thread, NULL, sl__zap_main, z);
    if (prc != 0) {
        sl_seterr(errstr, errstr_size, SL_EIO, "replication: starting ZAP thread: %s",
                  strerror(prc));
        sl__zap_free(z);
        return NULL;
    }
    z->started = 1;
    return z;
}

void sl__zap_stop(sl__zap *z)
{
    if (!z)
        return;
    if (z->started) {
        (void)zmq_send(z->ctl_main, "", 0, 0);
        pthread_join(z->thread, NULL);
    }
    sl__zap_free(z);
}
