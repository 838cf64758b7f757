/*
 * checkpoint.c - the per-node checkpoint coordinator.
 *
 * Design notes
 * ------------
 * A checkpoint n is a consistent cut of every task this node owns: for each
 * task, its state after exactly the input before BARRIER(n), the input
 * offset of that point, and the sink's position once every result before
 * the barrier is delivered.
 *
 * Invariants:
 *   1. At most one checkpoint is in flight; ids increase strictly (and are
 *      at least the wall clock in ms, so they also increase across restarts
 *      and never repeat for a task moving between nodes).
 *   2. A task snapshot reaches the coordinator only after the sink flushed
 *      every result the task produced before the barrier (engine.c).
 *   3. Input offsets are committed only after every snapshot of n is on
 *      the local disk (write, fsync, rename) AND acknowledged by the
 *      required number of replicas. `durable` only ever grows.
 *   4. A failed checkpoint commits nothing; the next one starts afresh.
 *   5. Each task's last committed checkpoint is never pruned, locally nor
 *      on the peers, however many later checkpoints fail to commit (e.g.
 *      commits refused during a rebalance): the committed offsets name it,
 *      and the next owner restores exactly it.
 *   6. A restore uses only a verified copy from the origin recorded with
 *      the commit (sl_checkpointer_load).
 *
 * States of checkpoint n:
 *
 *   IDLE --begin()--> COLLECTING --all lanes reported and all snapshots
 *   in--> PERSISTING --stored + replicated + committed--> DURABLE (IDLE)
 *                         \--any failure or timeout--> FAILED (IDLE)
 *   COLLECTING --cancel (input ended before the barriers went out)--> IDLE
 *
 *   begin()        main thread        sl_checkpointer_begin
 *   lane reports   lane threads       sl_checkpointer_lane_done
 *   snapshots in   sink thread        sl_checkpointer_add
 *   persisting     coordinator thread sl__persist
 *
 * With "checkpoint": "off" the same rounds run in commit-only mode: no
 * store, no replication, nothing restored. A round commits, per task, the
 * position its barrier carried once the sink delivered every result
 * before it; a task whose results are not all out (window state still
 * open) reports no position (-1) and commits nothing
 * (worker_checkpoint.c). The commit callback gets checkpoint id 0: the
 * offsets name no checkpoint.
 */
#include "checkpoint.h"

#include "checkpoint_store.h"
#include "log.h"
#include "replication.h"

#include <dirent.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SL__DURATIONS 1024

typedef struct sl__entry {
    int32_t task;
    int64_t next_offset;
    int64_t *input_next; /* [ninputs], NULL if none */
    size_t ninputs;
    uint8_t *blob;
    size_t len;
} sl__entry;

struct sl_checkpointer {
    const sl_def *def;
    sl_ckpt_store *store;
    sl_repl_server *server;
    sl_repl_client *client;
    sl_commit_fn commit;
    void *commit_ctx;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int thread_started;
    int stopping;

    _Atomic uint64_t requested; /* id of the checkpoint begun last */
    _Atomic uint64_t durable;

    /* the checkpoint in flight (under mu) */
    uint64_t inflight;
    int lanes_expected, lanes_reported, tasks_expected;
    sl__entry *entries;
    size_t nentries, cap;
    int64_t begin_ns;
    int last_ok; /* outcome of the last finished checkpoint */

    /* stats (under mu) */
    sl_checkpoint_stats stats;
    double durations[SL__DURATIONS];
    size_t ndurations;
};

/* ---- persisting (coordinator thread) ------------------------------------------ */

static int sl__cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void sl__record(sl_checkpointer *c, uint64_t id, int ok, double ms, uint64_t bytes)
{
    pthread_mutex_lock(&c->mu);
    c->last_ok = ok;
    if (ok) {
        c->stats.consecutive_failed = 0;
        c->stats.completed++;
        c->stats.durable_id = id;
        c->stats.last_bytes = bytes;
        c->stats.last_duration_ms = ms;
        c->stats.last_completed_wall_ms = sl_wall_ms();
        c->durations[c->ndurations++ % SL__DURATIONS] = ms;
        size_t n = c->ndurations < SL__DURATIONS ? c->ndurations : SL__DURATIONS;
        double sorted[SL__DURATIONS];
        memcpy(sorted, c->durations, n * sizeof(double));
        qsort(sorted, n, sizeof(double), sl__cmp_double);
        c->stats.p50_ms = sorted[n / 2];
        c->stats.p99_ms = sorted[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
    } else {
        c->stats.failed++;
        if (++c->stats.consecutive_failed == SL_CHECKPOINT_UNREADY_AFTER)
            sl_error("checkpoint",
                     "%d checkpoints in a row failed (the last: %" PRIu64
                     "); /readyz answers 503 until one succeeds",
                     SL_CHECKPOINT_UNREADY_AFTER, id);
    }
    c->stats.last_id = id;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* Stores, replicates and commits the collected checkpoint. Runs without
 * the lock: the entries are owned by this thread until it clears them. */
static int sl__persist(sl_checkpointer *c, uint64_t id, sl__entry *entries, size_t n,
                       uint64_t *bytes)
{
    char err[512];
    *bytes = 0;
    int32_t *tasks = sl_xcalloc(n ? n : 1, sizeof(*tasks));
    sl_task_offset *offsets = sl_xcalloc(n ? n : 1, sizeof(*offsets));
    int rc = SL_OK;
    int commit_only = c->store == NULL;
    for (size_t i = 0; i < n && rc == SL_OK && commit_only; i++) {
        tasks[i] = entries[i].task;
        offsets[i].task = entries[i].task;
        offsets[i].next_offset = entries[i].next_offset;
        offsets[i].ninputs = entries[i].ninputs;
        offsets[i].input_next = entries[i].input_next;
    }
    for (size_t i = 0; i < n && rc == SL_OK && !commit_only; i++) {
        rc = sl_ckpt_store_put(c->store, entries[i].task, id, entries[i].blob, entries[i].len, err,
                               sizeof(err));
        if (rc != SL_OK)
            sl_error("checkpoint", "checkpoint %" PRIu64 ": %s", id, err);
        tasks[i] = entries[i].task;
        offsets[i].task = entries[i].task;
        offsets[i].next_offset = entries[i].next_offset;
        offsets[i].ninputs = entries[i].ninputs;
        offsets[i].input_next = entries[i].input_next;
        *bytes += entries[i].len;
    }
    if (rc == SL_OK && !commit_only) {
        rc = sl_ckpt_store_put_manifest(c->store, id, tasks, n, err, sizeof(err));
        if (rc != SL_OK)
            sl_error("checkpoint", "checkpoint %" PRIu64 ": %s", id, err);
    }
    if (rc == SL_OK && c->client) {
        sl_repl_snapshot *snaps = sl_xcalloc(n ? n : 1, sizeof(*snaps));
        for (size_t i = 0; i < n; i++) {
            snaps[i].task = entries[i].task;
            snaps[i].data = entries[i].blob;
            snaps[i].len = entries[i].len;
            /* Peers keep the task's last committed checkpoint (invariant 5). */
            snaps[i].committed = sl_ckpt_store_protected(c->store, entries[i].task);
        }
        int replicas = c->def->checkpoint.replicas;
        if ((size_t)replicas > c->def->cluster.npeers)
            replicas = (int)c->def->cluster.npeers;
        rc = sl_repl_push(c->client, id, 0, snaps, n, replicas,
                          (int)c->def->checkpoint.replica_timeout_ms, err, sizeof(err));
        free(snaps);
        if (rc != SL_OK)
            sl_error("checkpoint", "checkpoint %" PRIu64 " not replicated: %s", id, err);
    }
    int commit_tried = 0;
    if (rc == SL_OK && c->commit) {
        commit_tried = 1;
        rc = c->commit(c->commit_ctx, commit_only ? 0 : id, offsets, n);
        if (rc != SL_OK)
            sl_warn("checkpoint", "checkpoint %" PRIu64 ": offset commit failed: %s", id,
                    sl_err2str(rc));
    }
    if (commit_only)
        ; /* nothing stored */
    else if (rc == SL_OK) {
        /* the committed offsets name id: keep it (invariant 5) */
        for (size_t i = 0; i < n; i++)
            sl_ckpt_store_protect_task(c->store, entries[i].task, id);
        sl_ckpt_store_prune(c->store, tasks, n);
    } else if (!commit_tried) /* what was written of it is of no use, and would count toward keep */
        sl_ckpt_store_discard(c->store, id, tasks, n);
    /* (A failed commit keeps the files: the broker may have applied it.) */
    free(tasks);
    free(offsets);
    return rc;
}

static void sl__clear_entries(sl__entry *entries, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(entries[i].blob);
        free(entries[i].input_next);
    }
}

static int sl__complete(const sl_checkpointer *c)
{
    return c->inflight && c->lanes_reported >= c->lanes_expected &&
           (int)c->nentries >= c->tasks_expected;
}

static void *sl__coordinator_main(void *arg)
{
    sl_checkpointer *c = arg;
    int64_t timeout_ns =
        (c->def->checkpoint.replica_timeout_ms + 60000 + 10 * c->def->checkpoint.interval_ms) *
        1000000;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stopping && !sl__complete(c)) {
            if (c->inflight && sl_mono_ns() - c->begin_ns > timeout_ns) {
                sl_error("checkpoint",
                         "checkpoint %" PRIu64 " timed out collecting snapshots (%d/%d lanes, "
                         "%zu/%d tasks)",
                         c->inflight, c->lanes_reported, c->lanes_expected, c->nentries,
                         c->tasks_expected);
                uint64_t id = c->inflight;
                sl__clear_entries(c->entries, c->nentries);
                c->nentries = 0;
                c->inflight = 0;
                pthread_mutex_unlock(&c->mu);
                sl__record(c, id, 0, 0, 0);
                pthread_mutex_lock(&c->mu);
                continue;
            }
            sl_cond_wait_ms(&c->cv, &c->mu, 50);
        }
        if (c->stopping && !sl__complete(c))
            break;
        /* take the collected checkpoint out of the shared state */
        uint64_t id = c->inflight;
        sl__entry *entries = c->entries;
        size_t n = c->nentries;
        int64_t began = c->begin_ns;
        c->entries = NULL;
        c->nentries = c->cap = 0;
        pthread_mutex_unlock(&c->mu);

        uint64_t bytes;
        int rc = sl__persist(c, id, entries, n, &bytes);
        double ms = (double)(sl_mono_ns() - began) / 1e6;
        sl__clear_entries(entries, n);
        free(entries);
        if (rc == SL_OK) {
            atomic_store(&c->durable, id);
            sl_debug("checkpoint",
                     "checkpoint %" PRIu64 " durable: %zu tasks, %" PRIu64 " bytes, %.1f ms", id, n,
                     bytes, ms);
        }
        pthread_mutex_lock(&c->mu);
        c->inflight = 0;
        pthread_mutex_unlock(&c->mu);
        sl__record(c, id, rc == SL_OK, ms, bytes);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* ---- public API ---------------------------------------------------------------- */

/* The replication client configuration of this node. */
static void sl__client_conf(const sl_checkpointer *c, sl_repl_client_conf *cc)
{
    const sl_def *def = c->def;
    *cc = (sl_repl_client_conf){.node_id = def->cluster.node_id,
                                .peers = (const char *const *)def->cluster.peers,
                                .npeers = def->cluster.npeers,
                                .secret_key = def->cluster.secret_key,
                                .peer_keys = (const char *const *)def->cluster.peer_keys,
                                .max_message_bytes = def->cluster.max_message_bytes};
}

sl_checkpointer *sl_checkpointer_new(const sl_def *def, sl_commit_fn commit, void *commit_ctx,
                                     char *errstr, size_t errstr_size)
{
    sl_checkpointer *c = sl_xcalloc(1, sizeof(*c));
    c->def = def;
    c->commit = commit;
    c->commit_ctx = commit_ctx;
    c->last_ok = 1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    char err[512];
    if (def->checkpoint.off) { /* commit-only rounds (design notes) */
        atomic_store(&c->requested, (uint64_t)sl_wall_ms());
        goto start;
    }
    c->store = sl_ckpt_store_open(def->checkpoint.dir, def->checkpoint.keep, err, sizeof(err));
    if (!c->store) {
        sl_seterr(errstr, errstr_size, SL_EIO, "checkpoint.dir: %s", err);
        goto fail;
    }
    sl_ckpt_store_defer_pruning(c->store, 1);
    sl_ckpt_store_set_origin(c->store, def->cluster.node_id);
    if (def->cluster.listen) {
        sl_repl_server_conf sc = {.node_id = def->cluster.node_id,
                                  .endpoint = def->cluster.listen,
                                  .store_dir = def->checkpoint.dir,
                                  .keep = def->checkpoint.keep,
                                  .secret_key = def->cluster.secret_key,
                                  .peer_keys = (const char *const *)def->cluster.peer_keys,
                                  .peer_node_ids = (const char *const *)def->cluster.peer_node_ids,
                                  .npeers = def->cluster.npeers,
                                  .max_message_bytes = def->cluster.max_message_bytes};
        if (!def->cluster.secret_key)
            sl_warn("replication",
                    "replication on %s is UNAUTHENTICATED and UNENCRYPTED: anyone who can "
                    "reach it can read every task's state and overwrite checkpoints; set "
                    "cluster.secret_key and the peers' public keys (sluice keygen)",
                    def->cluster.listen);
        c->server = sl_repl_server_start(&sc, err, sizeof(err));
        if (!c->server) {
            sl_seterr(errstr, errstr_size, SL_EIO, "cluster.listen: %s", err);
            goto fail;
        }
    }
    if (def->cluster.npeers > 0 && def->checkpoint.replicas > 0) {
        sl_repl_client_conf cc;
        sl__client_conf(c, &cc);
        c->client = sl_repl_client_new(&cc, err, sizeof(err));
        if (!c->client) {
            sl_seterr(errstr, errstr_size, SL_EIO, "cluster.peers: %s", err);
            goto fail;
        }
        if ((size_t)def->checkpoint.replicas > def->cluster.npeers)
            sl_warn("checkpoint", "checkpoint.replicas is %d but only %zu peers are configured",
                    def->checkpoint.replicas, def->cluster.npeers);
    } else if (def->checkpoint.replicas > 0) {
        sl_warn("checkpoint",
                "no cluster.peers: checkpoints are kept on this node only "
                "(checkpoint.replicas %d not met)",
                def->checkpoint.replicas);
    }
    /* ids continue above what the directory already holds */
    uint64_t last = 0;
    int32_t *tasks = NULL;
    size_t ntasks = 0;
    if (sl_ckpt_store_get_manifest(c->store, 0, &last, &tasks, &ntasks, err, sizeof(err)) == SL_OK)
        free(tasks);
    atomic_store(&c->requested, last);
start:
    if (pthread_create(&c->thread, NULL, sl__coordinator_main, c) != 0) {
        sl_seterr(errstr, errstr_size, SL_EIO, "cannot start the checkpoint thread");
        goto fail;
    }
    c->thread_started = 1;
    return c;
fail:
    sl_checkpointer_free(c);
    return NULL;
}

void sl_checkpointer_free(sl_checkpointer *c)
{
    if (!c)
        return;
    if (c->thread_started) {
        pthread_mutex_lock(&c->mu);
        c->stopping = 1;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    sl__clear_entries(c->entries, c->nentries);
    free(c->entries);
    sl_repl_client_free(c->client);
    sl_repl_server_stop(c->server);
    sl_ckpt_store_close(c->store);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

uint64_t sl_checkpointer_begin(sl_checkpointer *c, int nlanes)
{
    pthread_mutex_lock(&c->mu);
    if (c->inflight) {
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    uint64_t id = atomic_load(&c->requested) + 1;
    uint64_t now = (uint64_t)sl_wall_ms();
    if (id < now)
        id = now;
    c->inflight = id;
    c->lanes_expected = nlanes;
    c->lanes_reported = 0;
    c->tasks_expected = 0;
    c->begin_ns = sl_mono_ns();
    atomic_store(&c->requested, id);
    pthread_mutex_unlock(&c->mu);
    return id;
}

uint64_t sl_checkpointer_requested(const sl_checkpointer *c)
{
    return atomic_load(&((sl_checkpointer *)c)->requested);
}

void sl_checkpointer_lane_done(sl_checkpointer *c, uint64_t n, int ntasks)
{
    pthread_mutex_lock(&c->mu);
    if (n == c->inflight) {
        c->lanes_reported++;
        c->tasks_expected += ntasks;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

void sl_checkpointer_add(sl_checkpointer *c, uint64_t n, int32_t task, int64_t next_offset,
                         const void *blob, size_t len)
{
    sl_checkpointer_add_inputs(c, n, task, next_offset, NULL, 0, blob, len);
}

void sl_checkpointer_add_inputs(sl_checkpointer *c, uint64_t n, int32_t task, int64_t next_offset,
                                const int64_t *input_next, size_t ninputs, const void *blob,
                                size_t len)
{
    pthread_mutex_lock(&c->mu);
    if (n == c->inflight) {
        if (c->nentries == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 16;
            c->entries = sl_xrealloc(c->entries, c->cap * sizeof(*c->entries));
        }
        sl__entry *e = &c->entries[c->nentries++];
        e->task = task;
        e->next_offset = next_offset;
        e->input_next = NULL;
        e->ninputs = input_next ? ninputs : 0;
        if (e->ninputs) {
            e->input_next = sl_xmalloc(ninputs * sizeof(*input_next));
            memcpy(e->input_next, input_next, ninputs * sizeof(*input_next));
        }
        e->blob = sl_xmalloc(len ? len : 1);
        memcpy(e->blob, blob, len);
        e->len = len;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

uint64_t sl_checkpointer_durable(const sl_checkpointer *c)
{
    return atomic_load(&((sl_checkpointer *)c)->durable);
}

void sl_checkpointer_cancel_unreported(sl_checkpointer *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->inflight && c->lanes_reported < c->lanes_expected) {
        sl_debug("checkpoint", "checkpoint %" PRIu64 " cancelled: the input ended first",
                 c->inflight);
        sl__clear_entries(c->entries, c->nentries);
        c->nentries = 0;
        c->inflight = 0;
        pthread_cond_broadcast(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
}

int sl_checkpointer_wait(sl_checkpointer *c, int timeout_ms)
{
    int64_t deadline = sl_mono_ns() + (int64_t)timeout_ms * 1000000;
    pthread_mutex_lock(&c->mu);
    while (c->inflight) {
        if (sl_mono_ns() >= deadline) {
            pthread_mutex_unlock(&c->mu);
            return SL_ETIMEOUT;
        }
        sl_cond_wait_ms(&c->cv, &c->mu, 20);
    }
    int ok = c->last_ok;
    pthread_mutex_unlock(&c->mu);
    return ok ? SL_OK : SL_EIO;
}

/* Appends "; <what>" to the note buffer. */
static void sl__note(char *notes, size_t size, const char *what)
{
    size_t used = strlen(notes);
    if (used + 1 < size)
        snprintf(notes + used, size - used, "%s%s", used ? "; " : "", what);
}

/* Loads (task, n) from the store of one area, verified. A copy that exists
 * but fails verification is logged loudly. Returns SL_OK, SL_ENOTFOUND or
 * the verification error. */
static int sl__area_load(sl_ckpt_store *st, const char *what, int32_t task, uint64_t n, void **p,
                         size_t *len, char *notes, size_t notes_size)
{
    char err[512];
    int rc = sl_ckpt_store_get(st, task, n, p, len, err, sizeof(err));
    if (rc == SL_OK)
        return SL_OK;
    char note[700];
    snprintf(note, sizeof(note), "%s: %s", what, err);
    sl__note(notes, notes_size, note);
    if (rc != SL_ENOTFOUND)
        sl_error("checkpoint",
                 "task %d: the copy of checkpoint %" PRIu64 " in %s is CORRUPT and will not be "
                 "used: %s",
                 task, n, what, err);
    return rc;
}

/* Opens replicas/<origin>/ of this node's directory if it exists. */
static sl_ckpt_store *sl__open_area(const sl_checkpointer *c, const char *origin)
{
    char path[4096], err[256];
    snprintf(path, sizeof(path), "%s/replicas/%s", c->def->checkpoint.dir, origin);
    DIR *d = opendir(path);
    if (!d)
        return NULL;
    closedir(d);
    sl_ckpt_store *st = sl_ckpt_store_open(path, c->def->checkpoint.keep, err, sizeof(err));
    if (st)
        sl_ckpt_store_set_origin(st, origin);
    return st;
}

/* Legacy commits (no origin recorded): every local replica area. */
static int sl__any_area_load(const sl_checkpointer *c, int32_t task, uint64_t n, void **p,
                             size_t *len, char *notes, size_t notes_size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/replicas", c->def->checkpoint.dir);
    DIR *d = opendir(path);
    if (!d)
        return SL_ENOTFOUND;
    int rc = SL_ENOTFOUND;
    struct dirent *de;
    while (rc != SL_OK && (de = readdir(d))) {
        if (!sl_repl_node_id_valid(de->d_name))
            continue;
        sl_ckpt_store *st = sl__open_area(c, de->d_name);
        if (!st)
            continue;
        char what[128];
        snprintf(what, sizeof(what), "replicas/%.64s", de->d_name);
        rc = sl__area_load(st, what, task, n, p, len, notes, notes_size);
        sl_ckpt_store_close(st);
    }
    closedir(d);
    return rc;
}

int sl_checkpointer_load(sl_checkpointer *c, int32_t task, uint64_t n, const char *origin,
                         uint8_t **blob, size_t *len, char *errstr, size_t errstr_size)
{
    const char *self = c->def->cluster.node_id;
    int legacy = !origin || !*origin;
    char notes[2048] = "";
    void *p = NULL;
    if (!c->store)
        return sl_seterr(errstr, errstr_size, SL_ENOTFOUND, "checkpoints are off");
    int rc, corrupt = 0;
    if (!legacy && !sl_repl_node_id_valid(origin))
        return sl_seterr(errstr, errstr_size, SL_ECORRUPT,
                         "the offset commit names an invalid origin node id");
    if (legacy)
        sl_warn("checkpoint",
                "task %d: the committed offsets name checkpoint %" PRIu64 " without its origin "
                "(committed by an older version): accepting a verified copy from any area",
                task, n);
    if (legacy || strcmp(origin, self) == 0) {
        rc = sl__area_load(c->store, "this node's store", task, n, &p, len, notes, sizeof(notes));
        corrupt |= rc != SL_OK && rc != SL_ENOTFOUND;
        if (rc == SL_OK) {
            sl_ckpt_store_protect_task(c->store, task, n); /* it is committed */
            *blob = p;
            return SL_OK;
        }
    }
    if (legacy) {
        rc = sl__any_area_load(c, task, n, &p, len, notes, sizeof(notes));
    } else if (strcmp(origin, self) != 0) {
        sl_ckpt_store *st = sl__open_area(c, origin);
        char what[128];
        snprintf(what, sizeof(what), "replicas/%s", origin);
        rc = st ? sl__area_load(st, what, task, n, &p, len, notes, sizeof(notes)) : SL_ENOTFOUND;
        if (!st) {
            char note[160];
            snprintf(note, sizeof(note), "no %s here", what);
            sl__note(notes, sizeof(notes), note);
        }
        sl_ckpt_store_close(st);
    } else {
        rc = SL_ENOTFOUND;
    }
    if (rc == SL_OK) {
        *blob = p;
        return SL_OK;
    }
    corrupt |= rc != SL_ENOTFOUND;
    if (c->def->cluster.npeers > 0) {
        /* A client of its own: replication clients belong to one thread,
         * and restores happen on worker threads. */
        char err[1024];
        sl_repl_client_conf cc;
        sl__client_conf(c, &cc);
        sl_repl_client *client = sl_repl_client_new(&cc, err, sizeof(err));
        if (client) {
            rc = sl_repl_fetch(client, legacy ? NULL : origin, task, n,
                               (int)c->def->checkpoint.replica_timeout_ms, NULL, &p, len, err,
                               sizeof(err));
            sl_repl_client_free(client);
            if (rc == SL_OK) {
                *blob = p;
                sl_info("checkpoint",
                        "task %d: checkpoint %" PRIu64 " of %s fetched from a peer (verified)",
                        task, n, legacy ? "any node" : origin);
                return SL_OK;
            }
        }
        corrupt |= rc == SL_ECORRUPT;
        sl__note(notes, sizeof(notes), err);
    }
    return sl_seterr(errstr, errstr_size, corrupt ? SL_ECORRUPT : SL_ENOTFOUND,
                     "no verified copy of checkpoint %" PRIu64 " of %s for task %d: %s", n,
                     legacy ? "any node" : origin, task, notes);
}

int sl_checkpoint_meta_format(char *out, size_t size, uint64_t id, const char *origin)
{
    int n =
        snprintf(out, size, "sluice:checkpoint=%" PRIu64 ";origin=%s", id, origin ? origin : "");
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int sl_checkpoint_meta_parse(const void *meta, size_t len, uint64_t *id, char *origin)
{
    static const char prefix[] = "sluice:checkpoint=";
    const char *m = meta;
    *id = 0;
    origin[0] = '\0';
    size_t pl = sizeof(prefix) - 1;
    if (!m || len <= pl || memcmp(m, prefix, pl) != 0)
        return -1;
    size_t i = pl;
    uint64_t v = 0;
    if (m[i] == '0') /* 0 is no checkpoint, and one spelling per id */
        return -1;
    while (i < len && m[i] >= '0' && m[i] <= '9') {
        unsigned d = (unsigned)(m[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        i++;
    }
    if (i == pl || v == 0)
        return -1;
    if (i < len) {
        static const char okey[] = ";origin=";
        size_t ol = sizeof(okey) - 1;
        if (len - i <= ol || memcmp(m + i, okey, ol) != 0 || len - i - ol > SL_REPL_NODE_ID_MAX ||
            memchr(m + i + ol, '\0', len - i - ol))
            return -1;
        char o[SL_REPL_NODE_ID_MAX + 1];
        memcpy(o, m + i + ol, len - i - ol);
        o[len - i - ol] = '\0';
        if (!sl_repl_node_id_valid(o))
            return -1;
        memcpy(origin, o, len - i - ol + 1);
    }
    *id = v;
    return 0;
}

void sl_checkpointer_get_stats(const sl_checkpointer *c, sl_checkpoint_stats *out)
{
    pthread_mutex_lock(&((sl_checkpointer *)c)->mu);
    *out = c->stats;
    out->durable_id = atomic_load(&((sl_checkpointer *)c)->durable);
    if (c->server) {
        sl_repl_server_stats rs;
        sl_repl_server_stats_get(c->server, &rs);
        out->repl_refused_connections = rs.refused_connections;
        out->repl_refused_origin = rs.refused_origin;
        out->repl_bad_messages = rs.bad_messages;
    }
    pthread_mutex_unlock(&((sl_checkpointer *)c)->mu);
}
