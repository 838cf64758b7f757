/*
 * test_cluster_config.c - the "cluster" section: peers as endpoints or as
 * objects with public keys, the secret key inline, from a file (the bare
 * key or `sluice keygen`'s JSON) or from SLUICE_CURVE_SECRET_KEY, the keyed
 * SLUICE_PEERS form, and the rule that a node reachable from other hosts
 * needs keys unless "allow_insecure" is set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "definition.h"
#include "replication.h"

static char pub1[64], sec1[64], pub2[64], sec2[64];

static int load(const char *cluster, sl_def **def, char *err, size_t errsz)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"name\":\"c\",\"source\":{\"type\":\"generator\"},\"pipeline\":[],"
             "\"sink\":{\"type\":\"null\"},\"cluster\":%s}",
             cluster);
    return sl_def_load_string(text, "c.json", def, err, errsz);
}

static void expect_error(const char *cluster, const char *needle)
{
    sl_def *def = NULL;
    char err[1024];
    int rc = load(cluster, &def, err, sizeof err);
    if (rc == SL_OK) {
        sl_def_free(def);
        fail_msg("accepted: %s", cluster);
    }
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not say \"%s\"", err, needle);
}

static void test_keys_and_peers(void **state)
{
    (void)state;
    char c[2048], err[1024];
    sl_def *def;
    /* Keyed peers. */
    snprintf(c, sizeof c,
             "{\"node_id\":\"n1\",\"listen\":\"tcp://10.0.0.1:7401\",\"secret_key\":\"%s\","
             "\"peers\":[{\"endpoint\":\"tcp://10.0.0.2:7401\",\"public_key\":\"%s\","
             "\"node_id\":\"n2\"}],\"max_message_bytes\":1048576}",
             sec1, pub2);
    if (load(c, &def, err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    assert_string_equal(def->cluster.secret_key, sec1);
    assert_int_equal(def->cluster.npeers, 1);
    assert_string_equal(def->cluster.peers[0], "tcp://10.0.0.2:7401");
    assert_string_equal(def->cluster.peer_keys[0], pub2);
    assert_string_equal(def->cluster.peer_node_ids[0], "n2");
    assert_int_equal(def->cluster.max_message_bytes, 1048576);
    sl_def_free(def);
    /* Plain endpoints stay valid for unauthenticated (loopback) setups. */
    if (load("{\"listen\":\"tcp://127.0.0.1:7401\",\"peers\":[\"tcp://127.0.0.1:7402\"]}", &def,
             err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    assert_null(def->cluster.secret_key);
    assert_null(def->cluster.peer_keys[0]);
    assert_int_equal(def->cluster.max_message_bytes, SL_REPL_DEFAULT_MAX_MESSAGE);
    sl_def_free(def);

    /* Reachable from other hosts without keys: refused unless allowed. */
    expect_error("{\"listen\":\"tcp://0.0.0.0:7401\"}", "allow_insecure");
    expect_error("{\"listen\":\"tcp://10.0.0.1:7401\",\"peers\":[\"tcp://10.0.0.2:7401\"]}",
                 "can be reached from other hosts");
    if (load("{\"listen\":\"tcp://0.0.0.0:7401\",\"allow_insecure\":true}", &def, err,
             sizeof err) != SL_OK)
        fail_msg("%s", err);
    sl_def_free(def);
    /* A secret key needs every peer's public key, and the other way round. */
    snprintf(c, sizeof c,
             "{\"listen\":\"tcp://127.0.0.1:1\",\"secret_key\":\"%s\","
             "\"peers\":[\"tcp://127.0.0.1:2\"]}",
             sec1);
    expect_error(c, "has no public_key");
    snprintf(c, sizeof c,
             "{\"listen\":\"tcp://127.0.0.1:1\",\"peers\":[{\"endpoint\":\"tcp://127.0.0.1:2\","
             "\"public_key\":\"%s\"}]}",
             pub2);
    expect_error(c, "no cluster.secret_key");
    expect_error("{\"listen\":\"tcp://127.0.0.1:1\",\"secret_key\":\"short\"}",
                 "cluster.secret_key: not a key");
    snprintf(c, sizeof c,
             "{\"listen\":\"tcp://127.0.0.1:1\",\"secret_key\":\"%s\",\"peers\":[{\"endpoint\":"
             "\"tcp://127.0.0.1:2\",\"public_key\":\"%s\",\"colour\":1}]}",
             sec1, pub2);
    expect_error(c, "cluster.peers[0]");
    expect_error("{\"max_message_bytes\":10}", "cluster.max_message_bytes");
}

static void test_key_file_and_env(void **state)
{
    (void)state;
    char dir[] = "/tmp/sl_cluster_cfg_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char f1[128], f2[128], c[2048], err[1024];
    snprintf(f1, sizeof f1, "%s/n1.json", dir);
    snprintf(f2, sizeof f2, "%s/n1.key", dir);
    FILE *f = fopen(f1, "w");
    fprintf(f, "{\"public_key\": \"%s\", \"secret_key\": \"%s\"}\n", pub1, sec1);
    fclose(f);
    f = fopen(f2, "w");
    fprintf(f, "  %s\n", sec2);
    fclose(f);
    sl_def *def;
    snprintf(c, sizeof c, "{\"listen\":\"tcp://127.0.0.1:1\",\"secret_key_file\":\"%s\"}", f1);
    if (load(c, &def, err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    assert_string_equal(def->cluster.secret_key, sec1);
    sl_def_free(def);
    snprintf(c, sizeof c, "{\"listen\":\"tcp://127.0.0.1:1\",\"secret_key_file\":\"%s\"}", f2);
    if (load(c, &def, err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    assert_string_equal(def->cluster.secret_key, sec2);
    sl_def_free(def);
    snprintf(c, sizeof c, "{\"secret_key_file\":\"%s/missing\"}", dir);
    expect_error(c, "missing");

    /* SLUICE_PEERS with node ids and keys, SLUICE_CURVE_SECRET_KEY. */
    snprintf(c, sizeof c, "n2=tcp://10.0.0.2:7401@%s, tcp://10.0.0.3:7401@%s", pub1, pub2);
    setenv("SLUICE_PEERS", c, 1);
    setenv("SLUICE_CURVE_SECRET_KEY", sec1, 1);
    setenv("SLUICE_LISTEN", "tcp://10.0.0.1:7401", 1);
    if (load("{}", &def, err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    assert_int_equal(def->cluster.npeers, 2);
    assert_string_equal(def->cluster.peers[0], "tcp://10.0.0.2:7401");
    assert_string_equal(def->cluster.peer_keys[0], pub1);
    assert_string_equal(def->cluster.peer_node_ids[0], "n2");
    assert_string_equal(def->cluster.peers[1], "tcp://10.0.0.3:7401");
    assert_string_equal(def->cluster.peer_keys[1], pub2);
    assert_null(def->cluster.peer_node_ids[1]);
    assert_string_equal(def->cluster.secret_key, sec1);
    sl_def_free(def);
    /* The env key replaces a file named in the definition. */
    snprintf(c, sizeof c, "{\"secret_key_file\":\"%s/missing\"}", dir);
    if (load(c, &def, err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    sl_def_free(def);
    unsetenv("SLUICE_CURVE_SECRET_KEY");
    unsetenv("SLUICE_LISTEN");
    /* The old plain form still gives strings. */
    setenv("SLUICE_PEERS", "tcp://127.0.0.1:7402,tcp://127.0.0.1:7403", 1);
    if (load("{\"listen\":\"tcp://127.0.0.1:7401\"}", &def, err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    assert_int_equal(def->cluster.npeers, 2);
    assert_null(def->cluster.peer_keys[1]);
    sl_def_free(def);
    unsetenv("SLUICE_PEERS");
    unlink(f1);
    unlink(f2);
    rmdir(dir);
}

int main(void)
{
    char err[256];
    if (!sl_repl_curve_available()) {
        fprintf(stderr, "libzmq without CurveZMQ (libsodium): replication cannot be secured\n");
        return 1;
    }
    if (sl_repl_keygen(pub1, sec1, err, sizeof err) != SL_OK ||
        sl_repl_keygen(pub2, sec2, err, sizeof err) != SL_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_and_peers),
        cmocka_unit_test(test_key_file_and_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
