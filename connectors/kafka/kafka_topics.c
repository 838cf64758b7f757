/*
 * kafka_topics.c - the `kafka` source's start-up metadata: partition counts
 * of the input topics, and the internal repartition topic (found, or
 * created with the partitions the shuffle needs).
 */
#include "kafka_source.h"

#include "common.h"
#include "json_scan.h"
#include "log.h"
#include "options.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Reads partition counts of every topic. Returns 0 or SL_EKAFKA. */
int sl__ks_metadata(sl__ks_source *s, rd_kafka_t *rk, size_t ntop, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < ntop; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, s->topics[i], NULL);
        const struct rd_kafka_metadata *md = NULL;
        /* Bounded by connect_timeout, in short tries so a SIGTERM that
         * arrives meanwhile is obeyed within half a second. */
        int64_t deadline = sl_mono_ns() + s->connect_timeout_ms * 1000000;
        rd_kafka_resp_err_t err;
        for (;;) {
            err = rd_kafka_metadata(rk, 0, rkt, &md, 500);
            if (err != RD_KAFKA_RESP_ERR__TIMED_OUT && err != RD_KAFKA_RESP_ERR__TRANSPORT)
                break;
            if (sl_mono_ns() >= deadline) {
                rd_kafka_topic_destroy(rkt);
                return sl_seterr(errstr, errstr_size, SL_EKAFKA,
                                 "%s: no answer from the brokers (%s) within connect_timeout "
                                 "(%" PRId64 " ms): %s",
                                 s->path, s->bootstrap, s->connect_timeout_ms,
                                 rd_kafka_err2str(err));
            }
            if (s->engine && sl_engine_stop_requested(s->engine)) {
                rd_kafka_topic_destroy(rkt);
                return sl_seterr(errstr, errstr_size, SL_EKAFKA,
                                 "%s: stopped while waiting for the brokers (%s)", s->path,
                                 s->bootstrap);
            }
        }
        int32_t n = -1;
        rd_kafka_resp_err_t terr = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (!err && md->topic_cnt == 1) {
            terr = md->topics[0].err;
            n = md->topics[0].partition_cnt;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
        if (err)
            return sl_seterr(errstr, errstr_size, SL_EKAFKA, "%s: cannot read metadata of %s: %s",
                             s->path, s->topics[i], rd_kafka_err2str(err));
        if (terr || n <= 0) {
            s->nparts[i] = 0;
            if (s->repartition && i == s->ntopics)
                continue; /* created below */
            return sl_seterr(errstr, errstr_size, SL_EKAFKA, "%s.topics: topic \"%s\": %s", s->path,
                             s->topics[i], terr ? rd_kafka_err2str(terr) : "no partitions");
        }
        s->nparts[i] = n;
    }
    return SL_OK;
}

/* Partitions of `topic` as `rk` sees it (a producer handle may make the
 * broker auto-create it): >0, 0 for an unknown topic, -1 on error. */
static int32_t ks_topic_partitions(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int32_t n = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        n = 0;
        if (md->topic_cnt == 1 && !md->topics[0].err)
            n = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* Creates the repartition topic with `want` partitions through the Admin
 * API. Returns 0 or the error (TOPIC_ALREADY_EXISTS, _UNSUPPORTED_FEATURE
 * when the cluster cannot serve it, ...) with its message in `why`. */
static rd_kafka_resp_err_t ks_create_topic(sl__ks_source *s, int32_t want, char *why,
                                           size_t why_size)
{
    size_t rt = s->ntopics;
    char kerr[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(s->topics[rt], want, -1, kerr, sizeof(kerr));
    if (!nt) {
        snprintf(why, why_size, "%s", kerr);
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    }
    /* Admin requests go to the controller. A cluster naming none of its
     * brokers as controller (the embedded broker) cannot serve them: the
     * request would wait until it times out. */
    int32_t ctrl = rd_kafka_controllerid(s->producer, 5000);
    int known = 0;
    const struct rd_kafka_metadata *md = NULL;
    if (ctrl >= 0 &&
        rd_kafka_metadata(s->producer, 0, NULL, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        for (int i = 0; i < md->broker_cnt; i++)
            known |= md->brokers[i].id == ctrl;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (!known) {
        rd_kafka_NewTopic_destroy(nt);
        snprintf(why, why_size, "no broker of the cluster is its controller (controller id %d)",
                 (int)ctrl);
        return RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(s->producer);
    rd_kafka_CreateTopics(s->producer, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
    snprintf(why, why_size, "timed out");
    if (ev) {
        err = rd_kafka_event_error(ev);
        const char *w = rd_kafka_event_error_string(ev);
        if (!err) {
            size_t cnt;
            const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
            if (cnt == 1 && rd_kafka_topic_result_error(res[0])) {
                err = rd_kafka_topic_result_error(res[0]);
                w = rd_kafka_topic_result_error_string(res[0]);
            }
        }
        snprintf(why, why_size, "%s", w && *w ? w : rd_kafka_err2str(err));
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return err;
}

/*
 * Makes sure the repartition topic exists; its partitions are the
 * downstream tasks, whatever their number. Asks the broker first to create
 * it with `want` partitions (repartition_partitions, else the input's
 * count) through CreateTopics:
 *   created          the topic is new, with `want` partitions;
 *   already exists   used with the partitions it has;
 *   not implemented  (the embedded broker) the broker auto-creates it on
 *                    the first metadata request, with its own default
 *                    count (4), which is used;
 *   other errors     (no permission to create) used if it exists, else
 *                    the start fails saying what to do.
 * Says which happened in the log (and s->rep_how). Before any metadata
 * request for the topic, which would auto-create it. Returns 0 or
 * SL_EKAFKA.
 */
int sl__ks_ensure_repartition_topic(sl__ks_source *s, int32_t want, char *errstr,
                                    size_t errstr_size)
{
    size_t rt = s->ntopics;
    const char *name = s->topics[rt];
    char why[512];
    rd_kafka_resp_err_t err = ks_create_topic(s, want, why, sizeof(why));
    int auto_create = err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE ||
                      err == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION ||
                      err == RD_KAFKA_RESP_ERR_INVALID_REQUEST;
    /* Wait for it to show in metadata (the producer's requests let a
     * broker without CreateTopics auto-create it). */
    int32_t n = 0;
    for (int i = 0; i < 100 && n <= 0 && !sl__ks_stopping(s); i++) {
        n = ks_topic_partitions(auto_create ? s->producer : s->rk, name);
        if (n <= 0 && (auto_create || !err || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS))
            sl_sleep_us(100000);
        else if (n <= 0)
            break;
    }
    if (n <= 0 && err && !auto_create && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return sl_seterr(errstr, errstr_size, SL_EKAFKA,
                         "%s: cannot create the internal topic \"%s\" with %d partitions: %s. "
                         "Create it beforehand (any partition count; embedded broker: sluice "
                         "kafka-mock --topic %s:%d)",
                         s->path, name, (int)want, why, name, (int)want);
    if (n <= 0)
        return sl_seterr(errstr, errstr_size, SL_EKAFKA,
                         "%s: the internal topic \"%s\" did not appear in the metadata%s", s->path,
                         name,
                         auto_create ? " (the broker has no CreateTopics and did not auto-create "
                                       "it; create it beforehand)"
                                     : "");
    s->nparts[rt] = n;
    if (!err) {
        s->rep_how = "created";
        sl_info("kafka", "created internal topic %s with %d partitions: %d downstream tasks", name,
                (int)n, (int)n);
    } else if (auto_create) {
        s->rep_how = "auto-created";
        sl_info("kafka",
                "internal topic %s: the broker does not implement CreateTopics (%s); it "
                "auto-created the topic with %d partitions: %d downstream tasks",
                name, why, (int)n, (int)n);
    } else {
        s->rep_how = "existing";
        sl_info("kafka", "internal topic %s exists with %d partitions: %d downstream tasks%s%s",
                name, (int)n, (int)n,
                err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS ? "; CreateTopics said: " : "",
                err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS ? why : "");
    }
    return SL_OK;
}
