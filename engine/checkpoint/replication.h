/*
 * replication.h - checkpoint snapshots shipped between nodes over ZeroMQ.
 *
 * Each node runs one replication server (a ROUTER socket bound to the node's
 * `cluster.listen` endpoint, in its own thread). It stores snapshots pushed
 * by peers under <checkpoint dir>/replicas/<origin node id>/ (a checkpoint
 * store of its own) and acknowledges them once durable, and it serves
 * snapshot fetches from its own checkpoint directory and its replica areas.
 *
 * The client side (used by the node's checkpoint coordinator) pushes the
 * snapshots of one checkpoint to the peers and waits for acknowledgements,
 * and fetches a snapshot from whichever peer has it.
 *
 * Security. With a secret key (CurveZMQ) every connection is encrypted and
 * authenticated both ways: a server accepts only clients whose public key
 * is among its peers' (a ZAP handler), a client accepts only a server with
 * the public key configured for that peer, and each authenticated key may
 * speak for one origin node id only (configured, or bound by its first
 * push). Without keys, anyone who can reach the endpoint can read and
 * write checkpoints: only for loopback or otherwise closed networks.
 *
 * Modules: replication_codec.c (wire format, parsing, keys),
 * replication_server.c, replication_auth.c (ZAP handler, handshake
 * monitor), replication_client.c. Design notes and invariants are at the
 * top of replication_codec.c (wire) and replication_server.c (server).
 */
#ifndef SL_REPLICATION_H
#define SL_REPLICATION_H

#include "common.h"

#define SL_REPL_PROTOCOL_VERSION 2u
#define SL_REPL_NODE_ID_MAX      64
#define SL_REPL_KEY_LEN          40 /* Z85 text of a 32-byte Curve25519 key */
/* Most tasks one PUSH may carry (a node owning more cannot replicate). */
#define SL_REPL_MAX_PUSH_TASKS 4096
/* Default and allowed range of the largest message (cluster.max_message_bytes). */
#define SL_REPL_DEFAULT_MAX_MESSAGE (256LL << 20)
#define SL_REPL_MIN_MAX_MESSAGE     (64LL << 10)
#define SL_REPL_MAX_MAX_MESSAGE     (4LL << 30)
/* Origins a server without keys and without configured peers accepts. */
#define SL_REPL_DEFAULT_MAX_ORIGINS 8

typedef struct sl_repl_server sl_repl_server;
typedef struct sl_repl_client sl_repl_client;

/* One task's snapshot of a checkpoint (payload borrowed). */
typedef struct sl_repl_snapshot {
    int32_t task;
    const void *data;
    size_t len;
    uint64_t committed; /* the origin's last committed checkpoint of this task,
                           which peers never prune; 0: the push's committed_id */
} sl_repl_snapshot;

typedef struct sl_repl_server_conf {
    void *zmq_ctx;          /* ZeroMQ context to use (required to share inproc://
                               endpoints with clients); NULL: the server makes one.
                               With a secret key the server always makes its own
                               (it binds the context's ZAP endpoint). */
    const char *node_id;    /* this node; [A-Za-z0-9._-], 1..64 chars, no leading '.' */
    const char *endpoint;   /* bind address, e.g. tcp://127.0.0.1:7401;
                               "tcp://127.0.0.1:*" binds a free port */
    const char *store_dir;  /* this node's checkpoint directory */
    int keep;               /* checkpoints kept per task in each replica area (>= 1) */
    const char *secret_key; /* Z85; NULL or "": no encryption, no authentication */
    /* The peers allowed to push and fetch: their public keys (required with
     * a secret key) and optionally the node id each key speaks for (NULL,
     * or a NULL entry: bound by that key's first push). Without keys only
     * npeers matters: it bounds how many origins may write (0: the default
     * SL_REPL_DEFAULT_MAX_ORIGINS). Borrowed during the call. */
    const char *const *peer_keys;
    const char *const *peer_node_ids;
    size_t npeers;
    int64_t max_message_bytes; /* largest request accepted; 0: the default */
} sl_repl_server_conf;

typedef struct sl_repl_server_stats {
    uint64_t pushes_stored;       /* push requests stored and acked OK */
    uint64_t push_failures;       /* push requests answered with an error */
    uint64_t fetches_served;      /* fetches answered with a snapshot */
    uint64_t fetch_misses;        /* fetches answered "not found" or with an error */
    uint64_t bad_messages;        /* refused: bad CRC, magic, version, layout or bounds */
    uint64_t refused_connections; /* handshakes refused: plaintext, unknown key */
    uint64_t refused_origin;      /* pushes naming an origin their key may not speak for */
} sl_repl_server_stats;

/* Binds the endpoint and starts the server thread (and, with a secret key,
 * the ZAP handler thread). Returns NULL with errstr filled when the
 * configuration is invalid (a key that is not Z85, a peer key missing),
 * CurveZMQ is unavailable, the checkpoint directory cannot be opened or the
 * endpoint cannot be bound (e.g. address in use). */
sl_repl_server *sl_repl_server_start(const sl_repl_server_conf *conf, char *errstr,
                                     size_t errstr_size);
/* The endpoint actually bound (a wildcard port resolved). */
const char *sl_repl_server_endpoint(const sl_repl_server *s);
/* Counters since start; any thread. */
void sl_repl_server_stats_get(const sl_repl_server *s, sl_repl_server_stats *out);
/* Stops the threads promptly (a push being stored is abandoned between two
 * snapshot files, unacknowledged), closes the sockets and frees the server.
 * sl_repl_server_stop(NULL) is a no-op. */
void sl_repl_server_stop(sl_repl_server *s);

typedef struct sl_repl_client_conf {
    void *zmq_ctx;            /* as for the server; NULL: the client makes one */
    const char *node_id;      /* this node: names the replica area on peers */
    const char *const *peers; /* peer endpoints (borrowed during the call) */
    size_t npeers;
    const char *secret_key;       /* this node's Z85 secret key; NULL: plaintext */
    const char *const *peer_keys; /* [npeers] each peer's public key (required
                                     with a secret key) */
    int64_t max_message_bytes;    /* largest message sent or accepted; 0: default */
} sl_repl_client_conf;

/* Creates a client connected to every peer (connections complete in the
 * background; a peer that is down is retried by ZeroMQ). Returns NULL with
 * errstr on an invalid configuration.
 * @locality the sockets belong to the calling thread from here on: use the
 * client from one thread at a time (the checkpoint coordinator). */
sl_repl_client *sl_repl_client_new(const sl_repl_client_conf *conf, char *errstr,
                                   size_t errstr_size);
/* Closes the sockets (pending messages are dropped). NULL is a no-op. */
void sl_repl_client_free(sl_repl_client *c);

/* Pushes checkpoint `ckpt_id`'s snapshots (snaps[0..n), borrowed) to every
 * peer and waits until `replicas` peers have acknowledged storing all of
 * them durably, or until `timeout_ms` has passed. `committed_id` is the
 * origin's last committed checkpoint for entries whose own `committed` is
 * 0; peers never prune it. Returns SL_OK; SL_ETIMEOUT when too few peers
 * answered in time (a peer that is down delays the call up to the
 * timeout); SL_EIO when too many peers answered with an error (returned at
 * once: waiting cannot help); SL_EINVAL when `replicas` exceeds the number
 * of peers, a task appears twice or n exceeds SL_REPL_MAX_PUSH_TASKS;
 * SL_ERANGE when the message would exceed the maximum message size. errstr
 * names each peer that did not ack and why. Late answers to a failed push
 * are ignored by later calls; the caller retries at the next checkpoint. */
int sl_repl_push(sl_repl_client *c, uint64_t ckpt_id, uint64_t committed_id,
                 const sl_repl_snapshot *snaps, size_t n, int replicas, int timeout_ms,
                 char *errstr, size_t errstr_size);

/* Fetches the snapshot of `task` at checkpoint `ckpt_id` (0: the newest any
 * answering peer has) from the peers, looking in the area of node `origin`
 * (NULL or "": any area, the peer's own checkpoints included). Every copy
 * is verified before it counts: CRCs, format version, task, checkpoint id
 * and the origin named in its header (`origin` when given, else the area
 * it came from). On SL_OK, *payload is malloc'd (caller frees), *found_id
 * (may be NULL) is its checkpoint id. For a given id the first verified
 * copy wins; for the newest, the call waits for every peer (or the
 * timeout) and takes the highest id. Errors: SL_ENOTFOUND when every peer
 * answered without it, SL_ETIMEOUT when some did not answer and none had
 * it, SL_ECORRUPT when the only copies failed verification. */
int sl_repl_fetch(sl_repl_client *c, const char *origin, int32_t task, uint64_t ckpt_id,
                  int timeout_ms, uint64_t *found_id, void **payload, size_t *len, char *errstr,
                  size_t errstr_size);

/* True when `id` is a usable node id (see sl_repl_server_conf.node_id). */
bool sl_repl_node_id_valid(const char *id);

/* ---- keys ---------------------------------------------------------------- */

/* True when this libzmq supports CurveZMQ (built with libsodium). */
bool sl_repl_curve_available(void);
/* Makes a new key pair: pub and sec receive SL_REPL_KEY_LEN Z85 chars + NUL.
 * Returns SL_OK, or SL_EINVAL (errstr) when CurveZMQ is unavailable. */
int sl_repl_keygen(char *pub, char *sec, char *errstr, size_t errstr_size);
/* True when `key` is exactly SL_REPL_KEY_LEN chars of Z85 that decode. */
bool sl_repl_key_valid(const char *key);
/* Derives the Z85 public key (SL_REPL_KEY_LEN + 1 bytes) of a Z85 secret
 * key. Returns SL_OK or SL_EINVAL. */
int sl_repl_public_key(const char *secret, char *pub);
/* True when a ZeroMQ endpoint can only be reached from this host: tcp on
 * 127.0.0.0/8, ::1 or "localhost", and ipc:// or inproc://. */
bool sl_repl_endpoint_is_loopback(const char *endpoint);

#endif
