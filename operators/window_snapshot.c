/*
 * window_snapshot.c - snapshot and restore of a window task (see window.h
 * and window_internal.h).
 *
 * A snapshot is self-delimiting and self-checking, so it can sit inside a
 * larger checkpoint: magic, version, payload length, payload, CRC32C. A
 * restore parses into a scratch task and moves it into place only when
 * everything checked out, so a refused snapshot never leaves a half
 * restored task. Counts read from the input are checked against the bytes
 * left before anything is allocated for them.
 */
#include "window_internal.h"

#include <inttypes.h>

#define SL__SNAP_MAGIC   0x4e574c53u /* "SLWN" */
#define SL__SNAP_VERSION 1u          /* append mode (what every build before upsert wrote) */
#define SL__SNAP_UPSERT  2u          /* upsert mode: version 1 plus what tombstones need */

/* ------------------------------------------------------------------------ */
/* Snapshot and restore                                                      */
/* ------------------------------------------------------------------------ */

/*
 * Format (little-endian, see snapshot.h):
 *   u32 magic "SLWN", u32 version, u64 payload length, payload, u32 CRC32C
 *   of everything before it.
 * Payload:
 *   definition fingerprint: u8 type, i64 size, slide, gap, lateness,
 *     u32 ncells, (u8 op, u32 column) each, u32 noutputs, (u8 fn, i32 cell)
 *   i64 watermark, i64 max_ts, u64 events, late_dropped, late_updates,
 *     windows_fired
 *   u32 npanes, per pane (ascending start): i64 start, u32 nkeys, per key:
 *     u64 hash, blob key, state
 *   u32 nkeys, per key with sessions: u64 hash, blob key, u32 nsessions,
 *     per session: i64 start, i64 end, u8 fired, state
 * A state is i64 count then per partial (the plan's cells): u8 is_double and
 * i64 or f64 (sum, min, max); that, i64 event time and i64 offset (first,
 * last); f64 mean and f64 M2 (the variances); the sketches' own encoding
 * (count_distinct & co., see aggregate_sketch.c), whose partials also add
 * u32 param (k of top_k, the HyperLogLog precision) after their column in
 * the fingerprint. Version 1 still: the partials of first/last/moments and
 * of the sketches only extend it, and only definitions that use those
 * functions (which earlier builds refuse to load) write them.
 *
 * Version 2, written by a task in upsert mode (sl_window_task_set_upsert)
 * only, so append-mode snapshots stay byte for byte what they were: the
 * same, with u64 tombstones after windows_fired, and the session's u8
 * `fired` a set of flags: bit 0 fired, bit 1 emitted (its result for its
 * current start was emitted: a later merge that replaces it writes a
 * tombstone). Both versions load in either mode; a version 1 snapshot
 * restored in upsert mode takes "emitted" to be "fired" (append mode kept
 * no more: a session re-opened by a merge before the checkpoint is not
 * known to have been emitted, and its stale record is not deleted).
 */

static void sl__snap_fingerprint(const sl_window_task *t, sl_buf *b)
{
    sl_buf_put_u8(b, (uint8_t)t->type);
    sl_buf_put_i64(b, t->size);
    sl_buf_put_i64(b, t->slide);
    sl_buf_put_i64(b, t->gap);
    sl_buf_put_i64(b, t->lateness);
    sl_buf_put_u32(b, t->plan.ncells);
    for (uint32_t c = 0; c < t->plan.ncells; c++) {
        sl_buf_put_u8(b, t->plan.cells[c].op);
        sl_buf_put_u32(b, t->plan.cells[c].column);
        if (t->plan.cells[c].op >= SL_AGG_OP_FIRST_EXT)
            sl_buf_put_u32(b, t->plan.cells[c].param);
    }
    sl_buf_put_u32(b, (uint32_t)t->plan.noutputs);
    for (size_t a = 0; a < t->plan.noutputs; a++) {
        sl_buf_put_u8(b, t->plan.outputs[a].fn);
        sl_buf_put_u32(b, (uint32_t)t->plan.outputs[a].cell);
    }
}

/* Appends the task's snapshot to `out`. Returns 0, or SL_ENOMEM when the
 * buffer could not grow (out->failed). The task is not modified. */
int sl_window_task_snapshot(const sl_window_task *t, sl_buf *out)
{
    size_t start = out->len;
    sl_buf_put_u32(out, SL__SNAP_MAGIC);
    sl_buf_put_u32(out, t->upsert ? SL__SNAP_UPSERT : SL__SNAP_VERSION);
    sl_buf_put_u64(out, 0); /* payload length, patched below */
    size_t pstart = out->len;
    sl__snap_fingerprint(t, out);
    sl_buf_put_i64(out, t->wm);
    sl_buf_put_i64(out, t->max_ts);
    sl_buf_put_u64(out, t->stats.events);
    sl_buf_put_u64(out, t->stats.late_dropped);
    sl_buf_put_u64(out, t->stats.late_updates);
    sl_buf_put_u64(out, t->stats.windows_fired);
    if (t->upsert)
        sl_buf_put_u64(out, t->stats.tombstones);

    sl_buf_put_u32(out, (uint32_t)t->npanes);
    for (size_t i = 0; i < t->npanes; i++) {
        const sl__pane *p = t->panes[i];
        sl_buf_put_i64(out, p->start);
        sl_buf_put_u32(out, p->tab.n);
        for (uint32_t j = 0; j < p->tab.n; j++) {
            const sl__kent *e = sl__ktab_ent(&p->tab, j);
            sl_buf_put_u64(out, e->hash);
            sl_buf_put_blob(out, sl__ktab_key(&p->tab, e), e->len);
            sl_agg_state_write(&t->plan, e + 1, out);
        }
    }

    uint32_t nkeys = 0;
    for (uint32_t i = 0; i < t->skeys.n; i++)
        nkeys += ((const sl__skey *)(sl__ktab_ent(&t->skeys, i) + 1))->nsess != 0;
    sl_buf_put_u32(out, nkeys);
    for (uint32_t i = 0; i < t->skeys.n; i++) {
        const sl__kent *e = sl__ktab_ent(&t->skeys, i);
        const sl__skey *k = (const sl__skey *)(e + 1);
        if (!k->nsess)
            continue;
        sl_buf_put_u64(out, e->hash);
        sl_buf_put_blob(out, sl__ktab_key(&t->skeys, e), e->len);
        sl_buf_put_u32(out, k->nsess);
        for (int32_t sid = k->head; sid >= 0; sid = t->sess[sid].next) {
            const sl__session *s = &t->sess[sid];
            sl_buf_put_i64(out, s->start);
            sl_buf_put_i64(out, s->end);
            sl_buf_put_u8(out, t->upsert ? (uint8_t)(s->fired | s->emitted << 1) : s->fired);
            sl_agg_state_write(&t->plan, sl__sstate(t, (uint32_t)sid), out);
        }
    }
    if (out->failed)
        return SL_ENOMEM;
    uint64_t plen = out->len - pstart;
    for (int i = 0; i < 8; i++)
        out->data[pstart - 8 + i] = (uint8_t)(plen >> (8 * i));
    sl_buf_put_u32(out, sl_crc32c(0, out->data + start, out->len - start));
    return out->failed ? SL_ENOMEM : 0;
}

#define SL__CORRUPT(...) sl_seterr(errstr, errstr_size, SL_ECORRUPT, __VA_ARGS__)

/* Parses the payload (of `version`) into the empty task r. */
static int sl__restore_payload(sl_window_task *r, sl_reader *in, uint32_t version, char *errstr,
                               size_t errstr_size)
{
    sl_buf fp;
    sl_buf_init(&fp);
    sl__snap_fingerprint(r, &fp);
    if (fp.failed) {
        sl_buf_free(&fp);
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "out of memory");
    }
    int same = in->len - in->pos >= fp.len && memcmp(in->p + in->pos, fp.data, fp.len) == 0;
    in->pos += same ? fp.len : 0;
    sl_buf_free(&fp);
    if (!same)
        return sl_seterr(errstr, errstr_size, SL_EINVAL,
                         "window snapshot: made for a different window definition");

    r->wm = sl_read_i64(in);
    r->max_ts = sl_read_i64(in);
    r->stats.events = sl_read_u64(in);
    r->stats.late_dropped = sl_read_u64(in);
    r->stats.late_updates = sl_read_u64(in);
    r->stats.windows_fired = sl_read_u64(in);
    if (version == SL__SNAP_UPSERT)
        r->stats.tombstones = sl_read_u64(in);
    const size_t min_state = sl_agg_state_min_bytes(&r->plan);

    uint32_t npanes = sl_read_u32(in);
    if (in->failed)
        return SL__CORRUPT("window snapshot: truncated header");
    if (r->type == SL_WIN_SESSION && npanes)
        return SL__CORRUPT("window snapshot: panes in a session window");
    if (npanes > (in->len - in->pos) / 12)
        return SL__CORRUPT("window snapshot: impossible pane count %u", npanes);
    for (uint32_t i = 0; i < npanes; i++) {
        int64_t s = sl_read_i64(in);
        uint32_t nkeys = sl_read_u32(in);
        int64_t first_end, last_end;
        if (in->failed)
            return SL__CORRUPT("window snapshot: truncated pane");
        /* aligned = a multiple of the width (s % width is exact and never
         * overflows for width > 0, unlike floor_div(s) * width near
         * INT64_MIN) */
        if (s % r->width != 0 || !sl__window_pane_windows(r, s, &first_end, &last_end))
            return SL__CORRUPT("window snapshot: misaligned pane start %" PRId64, s);
        if (r->npanes && r->panes[r->npanes - 1]->start >= s)
            return SL__CORRUPT("window snapshot: panes out of order");
        if (sl__sat_add(last_end, r->lateness) <= r->wm)
            return SL__CORRUPT("window snapshot: expired pane");
        if (nkeys > (in->len - in->pos) / (12 + min_state))
            return SL__CORRUPT("window snapshot: impossible key count %u", nkeys);
        int created;
        sl__pane *p = sl__window_pane_get(r, s, first_end, last_end, &created);
        for (uint32_t j = 0; j < nkeys; j++) {
            uint64_t h = sl_read_u64(in);
            uint32_t klen;
            const uint8_t *key = sl_read_blob(in, &klen);
            if (!key)
                return SL__CORRUPT("window snapshot: truncated key");
            if (!sl_bytes_printable(key, klen))
                return SL__CORRUPT("window snapshot: control character in a key");
            sl__kent *e = sl__ktab_upsert(&p->tab, h, (const char *)key, klen, &created);
            if (!created)
                return SL__CORRUPT("window snapshot: duplicate key in a pane");
            if (sl_agg_state_read(&r->plan, e + 1, in) != 0)
                return SL__CORRUPT("window snapshot: bad aggregate state");
        }
    }

    uint32_t nkeys = sl_read_u32(in);
    if (in->failed)
        return SL__CORRUPT("window snapshot: truncated");
    if (r->type != SL_WIN_SESSION && nkeys)
        return SL__CORRUPT("window snapshot: sessions in a %s window",
                           r->type == SL_WIN_TUMBLING ? "tumbling" : "hopping");
    if (nkeys > (in->len - in->pos) / 16)
        return SL__CORRUPT("window snapshot: impossible key count %u", nkeys);
    for (uint32_t i = 0; i < nkeys; i++) {
        uint64_t h = sl_read_u64(in);
        uint32_t klen;
        const uint8_t *key = sl_read_blob(in, &klen);
        uint32_t ns = sl_read_u32(in);
        if (!key || in->failed)
            return SL__CORRUPT("window snapshot: truncated session key");
        if (!sl_bytes_printable(key, klen))
            return SL__CORRUPT("window snapshot: control character in a key");
        if (ns == 0 || ns > (in->len - in->pos) / (17 + min_state))
            return SL__CORRUPT("window snapshot: impossible session count %u", ns);
        int created;
        sl__ktab_upsert(&r->skeys, h, (const char *)key, klen, &created);
        if (!created)
            return SL__CORRUPT("window snapshot: duplicate session key");
        uint32_t kidx = r->skeys.n - 1;
        int32_t tail = -1;
        for (uint32_t j = 0; j < ns; j++) {
            int64_t s0 = sl_read_i64(in), s1 = sl_read_i64(in);
            uint8_t flags = sl_read_u8(in);
            uint8_t fired = flags & 1, emitted = version == SL__SNAP_UPSERT ? flags >> 1 : fired;
            if (in->failed)
                return SL__CORRUPT("window snapshot: truncated session");
            if (flags > (version == SL__SNAP_UPSERT ? 3 : 1) || (fired && !emitted))
                return SL__CORRUPT("window snapshot: bad session flags 0x%02x", flags);
            if (s1 <= s0 || sl__sat_sub(s1, s0) < r->gap || fired != (s1 <= r->wm) ||
                sl__sat_add(s1, r->lateness) <= r->wm)
                return SL__CORRUPT("window snapshot: inconsistent session");
            sl__skey *k = (sl__skey *)(sl__ktab_ent(&r->skeys, kidx) + 1);
            if (j == 0)
                k->head = -1;
            for (int32_t o = k->head; o >= 0; o = r->sess[o].next)
                if (s0 < r->sess[o].end && r->sess[o].start < s1)
                    return SL__CORRUPT("window snapshot: overlapping sessions");
            uint32_t sid = sl__window_session_alloc(r);
            sl__session *s = &r->sess[sid];
            s->start = s0;
            s->end = s1;
            s->fired = fired;
            s->emitted = emitted;
            s->key = kidx;
            if (tail < 0)
                k->head = (int32_t)sid;
            else
                r->sess[tail].next = (int32_t)sid;
            tail = (int32_t)sid;
            k->nsess++;
            if (sl_agg_state_read(&r->plan, sl__sstate(r, sid), in) != 0)
                return SL__CORRUPT("window snapshot: bad aggregate state");
            sl__window_session_push(r, sid);
        }
    }
    if (!sl_reader_done(in))
        return SL__CORRUPT("window snapshot: %zu trailing bytes", in->len - in->pos);
    if (r->type != SL_WIN_SESSION) {
        r->next_fire = r->wm == INT64_MAX ? SL__NONE : sl__window_next_fire_after(r, r->wm);
        sl__window_pane_due(r);
    } else {
        r->next_due = r->nheap ? r->heap[0].due : SL__NONE;
    }
    return 0;
}

/* Replaces t's state with the snapshot at the reader's position and moves
 * the reader past it. Returns 0; SL_ECORRUPT (bad magic, truncated, checksum
 * or structure), SL_EVERSION or SL_EINVAL (another window definition), with
 * errstr set and t left empty; SL_ENOMEM. */
int sl_window_task_restore(sl_window_task *t, sl_reader *in, char *errstr, size_t errstr_size)
{
    sl__window_free_state(t);
    memset(&t->stats, 0, sizeof(t->stats));
    t->wm = INT64_MIN;
    t->max_ts = INT64_MIN;

    size_t start = in->pos;
    uint32_t magic = sl_read_u32(in);
    uint32_t version = sl_read_u32(in);
    uint64_t plen = sl_read_u64(in);
    if (in->failed)
        return SL__CORRUPT("window snapshot: truncated header");
    if (magic != SL__SNAP_MAGIC)
        return SL__CORRUPT("window snapshot: bad magic 0x%08x", magic);
    if (version != SL__SNAP_VERSION && version != SL__SNAP_UPSERT)
        return sl_seterr(errstr, errstr_size, SL_EVERSION,
                         "window snapshot: version %u, this build reads versions %u and %u",
                         version, SL__SNAP_VERSION, SL__SNAP_UPSERT);
    size_t left = in->len - in->pos;
    if (left < 4 || plen > left - 4)
        return SL__CORRUPT("window snapshot: truncated (%" PRIu64 " payload bytes, %zu left)", plen,
                           left);
    uint32_t want = sl_crc32c(0, in->p + start, (in->pos - start) + (size_t)plen);
    sl_reader sub;
    sl_reader_init(&sub, in->p + in->pos, (size_t)plen);
    in->pos += (size_t)plen;
    uint32_t crc = sl_read_u32(in);
    if (crc != want)
        return SL__CORRUPT("window snapshot: checksum mismatch");

    sl_window_task *r = sl_window_task_new(t->def, t->wmdef);
    if (!r)
        return sl_seterr(errstr, errstr_size, SL_ENOMEM, "window snapshot: out of memory");
    r->upsert = t->upsert;
    int rc = sl__restore_payload(r, &sub, version, errstr, errstr_size);
    if (rc != 0) {
        sl_window_task_free(r);
        return rc;
    }
    /* Move r's state into t. The watermark mode, the state budget's
     * refusal of new keys and the count of events it refused are the
     * task's, not the snapshot's. */
    int external_wm = t->external_wm, refuse_new_keys = t->refuse_new_keys, upsert = t->upsert;
    uint64_t refused = t->refused;
    sl_agg_plan_free(&t->plan);
    free(t->tmp);
    *t = *r;
    t->plan.mem = &t->ext_bytes;
    t->external_wm = external_wm;
    t->refuse_new_keys = refuse_new_keys;
    t->upsert = upsert;
    t->refused = refused;
    free(r);
    return 0;
}
