/*
 * definition_cluster.c - the "cluster" section: node id, listen endpoint,
 * peers (plain endpoints, or objects with the peer's Curve public key),
 * this node's secret key, message bounds, and the rule that a node
 * reachable from other hosts does not replicate unauthenticated.
 */
#include "definition_internal.h"
#include "options.h"
#include "redact.h"
#include "replication.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SL__MSG 1024

static const sl_opt sl__cluster_keys[] = {
    {.name = "node_id", .type = SL_OPT_STRING, .help = "this node's id (default: the host name)"},
    {.name = "listen",
     .type = SL_OPT_STRING,
     .help = "ZeroMQ endpoint of this node's replication server"},
    {.name = "peers",
     .type = SL_OPT_ANY,
     .help = "the other nodes: endpoints or {endpoint, public_key, node_id}"},
    {.name = "secret_key",
     .type = SL_OPT_STRING,
     .help = "this node's CurveZMQ secret key (Z85, `sluice keygen`)"},
    {.name = "secret_key_file",
     .type = SL_OPT_STRING,
     .help = "a file holding the secret key or keygen's JSON"},
    {.name = "allow_insecure",
     .type = SL_OPT_BOOL,
     .help = "replicate without keys on a non-loopback listen"},
    {.name = "max_message_bytes",
     .type = SL_OPT_INT,
     .help = "largest replication message (a whole checkpoint)"},
    {.name = NULL}};

static const sl_opt sl__peer_keys[] = {
    {.name = "endpoint",
     .type = SL_OPT_STRING,
     .required = 1,
     .help = "the peer's listen endpoint"},
    {.name = "public_key", .type = SL_OPT_STRING, .help = "the peer's CurveZMQ public key (Z85)"},
    {.name = "node_id", .type = SL_OPT_STRING, .help = "the node id the peer's key speaks for"},
    {.name = NULL}};

/* Reads a secret key from `path`: the 40 Z85 characters alone (surrounding
 * white space ignored) or the JSON object `sluice keygen` prints. */
static int sl__read_key_file(const char *path, char **out, char *msg)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "cluster.secret_key_file: %s: %s", path,
                         strerror(errno));
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int toolong = !feof(f);
    fclose(f);
    buf[n] = '\0';
    if (toolong)
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "cluster.secret_key_file: %s: too large", path);
    char *s = buf;
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    if (*s == '{') {
        json_error_t jerr;
        json_t *o = json_loads(s, 0, &jerr);
        const char *k = o ? json_string_value(json_object_get(o, "secret_key")) : NULL;
        if (!k) {
            json_decref(o);
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "cluster.secret_key_file: %s: JSON without a \"secret_key\" string",
                             path);
        }
        *out = sl_xstrdup(k);
        json_decref(o);
    } else {
        *out = sl_xstrdup(s);
    }
    memset(buf, 0, sizeof buf);
    if (!sl_repl_key_valid(*out)) {
        free(*out);
        *out = NULL;
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "cluster.secret_key_file: %s: not a key (40 characters of Z85)", path);
    }
    return 0;
}

/* Reads cluster.peers: strings, or objects {endpoint, public_key, node_id}. */
static int sl__parse_peers(sl_def *def, const json_t *peers, char *msg)
{
    char repr[80], path[64];
    if (json_is_string(peers) ||
        (json_is_array(peers) && json_array_size(peers) > 0 &&
         json_is_string(json_array_get(peers, 0)) &&
         json_is_string(json_array_get(peers, json_array_size(peers) - 1)))) {
        int rc = sl_json_strings(peers, "cluster.peers", 1, &def->cluster.peers,
                                 &def->cluster.npeers, msg, SL__MSG);
        if (rc != 0)
            return rc;
        def->cluster.peer_keys = sl_xcalloc(def->cluster.npeers, sizeof(char *));
        def->cluster.peer_node_ids = sl_xcalloc(def->cluster.npeers, sizeof(char *));
        return 0;
    }
    if (!json_is_array(peers))
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "cluster.peers: must be an array of endpoints or peer objects, got %s",
                         sl_json_repr(peers, repr, sizeof repr));
    size_t n = json_array_size(peers);
    def->cluster.peers = sl_xcalloc(n, sizeof(char *));
    def->cluster.peer_keys = sl_xcalloc(n, sizeof(char *));
    def->cluster.peer_node_ids = sl_xcalloc(n, sizeof(char *));
    def->cluster.npeers = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(peers, i);
        snprintf(path, sizeof path, "cluster.peers[%zu]", i);
        if (json_is_string(p)) {
            def->cluster.peers[i] = sl_xstrdup(json_string_value(p));
        } else if (json_is_object(p)) {
            int rc = sl_opts_check(p, sl__peer_keys, path, msg, SL__MSG);
            if (rc != 0)
                return rc;
            def->cluster.peers[i] = sl_xstrdup(json_string_value(json_object_get(p, "endpoint")));
            const char *k = json_string_value(json_object_get(p, "public_key"));
            const char *id = json_string_value(json_object_get(p, "node_id"));
            if (k && !sl_repl_key_valid(k))
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "%s.public_key: not a key (40 characters of Z85, as printed by "
                                 "`sluice keygen`)",
                                 path);
            if (id && !sl_repl_node_id_valid(id))
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "%s.node_id: must be 1..64 of [A-Za-z0-9._-], not starting with "
                                 "'.'",
                                 path);
            def->cluster.peer_keys[i] = k ? sl_xstrdup(k) : NULL;
            def->cluster.peer_node_ids[i] = id ? sl_xstrdup(id) : NULL;
        } else {
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "%s: must be an endpoint string or an object {\"endpoint\", "
                             "\"public_key\"}, got %s",
                             path, sl_json_repr(p, repr, sizeof repr));
        }
        if (!def->cluster.peers[i][0])
            return sl_seterr(msg, SL__MSG, SL_EINVAL, "%s: the endpoint must not be empty", path);
        for (size_t j = 0; j < i; j++)
            if (strcmp(def->cluster.peers[j], def->cluster.peers[i]) == 0)
                return sl_seterr(msg, SL__MSG, SL_EINVAL, "%s: \"%s\" is listed twice", path,
                                 def->cluster.peers[i]);
    }
    return 0;
}

int sl__def_parse_cluster(sl_def *def, char *msg)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "sluice");
    host[sizeof(host) - 1] = '\0';
    def->cluster.node_id = sl_xstrdup(host);
    def->cluster.max_message_bytes = SL_REPL_DEFAULT_MAX_MESSAGE;
    const json_t *cl = json_object_get(def->root, "cluster");
    if (!cl)
        return 0;
    int rc = sl_opts_check(cl, sl__cluster_keys, "cluster", msg, SL__MSG);
    if (rc != 0)
        return rc;
    const json_t *node = json_object_get(cl, "node_id"), *listen = json_object_get(cl, "listen"),
                 *peers = json_object_get(cl, "peers"), *v;
    if (node && json_string_length(node) == 0)
        return sl_seterr(msg, SL__MSG, SL_EINVAL, "cluster.node_id: must not be empty");
    if (listen && json_string_length(listen) == 0)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "cluster.listen: must not be empty (a ZeroMQ endpoint such as "
                         "\"tcp://127.0.0.1:7401\")");
    if (node) {
        free(def->cluster.node_id);
        def->cluster.node_id = sl_xstrdup(json_string_value(node));
    }
    if (listen)
        def->cluster.listen = sl_xstrdup(json_string_value(listen));
    if ((v = json_object_get(cl, "allow_insecure")))
        def->cluster.allow_insecure = json_is_true(v);
    if ((v = json_object_get(cl, "max_message_bytes"))) {
        json_int_t x = json_integer_value(v);
        if (x < SL_REPL_MIN_MAX_MESSAGE || x > SL_REPL_MAX_MAX_MESSAGE)
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "cluster.max_message_bytes: must be between %lld and %lld, got %lld",
                             (long long)SL_REPL_MIN_MAX_MESSAGE, (long long)SL_REPL_MAX_MAX_MESSAGE,
                             (long long)x);
        def->cluster.max_message_bytes = (int64_t)x;
    }
    const json_t *sk = json_object_get(cl, "secret_key"),
                 *skf = json_object_get(cl, "secret_key_file");
    if (sk && skf)
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "cluster: give secret_key or secret_key_file, not both");
    if (sk && json_string_length(sk) > 0) {
        if (!sl_repl_key_valid(json_string_value(sk)))
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "cluster.secret_key: not a key (40 characters of Z85, as printed by "
                             "`sluice keygen`)");
        def->cluster.secret_key = sl_xstrdup(json_string_value(sk));
    } else if (skf && (rc = sl__read_key_file(json_string_value(skf), &def->cluster.secret_key,
                                              msg)) != 0) {
        return rc;
    }
    /* A key read from a file is in no JSON the redactor saw: register it
     * so no log line or error can quote it. */
    if (def->cluster.secret_key)
        sl_redact_register(def->cluster.secret_key);
    if (peers && !(json_is_array(peers) && json_array_size(peers) == 0)) {
        if ((rc = sl__parse_peers(def, peers, msg)) != 0)
            return rc;
        if (!def->cluster.listen)
            return sl_seterr(msg, SL__MSG, SL_EINVAL,
                             "cluster.peers: peers need \"listen\" (this node's own endpoint) in "
                             "cluster");
        for (size_t i = 0; i < def->cluster.npeers; i++) {
            if (strcmp(def->cluster.peers[i], def->cluster.listen) == 0)
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "cluster.peers[%zu]: \"%s\" is this node's own listen address", i,
                                 def->cluster.peers[i]);
            if (def->cluster.secret_key && !def->cluster.peer_keys[i])
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "cluster.peers[%zu]: \"%s\" has no public_key, and this node has "
                                 "a secret key (every peer needs one: {\"endpoint\": ..., "
                                 "\"public_key\": ...})",
                                 i, def->cluster.peers[i]);
            if (!def->cluster.secret_key && def->cluster.peer_keys[i])
                return sl_seterr(msg, SL__MSG, SL_EINVAL,
                                 "cluster.peers[%zu]: has a public_key but this node has no "
                                 "cluster.secret_key (or secret_key_file)",
                                 i);
        }
    }
    if (def->cluster.listen && !def->cluster.secret_key && !def->cluster.allow_insecure &&
        !sl_repl_endpoint_is_loopback(def->cluster.listen))
        return sl_seterr(msg, SL__MSG, SL_EINVAL,
                         "cluster.listen: \"%s\" can be reached from other hosts, and without "
                         "keys anyone who reaches it can read and overwrite checkpoints: set "
                         "cluster.secret_key (see `sluice keygen`) or, on a closed network, "
                         "\"allow_insecure\": true",
                         def->cluster.listen);
    return 0;
}

void sl__def_free_cluster(sl_def *def)
{
    free(def->cluster.node_id);
    free(def->cluster.listen);
    if (def->cluster.secret_key) {
        memset(def->cluster.secret_key, 0, strlen(def->cluster.secret_key));
        free(def->cluster.secret_key);
    }
    for (size_t i = 0; i < def->cluster.npeers; i++) {
        if (def->cluster.peer_keys)
            free(def->cluster.peer_keys[i]);
        if (def->cluster.peer_node_ids)
            free(def->cluster.peer_node_ids[i]);
    }
    free(def->cluster.peer_keys);
    free(def->cluster.peer_node_ids);
    sl_strings_free(def->cluster.peers, def->cluster.npeers);
}
