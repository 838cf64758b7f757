/*
 * kafka_sink.c - the `kafka` sink: results (and dead letters) to a topic
 * through an idempotent producer.
 *
 *   results       key = the result's key object ({"user":"u1"}), value =
 *                 the result row, timestamp = produce time; headers
 *                 "sluice-task" (producing task), "sluice-seq" (its per-task
 *                 sequence number), both decimal text, and
 *                 "sluice-deployment" (which deployment wrote it)
 *   "emit": "upsert" (definition.h): key = the key fields and window_start
 *                 ({"user":"u1","window_start":0}), so a compacted topic
 *                 keeps the latest result per window; a tombstone (empty
 *                 row, batch.h) is a record with that key and a NULL value
 *                 (payload NULL, length 0), with the same headers, so it is
 *                 sequenced, suppressed on replay and found by recover()
 *                 like any result
 *   dead letters  no key, value = the dead-letter record; headers
 *                 "sluice-reason" ("malformed_json", "late", ...),
 *                 "sluice-task" and "sluice-deployment"
 *
 * The deployment identity is the sink's "deployment" option, by default
 * "<pipeline name>/<consumer group>" for a Kafka source (the group names a
 * deployment of a pipeline: its offsets, its checkpoints) and the pipeline
 * name otherwise. Several deployments may share one output topic.
 *
 * Exactly-once: position() records, per output partition, an
 * offset below anything a task writes after its checkpoint; recover() reads
 * the output back from there (from the start without a checkpoint) and
 * finds, per partition, the highest "sluice-seq" the task of this
 * deployment already wrote there, so its replay is suppressed up to it in
 * that partition. Records of other deployments, and records without a
 * "sluice-deployment" header, never count. The idempotent producer keeps
 * order within a partition only, hence one mark each; partition_of() tells
 * the worker where a result goes: the producer's own partitioner (the
 * "partitioner" property, key-hash based; its *_random variants are the
 * same for the non-empty keys results have, so they are replaced by the
 * plain ones; "random" cannot be replayed and is refused for exactly-once).
 *
 * Compression is off by default ("compression.type": "none"), so every
 * client can read the results (a consumer without the lz4 or zstd codec
 * cannot decode such batches); "properties" turns it on.
 *
 * A record that cannot be delivered (after librdkafka's own retries, within
 * message.timeout.ms) fails the sink: the next write() or flush() returns
 * SL_EKAFKA and the pipeline exits non-zero. Nothing is dropped silently.
 *
 * @locality write/flush: the engine's sink thread; delivery reports are
 * served inside write/flush (rd_kafka_poll) on that same thread.
 */
#include "kafka.h"

#include "common.h"
#include "log.h"
#include "options.h"
#include "snapshot.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct kk_sink {
    char *path;
    char *topic;
    const json_t *props; /* borrowed from the definition */
    char *bootstrap;
    char *deployment; /* "sluice-deployment" header value */
    /* the producer's partitioner (librdkafka's, called directly by
     * partition_of: a pure function of key and partition count) */
    int32_t (*partitioner)(const rd_kafka_topic_t *rkt, const void *key, size_t keylen,
                           int32_t partition_cnt, void *rkt_opaque, void *msg_opaque);
    size_t deployment_len;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    uint64_t produced;
    _Atomic uint64_t delivered, failed;
    int error_logged;
    /* Exactly-once support (sink thread): per output partition, the offset
     * after our last delivered record, else the partition's end when we
     * first looked. */
    int64_t *ends;
    int32_t nparts;
} kk_sink;

static const sl_opt kk_options[] = {
    {.name = "topic", .type = SL_OPT_STRING, .required = 1, .help = "output topic"},
    {.name = "properties",
     .type = SL_OPT_OBJECT,
     .help = "librdkafka producer properties (bootstrap.servers, ...)"},
    {.name = "deployment",
     .type = SL_OPT_STRING,
     .help = "deployment identity in the sluice-deployment header (default \"<name>/<group_id>\")"},
    {.name = NULL},
};

static void kk_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kk_sink *k = opaque;
    if (!m->err && m->partition >= 0 && m->partition < k->nparts && m->offset >= 0 &&
        m->offset + 1 > k->ends[m->partition])
        k->ends[m->partition] = m->offset + 1;
    if (m->err) {
        if (atomic_fetch_add(&k->failed, 1) == 0)
            sl_error("kafka", "%s: record to %s [%" PRId32 "] not delivered: %s", k->path, k->topic,
                     m->partition, rd_kafka_err2str(m->err));
    } else {
        atomic_fetch_add_explicit(&k->delivered, 1, memory_order_relaxed);
    }
}

static void kk_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kk_sink *k = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[512];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        sl_error("kafka", "%s: fatal producer error: %s", k->path, buf);
        atomic_fetch_add(&k->failed, 1);
        return;
    }
    sl_warn("kafka", "%s: %s: %s", k->path, rd_kafka_err2name(err), reason);
}

static void kk_destroy(void *state)
{
    kk_sink *k = state;
    if (!k)
        return;
    if (k->rkt)
        rd_kafka_topic_destroy(k->rkt);
    if (k->rk)
        rd_kafka_destroy(k->rk);
    free(k->topic);
    free(k->path);
    free(k->bootstrap);
    free(k->deployment);
    free(k->ends);
    free(k);
}

/* The deployment identity (see the top of the file); caller frees. */
static char *kk_deployment(const sl_connector_def *c, const sl_def *def)
{
    const char *d = json_string_value(json_object_get(c->conf, "deployment"));
    if (d && *d)
        return sl_xstrdup(d);
    if (!def->source.type || strcmp(def->source.type, "kafka") != 0)
        return sl_xstrdup(def->name);
    const char *group = json_string_value(json_object_get(def->source.conf, "group_id"));
    size_t n = strlen(def->name) * 2 + (group ? strlen(group) : 0) + 16;
    char *out = sl_xmalloc(n);
    if (group && *group)
        snprintf(out, n, "%s/%s", def->name, group);
    else /* the Kafka source's default group */
        snprintf(out, n, "%s/sluice-%s", def->name, def->name);
    return out;
}

/* The "partitioner" property (see the top of the file), made deterministic. */
static int kk_choose_partitioner(kk_sink *k, rd_kafka_conf_t *conf, const sl_def *def,
                                 const char *ppath, char *errstr, size_t errstr_size)
{
    static const struct {
        const char *names[2], *plain;
        int32_t (*fn)(const rd_kafka_topic_t *, const void *, size_t, int32_t, void *, void *);
    } known[] = {
        {{"consistent_random", "consistent"}, "consistent", rd_kafka_msg_partitioner_consistent},
        {{"murmur2_random", "murmur2"}, "murmur2", rd_kafka_msg_partitioner_murmur2},
        {{"fnv1a_random", "fnv1a"}, "fnv1a", rd_kafka_msg_partitioner_fnv1a},
    };
    char val[64] = "consistent_random";
    size_t vlen = sizeof(val);
    rd_kafka_conf_get(conf, "partitioner", val, &vlen);
    for (size_t i = 0; i < SL_ARRAY_LEN(known); i++)
        if (strcmp(val, known[i].names[0]) == 0 || strcmp(val, known[i].names[1]) == 0) {
            k->partitioner = known[i].fn;
            rd_kafka_conf_set(conf, "partitioner", known[i].plain, NULL, 0);
            return SL_OK;
        }
    if (def->checkpoint.enabled && def->checkpoint.guarantee == SL_EXACTLY_ONCE)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "%s.partitioner: \"%s\" does not map a result's key to the same "
                         "partition on replay, so exactly-once output cannot find what it "
                         "wrote; use consistent, murmur2 or fnv1a",
                         ppath, val);
    return SL_OK;
}

/* Any thread: the partition a result with this key goes to. */
static uint32_t kk_partition_of(void *state, const char *key, size_t key_len, uint32_t nparts)
{
    kk_sink *k = state;
    if (!k->partitioner || nparts == 0 || nparts > INT32_MAX)
        return 0;
    int32_t p = k->partitioner(k->rkt, key, key_len, (int32_t)nparts, NULL, NULL);
    return p < 0 ? 0 : (uint32_t)p;
}

rd_kafka_conf_t *sl__kafka_sink_conf(const sl_connector_def *c, const sl_def *def, char *errstr,
                                     size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char *const defaults[][2] = {
        {"enable.idempotence", "true"},
        {"linger.ms", "5"},
        {"batch.size", "1000000"},
        {"compression.type", "none"}, /* readable by every client */
        {"queue.buffering.max.messages", "200000"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(defaults); i++)
        rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], NULL, 0);
    sl__kafka_conf_mode(conf, def, 1);
    char ppath[256];
    sl_path_join(ppath, sizeof(ppath), c->path, "properties");
    if (sl__kafka_conf_apply(conf, json_object_get(c->conf, "properties"), ppath, errstr,
                             errstr_size) != SL_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

static int kk_create(const sl_connector_def *c, const sl_def *def, void **state, char *errstr,
                     size_t errstr_size)
{
    kk_sink *k = sl_xcalloc(1, sizeof(*k));
    k->path = sl_xstrdup(c->path);
    k->topic = sl_xstrdup(json_string_value(json_object_get(c->conf, "topic")));
    k->deployment = kk_deployment(c, def);
    k->deployment_len = strlen(k->deployment);
    rd_kafka_conf_t *conf = sl__kafka_sink_conf(c, def, errstr, errstr_size);
    if (!conf) {
        kk_destroy(k);
        return SL_EINVAL;
    }
    char ppath[256];
    sl_path_join(ppath, sizeof(ppath), c->path, "properties");
    int rc;
    char val[512];
    size_t vlen = sizeof(val);
    if ((rc = kk_choose_partitioner(k, conf, def, ppath, errstr, errstr_size)) != SL_OK) {
        rd_kafka_conf_destroy(conf);
        kk_destroy(k);
        return rc;
    }
    if (rd_kafka_conf_get(conf, "bootstrap.servers", val, &vlen) != RD_KAFKA_CONF_OK || !val[0]) {
        const char *envb = getenv("SLUICE_BOOTSTRAP");
        if (!envb || !*envb) {
            rd_kafka_conf_destroy(conf);
            kk_destroy(k);
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s: \"bootstrap.servers\" is required (or set SLUICE_BOOTSTRAP)",
                             ppath);
        }
        rd_kafka_conf_set(conf, "bootstrap.servers", envb, NULL, 0);
    }
    vlen = sizeof(val);
    rd_kafka_conf_get(conf, "bootstrap.servers", val, &vlen);
    k->bootstrap = sl_xstrdup(val);
    k->props = json_object_get(c->conf, "properties");
    vlen = sizeof(val);
    if (rd_kafka_conf_get(conf, "client.id", val, &vlen) == RD_KAFKA_CONF_OK &&
        strcmp(val, "rdkafka") == 0) {
        snprintf(val, sizeof(val), "sluice-%s-%s", def->name, c->path);
        rd_kafka_conf_set(conf, "client.id", val, NULL, 0);
    }
    sl__kafka_conf_logging(conf);
    rd_kafka_conf_set_error_cb(conf, kk_error_cb);
    rd_kafka_conf_set_dr_msg_cb(conf, kk_dr);
    rd_kafka_conf_set_opaque(conf, k);
    char kerr[512];
    k->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        kk_destroy(k);
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: %s", c->path, kerr);
    }
    k->rkt = rd_kafka_topic_new(k->rk, k->topic, NULL);
    *state = k;
    return SL_OK;
}

static int kk_failed(kk_sink *k)
{
    return atomic_load(&k->failed) > 0;
}

static int kk_write(void *state, const sl_batch *b)
{
    kk_sink *k = state;
    int bad = b->kind == SL_MSG_BAD;
    for (uint32_t i = 0; i < b->count; i++) {
        uint32_t klen, vlen;
        const char *key = sl_batch_key(b, i, &klen);
        const char *val = sl_batch_row(b, i, &vlen);
        char task[24], seq[24];
        int tl = snprintf(task, sizeof(task), "%" PRIu64, b->key_hash[i]);
        int sq = snprintf(seq, sizeof(seq), "%" PRId64, b->offset[i]);
        for (;;) {
            rd_kafka_resp_err_t err;
            if (bad)
                err = rd_kafka_producev(k->rk, RD_KAFKA_V_RKT(k->rkt),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_VALUE((void *)val, vlen),
                                        RD_KAFKA_V_HEADER("sluice-reason", key, (ssize_t)klen),
                                        RD_KAFKA_V_HEADER("sluice-task", task, tl),
                                        RD_KAFKA_V_HEADER("sluice-deployment", k->deployment,
                                                          (ssize_t)k->deployment_len),
                                        RD_KAFKA_V_END);
            else
                err = rd_kafka_producev(
                    k->rk, RD_KAFKA_V_RKT(k->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY((void *)key, klen),
                    RD_KAFKA_V_VALUE(vlen ? (void *)val : NULL, vlen), /* 0: tombstone */
                    RD_KAFKA_V_HEADER("sluice-task", task, tl),
                    RD_KAFKA_V_HEADER("sluice-seq", seq, sq),
                    RD_KAFKA_V_HEADER("sluice-deployment", k->deployment,
                                      (ssize_t)k->deployment_len),
                    RD_KAFKA_V_END);
            if (!err)
                break;
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                sl_error("kafka", "%s: cannot produce to %s: %s", k->path, k->topic,
                         rd_kafka_err2str(err));
                return SL_EKAFKA;
            }
            rd_kafka_poll(k->rk, 10); /* backpressure: wait for deliveries */
            if (kk_failed(k))
                return SL_EKAFKA;
        }
        k->produced++;
    }
    rd_kafka_poll(k->rk, 0);
    return kk_failed(k) ? SL_EKAFKA : SL_OK;
}

static int kk_flush(void *state, int timeout_ms)
{
    kk_sink *k = state;
    rd_kafka_resp_err_t err = rd_kafka_flush(k->rk, timeout_ms);
    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT) {
        sl_error("kafka", "%s: %d record(s) to %s still undelivered after %d ms", k->path,
                 rd_kafka_outq_len(k->rk), k->topic, timeout_ms);
        return SL_ETIMEOUT;
    }
    if (kk_failed(k)) {
        sl_error("kafka", "%s: %" PRIu64 " record(s) to %s could not be delivered", k->path,
                 (uint64_t)atomic_load(&k->failed), k->topic);
        return SL_EKAFKA;
    }
    return SL_OK;
}

/* ---- exactly-once support: positions and the output scan ------------- */

/* Learns the output topic's partitions and their current ends (once). */
static int kk_learn_partitions(kk_sink *k)
{
    if (k->nparts > 0)
        return SL_OK;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(k->rk, 0, k->rkt, &md, 30000);
    int32_t n = 0;
    if (!err && md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (n <= 0) {
        sl_error("kafka", "%s: cannot read the partitions of %s: %s", k->path, k->topic,
                 rd_kafka_err2str(err ? err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART));
        return SL_EKAFKA;
    }
    int64_t *ends = sl_xcalloc((size_t)n, sizeof(*ends));
    for (int32_t p = 0; p < n; p++) {
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(k->rk, k->topic, p, &lo, &hi, 30000);
        if (err) {
            sl_error("kafka", "%s: %s [%d]: %s", k->path, k->topic, (int)p, rd_kafka_err2str(err));
            free(ends);
            return SL_EKAFKA;
        }
        ends[p] = hi;
    }
    k->ends = ends;
    k->nparts = n; /* published last: the delivery callback reads it */
    return SL_OK;
}

/* Sink thread, after a flush following `task`'s barrier: per output
 * partition, an offset below every result the task will write later.
 * Format: u32 partitions, then i64 offset each. */
static int kk_position(void *state, int32_t task, sl_buf *out)
{
    (void)task;
    kk_sink *k = state;
    if (kk_learn_partitions(k) != SL_OK)
        return SL_EKAFKA;
    sl_buf_put_u32(out, (uint32_t)k->nparts);
    for (int32_t p = 0; p < k->nparts; p++)
        sl_buf_put_i64(out, k->ends[p]);
    return out->failed ? SL_ENOMEM : SL_OK;
}

/* Reads the output from the recorded positions (or, without any, from the
 * start) to the current end and finds, per output partition, the highest
 * "sluice-seq" written there by `task` of this deployment (-1: none). A
 * worker thread, on restore. */
static int kk_recover(void *state, int32_t task, const uint8_t *position, size_t len,
                      int64_t **last_seq, uint32_t *nmarks, char *errstr, size_t errstr_size)
{
    kk_sink *k = state;
    *last_seq = NULL;
    *nmarks = 0;
    char kerr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* Connection and security settings only, from the sink's properties. */
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)k->props, key, v)
    {
        if (json_is_string(v) &&
            (strncmp(key, "security.", 9) == 0 || strncmp(key, "sasl.", 5) == 0 ||
             strncmp(key, "ssl.", 4) == 0 || strncmp(key, "socket.", 7) == 0))
            rd_kafka_conf_set(conf, key, json_string_value(v), NULL, 0);
    }
    rd_kafka_conf_set(conf, "bootstrap.servers", k->bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "sluice-output-scan", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
    sl__kafka_conf_logging(conf);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof(kerr));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return sl_seterr(errstr, errstr_size, SL_EKAFKA, "output scan consumer: %s", kerr);
    }
    rd_kafka_poll_set_consumer(rk);
    sl_reader r;
    sl_reader_init(&r, position, position ? len : 0);
    uint32_t n = position && len ? sl_read_u32(&r) : 0;
    int rc = SL_OK;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, k->topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 30000);
    int32_t nparts = !err && md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (err || nparts <= 0) { /* a topic that does not exist holds nothing of ours */
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        if (!err)
            return SL_OK;
        return sl_seterr(errstr, errstr_size, SL_EKAFKA, "cannot read the partitions of %s: %s",
                         k->topic, rd_kafka_err2str(err));
    }
    int64_t *marks = sl_xmalloc((size_t)nparts * sizeof(*marks));
    for (int32_t p = 0; p < nparts; p++)
        marks[p] = -1;
    int64_t *end = sl_xcalloc((size_t)nparts + 1, sizeof(int64_t));
    int remaining = 0;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts + 1);
    for (int32_t p = 0; p < nparts && rc == SL_OK; p++) {
        int64_t start = p < (int32_t)n ? sl_read_i64(&r) : RD_KAFKA_OFFSET_BEGINNING;
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(rk, k->topic, p, &lo, &hi, 30000);
        if (err) {
            rc = sl_seterr(errstr, errstr_size, SL_EKAFKA, "%s [%d]: %s", k->topic, (int)p,
                           rd_kafka_err2str(err));
            break;
        }
        if (start >= 0 && start < lo)
            sl_warn("kafka",
                    "%s [%d]: output from offset %" PRId64 " is gone (now starts at %" PRId64
                    "); replay suppression may be incomplete",
                    k->topic, (int)p, start, lo);
        end[p] = hi;
        if ((start >= 0 ? start : lo) >= hi)
            continue;
        rd_kafka_topic_partition_list_add(l, k->topic, p)->offset = start;
        remaining++;
    }
    if (r.failed && rc == SL_OK)
        rc = sl_seterr(errstr, errstr_size, SL_ECORRUPT, "malformed output position");
    if (rc == SL_OK && remaining > 0) {
        rd_kafka_assign(rk, l);
        int64_t deadline = sl_mono_ns() + 120 * 1000000000ll;
        uint8_t *done = sl_xcalloc((size_t)nparts + 1, 1);
        while (remaining > 0 && rc == SL_OK) {
            if (sl_mono_ns() > deadline) {
                rc = sl_seterr(errstr, errstr_size, SL_ETIMEOUT,
                               "reading %s back took more than 120 s", k->topic);
                break;
            }
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
            if (!m)
                continue;
            int32_t p = m->partition;
            int64_t next = m->offset + 1;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                next = m->offset;
            } else if (m->err) {
                sl_warn("kafka", "output scan of %s: %s", k->topic, rd_kafka_message_errstr(m));
                next = -1;
            } else {
                rd_kafka_headers_t *h = NULL;
                const void *tv, *sv, *dv;
                size_t tl, sl, dl;
                if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                    rd_kafka_header_get_last(h, "sluice-task", &tv, &tl) == 0 &&
                    rd_kafka_header_get_last(h, "sluice-seq", &sv, &sl) == 0 && tl < 24 &&
                    sl < 24 && rd_kafka_header_get_last(h, "sluice-deployment", &dv, &dl) == 0 &&
                    dl == k->deployment_len && memcmp(dv, k->deployment, dl) == 0) {
                    char tb[24], sb[24];
                    memcpy(tb, tv, tl);
                    tb[tl] = '\0';
                    memcpy(sb, sv, sl);
                    sb[sl] = '\0';
                    if (strtoll(tb, NULL, 10) == task && p >= 0 && p < nparts) {
                        int64_t seq = strtoll(sb, NULL, 10);
                        if (seq > marks[p])
                            marks[p] = seq;
                    }
                }
            }
            if (p >= 0 && p < nparts && !done[p] && next >= end[p]) {
                done[p] = 1;
                remaining--;
            }
            rd_kafka_message_destroy(m);
        }
        free(done);
    }
    rd_kafka_topic_partition_list_destroy(l);
    free(end);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (rc != SL_OK) {
        free(marks);
        return rc;
    }
    *last_seq = marks;
    *nmarks = (uint32_t)nparts;
    return SL_OK;
}

const sl_sink_ops sl_sink_kafka = {
    .name = "kafka",
    .options = kk_options,
    .create = kk_create,
    .check = sl__kafka_check,
    .write = kk_write,
    .flush = kk_flush,
    .destroy = kk_destroy,
    .position = kk_position,
    .recover = kk_recover,
    .partition_of = kk_partition_of,
};
