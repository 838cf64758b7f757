/*
 * window_internal.h - the state of a window task, shared by window.c (the
 * runtime: output, panes, the task), window_session.c (session windows) and
 * window_snapshot.c (snapshot and restore). Not a public header (see
 * window.h); the design notes are at the top of window.c.
 *
 * @locality: one task is used by one worker thread at a time.
 */
#ifndef SL_WINDOW_INTERNAL_H
#define SL_WINDOW_INTERNAL_H

#include "window.h"

#include "aggregate.h"

#include <stdlib.h>
#include <string.h>

#define SL__NONE INT64_MAX /* no window end / nothing due */

/* ------------------------------------------------------------------------ */
/* Saturating arithmetic                                                     */
/* ------------------------------------------------------------------------ */

static inline int64_t sl__sat_add(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static inline int64_t sl__sat_sub(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static inline int64_t sl__sat_mul(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return (a < 0) != (b < 0) ? INT64_MIN : INT64_MAX;
    return r;
}

/* floor(a / b) for b > 0. */
static inline int64_t sl__floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && a < 0)
        q--;
    return q;
}

/* ------------------------------------------------------------------------ */
/* ktab: open-addressing table of key bytes -> fixed-size payload            */
/* ------------------------------------------------------------------------ */

typedef struct sl__kent {
    uint64_t hash;
    uint32_t off, len; /* key bytes in the table's arena */
} sl__kent;            /* followed by the payload */

typedef struct sl__ktab {
    uint64_t *slots; /* (hash & 0xffffffff00000000) | (entry index + 1); 0 empty */
    uint32_t nslots; /* power of two; 0 before the first insert */
    uint32_t n, cap; /* entries used / allocated */
    uint32_t stride; /* sizeof(kent) + payload, a multiple of 8 */
    unsigned char *ents;
    char *keys;
    size_t klen, kcap;
} sl__ktab;

#define SL__TAG_MASK 0xffffffff00000000ULL

static inline void sl__ktab_init(sl__ktab *k, size_t payload)
{
    memset(k, 0, sizeof(*k));
    k->stride = (uint32_t)(sizeof(sl__kent) + ((payload + 7) & ~(size_t)7));
}

static inline void sl__ktab_free(sl__ktab *k)
{
    free(k->slots);
    free(k->ents);
    free(k->keys);
    uint32_t stride = k->stride;
    memset(k, 0, sizeof(*k));
    k->stride = stride;
}

/* Empties the table, keeping its memory. */
static inline void sl__ktab_clear(sl__ktab *k)
{
    if (k->nslots)
        memset(k->slots, 0, (size_t)k->nslots * sizeof(*k->slots));
    k->n = 0;
    k->klen = 0;
}

static inline size_t sl__ktab_bytes(const sl__ktab *k)
{
    return (size_t)k->nslots * sizeof(uint64_t) + (size_t)k->cap * k->stride + k->kcap;
}

static inline sl__kent *sl__ktab_ent(const sl__ktab *k, uint32_t i)
{
    return (sl__kent *)(k->ents + (size_t)i * k->stride);
}

static inline const char *sl__ktab_key(const sl__ktab *k, const sl__kent *e)
{
    return k->keys + e->off;
}

static inline void sl__ktab_rehash(sl__ktab *k, uint32_t nslots)
{
    uint64_t *s = sl_xcalloc(nslots, sizeof(*s));
    free(k->slots);
    k->slots = s;
    k->nslots = nslots;
    uint32_t mask = nslots - 1;
    for (uint32_t i = 0; i < k->n; i++) {
        const sl__kent *e = sl__ktab_ent(k, i);
        uint32_t j = (uint32_t)e->hash & mask;
        while (s[j])
            j = (j + 1) & mask;
        s[j] = (e->hash & SL__TAG_MASK) | (uint64_t)(i + 1);
    }
}

/* Appends a new entry (payload zeroed) and points slot j at it. */
static inline sl__kent *sl__ktab_insert_at(sl__ktab *k, uint32_t j, uint64_t h, const char *key,
                                           uint32_t len)
{
    if (k->n == k->cap) {
        uint32_t cap = k->cap ? k->cap * 2 : 16;
        k->ents = sl_xrealloc(k->ents, (size_t)cap * k->stride);
        k->cap = cap;
    }
    if (!k->keys || k->klen + len > k->kcap) {
        size_t cap = k->kcap ? k->kcap * 2 : 256;
        while (cap < k->klen + len)
            cap *= 2;
        k->keys = sl_xrealloc(k->keys, cap);
        k->kcap = cap;
    }
    if (len)
        memcpy(k->keys + k->klen, key, len);
    sl__kent *e = sl__ktab_ent(k, k->n);
    e->hash = h;
    e->off = (uint32_t)k->klen;
    e->len = len;
    memset(e + 1, 0, k->stride - sizeof(sl__kent));
    k->klen += len;
    k->slots[j] = (h & SL__TAG_MASK) | (uint64_t)(k->n + 1);
    k->n++;
    return e;
}

/* Key bytes equal? (inlined: keys are short, a libc call costs more) */
static inline int sl__key_eq(const char *a, const char *b, uint32_t len)
{
    while (len >= 8) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y)
            return 0;
        a += 8;
        b += 8;
        len -= 8;
    }
    if (len >= 4) {
        uint32_t x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        if (x != y)
            return 0;
        a += 4;
        b += 4;
        len -= 4;
    }
    while (len--)
        if (*a++ != *b++)
            return 0;
    return 1;
}

/* The entry of key (h, key, len), inserted (payload zeroed, *created = 1)
 * if absent. Aborts on allocation failure (amortized: only a new key can
 * allocate). */
static inline __attribute__((always_inline)) sl__kent *
sl__ktab_upsert(sl__ktab *k, uint64_t h, const char *key, uint32_t len, int *created)
{
    if (SL_UNLIKELY((k->n + 1) * 2 > k->nslots))
        sl__ktab_rehash(k, k->nslots ? k->nslots * 2 : 16);
    uint32_t mask = k->nslots - 1, j = (uint32_t)h & mask;
    uint64_t tag = h & SL__TAG_MASK;
    for (;;) {
        uint64_t s = k->slots[j];
        if (!s)
            break;
        if ((s & SL__TAG_MASK) == tag) {
            sl__kent *e = sl__ktab_ent(k, (uint32_t)s - 1);
            if (e->hash == h && e->len == len && sl__key_eq(k->keys + e->off, key, len)) {
                *created = 0;
                return e;
            }
        }
        j = (j + 1) & mask;
    }
    *created = 1;
    return sl__ktab_insert_at(k, j, h, key, len);
}

/* The entry of the key, or NULL. */
static inline sl__kent *sl__ktab_find(const sl__ktab *k, uint64_t h, const char *key, uint32_t len)
{
    if (!k->nslots)
        return NULL;
    uint32_t mask = k->nslots - 1, j = (uint32_t)h & mask;
    uint64_t tag = h & SL__TAG_MASK;
    for (;;) {
        uint64_t s = k->slots[j];
        if (!s)
            return NULL;
        if ((s & SL__TAG_MASK) == tag) {
            sl__kent *e = sl__ktab_ent(k, (uint32_t)s - 1);
            if (e->hash == h && e->len == len && sl__key_eq(k->keys + e->off, key, len))
                return e;
        }
        j = (j + 1) & mask;
    }
}

/* ------------------------------------------------------------------------ */
/* Task state                                                                */
/* ------------------------------------------------------------------------ */

typedef struct sl__pane {
    int64_t start, end;    /* event times [start, end) */
    int64_t first_end;     /* end of the first window holding the pane */
    int64_t last_end;      /* end of the last one */
    int64_t drop_at;       /* last_end + lateness (saturated) */
    sl__ktab tab;          /* key -> sl_agg_state */
    struct sl__pane *next; /* pool link */
} sl__pane;

typedef struct sl__skey {
    int32_t head; /* first session of the key, -1 if none */
    uint32_t nsess;
} sl__skey;

typedef struct sl__session {
    int64_t start, end; /* [first ts, last ts + gap) */
    uint32_t key;       /* entry index in skeys */
    int32_t next;       /* next session of the key, or free-list link */
    uint32_t gen;       /* bumped on every heap push and on free */
    uint8_t live, fired;
    uint8_t emitted; /* upsert mode: a result with this session's start was
                        emitted and not deleted since (the sink holds a
                        record (key, start) for it); a merge that replaces
                        or moves it writes a tombstone */
} sl__session;

typedef struct sl__heap_ent {
    int64_t due;
    uint32_t sid, gen;
} sl__heap_ent;

typedef struct sl__sort_item {
    int64_t end;     /* window end */
    uint64_t prefix; /* first 8 key bytes, big-endian, zero-padded */
    const char *key;
    uint32_t len;
    uint32_t idx; /* entry index or session id */
} sl__sort_item;

struct sl_window_task {
    const sl_window_def *def;
    const sl_watermark_def *wmdef;
    sl_agg_plan plan;
    int type;
    int direct; /* one pane per window (tumbling) */
    int64_t size, slide, width, gap, lateness, ooo;
    int external_wm; /* the watermark comes only from sl_window_task_advance */
    int upsert;      /* keys carry window_start; sessions write tombstones */
    int64_t wm, max_ts;
    int64_t next_due;
    sl_window_stats stats;

    /* panes (tumbling, hopping) */
    sl__pane **panes;
    size_t npanes, panes_cap;
    sl__pane *pool;
    size_t npool;
    int64_t next_fire;
    int refuse_new_keys; /* state budget reached: keys without state are refused */
    uint64_t refused;    /* events refused so */
    sl__pane *cur;       /* the previous event's pane (fast path) */
    int64_t cur_start, cur_end, cur_first_end;

    /* sessions */
    sl__ktab skeys; /* key -> skey */
    sl__session *sess;
    unsigned char *sstate; /* sl_agg_state per session id */
    uint32_t nsess, sess_cap;
    int32_t sess_free;
    uint32_t empty_keys; /* skeys entries with no session */
    sl__heap_ent *heap;
    size_t nheap, heap_cap;
    int32_t *purge;
    size_t npurge, purge_cap;
    int64_t *tomb; /* upsert: starts of emitted sessions one event replaces */
    size_t ntomb, tomb_cap;

    /* scratch */
    sl__ktab comb;                 /* hopping: one window combined from its panes */
    sl__sort_item *items, *items2; /* items2: radix sort buffer */
    size_t items_cap;
    char *out;
    size_t out_cap;
    char seg[80]; /* "window_start":S,"window_end":E of the last result */
    size_t seg_len;
    int64_t seg_start, seg_end;
    void *tmp;        /* one aggregate state */
    size_t ext_bytes; /* held by the states' sketches (plan.mem points here) */
};

static inline void *sl__sstate(const sl_window_task *t, uint32_t sid)
{
    return t->sstate + (size_t)sid * t->plan.state_size;
}

/* ------------------------------------------------------------------------ */
/* Shared by window.c, window_session.c and window_snapshot.c              */
/* ------------------------------------------------------------------------ */

/* Frees the sketches of every state in table k (payloads are aggregate
 * states); a no-op when the plan has none. */
static inline void sl__window_tab_release(const sl_window_task *t, const sl__ktab *k)
{
    if (SL_LIKELY(!t->plan.next))
        return;
    for (uint32_t i = 0; i < k->n; i++)
        sl_agg_state_release(&t->plan, sl__ktab_ent(k, i) + 1);
}

/* Ends of the first and last window holding the pane that starts at `s`;
 * returns 0 when no window holds it (slide > size). */
int sl__window_pane_windows(const sl_window_task *t, int64_t s, int64_t *first_end,
                            int64_t *last_end);
/* Smallest end > after of a window holding any pane, or SL__NONE. */
int64_t sl__window_next_fire_after(const sl_window_task *t, int64_t after);
/* Recomputes next_due from next_fire and the oldest pane. */
void sl__window_pane_due(sl_window_task *t);
/* The pane starting at s (aligned, held by windows first_end..last_end),
 * inserted in order if absent (*created = 1). Aborts on allocation failure. */
sl__pane *sl__window_pane_get(sl_window_task *t, int64_t s, int64_t first_end, int64_t last_end,
                              int *created);
/* A new live, unfired session with an empty state (not linked, not in the
 * heap). Aborts on allocation failure. */
uint32_t sl__window_session_alloc(sl_window_task *t);
/* (Re)schedules session sid in the heap at its current due time. */
void sl__window_session_push(sl_window_task *t, uint32_t sid);
/* Frees every pane, session and scratch buffer (not the plan). */
void sl__window_free_state(sl_window_task *t);

/* Emits one result for key (klen bytes, possibly 0) over window
 * [start, end) with aggregate state `state`; update = 1 marks an update
 * of an already fired window (counted in late_updates, else in
 * windows_fired). */
void sl__window_emit(sl_window_task *t, const sl_emitter *em, const char *key, uint32_t klen,
                     int64_t start, int64_t end, const void *state, int update);
/* Upsert mode: a tombstone for the result of key (klen bytes) over the
 * window that started at `start`: the result key as sl__window_emit makes
 * it, an empty value, timestamp ts (counted in tombstones). */
void sl__window_tombstone(sl_window_task *t, const sl_emitter *em, const char *key, uint32_t klen,
                          int64_t start, int64_t ts);
/* Counts row of `in` as late and hands it to the late callback, if any. */
void sl__window_late(sl_window_task *t, const sl_batch *in, uint32_t row, const sl_emitter *em);
/* Makes t->items and t->items2 hold at least n sort items. */
void sl__window_items_reserve(sl_window_task *t, size_t n);
/* Sorts t->items[0, n) (end, key, len filled in) into canonical order:
 * window end, then key bytes. */
void sl__window_sort_items(sl_window_task *t, size_t n);
/* One event (row i of `in`) of a session task, judged against the current
 * watermark: late, or added to its key's sessions (merging those it
 * overlaps or touches), with an immediate update if the session had ended
 * by the watermark. Does not advance the watermark. */
void sl__window_session_event(sl_window_task *t, const sl_batch *in, uint32_t i,
                              const sl_emitter *em);
/* Fires the sessions ending by the watermark (canonical order), purges
 * those past lateness, compacts the key table when half of it is empty,
 * and recomputes next_due. */
void sl__window_fire_sessions(sl_window_task *t, const sl_emitter *em);

#endif
