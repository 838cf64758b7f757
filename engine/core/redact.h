/*
 * redact.h - the one place that decides what is a secret and keeps secrets
 * out of everything Sluice prints: `explain`, logs, error messages and the
 * HTTP endpoints.
 *
 * Two mechanisms, both needed:
 *   - by name: a key whose name says "secret" (sl_redact_is_secret) is shown
 *     as "***" wherever a definition or connector configuration is printed
 *     (sl_redact_value, sl_redact_json, sl_redact_repr);
 *   - by value: every secret value of a loaded definition is registered
 *     (sl_redact_register_json), and each log line and each sl_seterr
 *     message is scrubbed of registered values (sl_redact_scrub) — so a
 *     secret echoed by a library ("invalid value ... for sasl.password") or
 *     quoted in a parse error does not leak either.
 * Secrets shorter than SL_REDACT_MIN_LEN are not registered (scrubbing
 * "ab" would garble every message); name-based redaction covers them.
 * Thread-safe; not for the hot path (a mutex guards the registry).
 */
#ifndef SL_REDACT_H
#define SL_REDACT_H

#include <jansson.h>
#include <stddef.h>

#define SL_REDACTED       "***"
#define SL_REDACT_MIN_LEN 4

/* 1 when a property or key named `name` holds a secret: any name that
 * contains "password", "secret" or "passphrase" (case-insensitive; e.g.
 * sasl.password, ssl.key.password, ssl.keystore.password,
 * sasl.oauthbearer.client.secret, cluster.secret_key), and "token",
 * "ssl.key.pem" and "sasl.oauthbearer.config" exactly. */
int sl_redact_is_secret(const char *name);

/* `value`, or SL_REDACTED when `name` is a secret. */
const char *sl_redact_value(const char *name, const char *value);

/* A deep copy of `v` in which the value of every secret-named key, at any
 * depth, is the string SL_REDACTED (caller decrefs; NULL if v is NULL). */
json_t *sl_redact_json(const json_t *v);

/* Like sl_json_repr (short JSON text of v into buf), for the value of key
 * `name`: SL_REDACTED when the name is a secret, else the text of the
 * redacted copy. Returns buf. */
const char *sl_redact_repr(const char *name, const json_t *v, char *buf, size_t size);

/* Remembers `secret` (copied) so sl_redact_scrub replaces it. Values
 * shorter than SL_REDACT_MIN_LEN and duplicates are ignored. */
void sl_redact_register(const char *secret);
/* Registers the string value of every secret-named key in `v`, at any
 * depth (numbers are registered by their decimal text). */
void sl_redact_register_json(const json_t *v);
/* Forgets every registered secret (tests). */
void sl_redact_forget_all(void);

/* Replaces, in the NUL-terminated `buf`, every occurrence of a registered
 * secret with SL_REDACTED. The text never grows. Returns the number of
 * replacements. */
size_t sl_redact_scrub(char *buf);

#endif
