/*
 * kafka_source.h - internal to the kafka source (kafka_source.c: options,
 * consumer threads, lifecycle; kafka_group.c: the control thread serving
 * rebalances, offset commits and end of input). See the design notes at
 * the top of kafka_source.c. Not a public interface.
 */
#ifndef SL_KAFKA_SOURCE_H
#define SL_KAFKA_SOURCE_H

#include "kafka.h"

#include "engine.h"
#include "ingest.h"

#include <pthread.h>
#include <stdatomic.h>

enum { KS_DIRECT = 0, KS_STAGE1, KS_STAGE2 };
enum { KS_START_EARLIEST, KS_START_LATEST, KS_START_COMMITTED };
enum { KS_CMD_ASSIGN, KS_CMD_REVOKE };

#define KS_MAX_TOPICS 32

typedef struct sl__ks_source sl__ks_source;
typedef struct sl__ks_thread sl__ks_thread;

typedef struct sl__ks_part {
    int topic;         /* index into s->topics (s->ntopics: repartition topic) */
    int32_t partition; /* = task id */
    int stage;
    sl__ks_thread *owner;
    rd_kafka_queue_t *queue;   /* partition queue, control thread */
    _Atomic int64_t consumed;  /* next offset after the last handled message */
    _Atomic int64_t delivered; /* events before it are in the engine's rings */
    _Atomic int64_t committed;
    _Atomic int64_t events; /* messages handled, all assignments (metrics) */
    /* The node that took checkpoint_id (below), "" if the commit did not
     * record it (sl_checkpoint_meta_parse). */
    char checkpoint_origin[65];
    _Atomic int64_t end;    /* stop_at_eof: end offset, INT64_MAX unknown */
    _Atomic int assigned;   /* control thread's view */
    _Atomic int done;       /* reached its end */
    int64_t epoch_snap;     /* STAGE1: position captured at an epoch flip */
    uint64_t checkpoint_id; /* named by the committed offset's metadata, 0 none */
    /* Its watermark, published to the tasks it feeds when they merge
     * several inputs (STAGE1: into every repartition partition; DIRECT
     * with co-partitioned topics: to its task through the lane). */
    int32_t input_id; /* STAGE1: upstream id (sluice-src, sluice-wm); DIRECT: input of its task */
    int32_t ninputs;  /* DIRECT: inputs of its task */
    /* owner thread only */
    int active, paused, gap_warned, header_warned;
    int64_t next, nread;
    int64_t max_ts;       /* highest event time read since assigned, INT64_MIN none */
    int64_t wm_sent;      /* last watermark published */
    int wm_idle_sent;     /* idle flag last published, -1 nothing yet */
    int64_t wm_sent_ns;   /* mono ns of the last publication */
    int64_t last_data_ns; /* mono ns of the last message read */
} sl__ks_part;

typedef struct sl__ks_cmd {
    int kind;
    sl__ks_part *part;
    int64_t start;
} sl__ks_cmd;

struct sl__ks_thread {
    sl__ks_source *s;
    int index, role;
    sl_lane *lane;
    pthread_t tid;
    int started;
    rd_kafka_queue_t *queue;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sl__ks_cmd *cmds;
    size_t ncmds, cmds_cap;
    int acks;           /* revocations handled, under mu */
    _Atomic int exited; /* the thread will not take commands any more */
    /* owner only */
    sl__ks_part **owned; /* parts this thread has been assigned, ever */
    size_t nowned, owned_cap;
    int *task_parts, *task_done, *task_eos; /* indexed by task */
    int32_t ntasks;
    int npaused;
    int64_t blocked_since; /* mono ns when the lane reported backpressure */
    int64_t loop_ns;       /* mono ns when the current poll batch arrived */
    rd_kafka_message_t **msgs;
    rd_kafka_topic_t *rkt_seen[KS_MAX_TOPICS + 1];
    int rkt_topic[KS_MAX_TOPICS + 1];
    /* STAGE1 */
    sl_ingest *ingest;
    char *enc;
    size_t enc_cap;
    _Atomic int64_t inflight[2] __attribute__((aligned(SL_CACHE_LINE)));
};

struct sl__ks_source {
    const sl_def *def;
    char *path;
    char **topics; /* [ntopics + 1]: the repartition topic last */
    size_t ntopics;
    char *group_id;
    int start;
    int nthreads; /* consumer threads per stage */
    int poll_batch;
    int cut_ms; /* runtime.mode latency: batches cut by time (ms); 0: throughput */
    int stop_at_eof;
    int64_t commit_interval_ms;
    int64_t pause_after_ms;
    int64_t connect_timeout_ms; /* start() gives up on silent brokers after it */
    char *bootstrap;            /* for messages */
    int repartition;
    char *repartition_topic;
    int32_t repartition_partitions; /* wanted; 0: the input's partition count */
    int publish_wm;         /* parts publish watermarks (repartition, co-partitioned topics) */
    int32_t nupstreams;     /* STAGE1 upstream tasks: every partition of every input topic */
    int64_t wm_step_ms;     /* window ends are multiples of it (0: sessions) */
    const char *rep_how;    /* how the repartition topic was set up (explain/log) */
    rd_kafka_conf_t *conf;  /* validated consumer conf, duplicated at start */
    rd_kafka_conf_t *pconf; /* repartition producer conf */

    sl_engine *engine;
    rd_kafka_t *rk;       /* the consumer */
    rd_kafka_t *producer; /* repartition records */
    rd_kafka_topic_t *rep_rkt;
    int32_t rep_partitions;
    sl__ks_part **parts; /* [topic][partition] */
    int32_t *nparts;     /* partitions per topic (metadata at start) */
    int32_t max_partitions;
    sl__ks_thread *threads; /* [nthreads] or [2 * nthreads] */
    int nthreads_total;
    pthread_t control;
    int control_started;

    _Atomic int stop, finished, failed;
    _Atomic int consumer_closed; /* commits after it can only repeat the last */
    _Atomic int first_assign;
    _Atomic uint64_t pauses; /* backpressure pauses, for status */
    _Atomic uint64_t epoch;
    int epoch_pending;
    uint64_t epoch_old;
    int stage2_ends_set;
    int64_t last_commit_ns;
    uint64_t end_floor; /* stop_at_eof, co-partitioned: checkpoint begun last at the end */
};

/* Any thread. */
int sl__ks_stopping(sl__ks_source *s);
/* Marks the source failed and asks the engine to stop (any thread). */
void sl__ks_fail(sl__ks_source *s);
sl__ks_part *sl__ks_part_of(sl__ks_source *s, int topic, int32_t partition);
int sl__ks_topic_index(sl__ks_source *s, const char *name);
/* Pauses (1) or resumes (0) one partition. Its owner thread only. */
void sl__ks_pause(sl__ks_source *s, sl__ks_part *p, int pause);

/* Headers of repartition records: a data record's origin, "UPSTREAM:OFFSET"
 * (the downstream task drops replays by it); a watermark record,
 * "UPSTREAM:NUPSTREAMS:WATERMARK:IDLE" (empty value, never an event). */
#define KS_SRC_HEADER "sluice-src"
#define KS_WM_HEADER  "sluice-wm"

/* Metadata of offsets committed for a checkpoint: "sluice:checkpoint=<id>". */
#define SL_KS_CHECKPOINT_META "sluice:checkpoint="

/* kafka_consume.c */
/* A consumer thread (arg: its ks_thread). */
void *sl__ks_thread_main(void *arg);
/* Delivery report of the repartition producer (opaque: the ks_thread). */
void sl__ks_repartition_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* kafka_topics.c */
/* Reads partition counts of every topic. Returns 0 or SL_EKAFKA. */
int sl__ks_metadata(sl__ks_source *s, rd_kafka_t *rk, size_t ntop, char *errstr,
                    size_t errstr_size);
int sl__ks_ensure_repartition_topic(sl__ks_source *s, int32_t want, char *errstr,
                                    size_t errstr_size);

/* kafka_group.c */
void *sl__ks_control_main(void *arg);
void sl__ks_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque);
int sl__ks_commit_checkpoint(void *state, uint64_t checkpoint_id, const sl_task_offset *offsets,
                             size_t n);
void sl__ks_offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *offsets, void *opaque);

#endif
