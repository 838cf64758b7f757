/*
 * kafka_sink.c - the `kafka` sink: results (and dead letters) to a topic
 * through an idempotent producer.
 *
 *   results       key = the result's key object ({"user":"u1"}), value =
 *                 the result row, timestamp = produce time; headers "sluice-task" (producing task)
 *                 and "sluice-seq" (its per-task sequence number), both
 *                 decimal text
 *   dead letters  no key, value = the dead-letter record; headers
 *                 "sluice-reason" ("malformed_json", "late", ...) and
 *                 "sluice-task"
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

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct kk_sink {
    char *path;
    char *topic;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    uint64_t produced;
    _Atomic uint64_t delivered, failed;
    int error_logged;
} kk_sink;

static const sl_opt kk_options[] = {
    {"topic", SL_OPT_STRING, 1, "output topic"},
    {"properties", SL_OPT_OBJECT, 0, "librdkafka producer properties (bootstrap.servers, ...)"},
    {NULL, 0, 0, NULL},
};

static void kk_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kk_sink *k = opaque;
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
    free(k);
}

static int kk_create(const sl_connector_def *c, const sl_def *def, void **state, char *errstr,
                     size_t errstr_size)
{
    kk_sink *k = sl_xcalloc(1, sizeof(*k));
    k->path = sl_xstrdup(c->path);
    k->topic = sl_xstrdup(json_string_value(json_object_get(c->conf, "topic")));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char *const defaults[][2] = {
        {"enable.idempotence", "true"},
        {"linger.ms", "5"},
        {"batch.size", "1000000"},
        {"compression.type", "lz4"},
        {"queue.buffering.max.messages", "200000"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(defaults); i++)
        rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], NULL, 0);
    char ppath[256];
    sl_path_join(ppath, sizeof(ppath), c->path, "properties");
    int rc = sl__kafka_conf_apply(conf, json_object_get(c->conf, "properties"), ppath, errstr,
                                  errstr_size);
    if (rc != SL_OK) {
        rd_kafka_conf_destroy(conf);
        kk_destroy(k);
        return rc;
    }
    char val[512];
    size_t vlen = sizeof(val);
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
                                        RD_KAFKA_V_HEADER("sluice-task", task, tl), RD_KAFKA_V_END);
            else
                err = rd_kafka_producev(
                    k->rk, RD_KAFKA_V_RKT(k->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY((void *)key, klen), RD_KAFKA_V_VALUE((void *)val, vlen),
                    RD_KAFKA_V_HEADER("sluice-task", task, tl),
                    RD_KAFKA_V_HEADER("sluice-seq", seq, sq), RD_KAFKA_V_END);
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

const sl_sink_ops sl_sink_kafka = {
    .name = "kafka",
    .options = kk_options,
    .create = kk_create,
    .write = kk_write,
    .flush = kk_flush,
    .destroy = kk_destroy,
};
