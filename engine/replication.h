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
 * and fetches a snapshot from whichever peer has it. Messages are versioned
 * and CRC32C-checked; see the design notes in replication.c for the wire
 * format and the invariants.
 */
#ifndef SL_REPLICATION_H
#define SL_REPLICATION_H

#include "common.h"

#define SL_REPL_PROTOCOL_VERSION 1u
#define SL_REPL_NODE_ID_MAX      64

typedef struct sl_repl_server sl_repl_server;
typedef struct sl_repl_client sl_repl_client;

/* One task's snapshot of a checkpoint (payload borrowed). */
typedef struct sl_repl_snapshot {
    int32_t task;
    const void *data;
    size_t len;
} sl_repl_snapshot;

typedef struct sl_repl_server_conf {
    void *zmq_ctx;         /* ZeroMQ context to use (required to share inproc://
                              endpoints with clients); NULL: the server makes one */
    const char *node_id;   /* this node; [A-Za-z0-9._-], 1..64 chars, no leading '.' */
    const char *endpoint;  /* bind address, e.g. tcp://127.0.0.1:7401;
                              "tcp://127.0.0.1:*" binds a free port */
    const char *store_dir; /* this node's checkpoint directory */
    int keep;              /* checkpoints kept per task in each replica area (>= 1) */
} sl_repl_server_conf;

typedef struct sl_repl_server_stats {
    uint64_t pushes_stored;  /* push requests stored and acked OK */
    uint64_t push_failures;  /* push requests answered with an error */
    uint64_t fetches_served; /* fetches answered with a snapshot */
    uint64_t fetch_misses;   /* fetches answered "not found" or with an error */
    uint64_t bad_messages;   /* refused: bad CRC, magic, version or layout */
} sl_repl_server_stats;

/* Binds the endpoint and starts the server thread. Returns NULL with errstr
 * filled when the configuration is invalid, the checkpoint directory cannot
 * be opened or the endpoint cannot be bound (e.g. address in use). */
sl_repl_server *sl_repl_server_start(const sl_repl_server_conf *conf, char *errstr,
                                     size_t errstr_size);
/* The endpoint actually bound (a wildcard port resolved). */
const char *sl_repl_server_endpoint(const sl_repl_server *s);
/* Counters since start; any thread. */
void sl_repl_server_stats_get(const sl_repl_server *s, sl_repl_server_stats *out);
/* Stops the thread (a request being handled completes first), closes the
 * socket and frees the server. sl_repl_server_stop(NULL) is a no-op. */
void sl_repl_server_stop(sl_repl_server *s);

typedef struct sl_repl_client_conf {
    void *zmq_ctx;            /* as for the server; NULL: the client makes one */
    const char *node_id;      /* this node: names the replica area on peers */
    const char *const *peers; /* peer endpoints (borrowed during the call) */
    size_t npeers;
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
 * origin's last committed checkpoint; peers never prune it. Returns SL_OK;
 * SL_ETIMEOUT when too few peers answered in time (a peer that is down
 * delays the call up to the timeout); SL_EIO when too many peers answered
 * with an error (returned at once: waiting cannot help); SL_EINVAL when
 * `replicas` exceeds the number of peers. errstr names each peer that did
 * not ack and why. Late answers to a failed push are ignored by later calls;
 * the caller retries at the next checkpoint. */
int sl_repl_push(sl_repl_client *c, uint64_t ckpt_id, uint64_t committed_id,
                 const sl_repl_snapshot *snaps, size_t n, int replicas, int timeout_ms,
                 char *errstr, size_t errstr_size);

/* Fetches the snapshot of `task` at checkpoint `ckpt_id` (0: the newest any
 * answering peer has) from the peers, looking in the area of node `origin`
 * (NULL or "": any area, the peer's own checkpoints included). On SL_OK,
 * *payload is malloc'd (caller frees), *found_id (may be NULL) is its
 * checkpoint id. For a given id the first peer that has it wins; for the
 * newest, the call waits for every peer (or the timeout) and takes the
 * highest id. Errors: SL_ENOTFOUND when every peer answered without it,
 * SL_ETIMEOUT when some did not answer and none had it. */
int sl_repl_fetch(sl_repl_client *c, const char *origin, int32_t task, uint64_t ckpt_id,
                  int timeout_ms, uint64_t *found_id, void **payload, size_t *len, char *errstr,
                  size_t errstr_size);

/* True when `id` is a usable node id (see sl_repl_server_conf.node_id). */
bool sl_repl_node_id_valid(const char *id);

#endif
