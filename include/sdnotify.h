/* sdnotify.h: telling systemd (Type=notify units) where hubd is: ready, alive, stopping.
 * Every call does nothing when hubd was not started by systemd (no $NOTIFY_SOCKET). */
#ifndef SDNOTIFY_H
#define SDNOTIFY_H

/* READY=1 with a one-line STATUS=: call once the store is open and every socket is bound. */
void sdnotify_ready(const char *status);
/* WATCHDOG=1 when WatchdogSec= is set and half its interval has passed since the last one:
 * call from the event loop on every turn. */
void sdnotify_watchdog(void);
/* STOPPING=1 with STATUS=: shutdown has begun. */
void sdnotify_stopping(const char *status);

#endif
