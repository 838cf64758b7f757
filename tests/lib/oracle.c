/* oracle.c - brute-force windowed aggregation reference (see oracle.h). */
#include "oracle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct or_window {
    const char *key;
    int64_t start, end;
    int64_t *amounts;
    size_t n, cap;
    int fired;
    int alive;
} or_window;

typedef struct or_state {
    const or_config *cfg;
    or_window *w;
    size_t n, cap;
    int64_t wm;
    or_output *out;
} or_state;

static int or_keycmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int c = memcmp(a, b, la < lb ? la : lb);
    if (c)
        return c;
    return la < lb ? -1 : la > lb;
}

static void or_add(or_window *w, int64_t amount)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->amounts = realloc(w->amounts, w->cap * sizeof(*w->amounts));
    }
    w->amounts[w->n++] = amount;
}

static or_window *or_new_window(or_state *s, const char *key, int64_t start, int64_t end)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->w = realloc(s->w, s->cap * sizeof(*s->w));
    }
    or_window *w = &s->w[s->n++];
    memset(w, 0, sizeof(*w));
    w->key = key;
    w->start = start;
    w->end = end;
    w->alive = 1;
    return w;
}

static or_window *or_find(or_state *s, const char *key, int64_t start, int64_t end)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->w[i].alive && s->w[i].start == start && s->w[i].end == end &&
            strcmp(s->w[i].key, key) == 0)
            return &s->w[i];
    return NULL;
}

static void or_emit(or_state *s, const or_window *w, int update)
{
    char buf[4096];
    int pos =
        snprintf(buf, sizeof(buf), "{%s%s\"window_start\":%" PRId64 ",\"window_end\":%" PRId64,
                 w->key, w->key[0] ? "," : "", w->start, w->end);
    int64_t sum = 0, mn = INT64_MAX, mx = INT64_MIN;
    for (size_t i = 0; i < w->n; i++) {
        sum += w->amounts[i];
        if (w->amounts[i] < mn)
            mn = w->amounts[i];
        if (w->amounts[i] > mx)
            mx = w->amounts[i];
    }
    for (size_t a = 0; a < s->cfg->naggs; a++) {
        const char *fn = s->cfg->agg_fns[a];
        pos += snprintf(buf + pos, sizeof(buf) - (size_t)pos, ",\"%s\":", s->cfg->agg_names[a]);
        if (strcmp(fn, "count") == 0)
            pos += snprintf(buf + pos, sizeof(buf) - (size_t)pos, "%zu", w->n);
        else if (strcmp(fn, "sum") == 0)
            pos += snprintf(buf + pos, sizeof(buf) - (size_t)pos, "%" PRId64, sum);
        else if (strcmp(fn, "min") == 0)
            pos += snprintf(buf + pos, sizeof(buf) - (size_t)pos, "%" PRId64, mn);
        else if (strcmp(fn, "max") == 0)
            pos += snprintf(buf + pos, sizeof(buf) - (size_t)pos, "%" PRId64, mx);
        else
            pos +=
                snprintf(buf + pos, sizeof(buf) - (size_t)pos, "%.17g", (double)sum / (double)w->n);
    }
    snprintf(buf + pos, sizeof(buf) - (size_t)pos, "}");
    or_output *o = s->out;
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 256;
        o->results = realloc(o->results, o->cap * sizeof(*o->results));
    }
    size_t kl = strlen(w->key);
    char *key = malloc(kl + 3);
    snprintf(key, kl + 3, "{%s}", w->key);
    o->results[o->n].key = key;
    o->results[o->n].value = strdup(buf);
    o->results[o->n].update = update;
    o->n++;
}

/* Fires every unfired window with end <= wm in (end, key) order. */
static void or_fire(or_state *s, int64_t wm)
{
    for (;;) {
        or_window *best = NULL;
        for (size_t i = 0; i < s->n; i++) {
            or_window *w = &s->w[i];
            if (!w->alive || w->fired || w->end > wm)
                continue;
            if (!best || w->end < best->end ||
                (w->end == best->end && or_keycmp(w->key, best->key) < 0))
                best = w;
        }
        if (!best)
            return;
        best->fired = 1;
        or_emit(s, best, 0);
    }
}

static void or_purge(or_state *s)
{
    for (size_t i = 0; i < s->n; i++) {
        or_window *w = &s->w[i];
        if (w->alive && w->fired && w->end + s->cfg->lateness <= s->wm) {
            w->alive = 0;
            free(w->amounts);
            w->amounts = NULL;
        }
    }
}

static int64_t or_floor(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q * b;
}

/* Tumbling and hopping: every window [start, start + size) holding ts. */
static int or_fixed_event(or_state *s, const or_event *e)
{
    const or_config *c = s->cfg;
    int64_t slide = c->type == OR_TUMBLING ? c->size : c->slide;
    int64_t last = or_floor(e->ts, slide);
    int64_t first = last;
    while (first - slide > e->ts - c->size)
        first -= slide;
    int contributed = 0;
    for (int64_t start = first; start <= last; start += slide) {
        int64_t end = start + c->size;
        if (end <= e->ts)
            continue;
        int fired = end <= s->wm;
        if (fired && end + c->lateness <= s->wm)
            continue; /* past lateness for this window */
        or_window *w = or_find(s, e->key, start, end);
        if (!w) {
            w = or_new_window(s, e->key, start, end);
            w->fired = fired;
        }
        or_add(w, e->amount);
        contributed = 1;
        if (fired)
            or_emit(s, w, 1);
    }
    return contributed;
}

/* Sessions [a,b) and [c,d) merge when they overlap or touch (Flink's
 * rule: events exactly `gap` apart are one session). */
static int or_session_joins(int64_t a, int64_t b, int64_t c, int64_t d)
{
    return a <= d && c <= b;
}

static int or_session_event(or_state *s, const or_event *e)
{
    const or_config *c = s->cfg;
    if (e->ts + c->gap + c->lateness <= s->wm)
        return 0;
    int64_t start = e->ts, end = e->ts + c->gap;
    or_window *merged = or_new_window(s, e->key, start, end);
    or_add(merged, e->amount);
    int again = 1;
    while (again) {
        again = 0;
        for (size_t i = 0; i < s->n; i++) {
            or_window *w = &s->w[i];
            if (w == merged || !w->alive || strcmp(w->key, e->key) != 0)
                continue;
            if (!or_session_joins(w->start, w->end, merged->start, merged->end))
                continue;
            if (w->start < merged->start)
                merged->start = w->start;
            if (w->end > merged->end)
                merged->end = w->end;
            for (size_t k = 0; k < w->n; k++)
                or_add(merged, w->amounts[k]);
            w->alive = 0;
            free(w->amounts);
            w->amounts = NULL;
            again = 1;
        }
    }
    if (merged->end <= s->wm) {
        merged->fired = 1;
        or_emit(s, merged, 1);
    }
    return 1;
}

void oracle_run(const or_config *cfg, const or_event *events, size_t n, or_output *out)
{
    or_state s = {.cfg = cfg, .wm = INT64_MIN, .out = out};
    int64_t maxts = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const or_event *e = &events[i];
        int ok = cfg->type == OR_SESSION ? or_session_event(&s, e) : or_fixed_event(&s, e);
        if (!ok) {
            out->late++;
            continue;
        }
        if (e->ts > maxts)
            maxts = e->ts;
        int64_t wm = maxts - cfg->ooo;
        if (wm > s.wm) {
            or_fire(&s, wm);
            s.wm = wm;
            or_purge(&s);
        }
    }
    or_fire(&s, INT64_MAX);
    for (size_t i = 0; i < s.n; i++)
        free(s.w[i].amounts);
    free(s.w);
}

void oracle_run_merged(const or_config *cfg, const or_item *items, size_t n, size_t ninputs,
                       or_output *out)
{
    or_state s = {.cfg = cfg, .wm = INT64_MIN, .out = out};
    int64_t *in_wm = malloc(ninputs * sizeof(*in_wm));
    int *in_idle = calloc(ninputs, sizeof(*in_idle));
    int *in_seen = calloc(ninputs, sizeof(*in_seen));
    for (size_t u = 0; u < ninputs; u++)
        in_wm[u] = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        const or_item *it = &items[i];
        if (!it->is_wm) {
            int ok = cfg->type == OR_SESSION ? or_session_event(&s, &it->ev)
                                             : or_fixed_event(&s, &it->ev);
            if (!ok)
                out->late++;
            continue;
        }
        if (it->wm > in_wm[it->input])
            in_wm[it->input] = it->wm;
        in_idle[it->input] = it->idle;
        in_seen[it->input] = 1;
        int64_t min = INT64_MAX;
        int active = 0, unseen = 0;
        for (size_t u = 0; u < ninputs; u++) {
            if (!in_seen[u])
                unseen = 1;
            else if (!in_idle[u]) {
                active = 1;
                if (in_wm[u] < min)
                    min = in_wm[u];
            }
        }
        if (active && !unseen && min > s.wm) {
            or_fire(&s, min);
            s.wm = min;
            or_purge(&s);
        }
    }
    or_fire(&s, INT64_MAX);
    for (size_t i = 0; i < s.n; i++)
        free(s.w[i].amounts);
    free(s.w);
    free(in_wm);
    free(in_idle);
    free(in_seen);
}

void oracle_output_free(or_output *out)
{
    for (size_t i = 0; i < out->n; i++) {
        free(out->results[i].key);
        free(out->results[i].value);
    }
    free(out->results);
    memset(out, 0, sizeof(*out));
}
