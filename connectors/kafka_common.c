/*
 * kafka_common.c - small helpers shared by the kafka source, sink, mock,
 * load generator and demo: properties from JSON, logging callbacks, error
 * names. Control path only.
 */
#include "kafka.h"

#include "common.h"
#include "definition.h"
#include "log.h"

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

/* Whether the two string lists name the same fields (as sets). */
static int sl__same_fields(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++) {
        size_t j = 0;
        while (j < nb && strcmp(a[i], b[j]) != 0)
            j++;
        if (j == nb)
            return 0;
    }
    return 1;
}

int sl_kafka_needs_repartition(const sl_def *def, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!def || !def->source.type || strcmp(def->source.type, "kafka") != 0) {
        *why = "not a kafka source";
        return 0;
    }
    if (!def->window) {
        *why = "no window: every stage is per event, so input partitions are used as they are";
        return 0;
    }
    const json_t *pb =
        def->source.conf ? json_object_get(def->source.conf, "partitioned_by") : NULL;
    if (!pb) {
        *why = def->key_by ? "the source does not declare \"partitioned_by\" matching key_by: "
                             "events are re-keyed through the internal topic <name>-repartition"
                           : "a window without key_by aggregates all events together: they "
                             "are gathered through the internal topic <name>-repartition";
        return 1;
    }
    char *fields[64];
    size_t n = 0;
    if (json_is_string(pb)) {
        fields[n++] = (char *)json_string_value(pb);
    } else {
        size_t i;
        json_t *v;
        json_array_foreach(pb, i, v)
        {
            if (n < SL_ARRAY_LEN(fields) && json_is_string(v))
                fields[n++] = (char *)json_string_value(v);
        }
    }
    if (def->key_by &&
        sl__same_fields(fields, n, def->key_by->u.key_by.fields, def->key_by->u.key_by.nfields)) {
        *why = "the source's \"partitioned_by\" matches key_by: each input partition is a task, "
               "no repartitioning";
        return 0;
    }
    *why = "the source's \"partitioned_by\" differs from key_by: events are re-keyed through "
           "the internal topic <name>-repartition";
    return 1;
}
