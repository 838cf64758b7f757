/*
 * window_session.c - session windows of a window task: the heap of due
 * times, session allocation, free and purge, one event's merge into its
 * key's sessions, firing, and compaction of the session key table, and
 * (upsert mode) the tombstones of sessions a merge replaces. The
 * design notes (invariants 4 and 5 are the sessions') are at the top of
 * window.c; the structures are in window_internal.h.
 */
#include "window_internal.h"

#include <string.h>

/* ------------------------------------------------------------------------ */
/* Sessions                                                                  */
/* ------------------------------------------------------------------------ */

static void sl__heap_push(sl_window_task *t, sl__heap_ent h)
{
    if (t->nheap == t->heap_cap) {
        t->heap_cap = t->heap_cap ? t->heap_cap * 2 : 64;
        t->heap = sl_xrealloc(t->heap, t->heap_cap * sizeof(*t->heap));
    }
    size_t i = t->nheap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (t->heap[parent].due <= h.due)
            break;
        t->heap[i] = t->heap[parent];
        i = parent;
    }
    t->heap[i] = h;
}

static sl__heap_ent sl__heap_pop(sl_window_task *t)
{
    sl__heap_ent top = t->heap[0], last = t->heap[--t->nheap];
    size_t i = 0, n = t->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && t->heap[c + 1].due < t->heap[c].due)
            c++;
        if (last.due <= t->heap[c].due)
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n)
        t->heap[i] = last;
    return top;
}

/* (Re)schedules session sid at its current due time. */
void sl__window_session_push(sl_window_task *t, uint32_t sid)
{
    sl__session *s = &t->sess[sid];
    sl__heap_ent h = {
        .due = s->fired ? sl__sat_add(s->end, t->lateness) : s->end, .sid = sid, .gen = ++s->gen};
    sl__heap_push(t, h);
    t->next_due = t->heap[0].due;
}

uint32_t sl__window_session_alloc(sl_window_task *t)
{
    uint32_t sid;
    if (t->sess_free >= 0) {
        sid = (uint32_t)t->sess_free;
        t->sess_free = t->sess[sid].next;
    } else {
        if (t->nsess == t->sess_cap) {
            uint32_t cap = t->sess_cap ? t->sess_cap * 2 : 64;
            t->sess = sl_xrealloc(t->sess, (size_t)cap * sizeof(*t->sess));
            t->sstate = sl_xrealloc(t->sstate, (size_t)cap * t->plan.state_size);
            t->sess_cap = cap;
        }
        sid = t->nsess++;
        t->sess[sid].gen = 0;
    }
    sl__session *s = &t->sess[sid];
    s->live = 1;
    s->fired = 0;
    s->emitted = 0;
    s->next = -1;
    memset(sl__sstate(t, sid), 0, t->plan.state_size);
    return sid;
}

static void sl__session_free(sl_window_task *t, uint32_t sid)
{
    sl_agg_state_release(&t->plan, sl__sstate(t, sid));
    sl__session *s = &t->sess[sid];
    s->live = 0;
    s->gen++;
    s->next = t->sess_free;
    t->sess_free = (int32_t)sid;
}

void sl__window_tombstone(sl_window_task *t, const sl_emitter *em, const char *key, uint32_t klen,
                          int64_t start, int64_t ts)
{
    size_t need = (size_t)klen + 64;
    if (SL_UNLIKELY(need > t->out_cap)) {
        t->out_cap = need * 2;
        t->out = sl_xrealloc(t->out, t->out_cap);
    }
    char *k = t->out, *p = k;
    *p++ = '{';
    if (klen) {
        memcpy(p, key, klen);
        p += klen;
        *p++ = ',';
    }
    memcpy(p, "\"window_start\":", 15);
    p = sl_agg_put_i64(p + 15, start);
    *p++ = '}';
    t->stats.tombstones++;
    em->result(em->ctx, k, (size_t)(p - k), "", 0, ts, 1);
}

/* Upsert mode: remembers that an event replaces the emitted record
 * (key, start) of one of the sessions it merges. */
static void sl__tomb_add(sl_window_task *t, int64_t start)
{
    if (t->ntomb == t->tomb_cap) {
        t->tomb_cap = t->tomb_cap ? t->tomb_cap * 2 : 8;
        t->tomb = sl_xrealloc(t->tomb, t->tomb_cap * sizeof(*t->tomb));
    }
    t->tomb[t->ntomb++] = start;
}

/* Upsert mode, after an event merged sessions into `s` (its final start
 * and end set): deletes, in ascending start order, every remembered record
 * whose start is not s's; one that is becomes s's (s->emitted), to be
 * replaced by s's next result. */
static void sl__tomb_flush(sl_window_task *t, const sl_emitter *em, const char *key, uint32_t klen,
                           sl__session *s)
{
    int64_t *a = t->tomb;
    for (size_t i = 1; i < t->ntomb; i++) /* a few entries: insertion sort */
        for (size_t j = i; j > 0 && a[j - 1] > a[j]; j--) {
            int64_t x = a[j];
            a[j] = a[j - 1];
            a[j - 1] = x;
        }
    int covered = 0;
    for (size_t i = 0; i < t->ntomb; i++) {
        if (a[i] == s->start)
            covered = 1;
        else
            sl__window_tombstone(t, em, key, klen, a[i], s->end - 1);
    }
    s->emitted = (uint8_t)covered;
    t->ntomb = 0;
}

static inline sl__skey *sl__skey_at(const sl_window_task *t, uint32_t kidx)
{
    return (sl__skey *)(sl__ktab_ent(&t->skeys, kidx) + 1);
}

static inline uint32_t sl__skey_index(const sl_window_task *t, const sl__kent *e)
{
    return (uint32_t)(((const unsigned char *)e - t->skeys.ents) / t->skeys.stride);
}

void sl__window_session_event(sl_window_task *t, const sl_batch *in, uint32_t i,
                              const sl_emitter *em)
{
    int64_t x = in->ts[i], wm = t->wm;
    int64_t end = sl__sat_add(x, t->gap);
    if (sl__sat_add(end, t->lateness) <= wm) {
        sl__window_late(t, in, i, em);
        return;
    }
    uint32_t klen;
    const char *key = sl_batch_key(in, i, &klen);
    int created;
    if (SL_UNLIKELY(t->refuse_new_keys) && !sl__ktab_find(&t->skeys, in->key_hash[i], key, klen)) {
        t->refused++;
        return;
    }
    sl__kent *ke = sl__ktab_upsert(&t->skeys, in->key_hash[i], key, klen, &created);
    sl__skey *k = (sl__skey *)(ke + 1);
    if (created)
        k->head = -1;
    int32_t target = -1, prev = -1;
    int changed = 0;
    t->ntomb = 0;
    for (int32_t sid = k->head; sid >= 0;) {
        sl__session *s = &t->sess[sid];
        int32_t next = s->next;
        if (x <= s->end && s->start <= end) { /* overlaps or touches */
            if (t->upsert && s->emitted)
                sl__tomb_add(t, s->start);
            if (target < 0) {
                target = sid;
                prev = sid;
            } else {
                sl__session *tg = &t->sess[target];
                sl_agg_merge(&t->plan, sl__sstate(t, (uint32_t)target),
                             sl__sstate(t, (uint32_t)sid));
                if (s->start < tg->start)
                    tg->start = s->start;
                if (s->end > tg->end)
                    tg->end = s->end;
                if (prev < 0)
                    k->head = next;
                else
                    t->sess[prev].next = next;
                sl__session_free(t, (uint32_t)sid);
                k->nsess--;
                changed = 1;
            }
        } else {
            prev = sid;
        }
        sid = next;
    }
    int was_fired = 0;
    if (target < 0) {
        uint32_t sid = sl__window_session_alloc(t);
        sl__session *s = &t->sess[sid];
        s->start = x;
        s->end = end;
        s->key = sl__skey_index(t, ke);
        s->next = k->head;
        k->head = (int32_t)sid;
        if (k->nsess == 0 && !created)
            t->empty_keys--;
        k->nsess++;
        target = (int32_t)sid;
        changed = 1;
    } else {
        was_fired = t->sess[target].fired;
    }
    sl__session *s = &t->sess[target];
    if (x < s->start)
        s->start = x;
    if (end > s->end)
        s->end = end;
    void *st = sl__sstate(t, (uint32_t)target);
    sl_agg_add(&t->plan, st, in, i);
    if (t->ntomb)
        sl__tomb_flush(t, em, key, klen, s);
    s->fired = s->end <= wm;
    if (s->fired) {
        sl__window_emit(t, em, key, klen, s->start, s->end, st, 1);
        s->emitted = 1;
    }
    if (changed || was_fired != s->fired)
        sl__window_session_push(t, (uint32_t)target);
}

/* Unlinks and frees a session. */
static void sl__session_purge(sl_window_task *t, uint32_t sid)
{
    sl__session *s = &t->sess[sid];
    sl__skey *k = sl__skey_at(t, s->key);
    if (k->head == (int32_t)sid) {
        k->head = s->next;
    } else {
        int32_t p = k->head;
        while (t->sess[p].next != (int32_t)sid)
            p = t->sess[p].next;
        t->sess[p].next = s->next;
    }
    if (--k->nsess == 0)
        t->empty_keys++;
    sl__session_free(t, sid);
}

/* Rebuilds the key table without keys that have no session left. */
static void sl__skeys_compact(sl_window_task *t)
{
    sl__ktab nk;
    sl__ktab_init(&nk, sizeof(sl__skey));
    for (uint32_t i = 0; i < t->skeys.n; i++) {
        const sl__kent *e = sl__ktab_ent(&t->skeys, i);
        const sl__skey *k = (const sl__skey *)(e + 1);
        if (!k->nsess)
            continue;
        int created;
        sl__kent *ne = sl__ktab_upsert(&nk, e->hash, sl__ktab_key(&t->skeys, e), e->len, &created);
        *(sl__skey *)(ne + 1) = *k;
        for (int32_t sid = k->head; sid >= 0; sid = t->sess[sid].next)
            t->sess[sid].key = nk.n - 1;
    }
    sl__ktab_free(&t->skeys);
    t->skeys = nk;
    t->empty_keys = 0;
}

static void sl__purge_add(sl_window_task *t, uint32_t sid)
{
    if (t->npurge == t->purge_cap) {
        t->purge_cap = t->purge_cap ? t->purge_cap * 2 : 64;
        t->purge = sl_xrealloc(t->purge, t->purge_cap * sizeof(*t->purge));
    }
    t->purge[t->npurge++] = (int32_t)sid;
}

void sl__window_fire_sessions(sl_window_task *t, const sl_emitter *em)
{
    int64_t wm = t->wm;
    size_t nitems = 0;
    t->npurge = 0;
    while (t->nheap && t->heap[0].due <= wm) {
        sl__heap_ent h = sl__heap_pop(t);
        sl__session *s = &t->sess[h.sid];
        if (!s->live || s->gen != h.gen)
            continue;
        if (!s->fired) {
            if (s->end > wm) { /* stale lower bound: the session grew */
                sl__window_session_push(t, h.sid);
                continue;
            }
            s->fired = 1;
            sl__window_items_reserve(t, nitems + 1);
            const sl__kent *ke = sl__ktab_ent(&t->skeys, s->key);
            sl__sort_item *it = &t->items[nitems++];
            it->end = s->end;
            it->key = sl__ktab_key(&t->skeys, ke);
            it->len = ke->len;
            it->idx = h.sid;
        }
        if (sl__sat_add(s->end, t->lateness) > wm)
            sl__window_session_push(t, h.sid);
        else
            sl__purge_add(t, h.sid);
    }
    sl__window_sort_items(t, nitems);
    for (size_t i = 0; i < nitems; i++) {
        const sl__sort_item *it = &t->items[i];
        sl__session *s = &t->sess[it->idx];
        sl__window_emit(t, em, it->key, it->len, s->start, s->end, sl__sstate(t, it->idx), 0);
        s->emitted = 1;
    }
    for (size_t i = 0; i < t->npurge; i++)
        sl__session_purge(t, (uint32_t)t->purge[i]);
    if (t->empty_keys > 64 && (size_t)t->empty_keys * 2 > t->skeys.n)
        sl__skeys_compact(t);
    t->next_due = t->nheap ? t->heap[0].due : SL__NONE;
}
