/*
 * kafka.h - the Kafka path: the `kafka` source and sink, the embedded
 * broker (librdkafka's mock cluster), the load generator and the demo.
 *
 *   sluice kafka-mock   a mock cluster on 127.0.0.1 for any Kafka client,
 *                       with fault injection through a control FIFO
 *   sluice produce      synthetic JSON events or a JSON-lines file -> topic
 *   sluice demo         mock cluster + producer + pipeline, in one process
 *
 * The source runs one consumer (one group member) whose partitions are
 * split over `consumer_threads` threads by forwarding each partition's
 * queue to the queue of thread (partition % threads); see kafka_source.c.
 */
#ifndef SL_KAFKA_H
#define SL_KAFKA_H

#include "connector.h"
#include "definition.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>

extern const sl_source_ops sl_source_kafka;
extern const sl_sink_ops sl_sink_kafka;

/* CLI entry points, dispatched by main.c with argv[0] = the command name.
 * Each returns the process exit code (0 ok, 1 runtime failure, 2 usage). */
int sl_cmd_kafka_mock(int argc, char **argv);
int sl_cmd_produce(int argc, char **argv);
int sl_cmd_demo(int argc, char **argv);

/* sl_def_needs_repartition (definition.h), under its historical name. */
int sl_kafka_needs_repartition(const sl_def *def, const char **why);

/* ---- internal helpers shared by the kafka_*.c files ------------------ */

/* The definition checks of a kafka source or sink (sl_source_ops.check):
 * its "properties" are valid librdkafka properties and name
 * "bootstrap.servers", or SLUICE_BOOTSTRAP is set. */
int sl__kafka_check(const sl_connector_def *c, const sl_def *def, char *errstr, size_t errstr_size);

/* Copies every member of `props` (a JSON object of strings, numbers or
 * booleans; NULL allowed) into `conf` as a librdkafka property. `path`
 * names the object in messages. Returns 0 or SL_EINVAL with errstr. */
int sl__kafka_conf_apply(rd_kafka_conf_t *conf, const json_t *props, const char *path, char *errstr,
                         size_t errstr_size);
/* Sets one property; returns 0 or SL_EINVAL with errstr naming `what`. */
int sl__kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *what,
                       char *errstr, size_t errstr_size);
/* The librdkafka settings of runtime.mode "latency" (definition.h), for a
 * consumer (producer 0) or a producer (1): consumers fetch.wait.max.ms 1
 * and fetch.min.bytes 1, producers linger.ms 0. Call after sluice's own
 * defaults and before sl__kafka_conf_apply of the user's "properties", so
 * a property the user sets explicitly wins. Throughput mode: no change. */
void sl__kafka_conf_mode(rd_kafka_conf_t *conf, const sl_def *def, int producer);
/* Latency mode's time cut of the consumer threads: a partial batch waits
 * for more messages at most this long, and the lane is flushed at least
 * this often while messages flow. */
#define SL_KAFKA_LATENCY_CUT_MS 1
/* The sink's producer configuration before it is created: sluice's
 * defaults, runtime.mode's settings, then the connector's "properties".
 * Returns a new conf, or NULL with errstr (a bad property). */
rd_kafka_conf_t *sl__kafka_sink_conf(const sl_connector_def *c, const sl_def *def, char *errstr,
                                     size_t errstr_size);
/* Routes librdkafka's log lines and (until the caller sets its own) error
 * callbacks into sl_log, component "kafka". */
void sl__kafka_conf_logging(rd_kafka_conf_t *conf);
/* Parses an error name as librdkafka spells it without the
 * RD_KAFKA_RESP_ERR_ prefix ("NOT_LEADER_FOR_PARTITION", "_TRANSPORT") or
 * a number. Returns 0 and *err, or SL_EINVAL. */
int sl__kafka_err_parse(const char *name, rd_kafka_resp_err_t *err);
/* Reads a bootstrap list from a file written by `kafka-mock
 * --bootstrap-file` (first line). Returns a new string or NULL. */
char *sl__kafka_read_bootstrap_file(const char *path);

/* ---- embedded cluster (kafka_mock.c), for the demo and tests --------- */

typedef struct sl_kafka_mock sl_kafka_mock;

/* Starts a mock cluster of `brokers` brokers listening on 127.0.0.1.
 * Returns NULL with errstr on failure. */
sl_kafka_mock *sl_kafka_mock_new(int brokers, char *errstr, size_t errstr_size);
/* "127.0.0.1:port,..." (owned by the mock). */
const char *sl_kafka_mock_bootstrap(const sl_kafka_mock *m);
/* Creates a topic. Returns 0 or SL_EKAFKA with errstr. */
int sl_kafka_mock_create_topic(sl_kafka_mock *m, const char *topic, int partitions, char *errstr,
                               size_t errstr_size);
/* Runs one control command ("broker-down 1", see kafka_mock.c); writes a
 * one-line answer into reply. Returns 0 or SL_EINVAL. Control thread. */
int sl_kafka_mock_command(sl_kafka_mock *m, const char *line, char *reply, size_t reply_size);
/* Stops the cluster. NULL is a no-op. */
void sl_kafka_mock_free(sl_kafka_mock *m);

#endif
