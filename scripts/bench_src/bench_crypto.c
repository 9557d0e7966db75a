/* bench_crypto.c: the raw single-core reference rates the hubnet benchmarks compare with:
 * libsodium Ed25519 sign and verify of a ~200-byte message (the size of a signed entry header
 * with its domain prefix) and BLAKE2b-256 of 512 bytes; and, for the CPU a record of the hub's
 * own costs, hubd's check of its own signatures with the secret key (identity_verify_own).
 *
 * usage: bench_crypto [SECONDS]   (default 2 s per measurement)
 *
 * Prints a human line per figure, then machine-readable key=value lines:
 *   sign_per_s=..., verify_per_s=..., own_check_per_s=..., blake2b512_per_s=..., msg_bytes=...,
 *   seconds=...
 * Runs on one thread: these are single-core figures (the machine may be loaded; the caller
 * records the load average next to them). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "identity.h"

#define BENCH_MSG_LEN 200
#define BENCH_HASH_LEN 512
#define BENCH_CHUNK 256 /* operations between clock reads */

static double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double bench_parse_seconds(const char *s) {
    char *end = NULL;
    double v = strtod(s, &end);
    if (!end || *end != '\0' || v < 0.05 || v > 600) {
        fprintf(stderr, "bench_crypto: SECONDS must be a number in 0.05..600\n");
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    double secs = 2.0;
    if (argc > 2) {
        fprintf(stderr, "usage: bench_crypto [SECONDS]\n");
        return 2;
    }
    if (argc == 2)
        secs = bench_parse_seconds(argv[1]);
    if (sodium_init() < 0) {
        fprintf(stderr, "bench_crypto: sodium_init failed\n");
        return 1;
    }

    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    unsigned char seed[crypto_sign_SEEDBYTES];
    memset(seed, 7, sizeof seed);
    if (crypto_sign_seed_keypair(pk, sk, seed) != 0)
        return 1;

    /* Like our signed message: "hubnet/entry/v1" 0x00 || header (~180 bytes). */
    unsigned char msg[BENCH_MSG_LEN];
    randombytes_buf(msg, sizeof msg);
    memcpy(msg, "hubnet/entry/v1", 16);
    unsigned char sig[crypto_sign_BYTES];
    volatile unsigned sink = 0;

    /* warm-up */
    for (int i = 0; i < 200; i++) {
        crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
        sink += sig[0];
    }

    /* sign: vary the message so that nothing can be cached */
    unsigned long long nsign = 0;
    double t0 = bench_now(), t1 = t0;
    while (t1 - t0 < secs) {
        for (int i = 0; i < BENCH_CHUNK; i++) {
            msg[BENCH_MSG_LEN - 1] = (unsigned char)i;
            msg[BENCH_MSG_LEN - 2] = (unsigned char)(nsign >> 8);
            crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
            sink += sig[5];
            nsign++;
        }
        t1 = bench_now();
    }
    double sign_rate = (double)nsign / (t1 - t0);

    /* verify: a small set of distinct valid signatures, checked round-robin */
    enum { NSIG = 64 };
    static unsigned char msgs[NSIG][BENCH_MSG_LEN], sigs[NSIG][crypto_sign_BYTES];
    for (int i = 0; i < NSIG; i++) {
        memcpy(msgs[i], msg, sizeof msg);
        msgs[i][BENCH_MSG_LEN - 1] = (unsigned char)i;
        crypto_sign_detached(sigs[i], NULL, msgs[i], BENCH_MSG_LEN, sk);
    }
    unsigned long long nver = 0, bad = 0;
    t0 = bench_now();
    t1 = t0;
    while (t1 - t0 < secs) {
        for (int i = 0; i < BENCH_CHUNK; i++) {
            int k = (int)(nver % NSIG);
            if (crypto_sign_verify_detached(sigs[k], msgs[k], BENCH_MSG_LEN, pk) != 0)
                bad++;
            nver++;
        }
        t1 = bench_now();
    }
    double verify_rate = (double)nver / (t1 - t0);
    if (bad) {
        fprintf(stderr, "bench_crypto: %llu signatures failed to verify\n", bad);
        return 1;
    }

    /* the own-key check hubd makes of each entry it signs (same signatures) */
    struct identity id;
    if (identity_from_seed(seed, &id) != 0)
        return 1;
    unsigned long long nown = 0;
    t0 = bench_now();
    t1 = t0;
    while (t1 - t0 < secs) {
        for (int i = 0; i < BENCH_CHUNK; i++) {
            int k = (int)(nown % NSIG);
            if (identity_verify_own(&id, sigs[k], msgs[k], BENCH_MSG_LEN) != 0)
                bad++;
            nown++;
        }
        t1 = bench_now();
    }
    double own_rate = (double)nown / (t1 - t0);
    identity_wipe(&id);
    if (bad) {
        fprintf(stderr, "bench_crypto: %llu signatures failed the own-key check\n", bad);
        return 1;
    }

    /* BLAKE2b-256 of 512 bytes */
    unsigned char buf[BENCH_HASH_LEN], out[32];
    randombytes_buf(buf, sizeof buf);
    unsigned long long nhash = 0;
    t0 = bench_now();
    t1 = t0;
    while (t1 - t0 < secs) {
        for (int i = 0; i < BENCH_CHUNK * 16; i++) {
            buf[0] = (unsigned char)nhash;
            crypto_generichash(out, sizeof out, buf, sizeof buf, NULL, 0);
            sink += out[3];
            nhash++;
        }
        t1 = bench_now();
    }
    double hash_rate = (double)nhash / (t1 - t0);
    (void)sink;

    printf("Ed25519 sign   (%d B message, 1 core): %10.0f signatures/s\n", BENCH_MSG_LEN,
           sign_rate);
    printf("Ed25519 verify (%d B message, 1 core): %10.0f signatures/s\n", BENCH_MSG_LEN,
           verify_rate);
    printf("own-key check  (%d B message, 1 core): %10.0f signatures/s\n", BENCH_MSG_LEN,
           own_rate);
    printf("BLAKE2b-256    (%d B, 1 core):         %10.0f hashes/s\n", BENCH_HASH_LEN, hash_rate);
    printf("sign_per_s=%.0f\n", sign_rate);
    printf("verify_per_s=%.0f\n", verify_rate);
    printf("own_check_per_s=%.0f\n", own_rate);
    printf("blake2b512_per_s=%.0f\n", hash_rate);
    printf("msg_bytes=%d\n", BENCH_MSG_LEN);
    printf("seconds=%.2f\n", secs);
    printf("sodium_version=%s\n", sodium_version_string());
    return 0;
}
