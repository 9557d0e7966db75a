/* hubd.c: the hub daemon: start-up, the one event loop, signals, shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "config.h"
#include "control.h"
#include "hub.h"
#include "jarena.h"
#include "log.h"
#include "node.h"
#include "sdnotify.h"
#include "store.h"
#include "sync.h"

#define HUBD_POLL_MAX 512
#define HUBD_TICK_MS 1000

static volatile sig_atomic_t hubd_stop;

static void on_signal(int sig) {
    hubd_stop = sig;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: hubd [--config FILE] [--data-dir DIR] [-n [-q]] [-d]\n"
            "\n"
            "The hubnet daemon: holds this hub's identity and signed records, answers hubctl on\n"
            "its control socket and replicates with its peers.\n"
            "\n"
            "  -c, --config FILE    read this INI file (default: none, built-in defaults)\n"
            "  -D, --data-dir DIR   data directory (overrides [hub] data_dir)\n"
            "  -n, --check          check the configuration, print it and exit\n"
            "  -q, --quiet          with -n: print nothing unless the configuration is wrong\n"
            "  -d, --debug          log at debug level\n"
            "  -h, --help           this help\n"
            "  -V, --version        print the version\n"
            "\n"
            "Stop it with SIGTERM (systemctl stop hubd). See config/hubd.conf for every key.\n");
}

/* One hubd per data directory: an flock held for the daemon's lifetime. */
static int lock_data_dir(const char *dir) {
    char path[1024];
    int w = snprintf(path, sizeof path, "%s/hubd.lock", dir);
    if (w < 0 || (size_t)w >= sizeof path)
        fatalx("hubd", "data_dir path too long");
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        fatalx("hubd", "cannot open %s: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "?";
        ssize_t r = pread(fd, pid, sizeof pid - 1, 0);
        if (r > 0) {
            pid[r] = 0;
            pid[strcspn(pid, "\n")] = 0;
        }
        fatalx("hubd", "another hubd (pid %s) is already using data dir %s; stop it first", pid,
               dir);
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        log_warn("hubd", "cannot write pid to %s", path);
    return fd;
}

int main(int argc, char **argv) {
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"data-dir", required_argument, NULL, 'D'},
                                         {"check", no_argument, NULL, 'n'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {"debug", no_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *data_dir = NULL;
    int check = 0, quiet = 0, debug = 0, ch;
    jarena_install(); /* before any JSON value exists */
    while ((ch = getopt_long(argc, argv, "c:D:nqdhV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config_path = optarg;
            break;
        case 'D':
            data_dir = optarg;
            break;
        case 'n':
            check = 1;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'd':
            debug = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("hubd %s\n", HUB_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }

    struct config cfg;
    char err[512];
    config_defaults(&cfg);
    if (config_path && config_load(&cfg, config_path, err, sizeof err) != 0) {
        fprintf(stderr, "hubd: %s\n", err);
        return 1;
    }
    if (data_dir) {
        if (strlen(data_dir) >= sizeof cfg.data_dir) {
            fprintf(stderr, "hubd: --data-dir too long\n");
            return 1;
        }
        memcpy(cfg.data_dir, data_dir, strlen(data_dir) + 1);
    }
    if (config_finish(&cfg, err, sizeof err) != 0) {
        fprintf(stderr, "hubd: %s\n", err);
        return 1;
    }
    if (debug)
        cfg.log_level = LOG_DEBUG;
    if (check) {
        if (!quiet) /* -q: the exit status alone (systemd's ExecStartPre; errors still print) */
            config_print(&cfg, stdout);
        return 0;
    }
    log_init(cfg.log_level, cfg.log_format);
    if (sodium_init() < 0)
        fatalx("hubd", "libsodium failed to initialise");

    if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST)
        fatalx("hubd", "cannot create data dir %s: %s", cfg.data_dir, strerror(errno));
    int lockfd = lock_data_dir(cfg.data_dir);

    struct node *node = NULL;
    int rc = node_open(&cfg, &node);
    if (rc != 0)
        fatalx("hubd", "cannot open the hub in %s: %s (%s)", cfg.data_dir, hub_strerror(rc),
               hub_strmsg(rc));
    struct control *ctl = NULL;
    rc = control_open(node, cfg.control_socket, cfg.control_mode, cfg.control_max_clients, &ctl);
    if (rc != 0)
        fatalx("hubd", "cannot open control socket %s: %s", cfg.control_socket, hub_strmsg(rc));
    struct sync *sync = NULL;
    rc = sync_open(node, ctl, &sync);
    if (rc != 0)
        fatalx("hubd", "cannot start replication: %s (%s)", hub_strerror(rc), hub_strmsg(rc));

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    char hex[HUB_HEX_LEN + 1];
    hub_hex(node_identity(node)->pk, 32, hex);
    struct store_stats st;
    if (store_stats(node_store(node), &st) != 0)
        memset(&st, 0, sizeof st);
    log_info("hubd", "hubd %s starting: hub %s", HUB_VERSION, hex);
    log_info("hubd", "data dir %s: %llu entries, %llu current records, %llu feeds, %llu forks",
             cfg.data_dir, (unsigned long long)st.entries, (unsigned long long)st.records,
             (unsigned long long)st.feeds, (unsigned long long)st.forks);
    log_info("hubd", "control socket %s (mode %04o)", cfg.control_socket, cfg.control_mode);
    /* systemd (Type=notify): the store is open and every socket is bound, so a client that
     * starts after "systemctl start" returns finds hubd answering. */
    char ready[160];
    snprintf(ready, sizeof ready, "hub %.16s: %llu entries, %llu feeds", hex,
             (unsigned long long)st.entries, (unsigned long long)st.feeds);
    sdnotify_ready(ready);

    zmq_pollitem_t items[HUBD_POLL_MAX];
    while (!hubd_stop) {
        /* timers first: they may close and reopen sockets, which the poll set must not hold */
        long timeout = sync_tick(sync);
        size_t nctl = control_poll_items(ctl, items, HUBD_POLL_MAX);
        size_t nsync = sync_poll_items(sync, items + nctl, HUBD_POLL_MAX - nctl);
        if (timeout > HUBD_TICK_MS)
            timeout = HUBD_TICK_MS;
        if (control_has_backlog(ctl))
            timeout = 0;
        int n = zmq_poll(items, (int)(nctl + nsync), timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fatalx("hubd", "zmq_poll: %s", zmq_strerror(errno));
        }
        /* Control first: a query waits at most for the sync work of one turn, not for it and
         * the next. sync_handle checks that a polled socket still belongs to its session, as
         * peer_remove may have closed it. */
        control_handle(ctl, items, nctl);
        sync_handle(sync, items + nctl, nsync);
        node_tick(node, hub_now_ms());
        sdnotify_watchdog();
    }

    log_info("hubd", "received %s, shutting down", hubd_stop == SIGTERM ? "SIGTERM" : "SIGINT");
    sdnotify_stopping("shutting down");
    sync_destroy(&sync);
    control_destroy(&ctl);
    node_destroy(&node);
    close(lockfd);
    log_info("hubd", "stopped cleanly");
    return 0;
}
