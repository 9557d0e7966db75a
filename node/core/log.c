/* log.c: operator logs on stderr, one line per event (after OpenSMTPD's log.c).
 *
 * Text:  2026-11-27T22:10:03.123Z INFO  control: message
 * JSON:  {"ts":"2026-11-27T22:10:03.123Z","level":"info","subsys":"control","msg":"message"}
 *
 * Journal: <6>INFO  control: message   (stderr is journald's stream: priority, no timestamp)
 *
 * Each line is built in a buffer on the caller's stack and written with one write(2), so lines
 * from several threads never interleave; the only shared state is the level and the format. */
#include "log.h"
#include "hub.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One line at most PIPE_BUF bytes: writes of that size to a pipe are atomic, so lines stay
 * whole even when stderr is a pipe shared with other processes (systemd, a test harness). */
#define LOG_MAX_LINE 4096
#define LOG_MAX_MSG 2048 /* formatted message before escaping; escaping may grow it */
#define LOG_TRUNCATED "..."

/* Atomics: log_init may race with threads that already log. */
static atomic_int log_cur_level = LOG_INFO;
static atomic_int log_cur_format = LOG_TEXT;

static const char *const log_names[] = {"error", "warn", "info", "debug"};
static const char *const log_tags[] = {"ERROR", "WARN ", "INFO ", "DEBUG"};
/* syslog priorities as journald reads them at the start of a line (sd-daemon.h's SD_ERR ...). */
static const char *const log_journal_prio[] = {"<3>", "<4>", "<6>", "<7>"};

/* 1 when stderr is the journal: systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it
 * connected, so a line carries its priority and no timestamp of its own (journald stamps it).
 * Compared with stderr itself: a child that inherited the variable but not the stream is not. */
static atomic_int log_to_journal;

static int log_stderr_is_journal(void) {
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    char tail;
    struct stat st;
    if (js == NULL || sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) != 2)
        return 0;
    if (fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_level level, enum log_format format) {
    atomic_store_explicit(&log_to_journal, log_stderr_is_journal(), memory_order_relaxed);
    atomic_store_explicit(&log_cur_level, (int)level, memory_order_relaxed);
    atomic_store_explicit(&log_cur_format, (int)format, memory_order_relaxed);
}

const char *log_level_name(enum log_level level) {
    if ((int)level < 0 || (size_t)level >= HUB_ARRAY_LEN(log_names))
        return "unknown";
    return log_names[level];
}

/* Output buffer that refuses to overflow: once full it stays full and the line is marked. */
struct log_buf {
    char *p;
    size_t len, cap; /* cap excludes the room kept for the truncation mark and newline */
    int full;
};

static void log_put(struct log_buf *b, const char *s, size_t n) {
    if (b->full)
        return;
    if (n > b->cap - b->len) {
        b->full = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void log_puts(struct log_buf *b, const char *s) {
    log_put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is not one. Overlong
 * forms, surrogates and code points past U+10FFFF are invalid. */
static size_t log_utf8_len(const unsigned char *s, size_t n) {
    size_t len;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2;
        cp = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3;
        cp = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* Copy a message so that it stays on one line and, in JSON, inside one valid string. A message
 * may carry text from the network (an endpoint, a peer's error string): control characters and
 * invalid UTF-8 are escaped so it can neither forge a second log line nor break a JSON parser.
 * An escape is written whole or not at all. */
static void log_escape(struct log_buf *b, const char *msg, int json) {
    const unsigned char *s = (const unsigned char *)msg;
    size_t n = strlen(msg);
    char esc[16];

    for (size_t i = 0; i < n && !b->full;) {
        unsigned char c = s[i];
        const char *rep = NULL;

        switch (c) {
        case '\n':
            rep = "\\n";
            break;
        case '\r':
            rep = "\\r";
            break;
        case '\t':
            rep = "\\t";
            break;
        case '"':
            rep = json ? "\\\"" : NULL;
            break;
        case '\\':
            /* Escaped in text too, so that "\\n" in a line always means a newline. */
            rep = "\\\\";
            break;
        default:
            break;
        }
        if (rep != NULL) {
            log_puts(b, rep);
            i++;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            /* snprintf cannot fail or truncate here: at most 6 characters. */
            snprintf(esc, sizeof(esc), json ? "\\u%04x" : "\\x%02x", c);
            log_puts(b, esc);
            i++;
            continue;
        }
        size_t len = log_utf8_len(s + i, n - i);
        if (len == 0) {
            if (json) {
                log_puts(b, "\\ufffd");
            } else {
                snprintf(esc, sizeof(esc), "\\x%02x", c);
                log_puts(b, esc);
            }
            i++;
            continue;
        }
        log_put(b, (const char *)s + i, len);
        i += len;
    }
}

/* "2026-11-27T22:10:03.123Z"; out holds at least 32 bytes. */
static void log_timestamp(char *out, size_t len) {
    struct timespec ts;
    struct tm tm;
    size_t n;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || gmtime_r(&ts.tv_sec, &tm) == NULL ||
        (n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
        snprintf(out, len, "%s", "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out + n, len - n, ".%03uZ", (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

static void log_write_all(const char *p, size_t len) {
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report a failing stderr */
        }
        p += w;
        len -= (size_t)w;
    }
}

/* with_errno: the saved errno to append as ": strerror", or 0 for none. */
static void log_vemit(enum log_level level, const char *subsys, int with_errno, const char *fmt,
                      va_list ap) __attribute__((format(printf, 4, 0)));

static void log_vemit(enum log_level level, const char *subsys, int with_errno, const char *fmt,
                      va_list ap) {
    char msg[LOG_MAX_MSG];
    char line[LOG_MAX_LINE];
    char ts[32];
    char ebuf[128];
    int json = atomic_load_explicit(&log_cur_format, memory_order_relaxed) == LOG_JSON;
    int journal = atomic_load_explicit(&log_to_journal, memory_order_relaxed);
    int n;

    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0) {
        snprintf(msg, sizeof(msg), "(unformattable log message: %s)", fmt);
    } else if ((size_t)n >= sizeof(msg)) {
        /* Mark the cut so nobody mistakes a truncated message for the whole. */
        memcpy(msg + sizeof(msg) - sizeof(LOG_TRUNCATED), LOG_TRUNCATED, sizeof(LOG_TRUNCATED));
    }
    log_timestamp(ts, sizeof(ts));

    /* Keep room for the truncation mark, the JSON closing and the newline. */
    struct log_buf b = {line, 0, sizeof(line) - sizeof(LOG_TRUNCATED) - 4, 0};
    if (subsys == NULL)
        subsys = "hubd";
    if (journal)
        log_puts(&b, log_journal_prio[level]);
    if (json) {
        log_puts(&b, "{\"ts\":\"");
        log_puts(&b, ts);
        log_puts(&b, "\",\"level\":\"");
        log_puts(&b, log_level_name(level));
        log_puts(&b, "\",\"subsys\":\"");
        log_escape(&b, subsys, 1);
        log_puts(&b, "\",\"msg\":\"");
        log_escape(&b, msg, 1);
    } else {
        if (!journal) {
            log_puts(&b, ts);
            log_puts(&b, " ");
        }
        log_puts(&b, log_tags[level]);
        log_puts(&b, " ");
        log_escape(&b, subsys, 0);
        log_puts(&b, ": ");
        log_escape(&b, msg, 0);
    }
    if (with_errno != 0) {
        /* GNU strerror_r (_GNU_SOURCE): thread-safe, returns a pointer that may not be ebuf. */
        const char *es = strerror_r(with_errno, ebuf, sizeof(ebuf));
        log_puts(&b, ": ");
        log_escape(&b, es, json);
    }
    if (b.full) {
        b.cap = sizeof(line);
        b.full = 0;
        log_puts(&b, LOG_TRUNCATED);
    }
    b.cap = sizeof(line);
    if (json)
        log_puts(&b, "\"}");
    log_puts(&b, "\n");
    log_write_all(line, b.len);
}

static int log_enabled(enum log_level level) {
    return (int)level <= atomic_load_explicit(&log_cur_level, memory_order_relaxed);
}

/* Each public function saves errno first and restores it last: callers log on an error path
 * and then still test errno. */
#define LOG_DEFINE(name, level, append_errno)                                                      \
    void name(const char *subsys, const char *fmt, ...) {                                          \
        int saved = errno;                                                                         \
        va_list ap;                                                                                \
        if (log_enabled(level)) {                                                                  \
            va_start(ap, fmt);                                                                     \
            log_vemit(level, subsys, (append_errno) ? saved : 0, fmt, ap);                         \
            va_end(ap);                                                                            \
        }                                                                                          \
        errno = saved;                                                                             \
    }

LOG_DEFINE(log_error, LOG_ERROR, 0)
LOG_DEFINE(log_warn, LOG_WARN, 1)
LOG_DEFINE(log_warnx, LOG_WARN, 0)
LOG_DEFINE(log_info, LOG_INFO, 0)
LOG_DEFINE(log_debug, LOG_DEBUG, 0)

noreturn void fatalx(const char *subsys, const char *fmt, ...) {
    va_list ap;

    va_start(ap, fmt);
    log_vemit(LOG_ERROR, subsys, 0, fmt, ap);
    va_end(ap);
    exit(1);
}
