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
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "config.h"
#include "control.h"
#include "hub.h"
#include "jarena.h"
#include "log.h"
#include "match.h"
#include "node.h"
#include "records.h"
#include "sdnotify.h"
#include "store.h"
#include "sync.h"

#define HUBD_TICK_MS 1000

/* Signals (README, "Signals"): set here, acted on by the event loop, which a signal wakes
 * (zmq_poll fails with EINTR) or which looks at least every HUBD_TICK_MS when the signal went
 * to one of libzmq's threads. */
static volatile sig_atomic_t hubd_stop, hubd_reload, hubd_usr1, hubd_usr2;

static void on_signal(int sig) {
    switch (sig) {
    case SIGHUP:
        hubd_reload = 1;
        break;
    case SIGUSR1:
        hubd_usr1 = 1;
        break;
    case SIGUSR2:
        hubd_usr2 = 1;
        break;
    default:
        if (!hubd_stop)
            hubd_stop = sig;
        break;
    }
}

/* Signals whose default would end hubd without a word. The crash signals (SIGSEGV, SIGBUS,
 * SIGABRT, ...) keep their default: a core dump says more than a log line. */
static const struct {
    int sig;
    const char *name;
} hubd_signals[] = {
    {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"}, {SIGHUP, "SIGHUP"},
    {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"}, {SIGALRM, "SIGALRM"}, {SIGVTALRM, "SIGVTALRM"},
    {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"}, {SIGPWR, "SIGPWR"},
};

static const char *signal_name(int sig) {
    for (size_t i = 0; i < HUB_ARRAY_LEN(hubd_signals); i++)
        if (hubd_signals[i].sig == sig)
            return hubd_signals[i].name;
    return "a signal";
}

static void install_signals(void) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < HUB_ARRAY_LEN(hubd_signals); i++)
        if (sigaction(hubd_signals[i].sig, &sa, NULL) != 0)
            fatalx("hubd", "sigaction %s: %s", hubd_signals[i].name, strerror(errno));
    signal(SIGPIPE, SIG_IGN);
}

/* Every control client is a descriptor: use what the hard limit allows. */
static void raise_fd_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
        return;
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log_warn("hubd", "cannot raise the descriptor limit from %llu", (unsigned long long)was);
    else
        log_info("hubd", "descriptor limit raised from %llu to %llu", (unsigned long long)was,
                 (unsigned long long)rl.rlim_max);
}

struct hubd_run {
    const char *config_path, *data_dir_flag;
    int debug;
    struct node *node;
    struct control *ctl;
    struct sync *sync;
};

/* SIGHUP: read the file again; apply what may change at run time (config_reload says what),
 * or keep everything as it is when the file is bad. */
static void reload(struct hubd_run *r) {
    if (!r->config_path) {
        log_warnx("hubd", "SIGHUP: hubd runs without --config: nothing to reload");
        return;
    }
    log_info("hubd", "SIGHUP: reloading %s", r->config_path);
    struct config *next = malloc(sizeof *next);
    char err[512];
    if (!next) {
        log_error("hubd", "reload: out of memory; still running on the previous configuration");
        return;
    }
    config_defaults(next);
    int rc = config_load(next, r->config_path, err, sizeof err);
    if (rc == 0 && r->data_dir_flag)
        snprintf(next->data_dir, sizeof next->data_dir, "%s", r->data_dir_flag);
    if (rc == 0)
        rc = config_finish(next, err, sizeof err);
    if (rc != 0) {
        log_error("config", "%s", err);
        log_error("hubd", "reload failed; still running on the previous configuration");
        free(next);
        return;
    }
    if (r->debug)
        next->log_level = LOG_DEBUG; /* -d outranks the file, as at start */
    sync_reload(r->sync, node_config(r->node), next);
    size_t changes = config_reload(node_config_mut(r->node), next);
    const struct config *cfg = node_config(r->node);
    control_reload(r->ctl, cfg);
    log_init(cfg->log_level, cfg->log_format);
    log_info("hubd", "reload done: %zu change(s) applied", changes);
    free(next);
}

/* SIGUSR1: one line for an operator who wants to know the hub is alive. */
static void log_summary(struct node *node) {
    struct store_stats st;
    if (store_stats(node_store(node), &st) != 0) {
        log_warnx("hubd", "SIGUSR1: cannot read store statistics");
        return;
    }
    log_info("hubd",
             "SIGUSR1: %llu entries, %llu current records, %llu feeds, %llu forks, "
             "%llu bytes used of the map",
             (unsigned long long)st.entries, (unsigned long long)st.records,
             (unsigned long long)st.feeds, (unsigned long long)st.forks,
             (unsigned long long)st.used_bytes);
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
            "Stop it with SIGTERM (systemctl stop hubd); SIGHUP reloads the config file, SIGUSR1\n"
            "logs a summary line. See config/hubd.conf for every key.\n");
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
    if (hub_malloc_setup() != 0)
        log_warnx("hubd", "mallopt(M_MMAP_THRESHOLD) refused: memory may grow with catch-ups");
    install_signals(); /* before anything that takes time: a signal now is logged, not fatal */
    raise_fd_limit();
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
    /* Before control: its listener keeps the caches of the views control writes current. */
    struct records *recs = NULL;
    rc = records_open(node, NULL, &recs);
    if (rc != 0)
        fatalx("hubd", "cannot load the replies' state: %s (%s)", hub_strerror(rc), hub_strmsg(rc));
    struct control *ctl = NULL;
    rc = control_open(node, cfg.control_socket, cfg.control_mode, cfg.control_max_clients, &ctl);
    if (rc != 0)
        fatalx("hubd", "cannot open control socket %s: %s", cfg.control_socket, hub_strmsg(rc));
    control_set_records(ctl, recs);
    if ((rc = match_init(node, recs)) != 0)
        fatalx("hubd", "cannot set up the match call: %s", hub_strmsg(rc));
    struct sync *sync = NULL;
    rc = sync_open(node, ctl, &sync);
    if (rc != 0)
        fatalx("hubd", "cannot start replication: %s (%s)", hub_strerror(rc), hub_strmsg(rc));

    struct hubd_run run = {config_path, data_dir, debug, node, ctl, sync};
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

    /* Room for every control client and every sync socket, so that neither is ever left out
     * of the poll set (control_max_clients is checked against the descriptor limit). */
    size_t cap_ctl = control_poll_capacity(ctl), cap_sync = sync_poll_capacity();
    zmq_pollitem_t *items = calloc(cap_ctl + cap_sync, sizeof *items);
    if (!items)
        fatalx("hubd", "cannot allocate %zu poll items", cap_ctl + cap_sync);
    while (!hubd_stop) {
        if (hubd_reload) {
            hubd_reload = 0;
            reload(&run);
        }
        if (hubd_usr1) {
            hubd_usr1 = 0;
            log_summary(node);
        }
        if (hubd_usr2) {
            hubd_usr2 = 0;
            log_info("hubd", "SIGUSR2 received: ignored (SIGHUP reloads, SIGUSR1 logs a summary)");
        }
        /* timers first: they may close and reopen sockets, which the poll set must not hold */
        long timeout = sync_tick(sync);
        size_t nctl = control_poll_items(ctl, items, cap_ctl);
        size_t nsync = sync_poll_items(sync, items + nctl, cap_sync);
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

    log_info("hubd", "received %s, shutting down", signal_name(hubd_stop));
    sdnotify_stopping("shutting down");
    free(items);
    sync_destroy(&sync);
    control_destroy(&ctl);
    log_info("hubd", "control socket %s removed", cfg.control_socket);
    node_destroy(&node);
    records_destroy(&recs);
    close(lockfd);
    log_info("hubd", "stopped cleanly");
    return 0;
}
