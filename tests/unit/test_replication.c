/*
 * test_replication.c - the replication protocol over inproc:// and
 * tcp://127.0.0.1 (random ports).
 *
 * Push + ack (one and two replicas), what lands on the peer's disk;
 * fetch by id, newest, by origin, from the peer's own checkpoints, not
 * found; a peer that never answers (the push waits for the timeout, then
 * fails naming the peer) and a peer that is down, then comes back (the next
 * push succeeds); a peer whose disk refuses (error ack, returned before the
 * timeout); corrupt, truncated, foreign-version and malformed requests
 * refused by the server with nothing stored; a corrupt reply refused by the
 * client; retention with the committed checkpoint protected; randomized
 * push/fetch round trips against the pushed bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "checkpoint_store.h"
#include "common.h"
#include "replication.h"
#include "snapshot.h"

/* Under ThreadSanitizer: libzmq and libsodium (CurveZMQ decrypts received
 * messages in libzmq's I/O thread) are not instrumented; ignore what their
 * own code does (replication_internal.h annotates the hand-over of message
 * buffers). */
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    return "called_from_lib:libzmq.so\nrace:libzmq.so\n"
           "called_from_lib:libsodium.so\nrace:libsodium.so\n";
}

static void *g_ctx;
static char g_root[64];
static int g_seq;
static uint64_t rng_state = 0x94D049BB133111EBull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    g_ctx = zmq_ctx_new();
    strcpy(g_root, "/tmp/sl_repl_test_XXXXXX");
    return g_ctx && mkdtemp(g_root) ? 0 : -1;
}

/* A fresh directory for a node. */
static void node_dir(char *out, size_t n, const char *node)
{
    snprintf(out, n, "%s/%d-%s", g_root, ++g_seq, node);
}

static sl_repl_server *start_server(const char *node, const char *endpoint, char *dir,
                                    size_t dirlen, int keep)
{
    node_dir(dir, dirlen, node);
    char err[256];
    sl_repl_server_conf conf = {
        .zmq_ctx = g_ctx, .node_id = node, .endpoint = endpoint, .store_dir = dir, .keep = keep};
    sl_repl_server *s = sl_repl_server_start(&conf, err, sizeof err);
    if (!s)
        fail_msg("server start: %s", err);
    return s;
}

static sl_repl_client *new_client(const char *node, const char *const *peers, size_t n)
{
    char err[256];
    sl_repl_client_conf conf = {.zmq_ctx = g_ctx, .node_id = node, .peers = peers, .npeers = n};
    sl_repl_client *c = sl_repl_client_new(&conf, err, sizeof err);
    if (!c)
        fail_msg("client: %s", err);
    return c;
}

static void check_stored(const char *dir, const char *origin, int32_t task, uint64_t id,
                         const void *data, size_t len)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/replicas/%s", dir, origin);
    sl_ckpt_store *st = sl_ckpt_store_open(path, 100, err, sizeof err);
    assert_non_null(st);
    void *p;
    size_t n;
    int rc = sl_ckpt_store_get(st, task, id, &p, &n, err, sizeof err);
    if (rc != SL_OK)
        fail_msg("%s: %s", path, err);
    assert_int_equal(n, len);
    assert_memory_equal(p, data, len);
    free(p);
    sl_ckpt_store_close(st);
}

static void test_push_and_ack_inproc(void **state)
{
    (void)state;
    char dir[128];
    sl_repl_server *a = start_server("nodeA", "inproc://push-a", dir, sizeof dir, 3);
    const char *peers[] = {"inproc://push-a"};
    sl_repl_client *b = new_client("nodeB", peers, 1);
    sl_repl_snapshot snaps[3] = {{0, "zero", 4, 0}, {5, "", 0, 0}, {-3, "negative task", 13, 0}};
    char err[512] = "";
    int rc = sl_repl_push(b, 7, 0, snaps, 3, 1, 2000, err, sizeof err);
    if (rc != SL_OK)
        fail_msg("push: %s", err);
    for (int i = 0; i < 3; i++)
        check_stored(dir, "nodeB", snaps[i].task, 7, snaps[i].data, snaps[i].len);
    /* The manifest names the checkpoint's tasks. */
    char path[256];
    snprintf(path, sizeof path, "%s/replicas/nodeB", dir);
    sl_ckpt_store *st = sl_ckpt_store_open(path, 3, err, sizeof err);
    int32_t *tasks;
    size_t nt;
    uint64_t id;
    assert_int_equal(sl_ckpt_store_get_manifest(st, 0, &id, &tasks, &nt, err, sizeof err), SL_OK);
    assert_int_equal(id, 7);
    assert_int_equal(nt, 3);
    assert_int_equal(tasks[2], -3);
    free(tasks);
    sl_ckpt_store_close(st);

    sl_repl_server_stats stats;
    sl_repl_server_stats_get(a, &stats);
    assert_int_equal(stats.pushes_stored, 1);
    assert_int_equal(stats.bad_messages, 0);

    /* replicas = 0 needs nobody; more replicas than peers is refused. */
    assert_int_equal(sl_repl_push(b, 8, 0, snaps, 3, 0, 10, err, sizeof err), SL_OK);
    assert_int_equal(sl_repl_push(b, 8, 0, snaps, 3, 2, 10, err, sizeof err), SL_EINVAL);
    assert_non_null(strstr(err, "2 replicas"));
    sl_repl_client_free(b);
    sl_repl_server_stop(a);
}

static void test_push_two_replicas_tcp(void **state)
{
    (void)state;
    char da[128], dc[128];
    sl_repl_server *a = start_server("n1", "tcp://127.0.0.1:*", da, sizeof da, 3);
    sl_repl_server *c = start_server("n3", "tcp://127.0.0.1:*", dc, sizeof dc, 3);
    const char *peers[] = {sl_repl_server_endpoint(a), sl_repl_server_endpoint(c)};
    assert_non_null(strstr(peers[0], "tcp://127.0.0.1:"));
    assert_null(strchr(peers[0], '*'));
    sl_repl_client *b = new_client("n2", peers, 2);
    uint8_t *big = malloc(3 << 20);
    for (size_t i = 0; i < (3u << 20); i++)
        big[i] = (uint8_t)rnd();
    sl_repl_snapshot snaps[2] = {{1, big, 3u << 20, 0}, {2, "small", 5, 0}};
    char err[512];
    int64_t t0 = sl_mono_ns();
    int rc = sl_repl_push(b, 1, 0, snaps, 2, 2, 5000, err, sizeof err);
    if (rc != SL_OK)
        fail_msg("push: %s", err);
    printf("  push of 3 MiB to 2 peers over tcp: %.1f ms\n", (double)(sl_mono_ns() - t0) / 1e6);
    check_stored(da, "n2", 1, 1, big, 3u << 20);
    check_stored(dc, "n2", 1, 1, big, 3u << 20);
    check_stored(dc, "n2", 2, 1, "small", 5);
    free(big);
    sl_repl_client_free(b);
    sl_repl_server_stop(a);
    sl_repl_server_stop(c);
}

static void test_fetch(void **state)
{
    (void)state;
    char da[128];
    sl_repl_server *a = start_server("A", "inproc://fetch-a", da, sizeof da, 5);
    const char *peers[] = {"inproc://fetch-a"};
    sl_repl_client *b = new_client("B", peers, 1);
    sl_repl_client *c = new_client("C", peers, 1);
    char err[512];
    for (uint64_t id = 1; id <= 3; id++) {
        char payload[32];
        int n = snprintf(payload, sizeof payload, "B task 4 ckpt %llu", (unsigned long long)id);
        sl_repl_snapshot s = {4, payload, (size_t)n, 0};
        assert_int_equal(sl_repl_push(b, id, 0, &s, 1, 1, 2000, err, sizeof err), SL_OK);
    }
    sl_repl_snapshot sc = {4, "C task 4 ckpt 2", 15, 0};
    assert_int_equal(sl_repl_push(c, 2, 0, &sc, 1, 1, 2000, err, sizeof err), SL_OK);

    /* A's own checkpoint of task 9. */
    sl_ckpt_store *own = sl_ckpt_store_open(da, 3, err, sizeof err);
    sl_ckpt_store_set_origin(own, "A");
    assert_int_equal(sl_ckpt_store_put(own, 9, 40, "A's own", 7, err, sizeof err), SL_OK);
    sl_ckpt_store_close(own);

    void *p;
    size_t n;
    uint64_t id = 0;
    /* By id and origin. */
    assert_int_equal(sl_repl_fetch(c, "B", 4, 2, 2000, &id, &p, &n, err, sizeof err), SL_OK);
    assert_int_equal(id, 2);
    assert_int_equal(n, 15);
    assert_memory_equal(p, "B task 4 ckpt 2", 15);
    free(p);
    assert_int_equal(sl_repl_fetch(b, "C", 4, 2, 2000, &id, &p, &n, err, sizeof err), SL_OK);
    assert_int_equal(n, 15);
    assert_memory_equal(p, "C task 4 ckpt 2", 15);
    free(p);
    /* Newest of any origin. */
    assert_int_equal(sl_repl_fetch(c, NULL, 4, 0, 2000, &id, &p, &n, err, sizeof err), SL_OK);
    assert_int_equal(id, 3);
    assert_memory_equal(p, "B task 4 ckpt 3", 15);
    free(p);
    /* Newest of one origin. */
    assert_int_equal(sl_repl_fetch(b, "C", 4, 0, 2000, &id, &p, &n, err, sizeof err), SL_OK);
    assert_int_equal(id, 2);
    free(p);
    /* The peer's own checkpoints. */
    assert_int_equal(sl_repl_fetch(b, "", 9, 40, 2000, &id, &p, &n, err, sizeof err), SL_OK);
    assert_int_equal(n, 7);
    assert_memory_equal(p, "A's own", 7);
    free(p);
    assert_int_equal(sl_repl_fetch(b, "A", 9, 0, 2000, &id, &p, &n, err, sizeof err), SL_OK);
    assert_int_equal(id, 40);
    free(p);
    /* Not found: answered, so no waiting for the timeout. */
    int64_t t0 = sl_mono_ns();
    assert_int_equal(sl_repl_fetch(b, NULL, 4, 99, 5000, &id, &p, &n, err, sizeof err),
                     SL_ENOTFOUND);
    assert_true(sl_mono_ns() - t0 < 2000000000);
    assert_null(p);
    assert_non_null(strstr(err, "inproc://fetch-a: not found"));
    assert_int_equal(sl_repl_fetch(b, NULL, 77, 0, 5000, &id, &p, &n, err, sizeof err),
                     SL_ENOTFOUND);
    assert_int_equal(sl_repl_fetch(b, "Z", 4, 0, 5000, &id, &p, &n, err, sizeof err), SL_ENOTFOUND);
    assert_int_equal(sl_repl_fetch(b, "../etc", 4, 0, 5000, &id, &p, &n, err, sizeof err),
                     SL_EINVAL);

    /* A corrupt copy on the peer's disk is reported, not served. */
    char path[256];
    snprintf(path, sizeof path, "%s/replicas/C/task-4.ckpt-2.slck", da);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, SL_CKPT_HEADER_SIZE + 1, SEEK_SET);
    fputc('X', fp);
    fclose(fp);
    assert_int_equal(sl_repl_fetch(b, "C", 4, 2, 2000, &id, &p, &n, err, sizeof err), SL_ECORRUPT);
    assert_non_null(strstr(err, "payload checksum mismatch"));
    /* ... while B's copy of the same checkpoint id still is. */
    assert_int_equal(sl_repl_fetch(c, NULL, 4, 2, 2000, &id, &p, &n, err, sizeof err), SL_OK);
    assert_memory_equal(p, "B task 4 ckpt 2", 15);
    free(p);

    sl_repl_server_stats stats;
    sl_repl_server_stats_get(a, &stats);
    assert_int_equal(stats.fetches_served, 7);
    assert_int_equal(stats.fetch_misses, 4);
    sl_repl_client_free(b);
    sl_repl_client_free(c);
    sl_repl_server_stop(a);
}

static void test_peer_never_answers(void **state)
{
    (void)state;
    /* A ROUTER nobody reads: connections complete, requests pile up. */
    void *silent = zmq_socket(g_ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(silent, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(silent, "inproc://silent"), 0);
    char da[128];
    sl_repl_server *a = start_server("good", "inproc://good", da, sizeof da, 3);

    const char *peers[] = {"inproc://silent", "inproc://good"};
    sl_repl_client *b = new_client("B", peers, 2);
    sl_repl_snapshot s = {1, "state", 5, 0};
    char err[512];

    /* Two replicas required, one peer silent: waits the timeout, fails. */
    int64_t t0 = sl_mono_ns();
    assert_int_equal(sl_repl_push(b, 1, 0, &s, 1, 2, 300, err, sizeof err), SL_ETIMEOUT);
    int64_t ms = (sl_mono_ns() - t0) / 1000000;
    printf("  silent peer: failed after %lld ms: %s\n", (long long)ms, err);
    assert_true(ms >= 290 && ms < 2300); /* generous: the machine is shared */
    assert_non_null(strstr(err, "1 of 2 required acks"));
    assert_non_null(strstr(err, "inproc://silent: no answer"));
    assert_null(strstr(err, "inproc://good")); /* it did ack */

    /* One replica: the good peer suffices, no waiting for the silent one. */
    t0 = sl_mono_ns();
    assert_int_equal(sl_repl_push(b, 2, 0, &s, 1, 1, 5000, err, sizeof err), SL_OK);
    assert_true(sl_mono_ns() - t0 < 2000000000);

    /* Good peer stopped: only the silent one remains. */
    sl_repl_server_stop(a);
    assert_int_equal(sl_repl_push(b, 3, 0, &s, 1, 1, 200, err, sizeof err), SL_ETIMEOUT);

    /* Fetch: nobody answers -> timeout, not "not found". */
    void *p;
    size_t n;
    uint64_t id;
    assert_int_equal(sl_repl_fetch(b, NULL, 1, 0, 200, &id, &p, &n, err, sizeof err), SL_ETIMEOUT);
    sl_repl_client_free(b);
    zmq_close(silent);
}

static void test_peer_down_then_up(void **state)
{
    (void)state;
    /* A port nothing listens on: bind port 0 with a plain socket, note the
     * port, close it. (A ZeroMQ listener would close asynchronously and
     * might still accept for a moment.) */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    char ep[128], da[128];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
    node_dir(da, sizeof da, "up");

    const char *peers[] = {ep};
    sl_repl_client *b = new_client("B", peers, 1);
    sl_repl_snapshot s = {3, "payload", 7, 0};
    char err[512];
    int64_t t0 = sl_mono_ns();
    assert_int_equal(sl_repl_push(b, 1, 0, &s, 1, 1, 400, err, sizeof err), SL_ETIMEOUT);
    int64_t ms = (sl_mono_ns() - t0) / 1000000;
    assert_true(ms >= 390 && ms < 2400);
    if (!strstr(err, "not connected"))
        fail_msg("expected 'not connected' in: %s", err);

    /* The peer comes back on the same endpoint; the retry succeeds. */
    char err2[256];
    sl_repl_server *a;
    sl_repl_server_conf conf = {
        .zmq_ctx = g_ctx, .node_id = "up", .endpoint = ep, .store_dir = da, .keep = 3};
    a = sl_repl_server_start(&conf, err2, sizeof err2);
    if (!a)
        fail_msg("restart: %s", err2);
    int rc = sl_repl_push(b, 2, 0, &s, 1, 1, 5000, err, sizeof err);
    if (rc != SL_OK)
        fail_msg("retry: %s", err);
    check_stored(da, "B", 3, 2, "payload", 7);
    /* Checkpoint 1 was never stored anywhere. */
    char path[256];
    snprintf(path, sizeof path, "%s/replicas/B/task-3.ckpt-1.slck", da);
    assert_int_equal(access(path, F_OK), -1);

    /* Binding an endpoint in use fails with a clear error. */
    char dx[128];
    node_dir(dx, sizeof dx, "x");
    sl_repl_server_conf dup = {
        .zmq_ctx = g_ctx, .node_id = "x", .endpoint = ep, .store_dir = dx, .keep = 3};
    assert_null(sl_repl_server_start(&dup, err2, sizeof err2));
    assert_non_null(strstr(err2, "Address already in use"));

    sl_repl_client_free(b);
    sl_repl_server_stop(a);
}

static void test_push_error_reported(void **state)
{
    (void)state;
    char da[128];
    sl_repl_server *a = start_server("A", "inproc://err-a", da, sizeof da, 3);
    /* The replica area of B cannot be created: a file is in the way. */
    char path[256];
    snprintf(path, sizeof path, "%s/replicas", da);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/replicas/B", da);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    const char *peers[] = {"inproc://err-a"};
    sl_repl_client *b = new_client("B", peers, 1);
    sl_repl_snapshot s = {1, "x", 1, 0};
    char err[512];
    int64_t t0 = sl_mono_ns();
    assert_int_equal(sl_repl_push(b, 1, 0, &s, 1, 1, 5000, err, sizeof err), SL_EIO);
    assert_true(sl_mono_ns() - t0 < 2000000000); /* not the timeout */
    assert_non_null(strstr(err, "inproc://err-a: error:"));
    assert_non_null(strstr(err, "replicas/B"));
    sl_repl_server_stats stats;
    sl_repl_server_stats_get(a, &stats);
    assert_int_equal(stats.push_failures, 1);

    /* A node listed among its own peers is told so. */
    sl_repl_client *self = new_client("A", peers, 1);
    assert_int_equal(sl_repl_push(self, 1, 0, &s, 1, 1, 5000, err, sizeof err), SL_EIO);
    assert_non_null(strstr(err, "to itself"));
    sl_repl_client_free(self);
    sl_repl_client_free(b);
    sl_repl_server_stop(a);
}

/* ---- raw messages ------------------------------------------------------- */

static void msg_header(sl_buf *b, uint32_t version, uint8_t type, uint64_t req)
{
    sl_buf_reset(b);
    sl_buf_put_bytes(b, "SLRP", 4);
    sl_buf_put_u32(b, version);
    sl_buf_put_u8(b, type);
    sl_buf_put_u64(b, req);
}

static void msg_crc(sl_buf *b)
{
    sl_buf_put_u32(b, sl_crc32c(0, b->data, b->len));
}

/* Appends a PUSH entry: task, committed id, snapshot image of `payload`
 * naming (image_task, ckpt, origin). */
static void put_entry(sl_buf *b, int32_t task, uint64_t committed, int32_t image_task,
                      uint64_t ckpt, const char *origin, const char *payload)
{
    uint8_t hdr[SL_CKPT_HEADER_SIZE];
    size_t n = strlen(payload);
    sl_ckpt_header_build(hdr, image_task, ckpt, origin, payload, n);
    sl_buf_put_u32(b, (uint32_t)task);
    sl_buf_put_u64(b, committed);
    sl_buf_put_u32(b, (uint32_t)(sizeof hdr + n));
    sl_buf_put_bytes(b, hdr, sizeof hdr);
    sl_buf_put_bytes(b, payload, n);
}

/* A valid PUSH from origin "R" of one snapshot. */
static void make_push(sl_buf *b, uint64_t req, uint64_t ckpt, uint32_t count_field)
{
    msg_header(b, SL_REPL_PROTOCOL_VERSION, 1, req);
    sl_buf_put_str(b, "R");
    sl_buf_put_u64(b, ckpt);
    sl_buf_put_u32(b, count_field);
    put_entry(b, 6, 0, 6, ckpt, "R", "raw-payload");
    msg_crc(b);
}

/* Sends raw bytes from a DEALER, returns the reply's status and request id
 * (after checking the reply's own integrity). */
static int raw_exchange(void *dealer, const void *data, size_t len, uint64_t *req_out,
                        uint8_t *type_out)
{
    assert_int_equal(zmq_send(dealer, data, len, 0), (int)len);
    uint8_t buf[4096];
    int n = zmq_recv(dealer, buf, sizeof buf, 0);
    assert_true(n >= 21);
    assert_memory_equal(buf, "SLRP", 4);
    sl_reader t;
    sl_reader_init(&t, buf + n - 4, 4);
    assert_int_equal(sl_read_u32(&t), sl_crc32c(0, buf, (size_t)n - 4));
    sl_reader r;
    sl_reader_init(&r, buf + 8, (size_t)n - 12);
    *type_out = sl_read_u8(&r);
    *req_out = sl_read_u64(&r);
    return (int)sl_read_u32(&r);
}

static void test_corrupt_request_refused(void **state)
{
    (void)state;
    char da[128];
    sl_repl_server *a = start_server("A", "inproc://raw-a", da, sizeof da, 3);
    void *d = zmq_socket(g_ctx, ZMQ_DEALER);
    int v = 0, to = 3000;
    zmq_setsockopt(d, ZMQ_LINGER, &v, sizeof v);
    zmq_setsockopt(d, ZMQ_RCVTIMEO, &to, sizeof to);
    assert_int_equal(zmq_connect(d, "inproc://raw-a"), 0);
    sl_buf b;
    sl_buf_init(&b);
    uint64_t req;
    uint8_t type;

    /* Every single-bit flip of a valid push is refused; nothing stored. */
    make_push(&b, 42, 5, 1);
    size_t len = b.len;
    uint8_t *good = malloc(len);
    memcpy(good, b.data, len);
    int bad = 0;
    for (size_t bit = 0; bit < len * 8; bit += 3) {
        good[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int st = raw_exchange(d, good, len, &req, &type);
        good[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (bit / 8 >= 4 && bit / 8 < 8)
            assert_int_equal(st, SL_EVERSION);
        else
            assert_int_equal(st, SL_ECORRUPT);
        assert_int_equal(type, 5); /* ERROR */
        assert_int_equal(req, 0);  /* an id from a bad message is not trusted */
        bad++;
    }
    /* Truncated at every length. */
    for (size_t cut = 0; cut < len; cut += 2) {
        assert_int_equal(raw_exchange(d, good, cut, &req, &type), SL_ECORRUPT);
        bad++;
    }
    /* A foreign version with a correct CRC. */
    msg_header(&b, SL_REPL_PROTOCOL_VERSION + 1, 1, 43);
    msg_crc(&b);
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_EVERSION);
    bad++;
    /* Correct CRC but inconsistent layout: count says 2, one present. */
    make_push(&b, 44, 5, 2);
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_ECORRUPT);
    assert_int_equal(type, 2); /* PUSH_ACK: the id was trustworthy */
    assert_int_equal(req, 44);
    bad++;
    /* An absurd count cannot make the server allocate for it. */
    make_push(&b, 45, 5, 0xFFFFFFF0u);
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_ERANGE);
    bad++;
    /* Unknown type. */
    msg_header(&b, SL_REPL_PROTOCOL_VERSION, 99, 46);
    msg_crc(&b);
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_EINVAL);
    assert_int_equal(req, 46);
    bad++;
    /* Origin that would escape the replica directory. */
    msg_header(&b, SL_REPL_PROTOCOL_VERSION, 1, 47);
    sl_buf_put_str(&b, "../../etc");
    sl_buf_put_u64(&b, 5);
    sl_buf_put_u32(&b, 0);
    msg_crc(&b);
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_EINVAL);
    bad++;

    char path[256];
    snprintf(path, sizeof path, "%s/replicas/R", da);
    assert_int_equal(access(path, F_OK), -1);
    sl_repl_server_stats stats;
    sl_repl_server_stats_get(a, &stats);
    assert_int_equal(stats.bad_messages, (uint64_t)bad);
    assert_int_equal(stats.pushes_stored, 0);

    /* The intact message is accepted, and the server still works. */
    assert_int_equal(raw_exchange(d, good, len, &req, &type), SL_OK);
    assert_int_equal(type, 2);
    assert_int_equal(req, 42);
    check_stored(da, "R", 6, 5, "raw-payload", 11);
    free(good);
    sl_buf_free(&b);
    zmq_close(d);
    sl_repl_server_stop(a);
}

/* A fake peer. corrupt: answers each request with an ack whose CRC is
 * wrong. Otherwise: answers only the first request, after delay_ms, with a
 * well-formed OK ack carrying checkpoint id `ack_ckpt`. */
typedef struct liar {
    void *sock;
    int replies;
    int stop_after;
    int corrupt;
    int delay_ms;
    uint64_t ack_ckpt;
} liar;

static void *liar_main(void *arg)
{
    liar *l = arg;
    while (l->replies < l->stop_after) {
        zmq_msg_t id;
        zmq_msg_init(&id);
        /* zmq_recv copies inside libzmq: no unannotated cross-thread read of
         * the client's buffer here (see the TSan note in replication.c). */
        uint8_t body[4096];
        if (zmq_msg_recv(&id, l->sock, 0) < 0)
            break;
        int blen = zmq_recv(l->sock, body, sizeof body, 0);
        if (blen < 21)
            break;
        sl_reader r;
        sl_reader_init(&r, body + 9, 8);
        uint64_t req = sl_read_u64(&r);
        sl_reader_init(&r, body + 17, (size_t)blen - 17);
        uint32_t olen;
        sl_read_blob(&r, &olen);
        uint64_t ckpt = sl_read_u64(&r);
        if (!l->corrupt) {
            sl_sleep_us((int64_t)l->delay_ms * 1000);
            ckpt = l->ack_ckpt;
        }
        sl_buf b;
        sl_buf_init(&b);
        msg_header(&b, SL_REPL_PROTOCOL_VERSION, 2, req);
        sl_buf_put_u32(&b, 0);
        sl_buf_put_str(&b, "");
        sl_buf_put_u64(&b, ckpt);
        msg_crc(&b);
        if (l->corrupt)
            b.data[b.len - 1] ^= 0x40;
        zmq_msg_send(&id, l->sock, ZMQ_SNDMORE);
        zmq_send(l->sock, b.data, b.len, 0);
        sl_buf_free(&b);
        l->replies++;
    }
    return NULL;
}

static void test_corrupt_reply_refused(void **state)
{
    (void)state;
    liar l = {.sock = zmq_socket(g_ctx, ZMQ_ROUTER), .stop_after = 1, .corrupt = 1};
    int zero = 0;
    zmq_setsockopt(l.sock, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(l.sock, "inproc://liar"), 0);
    pthread_t t;
    pthread_create(&t, NULL, liar_main, &l);
    const char *peers[] = {"inproc://liar"};
    sl_repl_client *b = new_client("B", peers, 1);
    sl_repl_snapshot s = {1, "x", 1, 0};
    char err[512];
    assert_int_equal(sl_repl_push(b, 9, 0, &s, 1, 1, 500, err, sizeof err), SL_ETIMEOUT);
    assert_non_null(strstr(err, "refused its reply: message checksum mismatch"));
    pthread_join(t, NULL);
    assert_int_equal(l.replies, 1);
    sl_repl_client_free(b);
    zmq_close(l.sock);
}

/* An answer that arrives after its call timed out must not count for the
 * next call, even when it names the next call's checkpoint id. */
static void test_late_ack_not_credited(void **state)
{
    (void)state;
    liar l = {
        .sock = zmq_socket(g_ctx, ZMQ_ROUTER), .stop_after = 1, .delay_ms = 300, .ack_ckpt = 2};
    int zero = 0;
    zmq_setsockopt(l.sock, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(l.sock, "inproc://late"), 0);
    pthread_t t;
    pthread_create(&t, NULL, liar_main, &l);
    const char *peers[] = {"inproc://late"};
    sl_repl_client *b = new_client("B", peers, 1);
    sl_repl_snapshot s = {1, "x", 1, 0};
    char err[512];
    assert_int_equal(sl_repl_push(b, 1, 0, &s, 1, 1, 100, err, sizeof err), SL_ETIMEOUT);
    /* The late "ack of checkpoint 2" (for request 1) arrives during this
     * call, at ~300 ms; the peer never answers request 2 itself. */
    int64_t t0 = sl_mono_ns();
    assert_int_equal(sl_repl_push(b, 2, 0, &s, 1, 1, 700, err, sizeof err), SL_ETIMEOUT);
    assert_true(sl_mono_ns() - t0 >= 690000000);
    pthread_join(t, NULL);
    assert_int_equal(l.replies, 1);
    sl_repl_client_free(b);
    zmq_close(l.sock);
}

static void test_replica_retention_protects_committed(void **state)
{
    (void)state;
    char da[128];
    sl_repl_server *a = start_server("A", "inproc://ret-a", da, sizeof da, 3);
    const char *peers[] = {"inproc://ret-a"};
    sl_repl_client *b = new_client("B", peers, 1);
    char err[512];
    for (uint64_t id = 1; id <= 8; id++) {
        sl_repl_snapshot s = {2, &id, sizeof id, 0};
        /* The origin's commits lag: checkpoint 2 stays committed. */
        assert_int_equal(sl_repl_push(b, id, id >= 2 ? 2 : 0, &s, 1, 1, 2000, err, sizeof err),
                         SL_OK);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/replicas/B", da);
    sl_ckpt_store *st = sl_ckpt_store_open(path, 3, err, sizeof err);
    uint64_t ids[10];
    assert_int_equal(sl_ckpt_store_list(st, 2, ids, 10), 4);
    assert_int_equal(ids[0], 8);
    assert_int_equal(ids[2], 6);
    assert_int_equal(ids[3], 2);
    sl_ckpt_store_close(st);
    sl_repl_client_free(b);
    sl_repl_server_stop(a);
}

static void test_random_round_trips(void **state)
{
    (void)state;
    char d1[128], d2[128];
    sl_repl_server *s1 = start_server("p1", "tcp://127.0.0.1:*", d1, sizeof d1, 100);
    sl_repl_server *s2 = start_server("p2", "inproc://rr-p2", d2, sizeof d2, 100);
    const char *peers[] = {sl_repl_server_endpoint(s1), "inproc://rr-p2"};
    sl_repl_client *b = new_client("origin", peers, 2);
    sl_repl_client *reader = new_client("reader", peers, 2);
    enum { ROUNDS = 30, TASKS = 4 };
    static uint8_t *data[ROUNDS + 1][TASKS];
    static size_t lens[ROUNDS + 1][TASKS];
    char err[512];
    for (uint64_t id = 1; id <= ROUNDS; id++) {
        sl_repl_snapshot snaps[TASKS];
        for (int t = 0; t < TASKS; t++) {
            size_t n = rnd() % 4 == 0 ? 0 : (size_t)(rnd() % 70000);
            data[id][t] = malloc(n ? n : 1);
            for (size_t i = 0; i < n; i++)
                data[id][t][i] = (uint8_t)rnd();
            lens[id][t] = n;
            snaps[t] = (sl_repl_snapshot){t * 10, data[id][t], n, 0};
        }
        int replicas = 1 + (int)(rnd() % 2);
        int rc = sl_repl_push(b, id, 0, snaps, TASKS, replicas, 5000, err, sizeof err);
        if (rc != SL_OK)
            fail_msg("push %llu: %s", (unsigned long long)id, err);
    }
    for (int k = 0; k < 60; k++) {
        uint64_t id = 1 + rnd() % ROUNDS;
        int t = (int)(rnd() % TASKS);
        void *p;
        size_t n;
        uint64_t got;
        int rc = sl_repl_fetch(reader, "origin", t * 10, id, 5000, &got, &p, &n, err, sizeof err);
        if (rc != SL_OK)
            fail_msg("fetch %llu/%d: %s", (unsigned long long)id, t, err);
        assert_int_equal(got, id);
        assert_int_equal(n, lens[id][t]);
        assert_memory_equal(p, data[id][t], n);
        free(p);
    }
    void *p;
    size_t n;
    uint64_t got;
    assert_int_equal(sl_repl_fetch(reader, NULL, 30, 0, 5000, &got, &p, &n, err, sizeof err),
                     SL_OK);
    assert_int_equal(got, ROUNDS);
    assert_memory_equal(p, data[ROUNDS][3], n);
    free(p);
    for (int id = 1; id <= ROUNDS; id++)
        for (int t = 0; t < TASKS; t++)
            free(data[id][t]);
    sl_repl_client_free(b);
    sl_repl_client_free(reader);
    sl_repl_server_stop(s1);
    sl_repl_server_stop(s2);
}

static void test_invalid_config(void **state)
{
    (void)state;
    char err[256], dir[128];
    node_dir(dir, sizeof dir, "cfg");
    assert_false(sl_repl_node_id_valid(""));
    assert_false(sl_repl_node_id_valid(".."));
    assert_false(sl_repl_node_id_valid("a/b"));
    assert_false(sl_repl_node_id_valid(NULL));
    assert_true(sl_repl_node_id_valid("node-1.eu_west"));
    char longid[80];
    memset(longid, 'a', 65);
    longid[65] = '\0';
    assert_false(sl_repl_node_id_valid(longid));
    longid[64] = '\0';
    assert_true(sl_repl_node_id_valid(longid));

    sl_repl_server_conf conf = {.zmq_ctx = g_ctx,
                                .node_id = "../x",
                                .endpoint = "inproc://cfg",
                                .store_dir = dir,
                                .keep = 3};
    assert_null(sl_repl_server_start(&conf, err, sizeof err));
    assert_non_null(strstr(err, "node id"));
    conf.node_id = "ok";
    conf.endpoint = "bogus://nowhere";
    assert_null(sl_repl_server_start(&conf, err, sizeof err));
    assert_non_null(strstr(err, "bogus://nowhere"));
    conf.endpoint = "inproc://cfg";
    conf.keep = 0;
    assert_null(sl_repl_server_start(&conf, err, sizeof err));

    const char *bad_peers[] = {"not an endpoint"};
    sl_repl_client_conf cc = {.zmq_ctx = g_ctx, .node_id = "ok", .peers = bad_peers, .npeers = 1};
    assert_null(sl_repl_client_new(&cc, err, sizeof err));
    assert_non_null(strstr(err, "not an endpoint"));
    cc.node_id = "/abs";
    assert_null(sl_repl_client_new(&cc, err, sizeof err));

    /* Own contexts (no shared one), tcp. */
    sl_repl_server_conf own = {
        .node_id = "solo", .endpoint = "tcp://127.0.0.1:*", .store_dir = dir, .keep = 2};
    sl_repl_server *s = sl_repl_server_start(&own, err, sizeof err);
    assert_non_null(s);
    const char *peers[] = {sl_repl_server_endpoint(s)};
    sl_repl_client_conf oc = {.node_id = "other", .peers = peers, .npeers = 1};
    sl_repl_client *c = sl_repl_client_new(&oc, err, sizeof err);
    assert_non_null(c);
    sl_repl_snapshot snap = {1, "z", 1, 0};
    assert_int_equal(sl_repl_push(c, 1, 0, &snap, 1, 1, 3000, err, sizeof err), SL_OK);
    sl_repl_client_free(c);
    sl_repl_server_stop(s);
    sl_repl_server_stop(NULL);
    sl_repl_client_free(NULL);
}

/* ---- CurveZMQ, origins, bounds ------------------------------------------- */

typedef struct keypair {
    char pub[SL_REPL_KEY_LEN + 1], sec[SL_REPL_KEY_LEN + 1];
} keypair;

static void make_keys(keypair *k)
{
    char err[128];
    if (sl_repl_keygen(k->pub, k->sec, err, sizeof err) != SL_OK)
        fail_msg("keygen: %s", err);
    assert_true(sl_repl_key_valid(k->pub));
    assert_true(sl_repl_key_valid(k->sec));
    char derived[SL_REPL_KEY_LEN + 1];
    assert_int_equal(sl_repl_public_key(k->sec, derived), SL_OK);
    assert_string_equal(derived, k->pub);
}

static sl_repl_server *start_keyed(const char *node, const keypair *k, const char *const *pkeys,
                                   const char *const *pnodes, size_t np, char *dir, size_t dirlen)
{
    node_dir(dir, dirlen, node);
    char err[256];
    sl_repl_server_conf conf = {.node_id = node,
                                .endpoint = "tcp://127.0.0.1:*",
                                .store_dir = dir,
                                .keep = 3,
                                .secret_key = k->sec,
                                .peer_keys = pkeys,
                                .peer_node_ids = pnodes,
                                .npeers = np};
    sl_repl_server *s = sl_repl_server_start(&conf, err, sizeof err);
    if (!s)
        fail_msg("keyed server start: %s", err);
    return s;
}

/* A client of one peer; `sec` NULL: plaintext. */
static sl_repl_client *keyed_client(const char *node, const char *endpoint, const char *sec,
                                    const char *server_pub)
{
    char err[256];
    const char *peers[] = {endpoint};
    const char *keys[] = {server_pub};
    sl_repl_client_conf conf = {
        .node_id = node, .peers = peers, .npeers = 1, .secret_key = sec, .peer_keys = keys};
    sl_repl_client *c = sl_repl_client_new(&conf, err, sizeof err);
    if (!c)
        fail_msg("client: %s", err);
    return c;
}

static int dir_exists(const char *dir, const char *sub)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    return access(path, F_OK) == 0;
}

/* Waits up to 5 s for the server's refused-connection counter to reach n. */
static uint64_t wait_refused(sl_repl_server *s, uint64_t n)
{
    sl_repl_server_stats st;
    for (int i = 0; i < 500; i++) {
        sl_repl_server_stats_get(s, &st);
        if (st.refused_connections >= n)
            break;
        sl_sleep_us(10000);
    }
    return st.refused_connections;
}

static void test_curve_outsiders_get_nothing(void **state)
{
    (void)state;
    if (!sl_repl_curve_available())
        fail_msg("libzmq without CurveZMQ (libsodium): replication cannot be secured");
    keypair ka, kb, kc, kout;
    make_keys(&ka);
    make_keys(&kb);
    make_keys(&kc);
    make_keys(&kout);
    /* A accepts B (node id configured) and C (bound by its first push). */
    const char *pkeys[] = {kb.pub, kc.pub};
    const char *pnodes[] = {"B", NULL};
    char da[128];
    sl_repl_server *a = start_keyed("A", &ka, pkeys, pnodes, 2, da, sizeof da);
    const char *ep = sl_repl_server_endpoint(a);
    char err[1024];
    void *p;
    size_t n;
    uint64_t id;

    /* Two keyed nodes replicate, and read back, as before. */
    sl_repl_client *b = keyed_client("B", ep, kb.sec, ka.pub);
    sl_repl_snapshot snap = {3, "B's state", 9, 0};
    assert_int_equal(sl_repl_push(b, 11, 0, &snap, 1, 1, 5000, err, sizeof err), SL_OK);
    check_stored(da, "B", 3, 11, "B's state", 9);
    assert_int_equal(sl_repl_fetch(b, "B", 3, 11, 5000, &id, &p, &n, err, sizeof err), SL_OK);
    assert_memory_equal(p, "B's state", 9);
    free(p);

    /* A plaintext outsider: no answer to PUSH or FETCH, nothing stored. */
    sl_repl_client *plain = keyed_client("O", ep, NULL, NULL);
    sl_repl_snapshot forged = {3, "forged", 6, 0};
    int64_t t0 = sl_mono_ns();
    assert_int_equal(sl_repl_push(plain, 12, 0, &forged, 1, 1, 800, err, sizeof err), SL_ETIMEOUT);
    assert_int_equal(sl_repl_fetch(plain, "B", 3, 11, 800, &id, &p, &n, err, sizeof err),
                     SL_ETIMEOUT);
    assert_null(p);
    assert_true(sl_mono_ns() - t0 < 5000000000LL);
    sl_repl_client_free(plain);
    /* Plaintext as another node's id: the same. */
    sl_repl_client *plain_b = keyed_client("B", ep, NULL, NULL);
    assert_int_equal(sl_repl_push(plain_b, 13, 0, &forged, 1, 1, 800, err, sizeof err),
                     SL_ETIMEOUT);
    sl_repl_client_free(plain_b);
    assert_true(wait_refused(a, 1) >= 1);

    /* An outsider with its own key pair (knowing A's public key). */
    uint64_t before = wait_refused(a, 0);
    sl_repl_client *out = keyed_client("B", ep, kout.sec, ka.pub);
    assert_int_equal(sl_repl_push(out, 14, 0, &forged, 1, 1, 800, err, sizeof err), SL_ETIMEOUT);
    assert_int_equal(sl_repl_fetch(out, "B", 3, 11, 800, &id, &p, &n, err, sizeof err),
                     SL_ETIMEOUT);
    sl_repl_client_free(out);
    assert_true(wait_refused(a, before + 1) > before);
    /* A client that expects another server key never talks to A either. */
    sl_repl_client *wrong = keyed_client("B", ep, kb.sec, kout.pub);
    assert_int_equal(sl_repl_push(wrong, 15, 0, &forged, 1, 1, 800, err, sizeof err), SL_ETIMEOUT);
    sl_repl_client_free(wrong);

    /* Nothing of theirs was stored: B's area holds checkpoint 11 only, no
     * other area exists. */
    char path[256];
    snprintf(path, sizeof path, "%s/replicas/B", da);
    sl_ckpt_store *st = sl_ckpt_store_open(path, 100, err, sizeof err);
    uint64_t ids[8];
    assert_int_equal(sl_ckpt_store_list(st, 3, ids, 8), 1);
    assert_int_equal(ids[0], 11);
    sl_ckpt_store_close(st);
    assert_false(dir_exists(da, "replicas/O"));
    sl_repl_server_stats stats;
    sl_repl_server_stats_get(a, &stats);
    assert_int_equal(stats.pushes_stored, 1);
    assert_int_equal(stats.fetches_served, 1);

    /* Origins are bound to keys: B's key may not push as C, C's key binds
     * C on its first push and then may not push as B or D. */
    sl_repl_client *b_as_c = keyed_client("C", ep, kb.sec, ka.pub);
    assert_int_equal(sl_repl_push(b_as_c, 16, 0, &forged, 1, 1, 5000, err, sizeof err), SL_EIO);
    assert_non_null(strstr(err, "may not push as origin C"));
    sl_repl_client_free(b_as_c);
    sl_repl_client *c = keyed_client("C", ep, kc.sec, ka.pub);
    sl_repl_snapshot cs = {3, "C's state", 9, 0};
    assert_int_equal(sl_repl_push(c, 17, 0, &cs, 1, 1, 5000, err, sizeof err), SL_OK);
    sl_repl_client_free(c);
    sl_repl_client *c_as_b = keyed_client("B", ep, kc.sec, ka.pub);
    assert_int_equal(sl_repl_push(c_as_b, 18, 0, &forged, 1, 1, 5000, err, sizeof err), SL_EIO);
    sl_repl_client_free(c_as_b);
    sl_repl_client *c_as_d = keyed_client("D", ep, kc.sec, ka.pub);
    assert_int_equal(sl_repl_push(c_as_d, 19, 0, &forged, 1, 1, 5000, err, sizeof err), SL_EIO);
    sl_repl_client_free(c_as_d);
    sl_repl_server_stats_get(a, &stats);
    assert_int_equal(stats.refused_origin, 3);
    assert_false(dir_exists(da, "replicas/D"));
    check_stored(da, "B", 3, 11, "B's state", 9);
    check_stored(da, "C", 3, 17, "C's state", 9);

    /* Invalid key configurations are refused at start. */
    sl_repl_server_conf bad = {.node_id = "A",
                               .endpoint = "tcp://127.0.0.1:*",
                               .store_dir = da,
                               .keep = 3,
                               .secret_key = "not a key",
                               .npeers = 0};
    assert_null(sl_repl_server_start(&bad, err, sizeof err));
    assert_non_null(strstr(err, "secret_key"));
    const char *nokey[] = {NULL};
    bad.secret_key = ka.sec;
    bad.peer_keys = nokey;
    bad.npeers = 1;
    assert_null(sl_repl_server_start(&bad, err, sizeof err));
    assert_non_null(strstr(err, "public_key is required"));
    const char *peers1[] = {ep};
    sl_repl_client_conf cc = {
        .node_id = "B", .peers = peers1, .npeers = 1, .secret_key = kb.sec, .peer_keys = nokey};
    assert_null(sl_repl_client_new(&cc, err, sizeof err));
    assert_non_null(strstr(err, "public_key"));

    sl_repl_client_free(b);
    sl_repl_server_stop(a);
}

/* Unauthenticated servers accept at most `npeers` origins. */
static void test_plain_origins_bounded(void **state)
{
    (void)state;
    char da[128], err[512];
    node_dir(da, sizeof da, "bounded");
    sl_repl_server_conf conf = {.zmq_ctx = g_ctx,
                                .node_id = "A",
                                .endpoint = "inproc://bounded",
                                .store_dir = da,
                                .keep = 3,
                                .npeers = 2};
    sl_repl_server *a = sl_repl_server_start(&conf, err, sizeof err);
    assert_non_null(a);
    const char *peers[] = {"inproc://bounded"};
    sl_repl_snapshot s = {1, "x", 1, 0};
    const char *names[] = {"o1", "o2", "o3", "o4"};
    for (int i = 0; i < 4; i++) {
        sl_repl_client *c = new_client(names[i], peers, 1);
        int rc = sl_repl_push(c, 5, 0, &s, 1, 1, 3000, err, sizeof err);
        assert_int_equal(rc, i < 2 ? SL_OK : SL_EIO);
        if (i >= 2)
            assert_non_null(strstr(err, "origins already write here"));
        /* A known origin keeps being accepted. */
        if (i == 3) {
            sl_repl_client *o1 = new_client("o1", peers, 1);
            assert_int_equal(sl_repl_push(o1, 6, 0, &s, 1, 1, 3000, err, sizeof err), SL_OK);
            sl_repl_client_free(o1);
        }
        sl_repl_client_free(c);
    }
    assert_false(dir_exists(da, "replicas/o3"));
    assert_false(dir_exists(da, "replicas/o4"));
    sl_repl_server_stop(a);
}

/* Appends a raw PUSH of `count` entries for tasks 0..count-1 (tasks[i]
 * given by `task_of`), each with an empty image, or a valid one when
 * `valid`. */
static void make_push_n(sl_buf *b, uint64_t req, const char *origin, uint64_t ckpt, uint32_t count,
                        int valid, int dup, uint64_t committed)
{
    msg_header(b, SL_REPL_PROTOCOL_VERSION, 1, req);
    sl_buf_put_str(b, origin);
    sl_buf_put_u64(b, ckpt);
    sl_buf_put_u32(b, count);
    for (uint32_t i = 0; i < count; i++) {
        int32_t task = dup && i == count - 1 ? 0 : (int32_t)i;
        if (valid) {
            put_entry(b, task, committed, task, ckpt, origin, "v");
        } else {
            sl_buf_put_u32(b, (uint32_t)task);
            sl_buf_put_u64(b, 0);
            sl_buf_put_u32(b, 0);
        }
    }
    msg_crc(b);
}

static void test_bounded_pushes(void **state)
{
    (void)state;
    char da[128], err[1024];
    node_dir(da, sizeof da, "bounds");
    sl_repl_server_conf conf = {.zmq_ctx = g_ctx,
                                .node_id = "A",
                                .endpoint = "tcp://127.0.0.1:*", /* tcp: inproc has no size limit */
                                .store_dir = da,
                                .keep = 3,
                                .max_message_bytes = 32 << 20};
    sl_repl_server *a = sl_repl_server_start(&conf, err, sizeof err);
    assert_non_null(a);
    const char *ep = sl_repl_server_endpoint(a);
    void *d = zmq_socket(g_ctx, ZMQ_DEALER);
    int v = 0, to = 5000;
    zmq_setsockopt(d, ZMQ_LINGER, &v, sizeof v);
    zmq_setsockopt(d, ZMQ_RCVTIMEO, &to, sizeof to);
    assert_int_equal(zmq_connect(d, ep), 0);
    sl_buf b;
    sl_buf_init(&b);
    uint64_t req;
    uint8_t type;

    /* 2^20 entries: refused at once, before any is read. */
    make_push_n(&b, 1, "R", 5, 1u << 20, 0, 0, 0); /* 16 MiB: within the message bound */
    int64_t t0 = sl_mono_ns();
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_ERANGE);
    double ms = (double)(sl_mono_ns() - t0) / 1e6;
    print_message("  2^20-entry push (%zu bytes) refused in %.1f ms\n", b.len, ms);
    assert_true(ms < 2000);
    /* One task twice. */
    make_push_n(&b, 2, "R", 5, 3, 1, 1, 0);
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_EINVAL);
    assert_false(dir_exists(da, "replicas/R"));
    /* An image naming another origin or checkpoint than its push. */
    msg_header(&b, SL_REPL_PROTOCOL_VERSION, 1, 3);
    sl_buf_put_str(&b, "R");
    sl_buf_put_u64(&b, 5);
    sl_buf_put_u32(&b, 1);
    put_entry(&b, 0, 0, 0, 5, "B", "forged");
    msg_crc(&b);
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_ECORRUPT);
    msg_header(&b, SL_REPL_PROTOCOL_VERSION, 1, 4);
    sl_buf_put_str(&b, "R");
    sl_buf_put_u64(&b, 5);
    sl_buf_put_u32(&b, 1);
    put_entry(&b, 0, 0, 0, 6, "R", "other id");
    msg_crc(&b);
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_ECORRUPT);
    /* A checkpoint id far in the future (it would make every real one old). */
    make_push_n(&b, 5, "R", UINT64_MAX - 1, 1, 1, 0, 0);
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_ERANGE);
    assert_false(dir_exists(da, "replicas/R"));

    /* Committed ids only move forward: once 20 is committed for task 0, an
     * older checkpoint is refused and a committed id of 0 changes nothing. */
    make_push_n(&b, 6, "R", 20, 1, 1, 0, 20);
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_OK);
    make_push_n(&b, 7, "R", 10, 1, 1, 0, 0);
    assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_EINVAL);
    for (uint64_t id = 21; id <= 26; id++) {
        make_push_n(&b, 8 + id, "R", id, 1, 1, 0, 0);
        assert_int_equal(raw_exchange(d, b.data, b.len, &req, &type), SL_OK);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/replicas/R", da);
    sl_ckpt_store *st = sl_ckpt_store_open(path, 3, err, sizeof err);
    uint64_t ids[8];
    assert_int_equal(sl_ckpt_store_list(st, 0, ids, 8), 4);
    assert_int_equal(ids[3], 20);
    sl_ckpt_store_close(st);

    /* Larger than max_message_bytes: the connection is dropped before the
     * message is buffered; nothing stored, and the server keeps working. */
    const char *peers[] = {ep};
    sl_repl_client_conf big_conf = {.zmq_ctx = g_ctx,
                                    .node_id = "big",
                                    .peers = peers,
                                    .npeers = 1,
                                    .max_message_bytes = 64 << 20};
    sl_repl_client *big = sl_repl_client_new(&big_conf, err, sizeof err);
    assert_non_null(big);
    size_t blen = 40u << 20;
    uint8_t *blob = calloc(1, blen);
    sl_repl_snapshot bs = {1, blob, blen, 0};
    assert_int_equal(sl_repl_push(big, 30, 0, &bs, 1, 1, 800, err, sizeof err), SL_ETIMEOUT);
    assert_false(dir_exists(da, "replicas/big"));
    /* A client whose own bound is smaller refuses to build it at all. */
    sl_repl_client *small = new_client("small", peers, 1);
    sl_repl_client_free(small);
    sl_repl_client_conf small_conf = big_conf;
    small_conf.node_id = "small";
    small_conf.max_message_bytes = 32 << 20;
    small = sl_repl_client_new(&small_conf, err, sizeof err);
    t0 = sl_mono_ns();
    assert_int_equal(sl_repl_push(small, 30, 0, &bs, 1, 1, 5000, err, sizeof err), SL_ERANGE);
    assert_true(sl_mono_ns() - t0 < 1000000000);
    /* Duplicates and too many tasks are refused by the client too. */
    sl_repl_snapshot two[2] = {{4, "a", 1, 0}, {4, "b", 1, 0}};
    assert_int_equal(sl_repl_push(small, 31, 0, two, 2, 1, 5000, err, sizeof err), SL_EINVAL);
    assert_non_null(strstr(err, "twice"));
    assert_int_equal(
        sl_repl_push(small, 31, 0, two, SL_REPL_MAX_PUSH_TASKS + 1, 1, 5000, err, sizeof err),
        SL_EINVAL);
    /* ... and after all that the node still takes checkpoints. */
    sl_repl_snapshot ok = {1, "fine", 4, 0};
    assert_int_equal(sl_repl_push(small, 32, 0, &ok, 1, 1, 5000, err, sizeof err), SL_OK);
    check_stored(da, "small", 1, 32, "fine", 4);
    sl_repl_client_free(small);
    sl_repl_client_free(big);
    free(blob);
    sl_buf_free(&b);
    zmq_close(d);
    sl_repl_server_stop(a);
}

typedef struct pusher {
    sl_repl_client *c;
    size_t n;
    int rc;
    int64_t done_ns;
    char err[512];
} pusher;

static void *pusher_main(void *arg)
{
    pusher *p = arg;
    sl_repl_snapshot *s = calloc(p->n, sizeof *s);
    for (size_t i = 0; i < p->n; i++)
        s[i] = (sl_repl_snapshot){(int32_t)i, "task state of a large push", 26, 0};
    p->rc = sl_repl_push(p->c, 100, 0, s, p->n, 1, 60000, p->err, sizeof p->err);
    __atomic_store_n(&p->done_ns, sl_mono_ns(), __ATOMIC_RELEASE);
    free(s);
    return NULL;
}

/* A large push is stored in slices: fetches are answered meanwhile, and
 * stopping the server does not wait for the push to finish. */
static void test_large_push_does_not_block(void **state)
{
    (void)state;
    char da[128], err[512];
    sl_repl_server *a = start_server("A", "inproc://slices", da, sizeof da, 3);
    const char *peers[] = {"inproc://slices"};
    sl_repl_client *c = new_client("C", peers, 1);
    sl_repl_snapshot s = {7, "small", 5, 0};
    assert_int_equal(sl_repl_push(c, 50, 0, &s, 1, 1, 5000, err, sizeof err), SL_OK);
    pusher p = {.c = new_client("B", peers, 1), .n = SL_REPL_MAX_PUSH_TASKS};
    pthread_t t;
    int64_t t0 = sl_mono_ns();
    pthread_create(&t, NULL, pusher_main, &p);
    int served_during = 0;
    double worst_ms = 0;
    for (int k = 0; k < 200; k++) {
        void *pp;
        size_t n;
        uint64_t id;
        int64_t f0 = sl_mono_ns();
        assert_int_equal(sl_repl_fetch(c, "C", 7, 50, 5000, &id, &pp, &n, err, sizeof err), SL_OK);
        int64_t f1 = sl_mono_ns();
        free(pp);
        double ms = (double)(f1 - f0) / 1e6;
        if (ms > worst_ms)
            worst_ms = ms;
        if (__atomic_load_n(&p.done_ns, __ATOMIC_ACQUIRE) == 0)
            served_during++;
        else
            break;
        sl_sleep_us(2000);
    }
    pthread_join(t, NULL);
    double push_ms = (double)(p.done_ns - t0) / 1e6;
    print_message("  push of %zu tasks: %.0f ms; %d fetches answered meanwhile, slowest %.1f ms\n",
                  p.n, push_ms, served_during, worst_ms);
    if (p.rc != SL_OK)
        fail_msg("large push: %s", p.err);
    if (push_ms > 300) { /* long enough for the comparison to mean something */
        assert_true(served_during >= 1);
        assert_true(worst_ms < push_ms / 2);
    }
    /* Stop during a large push: prompt, the push is abandoned unacked. */
    pusher p2 = {.c = new_client("D", peers, 1), .n = SL_REPL_MAX_PUSH_TASKS};
    pthread_create(&t, NULL, pusher_main, &p2);
    sl_sleep_us(100000);
    int64_t s0 = sl_mono_ns();
    sl_repl_server_stop(a);
    double stop_ms = (double)(sl_mono_ns() - s0) / 1e6;
    print_message("  server stopped in %.1f ms during a push\n", stop_ms);
    assert_true(stop_ms < 1000);
    sl_repl_client_free(c); /* unblocks nothing: p2 times out on its own */
    pthread_join(t, NULL);
    sl_repl_client_free(p.c);
    sl_repl_client_free(p2.c);
}

static void test_loopback_endpoints(void **state)
{
    (void)state;
    assert_true(sl_repl_endpoint_is_loopback("tcp://127.0.0.1:7401"));
    assert_true(sl_repl_endpoint_is_loopback("tcp://127.3.4.5:*"));
    assert_true(sl_repl_endpoint_is_loopback("tcp://localhost:7401"));
    assert_true(sl_repl_endpoint_is_loopback("tcp://[::1]:7401"));
    assert_true(sl_repl_endpoint_is_loopback("ipc:///run/sluice.sock"));
    assert_true(sl_repl_endpoint_is_loopback("inproc://x"));
    assert_false(sl_repl_endpoint_is_loopback("tcp://0.0.0.0:7401"));
    assert_false(sl_repl_endpoint_is_loopback("tcp://*:7401"));
    assert_false(sl_repl_endpoint_is_loopback("tcp://10.0.0.1:7401"));
    assert_false(sl_repl_endpoint_is_loopback("tcp://[::]:7401"));
    assert_false(sl_repl_endpoint_is_loopback("tcp://eth0:7401"));
    assert_false(sl_repl_endpoint_is_loopback("tcp://128.0.0.1:7401"));
    assert_false(sl_repl_endpoint_is_loopback(NULL));
    assert_false(sl_repl_key_valid("short"));
    assert_false(sl_repl_key_valid("0000000000000000000000000000000000000000x"));
    assert_false(sl_repl_key_valid("\"000000000000000000000000000000000000000"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_and_ack_inproc),
        cmocka_unit_test(test_push_two_replicas_tcp),
        cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_peer_never_answers),
        cmocka_unit_test(test_peer_down_then_up),
        cmocka_unit_test(test_push_error_reported),
        cmocka_unit_test(test_corrupt_request_refused),
        cmocka_unit_test(test_corrupt_reply_refused),
        cmocka_unit_test(test_late_ack_not_credited),
        cmocka_unit_test(test_replica_retention_protects_committed),
        cmocka_unit_test(test_random_round_trips),
        cmocka_unit_test(test_invalid_config),
        cmocka_unit_test(test_curve_outsiders_get_nothing),
        cmocka_unit_test(test_plain_origins_bounded),
        cmocka_unit_test(test_bounded_pushes),
        cmocka_unit_test(test_large_push_does_not_block),
        cmocka_unit_test(test_loopback_endpoints),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, NULL);
    /* A failed test may leave sockets open, and zmq_ctx_term would wait
     * for them forever: terminate the context only after a clean run. */
    if (failed == 0)
        zmq_ctx_term(g_ctx);
    nftw(g_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return failed;
}
