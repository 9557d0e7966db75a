/* sdnotify.c: systemd's notify protocol through libsystemd's sd_notify (a datagram to
 * $NOTIFY_SOCKET). The watchdog is fed from the event loop, so a loop that hangs (a stuck write,
 * a livelock) stops feeding it and systemd restarts hubd after WatchdogSec=. */
#include "sdnotify.h"

#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "log.h"

static uint64_t watchdog_every_ms; /* half of WatchdogSec=; 0: no watchdog */
static uint64_t watchdog_last_ms;
static int watchdog_checked;

static void notify(const char *what, const char *status) {
    char msg[512];
    int n = status ? snprintf(msg, sizeof msg, "%s\nSTATUS=%s", what, status)
                   : snprintf(msg, sizeof msg, "%s", what);
    if (n < 0 || (size_t)n >= sizeof msg)
        n = snprintf(msg, sizeof msg, "%s", what);
    int rc = sd_notify(0, msg);
    if (rc < 0)
        log_warnx("hubd", "cannot notify systemd (%s): error %d", what, -rc);
}

void sdnotify_ready(const char *status) {
    notify("READY=1", status);
}

void sdnotify_stopping(const char *status) {
    notify("STOPPING=1", status);
}

void sdnotify_watchdog(void) {
    if (!watchdog_checked) {
        uint64_t usec = 0;
        watchdog_checked = 1;
        if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
            watchdog_every_ms = usec / 2000;
            if (watchdog_every_ms == 0)
                watchdog_every_ms = 1;
            log_info("hubd", "systemd watchdog: fed every %llu ms",
                     (unsigned long long)watchdog_every_ms);
        }
    }
    if (watchdog_every_ms == 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    if (now_ms - watchdog_last_ms < watchdog_every_ms)
        return;
    watchdog_last_ms = now_ms;
    notify("WATCHDOG=1", NULL);
}
