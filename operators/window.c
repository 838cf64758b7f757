/*
 * window.c - per-task windowed aggregation on event time (see window.h):
 * result output and canonical ordering, panes (tumbling and hopping), and
 * the task API. Session windows are in window_session.c.
 *
 * Design notes
 * ============
 * Panes (tumbling, hopping). A pane is a slice of event time
 * [start, start + width) with one open-addressing hash table of key ->
 * aggregate state (ktab: slots of (hash tag, entry index), entries in one
 * flat array of stride 16 + state size, key bytes in a per-pane arena).
 * Tumbling: width = size, one pane per window, fired straight from the
 * pane. Hopping: width = gcd(size, slide); an event updates exactly one
 * pane, and window [k*slide, k*slide + size) is combined from its panes
 * when it fires (or, for one key, when a late event updates it). Events are
 * never copied. A released pane goes to a small pool with its tables, so a
 * steady stream allocates nothing.
 *
 * Sessions. One task-wide ktab of key -> list of that key's sessions. The
 * sessions (start, end, fired) and their aggregate states live in flat
 * arrays indexed by session id, with a free list; a binary min-heap of
 * (due time, session id, generation) says what to fire or purge next
 * (window_session.c).
 *
 * Per event: judge against the watermark before it (late / add / add and
 * emit an update), then watermark = max(watermark, ts - ooo), and when it
 * reaches next_due fire and purge. Fast path: the event falls in the same
 * pane as the previous one and none of that pane's windows has fired.
 *
 * Invariants (between calls):
 *  1. wm only grows. Every window or session with end <= wm has fired; no
 *     state with end + allowed_lateness <= wm is kept.
 *  2. panes[] is sorted by start, starts distinct; drop_at (last window end
 *     of the pane + lateness) is nondecreasing along it, so purging pops
 *     from the front.
 *  3. next_fire is the smallest end > wm of a window holding a pane
 *     (SL__NONE if none); next_due = min(next_fire, panes[0]->drop_at),
 *     or for sessions the heap top.
 *  4. The sessions of a key are pairwise disjoint and do not touch: an
 *     event merges every session that overlaps or touches [ts, ts + gap)
 *     (Flink's rule: events exactly gap apart are one session), and their
 *     union is an interval that overlaps or touches no other session of
 *     the key.
 *  5. Every live session has exactly one heap entry carrying its current
 *     generation, whose due time is <= end (pending) or <= end + lateness
 *     (fired). Ends only grow, so extending a session leaves the heap alone;
 *     a stale entry is re-pushed with the real due time when it surfaces.
 *  6. Output order depends only on (window end, key bytes): firing sorts,
 *     hash-table and session-id order never show.
 *
 * Firing sorts the window's keys: an LSD radix sort on (end, the 8 key
 * bytes after the prefix all keys share), then memcmp within ties.
 *
 * Sketch aggregates (count_distinct & co., aggregate.h) make a state own
 * heap objects: it is released (sl_agg_state_release) wherever its life
 * ends -- a pane's table before it is cleared or freed, the combined table
 * and the scratch state of a hopping window after their results, a freed or
 * purged session, close -- and merge copies, never shares. Plans without
 * sketches skip all of it. Their bytes count in the task's state bytes.
 *
 * Choices window.h leaves open:
 *  - update = 1 marks exactly the results emitted at once for an event that
 *    lands in an already fired window (also a key's first event there, and
 *    a session created or merged with end <= wm). Results of watermark
 *    firing and close are update = 0, also for a session that a merge
 *    re-opened (end > wm) and that fires again later.
 *  - An event that falls in no window (hopping with slide > size) is late.
 *  - Event times are assumed within +-2^62 ms; beyond, arithmetic saturates
 *    (no undefined behaviour, but windows at the extremes may never fire).
 *  - Allocation failure (a new key, pane or session) aborts the process:
 *    process() has no error path, and silently losing state is worse.
 *  - Upsert mode (sl_window_task_set_upsert): the same results, keys with
 *    "window_start". A session remembers whether the sink holds a record
 *    for its current start (`emitted`: set when it fires or is updated).
 *    An event that merges sessions collects the starts of the emitted
 *    ones; once the merged session has its final start, each collected
 *    start other than it gets a tombstone (ascending, before the merged
 *    result), and the merged session is emitted if one equalled its
 *    start. So `emitted` implies the record's start is the session's
 *    start, and a snapshot needs only that bit (window_snapshot.c).
 *
 * Sessions live in window_session.c, snapshot and restore in
 * window_snapshot.c; the structures in window_internal.h.
 */
#include "window_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define SL__POOL_MAX 8

static int64_t sl__gcd(int64_t a, int64_t b)
{
    while (b) {
        int64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */
/* ------------------------------------------------------------------------ */

void sl__window_emit(sl_window_task *t, const sl_emitter *em, const char *key, uint32_t klen,
                     int64_t start, int64_t end, const void *state, int update)
{
    size_t need = 2 * (size_t)klen + sl_agg_format_bound(&t->plan, state) + 160;
    if (SL_UNLIKELY(need > t->out_cap)) {
        t->out_cap = need * 2;
        t->out = sl_xrealloc(t->out, t->out_cap);
    }
    char *v = t->out, *p = v;
    *p++ = '{';
    if (klen) {
        memcpy(p, key, klen);
        p += klen;
        *p++ = ',';
    }
    if (start != t->seg_start || end != t->seg_end || !t->seg_len) {
        char *q = t->seg;
        memcpy(q, "\"window_start\":", 15);
        q = sl_agg_put_i64(q + 15, start);
        memcpy(q, ",\"window_end\":", 14);
        q = sl_agg_put_i64(q + 14, end);
        t->seg_len = (size_t)(q - t->seg);
        t->seg_start = start;
        t->seg_end = end;
    }
    memcpy(p, t->seg, t->seg_len);
    p += t->seg_len;
    p = sl_agg_format(&t->plan, state, p);
    *p++ = '}';
    char *k = p;
    *p++ = '{';
    if (klen)
        memcpy(p, key, klen);
    p += klen;
    if (t->upsert) { /* the key of the result's record: key fields + window_start */
        if (klen)
            *p++ = ',';
        memcpy(p, "\"window_start\":", 15);
        p = sl_agg_put_i64(p + 15, start);
    }
    *p++ = '}';
    if (update)
        t->stats.late_updates++;
    else
        t->stats.windows_fired++;
    em->result(em->ctx, k, (size_t)(p - k), v, (size_t)(k - v), end - 1, update);
}

void sl__window_late(sl_window_task *t, const sl_batch *in, uint32_t row, const sl_emitter *em)
{
    t->stats.late_dropped++;
    if (em->late)
        em->late(em->ctx, in, row, t->wm);
}

/* Bytes [skip, skip + 8) of a key, big-endian, zero-padded. */
static uint64_t sl__key_prefix(const char *k, uint32_t len, uint32_t skip)
{
    uint64_t p = 0;
    uint32_t n = len > skip ? len - skip : 0;
    if (n > 8)
        n = 8;
    for (uint32_t i = 0; i < n; i++)
        p |= (uint64_t)(unsigned char)k[skip + i] << (56 - 8 * i);
    return p;
}

/* Canonical order: window end, then key bytes (memcmp, shorter first). */
static int sl__item_cmp(const void *a, const void *b)
{
    const sl__sort_item *x = a, *y = b;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Sorts items[0, n) (end, key, len filled in) into canonical order. The
 * 8-byte prefixes are taken after the bytes all keys share ("user":"u...),
 * so most comparisons never reach memcmp. */
static inline unsigned sl__item_byte(const sl__sort_item *it, int pass)
{
    uint64_t v = pass < 8 ? it->prefix : (uint64_t)it->end ^ (1ULL << 63);
    return (unsigned)(v >> (8 * (pass & 7))) & 255;
}

void sl__window_sort_items(sl_window_task *t, size_t n)
{
    if (n < 2)
        return;
    sl__sort_item *it = t->items;
    uint32_t common = it[0].len;
    for (size_t i = 1; i < n && common; i++) {
        uint32_t m = it[i].len < common ? it[i].len : common;
        uint32_t j = 0;
        while (j < m && it[i].key[j] == it[0].key[j])
            j++;
        common = j;
    }
    for (size_t i = 0; i < n; i++)
        it[i].prefix = sl__key_prefix(it[i].key, it[i].len, common);
    if (n < 64) {
        qsort(it, n, sizeof(*it), sl__item_cmp);
        return;
    }
    /* LSD radix sort on (end, prefix), skipping the byte positions where
     * every item agrees; then runs of equal (end, prefix) by comparison. */
    int npass = 8; /* prefix bytes only, unless the ends differ (sessions) */
    for (size_t i = 1; i < n && npass == 8; i++)
        if (it[i].end != it[0].end)
            npass = 16;
    uint32_t hist[16][256];
    memset(hist, 0, (size_t)npass * sizeof(hist[0]));
    for (size_t i = 0; i < n; i++) {
        uint64_t v = it[i].prefix;
        for (int b = 0; b < 8; b++)
            hist[b][(v >> (8 * b)) & 255]++;
        if (npass == 16) {
            v = (uint64_t)it[i].end ^ (1ULL << 63);
            for (int b = 0; b < 8; b++)
                hist[8 + b][(v >> (8 * b)) & 255]++;
        }
    }
    sl__sort_item *src = it, *dst = t->items2;
    for (int pass = 0; pass < npass; pass++) {
        uint32_t *h = hist[pass];
        if (h[sl__item_byte(&src[0], pass)] == n)
            continue;
        uint32_t off = 0;
        for (int b = 0; b < 256; b++) {
            uint32_t c = h[b];
            h[b] = off;
            off += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[h[sl__item_byte(&src[i], pass)]++] = src[i];
        sl__sort_item *x = src;
        src = dst;
        dst = x;
    }
    if (src != it)
        memcpy(it, src, n * sizeof(*it));
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && it[j].end == it[i].end && it[j].prefix == it[i].prefix)
            j++;
        if (j - i > 1)
            qsort(it + i, j - i, sizeof(*it), sl__item_cmp);
        i = j;
    }
}

void sl__window_items_reserve(sl_window_task *t, size_t n)
{
    if (n > t->items_cap) {
        size_t cap = t->items_cap ? t->items_cap : 64;
        while (cap < n)
            cap *= 2;
        t->items = sl_xrealloc(t->items, cap * sizeof(*t->items));
        t->items2 = sl_xrealloc(t->items2, cap * sizeof(*t->items2));
        t->items_cap = cap;
    }
}

/* Emits every key of `k` (payloads are aggregate states) for window
 * [start, end), in key order. */
static void sl__emit_table(sl_window_task *t, const sl__ktab *k, int64_t start, int64_t end,
                           const sl_emitter *em)
{
    sl__window_items_reserve(t, k->n);
    for (uint32_t i = 0; i < k->n; i++) {
        const sl__kent *e = sl__ktab_ent(k, i);
        sl__sort_item *it = &t->items[i];
        it->end = end;
        it->key = sl__ktab_key(k, e);
        it->len = e->len;
        it->idx = i;
    }
    sl__window_sort_items(t, k->n);
    for (uint32_t i = 0; i < k->n; i++) {
        const sl__sort_item *it = &t->items[i];
        sl__window_emit(t, em, it->key, it->len, start, end, sl__ktab_ent(k, it->idx) + 1, 0);
    }
}

/* ------------------------------------------------------------------------ */
/* Panes: tumbling and hopping                                               */
/* ------------------------------------------------------------------------ */

/* Ends of the first and last window holding the pane that starts at `s`;
 * 0 when no window holds it (slide > size). */
int sl__window_pane_windows(const sl_window_task *t, int64_t s, int64_t *first_end,
                            int64_t *last_end)
{
    int64_t kmin = sl__floor_div(sl__sat_sub(s, t->size), t->slide) + 1;
    int64_t kmax = sl__floor_div(s, t->slide);
    if (kmin > kmax)
        return 0;
    *first_end = sl__sat_add(sl__sat_mul(kmin, t->slide), t->size);
    *last_end = sl__sat_add(sl__sat_mul(kmax, t->slide), t->size);
    return 1;
}

/* Smallest end > after of a window holding pane p, or SL__NONE. */
static int64_t sl__pane_next_window(const sl_window_task *t, const sl__pane *p, int64_t after)
{
    if (p->last_end <= after)
        return SL__NONE;
    if (p->first_end > after)
        return p->first_end;
    int64_t k = sl__floor_div(sl__sat_sub(after, t->size), t->slide) + 1;
    return sl__sat_add(sl__sat_mul(k, t->slide), t->size);
}

/* Index of the first pane with start >= x. */
static size_t sl__pane_lower_bound(const sl_window_task *t, int64_t x)
{
    size_t lo = 0, hi = t->npanes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->panes[mid]->start < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Smallest end > after of a window holding any pane, or SL__NONE. */
int64_t sl__window_next_fire_after(const sl_window_task *t, int64_t after)
{
    /* Panes of a window ending at E > after start at >= E - size. */
    for (size_t i = sl__pane_lower_bound(t, sl__sat_add(sl__sat_sub(after, t->size), 1));
         i < t->npanes; i++) {
        int64_t e = sl__pane_next_window(t, t->panes[i], after);
        if (e != SL__NONE)
            return e;
    }
    return SL__NONE;
}

void sl__window_pane_due(sl_window_task *t)
{
    int64_t d = t->next_fire;
    if (t->npanes && t->panes[0]->drop_at < d)
        d = t->panes[0]->drop_at;
    t->next_due = d;
}

static void sl__pane_release(sl_window_task *t, sl__pane *p)
{
    sl__window_tab_release(t, &p->tab);
    if (t->npool < SL__POOL_MAX) {
        sl__ktab_clear(&p->tab);
        p->next = t->pool;
        t->pool = p;
        t->npool++;
    } else {
        sl__ktab_free(&p->tab);
        free(p);
    }
}

/* The pane starting at s (aligned, with windows), created if absent. */
sl__pane *sl__window_pane_get(sl_window_task *t, int64_t s, int64_t first_end, int64_t last_end,
                              int *created)
{
    size_t i = sl__pane_lower_bound(t, s);
    if (i < t->npanes && t->panes[i]->start == s) {
        *created = 0;
        return t->panes[i];
    }
    sl__pane *p = t->pool;
    if (p) {
        t->pool = p->next;
        t->npool--;
    } else {
        p = sl_xcalloc(1, sizeof(*p));
        sl__ktab_init(&p->tab, t->plan.state_size);
    }
    p->start = s;
    p->end = sl__sat_add(s, t->width);
    p->first_end = first_end;
    p->last_end = last_end;
    p->drop_at = sl__sat_add(last_end, t->lateness);
    p->next = NULL;
    if (t->npanes == t->panes_cap) {
        t->panes_cap = t->panes_cap ? t->panes_cap * 2 : 16;
        t->panes = sl_xrealloc(t->panes, t->panes_cap * sizeof(*t->panes));
    }
    memmove(&t->panes[i + 1], &t->panes[i], (t->npanes - i) * sizeof(*t->panes));
    t->panes[i] = p;
    t->npanes++;
    *created = 1;
    return p;
}

/* Combines the state of one key over the panes of window [end-size, end)
 * into t->tmp. */
static void sl__combine_key(sl_window_task *t, int64_t end, uint64_t h, const char *key,
                            uint32_t klen)
{
    sl_agg_state_release(&t->plan, t->tmp);
    memset(t->tmp, 0, t->plan.state_size);
    int64_t start = sl__sat_sub(end, t->size);
    for (size_t j = sl__pane_lower_bound(t, start); j < t->npanes && t->panes[j]->start < end;
         j++) {
        const sl__kent *e = sl__ktab_find(&t->panes[j]->tab, h, key, klen);
        if (e)
            sl_agg_merge(&t->plan, t->tmp, e + 1);
    }
}

/* Slow path of one event: window geometry, lateness, late updates. */
static void sl__pane_event(sl_window_task *t, const sl_batch *in, uint32_t i, const sl_emitter *em)
{
    int64_t x = in->ts[i], wm = t->wm;
    int64_t s = sl__sat_mul(sl__floor_div(x, t->width), t->width);
    int64_t first_end, last_end;
    if (!sl__window_pane_windows(t, s, &first_end, &last_end) ||
        sl__sat_add(last_end, t->lateness) <= wm) {
        sl__window_late(t, in, i, em);
        return;
    }
    int created;
    sl__pane *p = sl__window_pane_get(t, s, first_end, last_end, &created);
    if (created) {
        int64_t e = sl__pane_next_window(t, p, wm);
        if (e < t->next_fire)
            t->next_fire = e;
        sl__window_pane_due(t);
    }
    uint32_t klen;
    const char *key = sl_batch_key(in, i, &klen);
    uint64_t h = in->key_hash[i];
    if (SL_UNLIKELY(t->refuse_new_keys) && !sl__ktab_find(&p->tab, h, key, klen)) {
        t->refused++;
        return;
    }
    sl__kent *e = sl__ktab_upsert(&p->tab, h, key, klen, &created);
    sl_agg_add(&t->plan, e + 1, in, i);
    if (first_end > wm) {
        t->cur = p;
        t->cur_start = p->start;
        t->cur_end = p->end;
        t->cur_first_end = first_end;
        return;
    }
    /* Windows of this pane that fired but are within allowed lateness get
     * an updated result for this key, in window-end order. */
    for (int64_t end = first_end; end <= wm && end <= last_end; end += t->slide) {
        if (sl__sat_add(end, t->lateness) > wm) {
            if (t->direct) {
                sl__window_emit(t, em, key, klen, p->start, end, e + 1, 1);
            } else {
                sl__combine_key(t, end, h, key, klen);
                sl__window_emit(t, em, key, klen, end - t->size, end, t->tmp, 1);
                sl_agg_state_release(&t->plan, t->tmp);
            }
        }
        if (end > INT64_MAX - t->slide)
            break;
    }
}

/* Fires the window ending at `end` (it holds at least one pane). */
static void sl__fire_window(sl_window_task *t, int64_t end, const sl_emitter *em)
{
    int64_t start = sl__sat_sub(end, t->size);
    size_t j = sl__pane_lower_bound(t, start);
    if (t->direct) {
        if (j < t->npanes && t->panes[j]->start == start)
            sl__emit_table(t, &t->panes[j]->tab, start, end, em);
        return;
    }
    sl__ktab_clear(&t->comb);
    for (; j < t->npanes && t->panes[j]->start < end; j++) {
        const sl__ktab *k = &t->panes[j]->tab;
        for (uint32_t i = 0; i < k->n; i++) {
            const sl__kent *e = sl__ktab_ent(k, i);
            int created;
            sl__kent *c = sl__ktab_upsert(&t->comb, e->hash, sl__ktab_key(k, e), e->len, &created);
            sl_agg_merge(&t->plan, c + 1, e + 1);
        }
    }
    sl__emit_table(t, &t->comb, start, end, em);
    sl__window_tab_release(t, &t->comb);
}

static void sl__fire_panes(sl_window_task *t, const sl_emitter *em)
{
    int64_t wm = t->wm;
    while (t->next_fire != SL__NONE && t->next_fire <= wm) {
        int64_t end = t->next_fire;
        sl__fire_window(t, end, em);
        t->next_fire = sl__window_next_fire_after(t, end);
    }
    size_t d = 0;
    while (d < t->npanes && t->panes[d]->drop_at <= wm)
        sl__pane_release(t, t->panes[d++]);
    if (d) {
        memmove(t->panes, t->panes + d, (t->npanes - d) * sizeof(*t->panes));
        t->npanes -= d;
        t->cur = NULL;
        t->cur_start = t->cur_end = 0;
    }
    sl__window_pane_due(t);
}

/* ------------------------------------------------------------------------ */
/* Task                                                                      */
/* ------------------------------------------------------------------------ */

static void sl__fire(sl_window_task *t, const sl_emitter *em)
{
    if (t->type == SL_WIN_SESSION)
        sl__window_fire_sessions(t, em);
    else
        sl__fire_panes(t, em);
}

/* Frees every window, session and scratch buffer (not the plan). */
void sl__window_free_state(sl_window_task *t)
{
    if (t->plan.next) {
        for (uint32_t sid = 0; sid < t->nsess; sid++)
            if (t->sess[sid].live)
                sl_agg_state_release(&t->plan, sl__sstate(t, sid));
        sl__window_tab_release(t, &t->comb);
        if (t->tmp)
            sl_agg_state_release(&t->plan, t->tmp);
    }
    for (size_t i = 0; i < t->npanes; i++) {
        sl__window_tab_release(t, &t->panes[i]->tab);
        sl__ktab_free(&t->panes[i]->tab);
        free(t->panes[i]);
    }
    free(t->panes);
    t->panes = NULL;
    t->npanes = t->panes_cap = 0;
    while (t->pool) {
        sl__pane *p = t->pool;
        t->pool = p->next;
        sl__ktab_free(&p->tab);
        free(p);
    }
    t->npool = 0;
    t->cur = NULL;
    t->cur_start = t->cur_end = 0;
    t->next_fire = SL__NONE;
    sl__ktab_free(&t->skeys);
    free(t->sess);
    free(t->sstate);
    t->sess = NULL;
    t->sstate = NULL;
    t->nsess = t->sess_cap = 0;
    t->sess_free = -1;
    t->empty_keys = 0;
    free(t->heap);
    t->heap = NULL;
    t->nheap = t->heap_cap = 0;
    free(t->purge);
    t->purge = NULL;
    t->npurge = t->purge_cap = 0;
    free(t->tomb);
    t->tomb = NULL;
    t->ntomb = t->tomb_cap = 0;
    sl__ktab_free(&t->comb);
    free(t->items);
    free(t->items2);
    t->items = t->items2 = NULL;
    t->items_cap = 0;
    free(t->out);
    t->out = NULL;
    t->out_cap = 0;
    t->next_due = SL__NONE;
}

/* Validates the definition (positive size/slide/gap) and compiles its
 * aggregates. NULL on an invalid definition or allocation failure, with
 * nothing allocated. */
sl_window_task *sl_window_task_new(const sl_window_def *def, const sl_watermark_def *wm)
{
    if (!def || !wm)
        return NULL;
    switch (def->type) {
    case SL_WIN_TUMBLING:
        if (def->size_ms <= 0)
            return NULL;
        break;
    case SL_WIN_HOPPING:
        if (def->size_ms <= 0 || def->slide_ms <= 0)
            return NULL;
        break;
    case SL_WIN_SESSION:
        if (def->gap_ms <= 0)
            return NULL;
        break;
    default:
        return NULL;
    }
    sl_window_task *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (sl_agg_plan_init_params(&t->plan, def->aggs, def->agg_params, def->naggs) != 0) {
        free(t);
        return NULL;
    }
    t->plan.mem = &t->ext_bytes;
    t->tmp = calloc(1, t->plan.state_size);
    if (!t->tmp) {
        sl_agg_plan_free(&t->plan);
        free(t);
        return NULL;
    }
    t->def = def;
    t->wmdef = wm;
    t->type = def->type;
    t->lateness = def->allowed_lateness_ms > 0 ? def->allowed_lateness_ms : 0;
    t->ooo = wm->max_out_of_orderness_ms;
    if (def->type == SL_WIN_SESSION) {
        t->gap = def->gap_ms;
    } else {
        t->size = def->size_ms;
        t->slide = def->type == SL_WIN_HOPPING ? def->slide_ms : def->size_ms;
        t->direct = t->slide == t->size;
        t->width = sl__gcd(t->size, t->slide);
    }
    t->wm = INT64_MIN;
    t->max_ts = INT64_MIN;
    t->next_fire = SL__NONE;
    t->next_due = SL__NONE;
    t->sess_free = -1;
    sl__ktab_init(&t->skeys, sizeof(sl__skey));
    sl__ktab_init(&t->comb, t->plan.state_size);
    return t;
}

/* Frees the task and all its state. NULL is a no-op. */
void sl_window_task_free(sl_window_task *t)
{
    if (!t)
        return;
    sl__window_free_state(t);
    sl_agg_plan_free(&t->plan);
    free(t->tmp);
    free(t);
}

/* Per event: late check against the watermark before it, update (and an
 * immediate updated result for a fired window), then watermark advance
 * and firing. Allocates only for new keys, panes or sessions (amortized). */
void sl_window_task_process(sl_window_task *t, const sl_batch *in, const sl_emitter *em)
{
    uint32_t n = in->count;
    if (!n)
        return;
    assert(in->nvals >= t->plan.ncolumns);
    t->stats.events += n;
    const int64_t *ts = in->ts;
    const int64_t ooo = t->ooo;
    const int own_wm = !t->external_wm;
    int64_t max_ts = t->max_ts;
    if (t->type == SL_WIN_SESSION) {
        for (uint32_t i = 0; i < n; i++) {
            int64_t x = ts[i];
            if (x > max_ts)
                max_ts = x;
            sl__window_session_event(t, in, i, em);
            int64_t w = own_wm ? sl__sat_sub(x, ooo) : INT64_MIN;
            if (w > t->wm) {
                t->wm = w;
                if (w >= t->next_due)
                    sl__window_fire_sessions(t, em);
            }
        }
    } else {
        const uint64_t *kh = in->key_hash;
        for (uint32_t i = 0; i < n; i++) {
            int64_t x = ts[i];
            if (x > max_ts)
                max_ts = x;
            if (SL_LIKELY(x >= t->cur_start && x < t->cur_end && t->wm < t->cur_first_end &&
                          !t->refuse_new_keys)) {
                /* Prefetch the slot 8 events ahead and the entry 4 ahead
                 * (its slot was prefetched 4 events ago): the tables of
                 * many keys do not fit in L1/L2. Hints only. */
                const sl__ktab *ct = &t->cur->tab;
                if (SL_LIKELY(ct->nslots != 0)) {
                    uint32_t mask = ct->nslots - 1;
                    if (i + 8 < n)
                        __builtin_prefetch(&ct->slots[(uint32_t)kh[i + 8] & mask]);
                    if (i + 4 < n) {
                        uint64_t sv = ct->slots[(uint32_t)kh[i + 4] & mask];
                        if (sv)
                            __builtin_prefetch(sl__ktab_ent(ct, (uint32_t)sv - 1));
                    }
                }
                int created;
                sl__kent *e = sl__ktab_upsert(&t->cur->tab, kh[i], in->bytes + in->key_off[i],
                                              in->key_len[i], &created);
                sl_agg_add(&t->plan, e + 1, in, i);
            } else {
                sl__pane_event(t, in, i, em);
            }
            int64_t w = own_wm ? sl__sat_sub(x, ooo) : INT64_MIN;
            if (w > t->wm) {
                t->wm = w;
                if (w >= t->next_due)
                    sl__fire_panes(t, em);
            }
        }
    }
    t->max_ts = max_ts;
}

/* Upsert mode (a sink with "emit": "upsert"): result keys carry
 * window_start and session merges write tombstones. Never fails. */
void sl_window_task_set_upsert(sl_window_task *t, int on)
{
    t->upsert = on != 0;
}

/* Merged inputs: from now on only sl_window_task_advance() moves the
 * watermark (events still update max_ts). Never fails. */
void sl_window_task_set_external_watermark(sl_window_task *t, int on)
{
    t->external_wm = on != 0;
}

/* Idle advance: raises the watermark (never lowers it) and fires. */
void sl_window_task_advance(sl_window_task *t, int64_t watermark, const sl_emitter *em)
{
    if (watermark <= t->wm)
        return;
    t->wm = watermark;
    if (watermark >= t->next_due)
        sl__fire(t, em);
}

/* End of input: fires everything pending in canonical order, frees all
 * state; later events are late. Calling it twice emits nothing more. */
void sl_window_task_close(sl_window_task *t, const sl_emitter *em)
{
    t->wm = INT64_MAX;
    sl__fire(t, em);
    sl__window_free_state(t);
}

/* The current watermark (INT64_MIN before any event). Never fails. */
int64_t sl_window_task_watermark(const sl_window_task *t)
{
    return t->wm;
}

/* Highest event time seen. Never fails. */
int64_t sl_window_task_max_ts(const sl_window_task *t)
{
    return t->max_ts;
}

/* Bytes held: panes with their tables and arenas, the pane pool,
 * sessions, heap and scratch buffers. O(panes). */
size_t sl_window_task_state_bytes(const sl_window_task *t)
{
    size_t b = sizeof(*t) + t->plan.state_size + t->ext_bytes;
    b += t->panes_cap * sizeof(*t->panes);
    for (size_t i = 0; i < t->npanes; i++)
        b += sizeof(sl__pane) + sl__ktab_bytes(&t->panes[i]->tab);
    for (const sl__pane *p = t->pool; p; p = p->next)
        b += sizeof(sl__pane) + sl__ktab_bytes(&p->tab);
    b += sl__ktab_bytes(&t->skeys);
    b += (size_t)t->sess_cap * (sizeof(sl__session) + t->plan.state_size);
    b += t->heap_cap * sizeof(sl__heap_ent) + t->purge_cap * sizeof(int32_t);
    b += sl__ktab_bytes(&t->comb) + 2 * t->items_cap * sizeof(sl__sort_item) + t->out_cap;
    return b;
}

/* Keys with state: entries over open panes (a key in two panes counts
 * twice) or session keys. O(panes). */
size_t sl_window_task_keys(const sl_window_task *t)
{
    size_t n = t->skeys.n;
    for (size_t i = 0; i < t->npanes; i++)
        n += t->panes[i]->tab.n;
    return n;
}

void sl_window_task_refuse_new_keys(sl_window_task *t, int on)
{
    t->refuse_new_keys = on;
}

uint64_t sl_window_task_refused(const sl_window_task *t)
{
    return t->refused;
}

/* Counters since creation (or as restored). Never fails. */
const sl_window_stats *sl_window_task_stats(const sl_window_task *t)
{
    return &t->stats;
}
