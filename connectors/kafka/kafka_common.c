/*
 * kafka_common.c - small helpers shared by the kafka source, sink, mock,
 * load generator and demo: properties from JSON, logging callbacks, error
 * names. Control path only.
 */
#include "kafka.h"

#include "common.h"
#include "definition.h"
#include "log.h"
#include "options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl__kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, const char *what,
                       char *errstr, size_t errstr_size)
{
    char kerr[512];
    if (rd_kafka_conf_set(conf, name, value, kerr, sizeof(kerr)) != RD_KAFKA_CONF_OK)
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: %s", what ? what : name, kerr);
    return SL_OK;
}

int sl__kafka_conf_apply(rd_kafka_conf_t *conf, const json_t *props, const char *path, char *errstr,
                         size_t errstr_size)
{
    if (!props)
        return SL_OK;
    if (!json_is_object(props))
        return sl_seterr(errstr, errstr_size, SL_EINVAL, "%s: must be an object", path);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)props, key, v)
    {
        char value[64];
        const char *text = value;
        if (json_is_string(v))
            text = json_string_value(v);
        else if (json_is_integer(v))
            snprintf(value, sizeof(value), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v))
            snprintf(value, sizeof(value), "%.17g", json_real_value(v));
        else if (json_is_boolean(v))
            text = json_is_true(v) ? "true" : "false";
        else
            return sl_seterr(errstr, errstr_size, SL_EINVAL,
                             "%s.\"%s\": must be a string, number or boolean", path, key);
        char what[256];
        snprintf(what, sizeof(what), "%s.\"%s\"", path, key);
        int rc = sl__kafka_conf_set(conf, key, text, what, errstr, errstr_size);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

void sl__kafka_conf_mode(rd_kafka_conf_t *conf, const sl_def *def, int producer)
{
    if (!def || def->runtime.mode != SL_MODE_LATENCY)
        return;
    static const char *const consumer[][2] = {
        {"fetch.wait.max.ms", "1"}, /* an empty fetch answers within 1 ms */
        {"fetch.min.bytes", "1"},   /* and any byte is worth answering for */
    };
    static const char *const producer_set[][2] = {
        {"linger.ms", "0"}, /* send a batch as soon as the sender thread can */
    };
    if (producer)
        for (size_t i = 0; i < SL_ARRAY_LEN(producer_set); i++)
            rd_kafka_conf_set(conf, producer_set[i][0], producer_set[i][1], NULL, 0);
    else
        for (size_t i = 0; i < SL_ARRAY_LEN(consumer); i++)
            rd_kafka_conf_set(conf, consumer[i][0], consumer[i][1], NULL, 0);
}

/* librdkafka log callback: syslog levels to ours. Called from librdkafka's
 * internal threads; sl_log is thread-safe. */
static void sl__kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    sl_log_level l = level <= 3   ? SL_LOG_ERROR
                     : level == 4 ? SL_LOG_WARN
                     : level <= 6 ? SL_LOG_INFO
                                  : SL_LOG_DEBUG;
    sl_log(l, "kafka", "%s %s: %s", rk ? rd_kafka_name(rk) : "-", fac, buf);
}

static void sl__kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)opaque;
    sl_warn("kafka", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}

void sl__kafka_conf_logging(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, sl__kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, sl__kafka_error_cb);
}

int sl__kafka_err_parse(const char *name, rd_kafka_resp_err_t *err)
{
    char *end;
    long n = strtol(name, &end, 10);
    if (*name && *end == '\0') {
        *err = (rd_kafka_resp_err_t)n;
        return SL_OK;
    }
    if (strncmp(name, "RD_KAFKA_RESP_ERR_", 18) == 0)
        name += 18;
    const struct rd_kafka_err_desc *descs;
    size_t n_descs;
    rd_kafka_get_err_descs(&descs, &n_descs);
    for (size_t i = 0; i < n_descs; i++) {
        if (descs[i].name && strcmp(descs[i].name, name) == 0) {
            *err = descs[i].code;
            return SL_OK;
        }
    }
    return SL_EINVAL;
}

char *sl__kafka_read_bootstrap_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char line[4096];
    char *r = NULL;
    if (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            r = sl_xstrdup(line);
    }
    fclose(f);
    return r;
}

int sl_kafka_needs_repartition(const sl_def *def, const char **why)
{
    return sl_def_needs_repartition(def, why);
}

int sl__kafka_check(const sl_connector_def *c, const sl_def *def, char *errstr, size_t errstr_size)
{
    (void)def;
    char ppath[256];
    sl_path_join(ppath, sizeof(ppath), c->path, "properties");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = sl__kafka_conf_apply(conf, json_object_get(c->conf, "properties"), ppath, errstr,
                                  errstr_size);
    if (rc == SL_OK) {
        char val[512];
        size_t vlen = sizeof(val);
        const char *envb = getenv("SLUICE_BOOTSTRAP");
        if ((rd_kafka_conf_get(conf, "bootstrap.servers", val, &vlen) != RD_KAFKA_CONF_OK ||
             !val[0]) &&
            !(envb && *envb))
            rc =
                sl_seterr(errstr, errstr_size, SL_EINVAL,
                          "%s: \"bootstrap.servers\" is required (or set SLUICE_BOOTSTRAP)", ppath);
    }
    rd_kafka_conf_destroy(conf);
    return rc;
}
