/*
 * log.h - structured logging: one JSON object per line on stderr
 * ({"ts":..., "level":..., "component":..., "msg":..., fields...}), or a
 * human-readable line when stderr is a terminal.
 *
 * Thread-safe (each line is one write(2)). Never called on the per-event
 * hot path.
 */
#ifndef SL_LOG_H
#define SL_LOG_H

typedef enum sl_log_level {
    SL_LOG_DEBUG = 0,
    SL_LOG_INFO,
    SL_LOG_WARN,
    SL_LOG_ERROR,
    SL_LOG_OFF
} sl_log_level;

/* Sets the minimum level written. Returns 0, or SL_EINVAL for an unknown
 * name ("debug", "info", "warn", "error", "off"). */
int sl_log_set_level_name(const char *name);
void sl_log_set_level(sl_log_level level);
sl_log_level sl_log_get_level(void);
/* Forces JSON (1) or human (0) format; -1 picks by isatty(stderr). */
void sl_log_set_json(int json);

/* Writes one log line. `fields` is NULL or a string of extra JSON members
 * without braces, e.g. "\"partition\":3,\"offset\":42" (the caller is
 * responsible for its validity). */
void sl_log_fields(sl_log_level level, const char *component, const char *fields, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

#define sl_log(level, component, ...) sl_log_fields(level, component, NULL, __VA_ARGS__)
#define sl_debug(c, ...)              sl_log(SL_LOG_DEBUG, c, __VA_ARGS__)
#define sl_info(c, ...)               sl_log(SL_LOG_INFO, c, __VA_ARGS__)
#define sl_warn(c, ...)               sl_log(SL_LOG_WARN, c, __VA_ARGS__)
#define sl_error(c, ...)              sl_log(SL_LOG_ERROR, c, __VA_ARGS__)

#endif
