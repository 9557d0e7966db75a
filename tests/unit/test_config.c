/* test_config.c: config defaults, loading every key, printing and reading back, and the
 * "FILE:LINE: reason" message of every kind of error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "hub.h"

#define KEY_A "5a1e000000000000000000000000000000000000000000000000000000000001"
#define KEY_B "77b0000000000000000000000000000000000000000000000000000000000002"
#define KEY_C "C1D4000000000000000000000000000000000000000000000000000000000003"

/* Write text to a fresh temporary file; path holds at least 64 bytes. */
static void write_temp(char *path, size_t len, const char *text) {
    const char *dir = getenv("TMPDIR");
    int fd;

    snprintf(path, len, "%s/hubd-test-config-XXXXXX", dir != NULL && dir[0] ? dir : "/tmp");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(close(fd), 0);
}

/* Load text over defaults; returns config_load's result, err filled. */
static int load_text(struct config *c, const char *text, char *path, size_t pathlen, char *err,
                     size_t errlen) {
    int rc;

    config_defaults(c);
    write_temp(path, pathlen, text);
    rc = config_load(c, path, err, errlen);
    unlink(path);
    return rc;
}

static void assert_contains(const char *haystack, const char *needle) {
    if (strstr(haystack, needle) == NULL) {
        print_error("expected '%s' in '%s'\n", needle, haystack);
        fail();
    }
}

static void assert_same_config(const struct config *a, const struct config *b) {
    assert_string_equal(a->data_dir, b->data_dir);
    assert_string_equal(a->control_socket, b->control_socket);
    assert_int_equal(a->control_mode, b->control_mode);
    assert_int_equal(a->control_max_clients, b->control_max_clients);
    assert_int_equal(a->control_idle_timeout_s, b->control_idle_timeout_s);
    assert_int_equal(a->max_map_bytes, b->max_map_bytes);
    assert_int_equal(a->sweep_interval_s, b->sweep_interval_s);
    assert_int_equal(a->own_recovery_wait_s, b->own_recovery_wait_s);
    assert_int_equal(a->log_level, b->log_level);
    assert_int_equal(a->log_format, b->log_format);
    assert_string_equal(a->listen, b->listen);
    assert_string_equal(a->pub_listen, b->pub_listen);
    assert_int_equal(a->sync_interval_s, b->sync_interval_s);
    assert_int_equal(a->batch_entries, b->batch_entries);
    assert_int_equal(a->window, b->window);
    assert_int_equal(a->policy, b->policy);
    assert_int_equal(a->hops, b->hops);
    assert_int_equal(a->discover, b->discover);
    assert_int_equal(a->max_peers, b->max_peers);
    assert_int_equal(a->npeers, b->npeers);
    for (size_t i = 0; i < a->npeers; i++) {
        assert_string_equal(a->peers[i].endpoint, b->peers[i].endpoint);
        assert_memory_equal(a->peers[i].key, b->peers[i].key, 32);
    }
    assert_int_equal(a->nallow, b->nallow);
    assert_int_equal(a->nanchor, b->nanchor);
    for (size_t i = 0; i < a->nanchor; i++)
        assert_memory_equal(a->anchor[i], b->anchor[i], 32);
    assert_int_equal(a->reply_quota, b->reply_quota);
    for (size_t i = 0; i < a->nallow; i++)
        assert_memory_equal(a->allow[i], b->allow[i], 32);
}

static void test_defaults(void **state) {
    struct config c;
    char err[256];

    config_defaults(&c);
    assert_string_equal(c.data_dir, "./hubdata");
    assert_string_equal(c.control_socket, "");
    assert_int_equal(c.control_mode, 0660);
    assert_int_equal(c.control_max_clients, 64);
    assert_int_equal(c.control_idle_timeout_s, 30);
    assert_int_equal(c.max_map_bytes, 64ULL << 30);
    assert_int_equal(c.sweep_interval_s, 60);
    assert_int_equal(c.own_recovery_wait_s, 30);
    assert_int_equal(c.log_level, LOG_INFO);
    assert_int_equal(c.log_format, LOG_TEXT);
    assert_string_equal(c.listen, "tcp://127.0.0.1:7400");
    assert_string_equal(c.pub_listen, "");
    assert_int_equal(c.sync_interval_s, 10);
    assert_int_equal(c.batch_entries, 2048);
    assert_int_equal(c.window, 16);
    assert_int_equal(c.policy, POLICY_TRUST);
    assert_int_equal(c.discover, 0);
    assert_int_equal(c.nanchor, 0);
    assert_int_equal(c.reply_quota, 20);
    assert_int_equal(c.max_peers, 16);
    assert_int_equal(c.npeers, 0);
    assert_int_equal(c.nallow, 0);

    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_string_equal(c.control_socket, "./hubdata/hubd.sock");
    assert_string_equal(c.pub_listen, "tcp://127.0.0.1:7401");
    assert_int_equal(c.hops, 2); /* the default of policy trust */
}

static const char every_key[] = "# every key, with comments and odd spacing\n"
                                "[hub]\n"
                                "data_dir = /var/lib/hubd\n"
                                "control_socket = /run/hubd/control.sock\n"
                                "control_mode = 0600\n"
                                "control_max_clients = 8\n"
                                "max_map_size = 2G\n"
                                "sweep_interval = 30\n"
                                "\n"
                                "; semicolon comment\n"
                                "[log]\n"
                                "  level = debug   ; inline comment\n"
                                "\tformat=json\n"
                                "[sync]\n"
                                "listen = tcp://*:7500\n"
                                "pub_listen = tcp://0.0.0.0:7600\n"
                                "interval = 5\n"
                                "batch = 1000\n"
                                "window = 8\n"
                                "policy = endorsed\n"
                                "hops = 2\n"
                                "discover = on\n"
                                "max_peers = 32\n"
                                "[peers]\n"
                                "peer = tcp://10.0.0.2:7400 " KEY_A "\n"
                                "peer = tcp://[::1]:7400\t" KEY_B "\n"
                                "[policy]\n"
                                "allow = " KEY_A "\n"
                                "allow = " KEY_C "\n";

static void test_every_key(void **state) {
    struct config c;
    char path[256], err[512];
    uint8_t key[32];

    assert_int_equal(load_text(&c, every_key, path, sizeof(path), err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_string_equal(c.data_dir, "/var/lib/hubd");
    assert_string_equal(c.control_socket, "/run/hubd/control.sock");
    assert_int_equal(c.control_mode, 0600);
    assert_int_equal(c.control_max_clients, 8);
    assert_int_equal(c.max_map_bytes, 2ULL << 30);
    assert_int_equal(c.sweep_interval_s, 30);
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_int_equal(c.log_format, LOG_JSON);
    assert_string_equal(c.listen, "tcp://*:7500");
    assert_string_equal(c.pub_listen, "tcp://0.0.0.0:7600");
    assert_int_equal(c.sync_interval_s, 5);
    assert_int_equal(c.batch_entries, 1000);
    assert_int_equal(c.window, 8);
    assert_int_equal(c.policy, POLICY_ENDORSED);
    assert_int_equal(c.hops, 2);
    assert_int_equal(c.discover, 1);
    assert_int_equal(c.max_peers, 32);
    assert_int_equal(c.npeers, 2);
    assert_string_equal(c.peers[0].endpoint, "tcp://10.0.0.2:7400");
    assert_int_equal(hub_unhex(KEY_A, key, 32), 0);
    assert_memory_equal(c.peers[0].key, key, 32);
    assert_string_equal(c.peers[1].endpoint, "tcp://[::1]:7400");
    assert_int_equal(hub_unhex(KEY_B, key, 32), 0);
    assert_memory_equal(c.peers[1].key, key, 32);
    assert_int_equal(c.nallow, 2);
    assert_int_equal(hub_unhex(KEY_C, key, 32), 0);
    assert_memory_equal(c.allow[1], key, 32);

    /* Explicit values survive config_finish unchanged. */
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_string_equal(c.control_socket, "/run/hubd/control.sock");
    assert_string_equal(c.pub_listen, "tcp://0.0.0.0:7600");
}

/* Print, load the printout, compare: what hubd -n shows is what hubd would run with. */
static void roundtrip(struct config *c) {
    struct config back;
    char path[256], err[512];
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);

    assert_non_null(mem);
    config_print(c, mem);
    assert_int_equal(fclose(mem), 0);
    config_defaults(&back);
    write_temp(path, sizeof(path), text);
    if (config_load(&back, path, err, sizeof(err)) != 0) {
        print_error("%s\n--- printed config ---\n%s", err, text);
        fail();
    }
    unlink(path);
    free(text);
    assert_same_config(c, &back);
}

static void test_print_roundtrip(void **state) {
    struct config c;
    char path[256], err[512];

    config_defaults(&c);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    roundtrip(&c);

    assert_int_equal(load_text(&c, every_key, path, sizeof(path), err, sizeof(err)), 0);
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    roundtrip(&c);

    /* Sizes print with the largest exact suffix, or in bytes. */
    assert_int_equal(
        load_text(&c, "[hub]\nmax_map_size = 3000000\n", path, sizeof(path), err, sizeof(err)), 0);
    assert_int_equal(c.max_map_bytes, 3000000);
    roundtrip(&c);
    assert_int_equal(
        load_text(&c, "[hub]\nmax_map_size = 1536k\n", path, sizeof(path), err, sizeof(err)), 0);
    assert_int_equal(c.max_map_bytes, 1536 * 1024);
    roundtrip(&c);
}

static void test_finish(void **state) {
    struct config c;
    char err[512];

    config_defaults(&c);
    snprintf(c.listen, sizeof(c.listen), "tcp://[::1]:9000");
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
    assert_string_equal(c.pub_listen, "tcp://[::1]:9001");

    config_defaults(&c);
    snprintf(c.listen, sizeof(c.listen), "tcp://127.0.0.1:65535");
    assert_int_equal(config_finish(&c, err, sizeof(err)), HUB_E_CONFIG);
    assert_contains(err, "sync.listen: port 65535");

    config_defaults(&c);
    snprintf(c.listen, sizeof(c.listen), "tcp://127.0.0.1:65535");
    snprintf(c.pub_listen, sizeof(c.pub_listen), "tcp://127.0.0.1:65534");
    assert_int_equal(config_finish(&c, err, sizeof(err)), 0);

    config_defaults(&c);
    snprintf(c.pub_listen, sizeof(c.pub_listen), "%s", c.listen);
    assert_int_equal(config_finish(&c, err, sizeof(err)), HUB_E_CONFIG);
    assert_contains(err, "must differ");

    /* A data_dir so long that the derived socket path would not fit in sun_path. */
    config_defaults(&c);
    memset(c.data_dir, 'd', 200);
    c.data_dir[200] = '\0';
    assert_int_equal(config_finish(&c, err, sizeof(err)), HUB_E_CONFIG);
    assert_contains(err, "hub.control_socket:");
}

struct bad_case {
    const char *text;
    int line;
    const char *reason;
};

static const struct bad_case bad_cases[] = {
    {"[sync]\nlisen = tcp://127.0.0.1:7400\n", 2, "unknown key 'lisen' in [sync]"},
    {"[hub]\ndata_dir = x\n\n[syncc]\n", 4, "unknown section [syncc]"},
    {"[syncc]\nlisten = x\n", 1, "unknown section [syncc]"},
    {"data_dir = x\n", 1, "key 'data_dir' outside any section"},
    {"[log]\nlevel = verbose\n", 2, "log.level: expected one of error, warn, info, debug"},
    {"[log]\nformat = xml\n", 2, "log.format: expected one of text, json"},
    {"[log]\nlevel = info # comment\n", 2, "log.level: expected one of"},
    {"[hub]\ndata_dir =\n", 2, "hub.data_dir: must not be empty"},
    {"[hub]\ncontrol_mode = 0680\n", 2, "hub.control_mode: expected an octal file mode"},
    {"[hub]\ncontrol_mode = 1777\n", 2, "hub.control_mode: expected an octal file mode"},
    {"[hub]\ncontrol_max_clients = 0\n", 2, "hub.control_max_clients: expected a whole number"},
    {"[hub]\ncontrol_max_clients = -1\n", 2, "hub.control_max_clients: expected a whole number"},
    {"[hub]\ncontrol_max_clients = 12abc\n", 2, "hub.control_max_clients: expected"},
    {"[hub]\ncontrol_idle_timeout = 0\n", 2,
     "hub.control_idle_timeout: expected a whole number from 1 to 3600"},
    {"[hub]\ncontrol_idle_timeout = 3601\n", 2,
     "hub.control_idle_timeout: expected a whole number from 1 to 3600"},
    {"[hub]\nmax_map_size = 64X\n", 2, "hub.max_map_size: expected a size"},
    {"[hub]\nmax_map_size = 1K\n", 2, "hub.max_map_size: expected a size"},
    {"[hub]\nmax_map_size = 99999T\n", 2, "hub.max_map_size: expected a size"},
    {"[hub]\nmax_map_size = G\n", 2, "hub.max_map_size: expected a size"},
    {"[hub]\nsweep_interval = 99999999999999999999999\n", 2, "hub.sweep_interval: expected"},
    {"[hub]\ncontrol_socket = /"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxx\n",
     2, "hub.control_socket: longer than"},
    {"[sync]\nlisten = udp://127.0.0.1:7400\n", 2, "sync.listen: expected tcp://HOST:PORT"},
    {"[sync]\nlisten = tcp://127.0.0.1:0\n", 2, "sync.listen: expected tcp://HOST:PORT"},
    {"[sync]\nlisten = tcp://127.0.0.1:65536\n", 2, "sync.listen: expected tcp://HOST:PORT"},
    {"[sync]\nlisten = tcp://127.0.0.1\n", 2, "sync.listen: expected tcp://HOST:PORT"},
    {"[sync]\nlisten = tcp://:7400\n", 2, "sync.listen: expected tcp://HOST:PORT"},
    {"[sync]\npub_listen = tcp://a b:7400\n", 2, "sync.pub_listen: expected tcp://HOST:PORT"},
    {"[sync]\ninterval = 0\n", 2, "sync.interval: expected a whole number from 1 to 3600"},
    {"[sync]\nbatch = 100000\n", 2, "sync.batch: expected a whole number"},
    {"[sync]\nwindow = 0\n", 2, "sync.window: expected a whole number"},
    {"[sync]\npolicy = trusted\n", 2,
     "sync.policy: expected one of allowlist, endorsed, open, trust"},
    {"[policy]\nanchor = " KEY_B "\nanchor = " KEY_B "\n", 3,
     "policy.anchor: key 77b00000... is listed twice"},
    {"[policy]\nreply_quota = 0\n", 2, "policy.reply_quota"},
    {"[sync]\nhops = 9\n", 2, "sync.hops: expected a whole number"},
    {"[sync]\ndiscover = yes\n", 2, "sync.discover: expected one of off, on"},
    {"[sync]\nmax_peers = 0\n", 2, "sync.max_peers: expected a whole number"},
    {"[sync]\nlisten = tcp://127.0.0.1:7400\n\nlisten = tcp://127.0.0.1:7402\n", 4,
     "sync.listen: set twice (first on line 2)"},
    {"[peers]\npeer = tcp://10.0.0.2:7400\n", 2, "peers.peer: expected 'tcp://HOST:PORT KEY'"},
    {"[peers]\npeer = tcp://10.0.0.2:7400 abcd\n", 2, "peers.peer: expected a hub key"},
    {"[peers]\npeer = tcp://*:7400 " KEY_A "\n", 2, "peers.peer: expected tcp://HOST:PORT"},
    {"[peers]\npeer = 10.0.0.2:7400 " KEY_A "\n", 2, "peers.peer: expected tcp://HOST:PORT"},
    {"[peers]\npeer = tcp://a:1 " KEY_A "\npeer = tcp://b:1 " KEY_A "\n", 3,
     "peers.peer: key 5a1e0000... is listed twice"},
    {"[policy]\nallow = " KEY_A "0\n", 2, "policy.allow: expected a hub key of 64 hex digits"},
    {"[policy]\nallow = zz1e000000000000000000000000000000000000000000000000000000000001\n", 2,
     "policy.allow: expected a hub key"},
    {"[policy]\nallow = " KEY_B "\nallow = " KEY_B "\n", 3,
     "policy.allow: key 77b00000... is listed twice"},
    {"[hub]\ndata_dir = x\nthis line has no equals sign\n", 3, "syntax error"},
    {"[hub\n", 1, "syntax error"},
    /* The first error wins: a syntax error before a bad value. */
    {"[log]\nnonsense\nlevel = loud\n", 2, "syntax error"},
};

static void test_bad_configs(void **state) {
    struct config c, before;
    char path[256], err[512], want[768];

    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *b = &bad_cases[i];
        int rc = load_text(&c, b->text, path, sizeof(path), err, sizeof(err));
        if (rc != HUB_E_CONFIG) {
            print_error("case %zu: rc %d for:\n%s", i, rc, b->text);
            fail();
        }
        snprintf(want, sizeof(want), "%s:%d: %s", path, b->line, b->reason);
        if (strncmp(err, want, strlen(want)) != 0) {
            print_error("case %zu: expected '%s'\n              got '%s'\n", i, want, err);
            fail();
        }
    }

    /* A failed load leaves the configuration as it was, even for keys before the error. */
    config_defaults(&before);
    assert_int_equal(
        load_text(&c, "[sync]\ninterval = 7\nbatch = 0\n", path, sizeof(path), err, sizeof(err)),
        HUB_E_CONFIG);
    assert_same_config(&c, &before);
}

static void test_long_line(void **state) {
    struct config c;
    char path[256], err[512], want[512];
    char text[1200];

    /* Long enough to pass inih's line buffer and our reader's: both must be refused, not
     * silently cut. */
    for (size_t len = 250; len <= 1000; len += 750) {
        int n = snprintf(text, sizeof(text), "[hub]\ndata_dir = /");
        memset(text + n, 'p', len);
        snprintf(text + n + len, sizeof(text) - (size_t)n - len, "\nsweep_interval = 5\n");
        assert_int_equal(load_text(&c, text, path, sizeof(path), err, sizeof(err)), HUB_E_CONFIG);
        snprintf(want, sizeof(want), "%s:2: line longer than", path);
        assert_contains(err, want);
    }
}

static void test_missing_file(void **state) {
    struct config c;
    char err[512];

    config_defaults(&c);
    assert_int_equal(config_load(&c, "/nonexistent/hubd.conf", err, sizeof(err)), HUB_E_CONFIG);
    assert_contains(err, "/nonexistent/hubd.conf: No such file or directory");
}

static void test_empty_file(void **state) {
    struct config c, d;
    char path[256], err[512];

    config_defaults(&d);
    assert_int_equal(load_text(&c, "", path, sizeof(path), err, sizeof(err)), 0);
    assert_same_config(&c, &d);
    /* Empty sections and a lone comment are fine too. */
    assert_int_equal(load_text(&c, "# nothing\n[hub]\n[peers]\n[policy]\n", path, sizeof(path), err,
                               sizeof(err)),
                     0);
    assert_same_config(&c, &d);
}

/* SIGHUP: the run-time keys are copied, the others kept; every change is counted. */
/* hops not given: 2 under trust, 1 under endorsed (what an old "policy = endorsed" config
 * meant); given: kept; an explicit allowlist stays an allowlist. */
static void test_policy_defaults(void **state) {
    struct config c;
    char path[256], err[512];
    (void)state;
    assert_int_equal(load_text(&c, "[sync]\npolicy = endorsed\n", path, sizeof path, err,
                               sizeof err), 0);
    assert_int_equal(config_finish(&c, err, sizeof err), 0);
    assert_int_equal(c.policy, POLICY_ENDORSED);
    assert_int_equal(c.hops, 1);
    assert_int_equal(load_text(&c, "[sync]\npolicy = allowlist\n", path, sizeof path, err,
                               sizeof err), 0);
    assert_int_equal(config_finish(&c, err, sizeof err), 0);
    assert_int_equal(c.policy, POLICY_ALLOWLIST);
    assert_int_equal(load_text(&c, "[sync]\nhops = 0\n[policy]\nanchor = " KEY_A "\n", path,
                               sizeof path, err, sizeof err), 0);
    assert_int_equal(config_finish(&c, err, sizeof err), 0);
    assert_int_equal(c.policy, POLICY_TRUST);
    assert_int_equal(c.hops, 0);
    assert_int_equal(c.nanchor, 1);
    uint8_t key[32];
    assert_int_equal(hub_unhex(KEY_A, key, 32), 0);
    assert_memory_equal(c.anchor[0], key, 32);
}

static void test_reload(void **state) {
    struct config cur, next;
    char err[256], path[64];
    static const char *const a = "1111111111111111111111111111111111111111111111111111111111111111";
    static const char *const b = "2222222222222222222222222222222222222222222222222222222222222222";
    static const char *const x = "3333333333333333333333333333333333333333333333333333333333333333";
    char text[2048];

    (void)state;
    config_defaults(&cur);
    snprintf(text, sizeof text,
             "[peers]\npeer = tcp://a:7400 %s\npeer = tcp://b:7400 %s\n[policy]\nallow = %s\n", a,
             b, x);
    assert_int_equal(load_text(&cur, text, path, sizeof path, err, sizeof err), 0);
    config_defaults(&next);
    snprintf(text, sizeof text,
             "[hub]\ncontrol_max_clients = 9\ncontrol_idle_timeout = 5\n[log]\nlevel = debug\n"
             "[sync]\nwindow = 3\ninterval = 20\n[peers]\npeer = tcp://b2:7400 %s\n",
             b);
    assert_int_equal(load_text(&next, text, path, sizeof path, err, sizeof err), 0);
    /* level, idle timeout, interval, peer a removed, peer b moved (removed + added), allow x
     * removed: 7 changes; max_clients and window only at a restart */
    assert_int_equal(config_reload(&cur, &next), 7);
    assert_int_equal(cur.log_level, LOG_DEBUG);
    assert_int_equal(cur.control_idle_timeout_s, 5);
    assert_int_equal(cur.sync_interval_s, 20);
    assert_int_equal(cur.control_max_clients, 64);
    assert_int_equal(cur.window, 16);
    assert_int_equal(cur.npeers, 1);
    assert_string_equal(cur.peers[0].endpoint, "tcp://b2:7400");
    assert_int_equal(cur.nallow, 0);
    /* the same file again: nothing changes */
    assert_int_equal(config_reload(&cur, &next), 0);
    /* anchors and reply_quota reload: anchor a added, quota 20 -> 5 */
    config_defaults(&next);
    snprintf(text, sizeof text,
             "[hub]\ncontrol_max_clients = 9\ncontrol_idle_timeout = 5\n[log]\nlevel = debug\n"
             "[sync]\nwindow = 3\ninterval = 20\n[peers]\npeer = tcp://b2:7400 %s\n"
             "[policy]\nanchor = %s\nreply_quota = 5\n",
             b, a);
    assert_int_equal(load_text(&next, text, path, sizeof path, err, sizeof err), 0);
    assert_int_equal(config_reload(&cur, &next), 2);
    assert_int_equal(cur.nanchor, 1);
    assert_int_equal(cur.reply_quota, 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_print_roundtrip), cmocka_unit_test(test_finish),
        cmocka_unit_test(test_bad_configs),     cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_missing_file),    cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_reload),          cmocka_unit_test(test_policy_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
