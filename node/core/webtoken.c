/* webtoken.c: the staff sign-in secret of hubweb (CONTROL.md "web_token"). 32 random bytes,
 * base64url, with a generation that each rotation raises: hubweb keeps the generation in each
 * session, so rotating the secret ends every session signed in with the old one. The file is
 * the data dir's, like identity.key: hubweb never reads it, it asks hubd. */
#include "webtoken.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "node.h"

static int webtoken_path(const char *dir, const char *suffix, char *out, size_t cap) {
    int w = snprintf(out, cap, "%s/%s%s", dir, WEBTOKEN_FILE, suffix);
    return w < 0 || (size_t)w >= cap ? HUB_E_CONFIG : HUB_OK;
}

/* 0 and *out, HUB_E_NOT_FOUND when there is no file, E_CONFIG when it is damaged or others
 * may read it, E_IO. */
static int webtoken_read(const char *path, struct webtoken *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? HUB_E_NOT_FOUND : HUB_E_IO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return HUB_E_IO;
    }
    /* Like identity.key: a secret others can read is no longer one. */
    if (!S_ISREG(st.st_mode) || (st.st_mode & (S_IRWXG | S_IRWXO))) {
        close(fd);
        log_error("web", "%s is not a regular file of mode 0600 (mode %03o); run 'chmod 600 %s', "
                  "or remove it and 'hubctl web-token' makes a new secret",
                  path, (unsigned)(st.st_mode & 0777), path);
        return HUB_E_CONFIG;
    }
    char buf[WEBTOKEN_FILE_MAX + 1];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0)
        return HUB_E_IO;
    /* "GENERATION TOKEN\n": the generation's digits, one space, 43 base64url characters. */
    char *sp = n > 0 && (size_t)n <= WEBTOKEN_FILE_MAX ? memchr(buf, ' ', (size_t)n) : NULL;
    uint64_t gen = 0;
    unsigned char bin[WEBTOKEN_BYTES];
    size_t binlen = 0;
    const char *end = NULL;
    int ok = sp != NULL && buf + n - (sp + 1) == WEBTOKEN_TEXT_LEN + 1 && buf[n - 1] == '\n';
    if (ok) {
        *sp = '\0';
        buf[n - 1] = '\0';
        ok = hub_parse_u64(buf, WEBTOKEN_MAX_GENERATION, &gen) == 0 && gen > 0 &&
             sodium_base642bin(bin, sizeof bin, sp + 1, WEBTOKEN_TEXT_LEN, NULL, &binlen, &end,
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
             binlen == WEBTOKEN_BYTES && end == sp + 1 + WEBTOKEN_TEXT_LEN;
    }
    sodium_memzero(bin, sizeof bin);
    if (!ok) {
        sodium_memzero(buf, sizeof buf);
        log_error("web", "%s is damaged (expected 'GENERATION TOKEN'); remove it and "
                  "'hubctl web-token' makes a new secret", path);
        return HUB_E_CONFIG;
    }
    memcpy(out->token, sp + 1, WEBTOKEN_TEXT_LEN + 1);
    out->generation = gen;
    sodium_memzero(buf, sizeof buf);
    return HUB_OK;
}

/* A new secret of generation gen, written to a temporary file and renamed over the old one,
 * then the directory synced: a crash leaves the old secret or the new one, never half. */
static int webtoken_write(const char *dir, const char *path, uint64_t gen, struct webtoken *out) {
    unsigned char bin[WEBTOKEN_BYTES];
    randombytes_buf(bin, sizeof bin);
    sodium_bin2base64(out->token, sizeof out->token, bin, sizeof bin,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(bin, sizeof bin);
    out->generation = gen;
    char tmp[1024], line[WEBTOKEN_FILE_MAX];
    int rc = webtoken_path(dir, ".tmp", tmp, sizeof tmp);
    if (rc != HUB_OK)
        return rc;
    int len = snprintf(line, sizeof line, "%llu %s\n", (unsigned long long)gen, out->token);
    if (len < 0 || (size_t)len >= sizeof line)
        return HUB_E_INTERNAL;
    unlink(tmp); /* a leftover of a crash, perhaps with another mode */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        log_warn("web", "cannot create %s", tmp);
        return HUB_E_IO;
    }
    ssize_t n = write(fd, line, (size_t)len);
    int ok = n == len && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
    sodium_memzero(line, sizeof line);
    if (close(fd) != 0)
        ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        log_warn("web", "cannot write %s", path);
        unlink(tmp);
        return errno == ENOSPC ? HUB_E_DISK_FULL : HUB_E_IO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            log_warn("web", "cannot sync %s", dir);
        close(dfd);
    }
    return HUB_OK;
}

int webtoken_get(const char *dir, int rotate, struct webtoken *out) {
    char path[1024];
    int rc = webtoken_path(dir, "", path, sizeof path);
    if (rc != HUB_OK)
        return rc;
    struct webtoken cur = {{0}, 0};
    rc = webtoken_read(path, &cur);
    if (rc == HUB_OK && !rotate) {
        *out = cur;
        return HUB_OK;
    }
    if (rc != HUB_OK && rc != HUB_E_NOT_FOUND)
        return rc;
    if (cur.generation >= WEBTOKEN_MAX_GENERATION)
        return HUB_E_RANGE;
    rc = webtoken_write(dir, path, cur.generation + 1, out);
    sodium_memzero(&cur, sizeof cur);
    if (rc == HUB_OK)
        log_info("web", "%s the web sign-in secret (generation %llu)%s",
                 out->generation == 1 ? "made" : "rotated", (unsigned long long)out->generation,
                 out->generation == 1 ? "" : ": every hubweb session of the old one ends");
    return rc;
}

int webtoken_op(void *arg, json_t *req, json_t **resp) {
    struct node *n = arg;
    json_t *rot = json_object_get(req, "rotate");
    if (rot && !json_is_boolean(rot)) {
        *resp = json_pack("{s:s, s:s}", "message", "rotate: expected true or false", "field",
                          "rotate");
        return HUB_E_TYPE;
    }
    struct webtoken t;
    int rc = webtoken_get(node_config(n)->data_dir, json_is_true(rot), &t);
    if (rc != HUB_OK) {
        *resp = json_pack("{s:s}", "message",
                          rc == HUB_E_CONFIG
                              ? "the web token file is damaged or readable by others: see hubd's log"
                              : hub_strmsg(rc));
        return rc;
    }
    *resp = json_pack("{s:s, s:I}", "token", t.token, "generation", (json_int_t)t.generation);
    sodium_memzero(&t, sizeof t);
    return *resp ? HUB_OK : HUB_E_NOMEM;
}
