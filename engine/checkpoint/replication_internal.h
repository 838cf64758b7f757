/*
 * replication_internal.h - what the replication modules share: the wire
 * codec (replication_codec.c), the ZAP handler (replication_auth.c) and
 * helpers for ZeroMQ sockets. Not for use outside engine/replication_*.c
 * (and the fuzz target of the message parser).
 */
#ifndef SL_REPLICATION_INTERNAL_H
#define SL_REPLICATION_INTERNAL_H

#include "replication.h"
#include "snapshot.h"

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
extern char sl__repl_tsan_token;
#define SL__ZMQ_WILL_SEND() __tsan_release(&sl__repl_tsan_token)
#define SL__ZMQ_RECEIVED()  __tsan_acquire(&sl__repl_tsan_token)
#else
#define SL__ZMQ_WILL_SEND() ((void)0)
#define SL__ZMQ_RECEIVED()  ((void)0)
#endif

#define SL__REPL_MAGIC      "SLRP"
#define SL__REPL_HDR        17 /* magic 4 + version 4 + type 1 + request id 8 */
#define SL__REPL_MAX_FRAMES 8
#define SL__REPL_ZAP_DOMAIN "sluice"

enum {
    SL__MSG_PUSH = 1,
    SL__MSG_PUSH_ACK = 2,
    SL__MSG_FETCH = 3,
    SL__MSG_FETCH_REPLY = 4,
    SL__MSG_ERROR = 5,
};

/* A message whose header and CRC checked out; body reads the body. */
typedef struct sl__msg {
    uint8_t type;
    uint64_t req_id;
    sl_reader body;
} sl__msg;

/* One entry of a parsed PUSH: points into the message. */
typedef struct sl__push_entry {
    int32_t task;
    uint64_t committed;
    const uint8_t *image; /* verified snapshot file image */
    uint32_t len;
} sl__push_entry;

typedef struct sl__push {
    char origin[SL_REPL_NODE_ID_MAX + 1];
    uint64_t ckpt_id;
    uint32_t count;
    sl__push_entry *entries; /* malloc'd [count] */
} sl__push;

typedef struct sl__fetch_req {
    char origin[SL_REPL_NODE_ID_MAX + 1]; /* "" = any */
    int32_t task;
    uint64_t ckpt_id; /* 0 = newest */
} sl__fetch_req;

typedef struct sl__fetch_reply {
    int status;
    char message[256];
    char origin[SL_REPL_NODE_ID_MAX + 1];
    int32_t task;
    uint64_t ckpt_id;
    const uint8_t *image;
    uint32_t len;
} sl__fetch_reply;

typedef struct sl__ack {
    int status;
    char message[256];
    uint64_t ckpt_id;
} sl__ack;

/* Starts message `type` in b (reset first). */
void sl__msg_begin(sl_buf *b, uint8_t type, uint64_t req_id);
/* Appends the CRC trailer. Returns SL_OK or SL_ENOMEM. */
int sl__msg_end(sl_buf *b);
/* Checks magic, version and CRC. On SL_OK m->body reads the body. */
int sl__msg_open(const void *data, size_t len, sl__msg *m, char *errstr, size_t errstr_size);
/* Reads a str field into out[cap] (NUL-terminated). Fails the reader when
 * it does not fit or contains a NUL. */
void sl__read_str(sl_reader *r, char *out, size_t cap);
/* Status header of replies (status u32, message str). */
void sl__reply_status(sl_buf *b, uint8_t type, uint64_t req_id, int status, const char *message);

/* Parses a PUSH body completely (nothing missing or left over): at most
 * `max_tasks` entries (checked before anything is allocated), no task
 * twice, a valid origin, checkpoint id > 0, committed <= checkpoint id,
 * and each image verified (CRCs, version) and naming this entry's task,
 * the push's checkpoint id and origin. On SL_OK out->entries is malloc'd
 * (free it); on error nothing is allocated and errstr says why. */
int sl__parse_push(sl_reader *body, uint32_t max_tasks, sl__push *out, char *errstr,
                   size_t errstr_size);
int sl__parse_fetch(sl_reader *body, sl__fetch_req *out, char *errstr, size_t errstr_size);
/* PUSH_ACK or ERROR (type says which). */
int sl__parse_ack(sl_reader *body, uint8_t type, sl__ack *out);
/* FETCH_REPLY or ERROR. The image is not verified here (the caller knows
 * what it asked for). */
int sl__parse_fetch_reply(sl_reader *body, uint8_t type, sl__fetch_reply *out);

/* Parses a whole message of any type as a server or client would, for the
 * fuzz target. Returns SL_OK or the first error. */
int sl__repl_parse_any(const void *data, size_t len, char *errstr, size_t errstr_size);

/* Hands the buffer's memory to a zmq message (zero copy); resets b. */
int sl__msg_from_buf(zmq_msg_t *msg, sl_buf *b);
void sl__set_int(void *sock, int opt, int v);

/* ---- ZAP handler (replication_auth.c) ------------------------------------ */

typedef struct sl__zap sl__zap;
/* Binds inproc://zeromq.zap.01 in ctx and starts the handler thread,
 * allowing the given public keys (Z85, borrowed). Each allowed client gets
 * its key's index as its ZMQ "User-Id" ("0", "1", ...). Refusals are
 * counted in *refused and logged (rate-limited). NULL + errstr on error. */
sl__zap *sl__zap_start(void *ctx, const char *const *keys, size_t nkeys, const char *node_id,
                       char *errstr, size_t errstr_size);
void sl__zap_stop(sl__zap *z);

/* A rate-limited warning: at most one line per 10 s per limiter, saying how
 * many were suppressed meanwhile. @locality one thread per limiter. */
typedef struct sl__ratelimit {
    int64_t last_ns;
    uint64_t suppressed;
} sl__ratelimit;
void sl__warn_limited(sl__ratelimit *rl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
