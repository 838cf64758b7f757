/*
 * probe.c - warnings for pipeline mistakes that pass `validate` and then
 * reject or filter everything (see probe.h).
 *
 * A lane feeds the probe the events it decodes while the probe is active:
 * the first SL_PROBE_EVENTS events for field names, and for comparisons
 * one interval of SL_PROBE_EVENTS consecutive events out of every
 * SL_PROBE_PERIOD (sl_probe_event returns how many events to skip). The
 * hot path pays a branch and a decrement per event, a few slot-type reads
 * for probed ones.
 *
 * 1. Unseen fields: every input field the definition names (filters,
 *    map keep, key_by, aggregate inputs, event time) counts the events in
 *    which it was present. A field present in none of the first
 *    SL_PROBE_EVENTS valid JSON events is warned about (code
 *    "field_not_seen"), naming where the definition uses it.
 * 2. Mismatched comparisons: each filter comparison counts the events in
 *    which its field was present with a JSON type that the literal cannot
 *    compare with by value (a string literal against numbers, a number
 *    against strings, true/false against anything else). When most events
 *    of an interval were filtered and a comparison mismatched in most of
 *    them, it is warned about (code "filter_type_mismatch").
 * Each warning is given once per engine (engine-wide flags), in the log and
 * in the exit summary's "warnings".
 */
#include "probe.h"

#include "definition_internal.h"
#include "engine_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sl__probe_field {
    const char *name; /* input field (owned) */
    char where[96];   /* "pipeline[2].aggregates.total" */
    int slot;
    uint64_t seen;
} sl__probe_field;

typedef struct sl__probe_cmp {
    const sl_expr *cmp;
    char where[96];
    int slot;
    uint64_t mismatched;
} sl__probe_cmp;

struct sl_probe {
    sl_engine *engine;
    const sl_ingest *ing;
    sl__probe_field *fields;
    size_t nfields;
    sl__probe_cmp *cmps;
    size_t ncmps;
    uint64_t scanned;  /* valid JSON events seen (field probe) */
    uint64_t interval; /* events of the current comparison interval */
    uint64_t filtered; /* ... of which filtered */
    int fields_done, cmps_done;
};

static void sl__probe_add_field(sl_probe *p, const char *name, const char *where)
{
    if (!name)
        return;
    for (size_t i = 0; i < p->nfields; i++)
        if (strcmp(p->fields[i].name, name) == 0)
            return;
    int slot = sl_ingest_slot_of(p->ing, name);
    if (slot < 0)
        return;
    p->fields = sl_xrealloc(p->fields, (p->nfields + 1) * sizeof(*p->fields));
    sl__probe_field *f = &p->fields[p->nfields++];
    memset(f, 0, sizeof(*f));
    f->name = sl_xstrdup(name);
    f->slot = slot;
    snprintf(f->where, sizeof(f->where), "%s", where);
}

typedef struct sl__probe_where {
    sl_probe *p;
    const char *where;
} sl__probe_where;

static void sl__probe_add_cb(void *ctx, const char *name)
{
    sl__probe_where *w = ctx;
    sl__probe_add_field(w->p, name, w->where);
}

static void sl__probe_add_expr(sl_probe *p, const sl_def *def, size_t at, const sl_expr *e,
                               const char *where)
{
    if (e->kind == SL_EXPR_SQL) {
        sl__probe_where w = {p, where};
        sl__def_expr_inputs(def, at, e->sql, sl__probe_add_cb, &w);
        return;
    }
    if (e->kind != SL_EXPR_CMP) {
        for (size_t i = 0; i < e->nargs; i++)
            sl__probe_add_expr(p, def, at, e->args[i], where);
        return;
    }
    size_t by;
    const char *in = sl__def_field_origin(def, at, e->field, &by);
    sl__probe_add_field(p, in, where);
    int slot = in ? sl_ingest_slot_of(p->ing, in) : -1;
    if (slot < 0 || e->value.type == SL_T_NULL)
        return;
    p->cmps = sl_xrealloc(p->cmps, (p->ncmps + 1) * sizeof(*p->cmps));
    sl__probe_cmp *c = &p->cmps[p->ncmps++];
    memset(c, 0, sizeof(*c));
    c->cmp = e;
    c->slot = slot;
    snprintf(c->where, sizeof(c->where), "%s", where);
}

sl_probe *sl_probe_new(sl_engine *e, const sl_ingest *ing)
{
    const sl_def *def = e->def;
    sl_probe *p = sl_xcalloc(1, sizeof(*p));
    p->engine = e;
    p->ing = ing;
    char where[96];
    size_t by;
    /* Input fields: the stages up to the window (later ones read results). */
    for (size_t i = 0; i < def->nstages && i <= sl_def_runtime_stage(def); i++) {
        const sl_stage *st = &def->stages[i];
        switch (st->kind) {
        case SL_STAGE_FILTER:
            snprintf(where, sizeof(where), "%s.filter", st->path);
            sl__probe_add_expr(p, def, i, st->u.filter, where);
            break;
        case SL_STAGE_MAP:
            for (size_t k = 0; k < st->u.map.nkeep; k++) {
                snprintf(where, sizeof(where), "%s.map.keep", st->path);
                sl__probe_add_field(p, sl__def_field_origin(def, i, st->u.map.keep[k], &by), where);
            }
            break;
        case SL_STAGE_KEY_BY:
            for (size_t k = 0; k < st->u.key_by.nfields; k++) {
                snprintf(where, sizeof(where), "%s.key_by", st->path);
                sl__probe_where w = {p, where};
                if (st->u.key_by.exprs && st->u.key_by.exprs[k])
                    sl__def_expr_inputs(def, i, st->u.key_by.exprs[k], sl__probe_add_cb, &w);
                else
                    sl__def_field_inputs(def, i, st->u.key_by.fields[k], sl__probe_add_cb, &w);
            }
            break;
        case SL_STAGE_WINDOW:
            for (size_t k = 0; k < st->u.window.naggs; k++) {
                const sl_agg_def *a = &st->u.window.aggs[k];
                if (!a->field && !a->expr)
                    continue;
                snprintf(where, sizeof(where), "%s.aggregates.%s", st->path, a->name);
                sl__probe_where w = {p, where};
                if (a->expr)
                    sl__def_expr_inputs(def, i, a->expr, sl__probe_add_cb, &w);
                else
                    sl__def_field_inputs(def, i, a->field, sl__probe_add_cb, &w);
            }
            break;
        default:
            break;
        }
    }
    sl__probe_add_field(p, def->event_time.field, "source.event_time.field");
    p->fields_done = p->nfields == 0;
    p->cmps_done = p->ncmps == 0;
    return p;
}

void sl_probe_free(sl_probe *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nfields; i++)
        free((char *)p->fields[i].name);
    free(p->fields);
    free(p->cmps);
    free(p);
}

int sl_probe_active(const sl_probe *p)
{
    return p && !(p->fields_done && p->cmps_done);
}

/* Whether a value of JSON type `t` can be compared by value with `lit`. */
static int sl__comparable(sl_type t, const sl_literal *lit)
{
    int num = t == SL_T_INT || t == SL_T_DOUBLE;
    switch (lit->type) {
    case SL_T_INT:
    case SL_T_DOUBLE:
        return num;
    case SL_T_STRING:
        return t == SL_T_STRING;
    case SL_T_BOOL:
        return t == SL_T_BOOL;
    default:
        return 1;
    }
}

static const char *sl__type_word(sl_type t)
{
    switch (t) {
    case SL_T_INT:
    case SL_T_DOUBLE:
        return "numbers";
    case SL_T_STRING:
        return "strings";
    case SL_T_BOOL:
        return "true/false";
    case SL_T_NULL:
        return "null";
    default:
        return "objects or arrays";
    }
}

static const char *sl__literal_word(const sl_literal *lit)
{
    switch (lit->type) {
    case SL_T_INT:
    case SL_T_DOUBLE:
        return "a number";
    case SL_T_STRING:
        return "a string";
    case SL_T_BOOL:
        return "true/false";
    default:
        return "null";
    }
}

uint64_t sl_probe_event(sl_probe *p, int filtered)
{
    const sl_ingest *ing = p->ing;
    if (!sl_ingest_scanned(ing))
        return 0; /* not JSON: says nothing about fields */
    sl_engine *e = p->engine;
    if (!p->fields_done) {
        p->scanned++;
        for (size_t i = 0; i < p->nfields; i++)
            if (sl_ingest_slot_type(ing, p->fields[i].slot) != SL_T_MISSING)
                p->fields[i].seen++;
        if (p->scanned >= SL_PROBE_EVENTS) {
            p->fields_done = 1;
            for (size_t i = 0; i < p->nfields; i++) {
                const sl__probe_field *f = &p->fields[i];
                if (f->seen || atomic_exchange(&e->probe_field_warned, 1))
                    continue;
                sl__engine_warning(e, "field_not_seen",
                                   "field \"%s\" (%s) was in none of the first %d events: is it "
                                   "misspelled?",
                                   f->name, f->where, SL_PROBE_EVENTS);
            }
        }
    }
    if (!p->cmps_done) {
        p->interval++;
        p->filtered += filtered != 0;
        for (size_t i = 0; i < p->ncmps; i++) {
            sl_type t = sl_ingest_slot_type(ing, p->cmps[i].slot);
            if (t != SL_T_MISSING && !sl__comparable(t, &p->cmps[i].cmp->value))
                p->cmps[i].mismatched++;
        }
        if (p->interval >= SL_PROBE_EVENTS) {
            if (p->filtered * 2 > p->interval) {
                for (size_t i = 0; i < p->ncmps; i++) {
                    const sl__probe_cmp *c = &p->cmps[i];
                    if (c->mismatched * 2 <= p->interval ||
                        atomic_exchange(&e->probe_cmp_warned, 1))
                        continue;
                    sl_type seen = sl_ingest_slot_type(ing, c->slot);
                    char lit[64] = "";
                    if (c->cmp->value.type == SL_T_STRING)
                        snprintf(lit, sizeof(lit), " \"%.40s\"", c->cmp->value.s);
                    sl__engine_warning(
                        e, "filter_type_mismatch",
                        "%s: %" PRIu64 " of %" PRIu64 " events were filtered; in %" PRIu64
                        " of them field \"%s\" held %s, which a comparison with %s%s never "
                        "matches (values of mismatched types compare false)",
                        c->where, p->filtered, p->interval, c->mismatched, c->cmp->field,
                        seen != SL_T_MISSING && !sl__comparable(seen, &c->cmp->value)
                            ? sl__type_word(seen)
                            : "other types",
                        sl__literal_word(&c->cmp->value), lit);
                    p->cmps_done = 1;
                }
            }
            p->interval = p->filtered = 0;
            for (size_t i = 0; i < p->ncmps; i++)
                p->cmps[i].mismatched = 0;
            if (atomic_load(&e->probe_cmp_warned))
                p->cmps_done = 1;
            if (p->fields_done)
                return SL_PROBE_PERIOD - SL_PROBE_EVENTS;
        }
    }
    return 0;
}
