/* log.h: operator logs. One line per event: UTC timestamp, level, subsystem, message.
 * Text by default, JSON lines when log_set_format(LOG_JSON). errno is preserved. */
#ifndef HUB_LOG_H
#define HUB_LOG_H

#include <stdnoreturn.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
enum log_format { LOG_TEXT = 0, LOG_JSON = 1 };

void log_init(enum log_level level, enum log_format format);
const char *log_level_name(enum log_level level);

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
void log_error(const char *subsys, const char *fmt, ...) LOG_PRINTF(2, 3);
void log_warn(const char *subsys, const char *fmt, ...)
    LOG_PRINTF(2, 3); /* appends strerror(errno) */
void log_warnx(const char *subsys, const char *fmt, ...) LOG_PRINTF(2, 3);
void log_info(const char *subsys, const char *fmt, ...) LOG_PRINTF(2, 3);
void log_debug(const char *subsys, const char *fmt, ...) LOG_PRINTF(2, 3);
/* Start-up errors and broken invariants only: log and exit(1). */
noreturn void fatalx(const char *subsys, const char *fmt, ...) LOG_PRINTF(2, 3);

#endif
