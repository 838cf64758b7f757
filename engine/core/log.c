/* log.c - structured JSON-lines logging (see log.h). */
#include "log.h"
#include "common.h"
#include "redact.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int sl__log_level = SL_LOG_INFO;
static _Atomic int sl__log_json = -1;

static const char *const sl__level_names[] = {"debug", "info", "warn", "error", "off"};

int sl_log_set_level_name(const char *name)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(sl__level_names); i++) {
        if (strcmp(name, sl__level_names[i]) == 0) {
            sl_log_set_level((sl_log_level)i);
            return SL_OK;
        }
    }
    if (strcmp(name, "warning") == 0) {
        sl_log_set_level(SL_LOG_WARN);
        return SL_OK;
    }
    return SL_EINVAL;
}

void sl_log_set_level(sl_log_level level)
{
    atomic_store(&sl__log_level, (int)level);
}

sl_log_level sl_log_get_level(void)
{
    return (sl_log_level)atomic_load(&sl__log_level);
}

void sl_log_set_json(int json)
{
    atomic_store(&sl__log_json, json);
}

/* Appends `s` to buf as the body of a JSON string (escaped). */
static size_t sl__json_escape(char *buf, size_t pos, size_t cap, const char *s)
{
    for (; *s && pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[pos++] = '\\';
            buf[pos++] = (char)c;
        } else if (c == '\n') {
            buf[pos++] = '\\';
            buf[pos++] = 'n';
        } else if (c < 0x20) {
            pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
        } else {
            buf[pos++] = (char)c;
        }
    }
    return pos;
}

void sl_log_fields(sl_log_level level, const char *component, const char *fields, const char *fmt,
                   ...)
{
    if ((int)level < atomic_load(&sl__log_level))
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sl_redact_scrub(msg);

    int json = atomic_load(&sl__log_json);
    if (json < 0)
        json = !isatty(STDERR_FILENO);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[96];
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);

    char line[4096];
    size_t pos;
    if (json) {
        pos =
            (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"",
                             when, sl__level_names[level]);
        pos = sl__json_escape(line, pos, sizeof(line), component);
        pos += (size_t)snprintf(line + pos, sizeof(line) - pos, "\",\"msg\":\"");
        pos = sl__json_escape(line, pos, sizeof(line), msg);
        if (pos < sizeof(line))
            pos += (size_t)snprintf(line + pos, sizeof(line) - pos, "\"%s%s}\n",
                                    fields && *fields ? "," : "", fields ? fields : "");
    } else {
        pos = (size_t)snprintf(line, sizeof(line), "%s %-5s [%s] %s%s%s\n", when,
                               sl__level_names[level], component, msg, fields && *fields ? " " : "",
                               fields ? fields : "");
    }
    if (pos >= sizeof(line)) {
        pos = sizeof(line) - 1;
        line[pos - 1] = '\n';
    }
    line[pos] = '\0';
    if (sl_redact_scrub(line)) /* a secret in the structured fields */
        pos = strlen(line);
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}
