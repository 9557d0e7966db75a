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
    /* The X25519 secret is the clamped first half of SHA-512(seed): exactly Ed25519's secret
     * scalar a. Reduced mod L once here for identity_verify_own. */
    uint8_t wide[64] = {0};
    memcpy(wide, id->curve_sk, 32);
    crypto_core_ed25519_scalar_reduce(id->scalar, wide);
    sodium_memzero(wide, sizeof wide);
    /* The key pair must agree with its scalar, or identity_verify_own would check against a
     * key that is not pk. */
    uint8_t check[32];
    if (crypto_scalarmult_ed25519_base_noclamp(check, id->scalar) != 0 ||
        sodium_memcmp(check, id->pk, sizeof check) != 0)
        return HUB_E_INTERNAL;
    return HUB_OK;
}

/* Ed25519 accepts (R, S) for pk = A when S < L and [S]B = R + [k]A, k = SHA-512(R || A || m)
 * mod L (libsodium compares the encoding of the right side with the bytes of R). With A = [a]B
 * and a known, that is [S - k*a]B = R: one fixed-base multiplication instead of the double
 * multiplication of a general check, about a third of its cost. A signature that passes is one
 * crypto_sign_verify_detached accepts for pk: the equation is the same, R is then a multiple of
 * B other than the identity (so not of small order), and pk was checked at load. This is the
 * check of the hub's own entries, which a big import makes by the hundred thousand. */
int identity_verify_own(const struct identity *id, const uint8_t sig[64], const uint8_t *m,
                        size_t mlen) {
    const uint8_t *r_bytes = sig, *s = sig + 32;
    /* S < L: reducing it must leave it unchanged (libsodium rejects a non-canonical S). */
    uint8_t wide[64] = {0}, s_red[32];
    memcpy(wide, s, 32);
    crypto_core_ed25519_scalar_reduce(s_red, wide);
    if (sodium_memcmp(s_red, s, 32) != 0)
        return -1;

    uint8_t h[64], k[32], ka[32], nonce[32], rcheck[32];
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, r_bytes, 32);
    crypto_hash_sha512_update(&st, id->pk, 32);
    crypto_hash_sha512_update(&st, m, mlen);
    crypto_hash_sha512_final(&st, h);
    crypto_core_ed25519_scalar_reduce(k, h);
    crypto_core_ed25519_scalar_mul(ka, k, id->scalar);
    /* For a valid signature this is the signer's secret nonce r: wiped below, and only ever
     * multiplied in constant time. */
    crypto_core_ed25519_scalar_sub(nonce, s, ka);
    int rc;
    if (sodium_is_zero(nonce, sizeof nonce))
        rc = -1; /* R would have to be the identity, which has small order: never valid */
    else if (crypto_scalarmult_ed25519_base_noclamp(rcheck, nonce) != 0)
        rc = -1;
    else
        rc = crypto_verify_32(rcheck, r_bytes) == 0 ? 0 : -1;
    sodium_memzero(nonce, sizeof nonce);
    sodium_memzero(ka, sizeof ka);
    return rc;
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
