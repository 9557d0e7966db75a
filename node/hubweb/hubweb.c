/* hubweb.c: main of hubweb, the hub's web pages: options, the configuration (the hub's own
 * config file, read by node/core/config.c: [hub] data_dir and control_socket, [log], and the
 * [web] section), start-up of the HTTP server and the page modules, and signals (SIGINT and
 * SIGTERM stop it; SIGHUP is ignored: restart hubweb to read a changed config).
 *
 * hubweb holds no key and opens no store: it reaches hubd only through its control socket, so
 * the process that parses web requests can neither sign nor corrupt the hub's data. */
#include "config.h"
#include "hub.h"
#include "log.h"
#include "web.h"

#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: hubweb [--config FILE] [--listen HOST:PORT] [--control PATH]\n"
    "\n"
    "Serves the hub's web pages over HTTP: the public catalogue, the network page and the\n"
    "staff pages, reading and writing through hubd's control socket.\n"
    "\n"
    "  -c, --config FILE     the hub's config file (hubd's): [hub] data_dir and control_socket,\n"
    "                        [log], and [web] listen, catalogue, session_ttl, signin_attempts,\n"
    "                        threads\n"
    "  -l, --listen HOST:PORT  address to serve HTTP on (overrides [web] listen;\n"
    "                        default 127.0.0.1:8480: put a reverse proxy with TLS in front)\n"
    "  -s, --control PATH    hubd's control socket (overrides [hub] control_socket)\n"
    "  -h, --help            this text\n"
    "  -V, --version         hubweb's version\n";

int main(int argc, char **argv) {
    struct config cfg;
    struct web_conf wc;
    const char *config_path = NULL, *listen = NULL, *control = NULL;
    char err[600];
    sigset_t sigs;
    int sig;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("hubweb %s\n", HUB_VERSION);
            return 0;
        }
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0)
            dst = &config_path;
        else if (strcmp(a, "-l") == 0 || strcmp(a, "--listen") == 0)
            dst = &listen;
        else if (strcmp(a, "-s") == 0 || strcmp(a, "--control") == 0)
            dst = &control;
        if (dst == NULL || i + 1 >= argc) {
            fprintf(stderr, "hubweb: %s '%s'\n%s",
                    dst == NULL ? "unknown option" : "missing value for", a, usage);
            return 2;
        }
        *dst = argv[++i];
    }

    config_defaults(&cfg);
    if (config_path != NULL && config_load(&cfg, config_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "hubweb: %s\n", err);
        return 1;
    }
    if (control != NULL) {
        if (strlen(control) >= sizeof(cfg.control_socket)) {
            fprintf(stderr, "hubweb: --control: path too long\n");
            return 1;
        }
        memcpy(cfg.control_socket, control, strlen(control) + 1);
    }
    if (config_finish(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "hubweb: %s\n", err);
        return 1;
    }
    log_init(cfg.log_level, cfg.log_format);

    memset(&wc, 0, sizeof(wc));
    if (config_parse_hostport(listen ? listen : cfg.web_listen, wc.host, sizeof(wc.host),
                              &wc.port) != 0) {
        fprintf(stderr, "hubweb: %s: expected HOST:PORT with a port from 1 to 65535, got '%s'\n",
                listen ? "--listen" : "web.listen", listen ? listen : cfg.web_listen);
        return 1;
    }
    memcpy(wc.control, cfg.control_socket, sizeof(wc.control));
    memcpy(wc.data_dir, cfg.data_dir, sizeof(wc.data_dir));
    wc.catalogue = cfg.web_catalogue;
    wc.session_ttl_s = cfg.web_session_ttl_s;
    wc.signin_attempts = cfg.web_signin_attempts;
    wc.threads = cfg.web_threads;

    /* Before any thread: after it, libsodium's functions (session ids, CSRF tokens) are
     * thread-safe. */
    if (sodium_init() < 0)
        fatalx("main", "libsodium cannot be initialised");
    if (web_ctl_init(wc.control, wc.threads) != 0)
        fatalx("main", "control socket path too long (%s), or %u threads over the limit",
               wc.control, wc.threads);

    /* Block the signals before the HTTP threads start, so that they inherit the mask and only
     * this thread receives them (in sigwait). */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0)
        fatalx("main", "cannot block signals");

    web_assets_init();
    web_catalogue_init();
    web_network_init();
    web_staff_init(&wc);
    if (web_http_start(&wc) != 0)
        return 1;
    log_info("main", "hubweb %s serving http://%s%s%s:%u/ (catalogue %s, %u threads), hubd at %s",
             HUB_VERSION, strchr(wc.host, ':') ? "[" : "", wc.host, strchr(wc.host, ':') ? "]" : "",
             wc.port, wc.catalogue ? "public" : "staff only", wc.threads, wc.control);

    for (;;) {
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGINT || sig == SIGTERM)
            break;
        if (sig == SIGHUP)
            log_info("main", "SIGHUP ignored: restart hubweb to read a changed config");
    }
    log_info("main", "stopping (signal %d)", sig);
    web_http_stop();
    web_ctl_close();
    return 0;
}
