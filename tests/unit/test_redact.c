/*
 * test_redact.c - secrets never printed. A definition with secrets planted
 * in every place a secret can be (kafka source and sink properties:
 * sasl.password, ssl.key.password, ssl.keystore.password, ssl.key.pem:
 * only properties librdkafka accepts, since the definition is validated
 * against it; names such as sasl.oauthbearer.client.secret are covered by
 * the name rules; http.token; cluster.secret_key) is explained, rejected with errors that
 * quote the values, and logged; no output contains any planted value, and
 * the redacted places say "***". Also the name rules, the JSON copy and
 * the scrubber on edge cases (overlapping, repeated, short secrets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "definition.h"
#include "log.h"
#include "redact.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Distinct values, none a substring of another or of anything else. */
static const char *const planted[] = {
    "PLANT-sasl-Qx81", "PLANT-keypw-Zr22", "PLANT-kspw-Mv53",  "PLANT-oauth-Lk74",
    "PLANT-misc-Hh65", "PLANT-pem-Ww96",   "PLANT-token-Jj17", "PLANT-curve-Tt48",
};

static char *definition_text(const char *extra_top)
{
    char *t = NULL;
    int n = asprintf(
        &t,
        "{\"name\": \"secrets\",\n"
        " \"source\": {\"type\": \"kafka\", \"topics\": [\"in\"], \"group_id\": \"g\",\n"
        "   \"properties\": {\"bootstrap.servers\": \"127.0.0.1:1\",\n"
        "     \"security.protocol\": \"sasl_ssl\", \"sasl.mechanisms\": \"PLAIN\",\n"
        "     \"sasl.username\": \"alice\", \"sasl.password\": \"%s\",\n"
        "     \"ssl.key.password\": \"%s\", \"ssl.keystore.password\": \"%s\",\n"
        "     \"ssl.key.pem\": \"%s\"},\n"
        "   \"event_time\": {\"field\": \"ts\", \"unit\": \"ms\"}},\n"
        " \"pipeline\": [{\"key_by\": [\"user\"]}, {\"window\": {\"type\": \"tumbling\",\n"
        "   \"size\": \"1s\"}, \"aggregates\": {\"n\": {\"fn\": \"count\"}}}],\n"
        " \"sink\": {\"type\": \"kafka\", \"topic\": \"out\",\n"
        "   \"properties\": {\"bootstrap.servers\": \"127.0.0.1:1\", \"sasl.password\": \"%s\",\n"
        "     \"ssl.key.password\": \"%s\", \"ssl.keystore.password\": \"%s\"}},\n"
        " \"http\": {\"addr\": \"127.0.0.1:9999\", \"token\": \"%s\"}%s}\n",
        planted[0], planted[1], planted[2], planted[5], planted[0], planted[3], planted[4],
        planted[6], extra_top ? extra_top : "");
    assert_true(n > 0);
    return t;
}

static void assert_no_secret(const char *what, const char *text)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(planted); i++)
        if (strstr(text, planted[i]))
            fail_msg("%s shows %s:\n%s", what, planted[i], text);
}

static void test_names(void **state)
{
    (void)state;
    static const char *const secret[] = {"sasl.password",
                                         "ssl.key.password",
                                         "ssl.keystore.password",
                                         "sasl.oauthbearer.client.secret",
                                         "secret_key",
                                         "SSL.TRUSTSTORE.PASSWORD",
                                         "my_secret",
                                         "token",
                                         "ssl.key.pem",
                                         "sasl.oauthbearer.config",
                                         "x.passphrase"};
    static const char *const open[] = {"bootstrap.servers",
                                       "secret_key_file",
                                       "ssl.keystore.location",
                                       "sasl.username",
                                       "ssl.certificate.pem",
                                       "ssl.keystore.location",
                                       "security.protocol",
                                       "tokens_per_s",
                                       "addr",
                                       ""};
    for (size_t i = 0; i < SL_ARRAY_LEN(secret); i++)
        if (!sl_redact_is_secret(secret[i]))
            fail_msg("%s not taken for a secret", secret[i]);
    for (size_t i = 0; i < SL_ARRAY_LEN(open); i++)
        if (sl_redact_is_secret(open[i]))
            fail_msg("%s taken for a secret", open[i]);
    assert_false(sl_redact_is_secret(NULL));
    assert_string_equal(sl_redact_value("sasl.password", "x"), "***");
    assert_string_equal(sl_redact_value("sasl.username", "x"), "x");

    json_error_t je;
    json_t *v = json_loads("{\"a\":{\"password\":1,\"b\":[{\"secret\":{\"x\":2}},3]},"
                           "\"token\":\"t\",\"k\":\"v\"}",
                           0, &je);
    json_t *r = sl_redact_json(v);
    char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(s, "{\"a\":{\"b\":[{\"secret\":\"***\"},3],\"password\":\"***\"},\"k\":"
                           "\"v\",\"token\":\"***\"}");
    free(s);
    char repr[80];
    assert_string_equal(sl_redact_repr("sasl.password", v, repr, sizeof(repr)), "***");
    sl_redact_repr("props", json_object_get(v, "a"), repr, sizeof(repr));
    assert_null(strstr(repr, ":1"));
    json_decref(r);
    json_decref(v);
    assert_null(sl_redact_json(NULL));
}

static void test_scrub(void **state)
{
    (void)state;
    sl_redact_forget_all();
    char buf[256] = "nothing registered: abcd";
    assert_int_equal(sl_redact_scrub(buf), 0);
    sl_redact_register("abc"); /* too short: ignored */
    sl_redact_register("abcd");
    sl_redact_register("abcd"); /* duplicate */
    sl_redact_register("xyzxyz");
    sl_redact_register(NULL);
    snprintf(buf, sizeof(buf), "abcdabcd, abc, xyzxyzxyz and abcd.");
    assert_int_equal(sl_redact_scrub(buf), 4);
    assert_string_equal(buf, "******, abc, ***xyz and ***.");
    snprintf(buf, sizeof(buf), "a***bcd");
    assert_int_equal(sl_redact_scrub(buf), 0);
    sl_redact_forget_all();
    snprintf(buf, sizeof(buf), "abcd");
    assert_int_equal(sl_redact_scrub(buf), 0);
}

/* Forgets every registered secret, then loads the definition with every
 * secret planted (its text in *text, for the caller to free). */
static sl_def *load_planted(char **text)
{
    sl_redact_forget_all();
    *text = definition_text(NULL);
    char err[1024];
    sl_def *def = NULL;
    if (sl_def_load_string(*text, "s.json", &def, err, sizeof(err)) != 0)
        fail_msg("load: %s", err);
    return def;
}

static void test_explain(void **state)
{
    (void)state;
    char *text;
    sl_def *def = load_planted(&text);
    assert_string_equal(def->http.token, planted[6]);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    sl_def_explain(def, f);
    fclose(f);
    assert_no_secret("explain", out);
    assert_non_null(strstr(out, "\"sasl.password\":\"***\""));
    assert_non_null(strstr(out, "\"sasl.username\":\"alice\""));
    assert_non_null(strstr(out, "token ***"));
    free(out);
    sl_def_free(def);
    free(text);
}

static void test_errors(void **state)
{
    (void)state;
    char err[1024];
    sl_def *def = NULL;
    /* a secret-named key of the wrong type is not quoted */
    sl_redact_forget_all();
    char *bad_token = definition_text(NULL);
    char *at = strstr(bad_token, "\"PLANT-token-Jj17\"");
    assert_non_null(at);
    memcpy(at, "987654321         ", strlen(planted[6]) + 2);
    assert_int_equal(sl_def_load_string(bad_token, "t.json", &def, err, sizeof(err)), SL_EINVAL);
    free(bad_token);
    assert_null(strstr(err, "987654321"));
    if (!strstr(err, "http.token"))
        fail_msg("%s", err);

    /* a secret value quoted by another message is scrubbed */
    char extra[256];
    snprintf(extra, sizeof(extra), ", \"runtime\": {\"workers\": \"%s\"}", planted[0]);
    char *text = definition_text(extra);
    assert_int_not_equal(sl_def_load_string(text, "s.json", &def, err, sizeof(err)), 0);
    assert_null(def);
    assert_no_secret("error", err);
    assert_non_null(strstr(err, "runtime.workers"));
    assert_non_null(strstr(err, "***"));
    free(text);

    /* the curve secret key of a cluster section */
    sl_redact_forget_all();
    snprintf(extra, sizeof(extra), ", \"cluster\": {\"secret_key\": \"%s\", \"node_id\": 5}",
             planted[7]);
    text = definition_text(extra);
    err[0] = '\0';
    sl_def_load_string(text, "s.json", &def, err, sizeof(err));
    sl_def_free(def);
    def = NULL;
    assert_no_secret("error", err);
    char msg[256];
    sl_seterr(msg, sizeof(msg), SL_EINVAL, "peer refused key %s", planted[7]);
    assert_string_equal(msg, "peer refused key ***");
    free(text);
}

static void test_logs(void **state)
{
    (void)state;
    char *text;
    sl_def *def = load_planted(&text);
    char path[] = "/tmp/test_redact_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    for (int json = 0; json < 2; json++) {
        sl_log_set_json(json);
        for (size_t i = 0; i < SL_ARRAY_LEN(planted) - 1; i++)
            sl_warn("test", "librdkafka said: bad value \"%s\" for a property", planted[i]);
        char fields[128];
        snprintf(fields, sizeof(fields), json ? "\"token\":\"%s\"" : "token=%s", planted[6]);
        sl_log_fields(SL_LOG_ERROR, "test", fields, "with fields");
    }
    dup2(saved, STDERR_FILENO);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_no_secret("log", buf);
    assert_non_null(strstr(buf, "bad value \\\"***\\\""));
    assert_non_null(strstr(buf, "token=***"));
    sl_def_free(def);
    free(text);
    sl_redact_forget_all();
}

/* http.token in the definition and SLUICE_HTTP_TOKEN */
static void test_token_definition(void **state)
{
    (void)state;
    static const char base[] =
        "{\"name\":\"t\",\"source\":{\"type\":\"generator\",\"event_time\":{\"field\":"
        "\"ts\",\"unit\":\"ms\"}},\"pipeline\":[{\"window\":{\"type\":\"tumbling\","
        "\"size\":\"1s\"},\"aggregates\":{\"n\":{\"fn\":\"count\"}}}],"
        "\"sink\":{\"type\":\"null\"},\"http\":{\"addr\":\"127.0.0.1:9999\"%s}}";
    char text[512], err[512];
    sl_def *def = NULL;
    unsetenv("SLUICE_HTTP_TOKEN");
    snprintf(text, sizeof(text), base, "");
    if (sl_def_load_string(text, "t.json", &def, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_null(def->http.token);
    sl_def_free(def);
    snprintf(text, sizeof(text), base, ",\"token\":\"abc123\"");
    assert_int_equal(sl_def_load_string(text, "t.json", &def, err, sizeof(err)), 0);
    assert_string_equal(def->http.token, "abc123");
    sl_def_free(def);
    setenv("SLUICE_HTTP_TOKEN", "from-env-1", 1);
    assert_int_equal(sl_def_load_string(text, "t.json", &def, err, sizeof(err)), 0);
    assert_string_equal(def->http.token, "from-env-1");
    sl_def_free(def);
    unsetenv("SLUICE_HTTP_TOKEN");
    static const char *const bad[] = {",\"token\":\"\"", ",\"token\":\"a b\"",
                                      ",\"token\":\"a\\nb\"", ",\"token\":true", ",\"tokn\":\"x\""};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        snprintf(text, sizeof(text), base, bad[i]);
        def = NULL;
        if (sl_def_load_string(text, "t.json", &def, err, sizeof(err)) == 0)
            fail_msg("accepted %s", bad[i]);
        assert_null(def);
        assert_non_null(strstr(err, "http"));
    }
}

int main(void)
{
    sl_log_set_level(SL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),   cmocka_unit_test(test_scrub),
        cmocka_unit_test(test_explain), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_logs),    cmocka_unit_test(test_token_definition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
