/* identity.c: the hub's Ed25519 key pair and the X25519 transport keys derived from it. */
#include "identity.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define IDENTITY_FILE "identity.key"
/* File format: the 64-byte libsodium secret key (seed || public key), raw. */

static int identity_derive(struct identity *id) {
    if (crypto_sign_ed25519_pk_to_curve25519(id->curve_pk, id->pk) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(id->curve_sk, id->sk) != 0)
        return HUB_E_INTERNAL;
    return HUB_OK;
}

int identity_from_seed(const uint8_t seed[32], struct identity *out) {
    if (crypto_sign_seed_keypair(out->pk, out->sk, seed) != 0)
        return HUB_E_INTERNAL;
    return identity_derive(out);
}

int identity_curve_pk(const uint8_t ed_pk[32], uint8_t curve_pk[32]) {
    return crypto_sign_ed25519_pk_to_curve25519(curve_pk, ed_pk) == 0 ? HUB_OK : HUB_E_FIELD;
}

static int identity_read(const char *path, struct identity *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return HUB_E_IO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return HUB_E_IO;
    }
    /* Like ssh with its private keys: a key others can read is no longer secret. */
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        log_error("identity",
                  "%s is accessible by group or others (mode %03o); "
                  "run 'chmod 600 %s' and start again",
                  path, (unsigned)(st.st_mode & 0777), path);
        return HUB_E_CONFIG;
    }
    ssize_t n = read(fd, out->sk, sizeof out->sk);
    close(fd);
    if (n != (ssize_t)sizeof out->sk) {
        log_error("identity", "%s: expected %zu bytes of key, the file is damaged", path,
                  sizeof out->sk);
        return HUB_E_CONFIG;
    }
    /* Recompute the public key from the seed so a damaged file cannot pass for a key. */
    uint8_t seed[32];
    if (crypto_sign_ed25519_sk_to_seed(seed, out->sk) != 0)
        return HUB_E_INTERNAL;
    struct identity check;
    if (identity_from_seed(seed, &check) != 0)
        return HUB_E_INTERNAL;
    sodium_memzero(seed, sizeof seed);
    if (sodium_memcmp(check.sk, out->sk, sizeof out->sk) != 0) {
        identity_wipe(&check);
        log_error("identity", "%s: public half does not match the seed, the file is damaged", path);
        return HUB_E_CONFIG;
    }
    *out = check;
    return HUB_OK;
}

static int identity_write(const char *path, struct identity *out) {
    crypto_sign_keypair(out->pk, out->sk);
    if (identity_derive(out) != 0)
        return HUB_E_INTERNAL;
    char tmp[1024];
    int w = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (w < 0 || (size_t)w >= sizeof tmp)
        return HUB_E_CONFIG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_warn("identity", "cannot create %s", tmp);
        return HUB_E_IO;
    }
    ssize_t n = write(fd, out->sk, sizeof out->sk);
    int ok = n == (ssize_t)sizeof out->sk && fsync(fd) == 0;
    close(fd);
    /* rename() makes the key appear whole or not at all. */
    if (!ok || rename(tmp, path) != 0) {
        log_warn("identity", "cannot write %s", path);
        unlink(tmp);
        return HUB_E_IO;
    }
    return HUB_OK;
}

int identity_load_or_create(const char *dir, struct identity *out, int *created) {
    char path[1024];
    int w = snprintf(path, sizeof path, "%s/%s", dir, IDENTITY_FILE);
    if (w < 0 || (size_t)w >= sizeof path)
        return HUB_E_CONFIG;
    *created = 0;
    if (access(path, F_OK) == 0)
        return identity_read(path, out);
    if (errno != ENOENT) {
        log_warn("identity", "cannot access %s", path);
        return HUB_E_IO;
    }
    int rc = identity_write(path, out);
    if (rc == 0)
        *created = 1;
    return rc;
}

void identity_wipe(struct identity *id) {
    sodium_memzero(id, sizeof *id);
}
