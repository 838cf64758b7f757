/*
 * plan.c - the planner (plan.h).
 */
#include "plan.h"

#include "connector.h"

#include <jansson.h>
#include <string.h>

static int64_t sl__ceil_div(int64_t a, int64_t b)
{
    return b > 0 ? (a + b - 1) / b : 0;
}

static int64_t sl__gcd(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* ======================================================================
 * Repartitioning: the one decision explain prints and run executes
 * ====================================================================== */

/* Whether the two string lists name the same fields (as sets). */
static int sl__same_fields(const char *const *a, size_t na, char *const *b, size_t nb)
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

int sl_def_needs_repartition(const sl_def *def, const char **why)
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
    if (!def->key_by) {
        *why = "a window without key_by aggregates all events together: they are gathered "
               "through the internal topic";
        return 1;
    }
    if (!pb) {
        *why = "the source does not declare \"partitioned_by\" matching key_by: events are "
               "re-keyed through the internal topic";
        return 1;
    }
    const char *fields[64];
    size_t n = 0;
    if (json_is_string(pb)) {
        fields[n++] = json_string_value(pb);
    } else {
        size_t i;
        json_t *v;
        json_array_foreach(pb, i, v)
        {
            if (n < SL_ARRAY_LEN(fields) && json_is_string(v))
                fields[n++] = json_string_value(v);
        }
    }
    if (sl__same_fields(fields, n, def->key_by->u.key_by.fields, def->key_by->u.key_by.nfields)) {
        *why = "the source's \"partitioned_by\" matches key_by: each input partition is a task";
        return 0;
    }
    *why = "the source's \"partitioned_by\" differs from key_by: events are re-keyed through "
           "the internal topic";
    return 1;
}

void sl_plan_make(const sl_def *def, sl_plan *p)
{
    memset(p, 0, sizeof(*p));
    p->fused = sl_def_runtime_stage(def);
    p->nstages = def->nstages;
    p->repartition = sl_def_needs_repartition(def, &p->shuffle);
    const sl_source_ops *src = def->source.type ? sl_source_find(def->source.type) : NULL;
    p->lanes = src && src->plan_lanes ? src->plan_lanes(&def->source, def) : 1;
    if (p->lanes < 1)
        p->lanes = 1;
    p->workers = def->runtime.workers > 0 ? def->runtime.workers : 1;
    size_t want = (size_t)(def->runtime.ring_capacity > 0 ? def->runtime.ring_capacity : 64);
    p->ring_capacity = 1;
    while (p->ring_capacity < want)
        p->ring_capacity <<= 1;
    p->rings = (long)p->lanes * p->workers + p->workers;
    uint32_t ncols = def->window ? def->window->ncolumns : 0;
    /* Per event row: ts, offset, key hash, key off/len, row off/len (40 B),
     * 16 B per numeric column, ~24 B of key bytes. */
    double row_bytes = 40 + 16.0 * ncols + 24;
    p->in_flight = (double)p->rings * (double)p->ring_capacity * def->runtime.batch_size;
    p->in_flight_bytes = p->in_flight * row_bytes;
    if (def->window) {
        const sl_window_def *wd = def->window;
        int64_t pending = def->watermark.max_out_of_orderness_ms + wd->allowed_lateness_ms;
        if (wd->type == SL_WIN_TUMBLING) {
            p->open = 1 + sl__ceil_div(pending, wd->size_ms);
            p->open_what = "windows";
        } else if (wd->type == SL_WIN_HOPPING) {
            int64_t g = sl__gcd(wd->size_ms, wd->slide_ms);
            p->open = wd->size_ms / g + sl__ceil_div(pending, g);
            p->open_what = "slices";
        } else {
            p->open = 1 + sl__ceil_div(pending, wd->gap_ms);
            p->open_what = "sessions";
        }
        size_t nkey = def->key_by ? def->key_by->u.key_by.nfields : 0;
        double entry = 64 + 16.0 * (double)nkey + 24.0 * (double)wd->naggs;
        p->state_per_key = entry * (double)p->open;
    }
}
