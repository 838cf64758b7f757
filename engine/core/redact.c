/* redact.c - secret names and the registry of secret values (redact.h). */
#include "redact.h"

#include "options.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static pthread_mutex_t sl__redact_mu = PTHREAD_MUTEX_INITIALIZER;
static char **sl__secrets;
static size_t sl__nsecrets;
static _Atomic size_t sl__nsecrets_pub; /* lock-free "is anything registered" */

static int sl__contains_ci(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (; *s; s++)
        if (strncasecmp(s, word, n) == 0)
            return 1;
    return 0;
}

int sl_redact_is_secret(const char *name)
{
    static const char *const exact[] = {"token", "ssl.key.pem", "sasl.oauthbearer.config"};
    if (!name)
        return 0;
    /* The path of a file holding a secret (cluster.secret_key_file,
     * ssl.keystore.location) is not itself secret, and errors about it
     * must name it. */
    size_t len = strlen(name);
    if ((len >= 5 && strcasecmp(name + len - 5, "_file") == 0) ||
        (len >= 9 && strcasecmp(name + len - 9, ".location") == 0))
        return 0;
    if (sl__contains_ci(name, "password") || sl__contains_ci(name, "secret") ||
        sl__contains_ci(name, "passphrase"))
        return 1;
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strcasecmp(name, exact[i]) == 0)
            return 1;
    return 0;
}

const char *sl_redact_value(const char *name, const char *value)
{
    return sl_redact_is_secret(name) ? SL_REDACTED : value;
}

json_t *sl_redact_json(const json_t *v)
{
    if (!v)
        return NULL;
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            json_object_set_new(
                o, key, sl_redact_is_secret(key) ? json_string(SL_REDACTED) : sl_redact_json(val));
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        for (size_t i = 0; i < json_array_size(v); i++)
            json_array_append_new(a, sl_redact_json(json_array_get(v, i)));
        return a;
    }
    return json_deep_copy(v);
}

const char *sl_redact_repr(const char *name, const json_t *v, char *buf, size_t size)
{
    if (sl_redact_is_secret(name)) {
        snprintf(buf, size, "%s", SL_REDACTED);
        return buf;
    }
    json_t *copy = sl_redact_json(v);
    sl_json_repr(copy, buf, size);
    json_decref(copy);
    return buf;
}

void sl_redact_register(const char *secret)
{
    if (!secret || strlen(secret) < SL_REDACT_MIN_LEN)
        return;
    pthread_mutex_lock(&sl__redact_mu);
    for (size_t i = 0; i < sl__nsecrets; i++)
        if (strcmp(sl__secrets[i], secret) == 0) {
            pthread_mutex_unlock(&sl__redact_mu);
            return;
        }
    char **grown = realloc(sl__secrets, (sl__nsecrets + 1) * sizeof(*grown));
    char *copy = strdup(secret);
    if (grown)
        sl__secrets = grown;
    if (grown && copy) {
        sl__secrets[sl__nsecrets++] = copy;
        atomic_store(&sl__nsecrets_pub, sl__nsecrets);
    } else {
        free(copy);
    }
    pthread_mutex_unlock(&sl__redact_mu);
}

static void sl__register_value(const json_t *v)
{
    char num[64];
    if (json_is_string(v)) {
        sl_redact_register(json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        sl_redact_register(num);
    } else if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        sl_redact_register(num);
    }
}

void sl_redact_register_json(const json_t *v)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            if (sl_redact_is_secret(key))
                sl__register_value(val);
            sl_redact_register_json(val);
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            sl_redact_register_json(json_array_get(v, i));
    }
}

void sl_redact_forget_all(void)
{
    pthread_mutex_lock(&sl__redact_mu);
    for (size_t i = 0; i < sl__nsecrets; i++)
        free(sl__secrets[i]);
    free(sl__secrets);
    sl__secrets = NULL;
    sl__nsecrets = 0;
    atomic_store(&sl__nsecrets_pub, 0);
    pthread_mutex_unlock(&sl__redact_mu);
}

size_t sl_redact_scrub(char *buf)
{
    if (!buf || atomic_load(&sl__nsecrets_pub) == 0)
        return 0;
    size_t hits = 0, rl = strlen(SL_REDACTED);
    pthread_mutex_lock(&sl__redact_mu);
    for (size_t i = 0; i < sl__nsecrets; i++) {
        const char *s = sl__secrets[i];
        size_t sl = strlen(s);
        char *at = buf;
        while ((at = strstr(at, s)) != NULL) {
            memcpy(at, SL_REDACTED, rl); /* sl >= SL_REDACT_MIN_LEN > rl */
            memmove(at + rl, at + sl, strlen(at + sl) + 1);
            at += rl;
            hits++;
        }
    }
    pthread_mutex_unlock(&sl__redact_mu);
    return hits;
}
