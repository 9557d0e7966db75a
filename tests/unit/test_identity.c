/* test_identity.c: identity_verify_own, the check of the hub's own signatures with its secret
 * scalar, gives crypto_sign_verify_detached's verdict on valid signatures, on every single-bit
 * change of signature and message, on the signatures of another key, on a non-canonical S, on
 * an R of small order and on random bytes; and the scalar agrees with the public key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "identity.h"

static struct identity me, other;

/* identity_verify_own must say what libsodium says, for me's key. */
static int same_verdict(const uint8_t sig[64], const uint8_t *m, size_t mlen) {
    int want = crypto_sign_verify_detached(sig, m, mlen, me.pk) == 0 ? 0 : -1;
    int got = identity_verify_own(&me, sig, m, mlen);
    if (got != want)
        fail_msg("identity_verify_own says %d, crypto_sign_verify_detached %d", got, want);
    return got;
}

static void test_valid_signatures(void **state) {
    (void)state;
    uint8_t m[300], sig[64];
    for (size_t len = 0; len < sizeof m; len += 7) {
        randombytes_buf(m, len);
        assert_int_equal(crypto_sign_detached(sig, NULL, m, len, me.sk), 0);
        assert_int_equal(same_verdict(sig, m, len), 0);
    }
}

static void test_every_bit_flip_refused(void **state) {
    (void)state;
    uint8_t m[96], sig[64];
    randombytes_buf(m, sizeof m);
    assert_int_equal(crypto_sign_detached(sig, NULL, m, sizeof m, me.sk), 0);
    for (size_t bit = 0; bit < 64 * 8; bit++) {
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(same_verdict(sig, m, sizeof m), -1);
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t bit = 0; bit < sizeof m * 8; bit++) {
        m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(same_verdict(sig, m, sizeof m), -1);
        m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(same_verdict(sig, m, sizeof m), 0);
    assert_int_equal(same_verdict(sig, m, sizeof m - 1), -1);
}

static void test_other_keys_signature_refused(void **state) {
    (void)state;
    uint8_t m[64], sig[64];
    randombytes_buf(m, sizeof m);
    assert_int_equal(crypto_sign_detached(sig, NULL, m, sizeof m, other.sk), 0);
    assert_int_equal(crypto_sign_verify_detached(sig, m, sizeof m, other.pk), 0);
    assert_int_equal(same_verdict(sig, m, sizeof m), -1);
}

/* S + L satisfies the equation as well as S does; both checks refuse the second encoding. */
static void test_non_canonical_s_refused(void **state) {
    (void)state;
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
    uint8_t m[40], sig[64];
    int tried = 0;
    for (int round = 0; round < 64 && tried < 4; round++) {
        randombytes_buf(m, sizeof m);
        assert_int_equal(crypto_sign_detached(sig, NULL, m, sizeof m, me.sk), 0);
        unsigned carry = 0;
        uint8_t *s = sig + 32;
        for (int i = 0; i < 32; i++) {
            unsigned v = s[i] + L[i] + carry;
            s[i] = (uint8_t)v;
            carry = v >> 8;
        }
        if (carry)
            continue; /* S + L needs 254 bits only when S is small enough: try another */
        tried++;
        assert_int_equal(same_verdict(sig, m, sizeof m), -1);
    }
    assert_true(tried > 0);
}

/* R = identity with S = k*a: [S]B = R + [k]A holds, but R has small order. */
static void test_identity_r_refused(void **state) {
    (void)state;
    uint8_t m[32], sig[64] = {1}; /* the identity point encodes as 1, 0, ..., 0 */
    randombytes_buf(m, sizeof m);
    uint8_t h[64], k[32];
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, sig, 32);
    crypto_hash_sha512_update(&st, me.pk, 32);
    crypto_hash_sha512_update(&st, m, sizeof m);
    crypto_hash_sha512_final(&st, h);
    crypto_core_ed25519_scalar_reduce(k, h);
    crypto_core_ed25519_scalar_mul(sig + 32, k, me.scalar);
    assert_int_equal(same_verdict(sig, m, sizeof m), -1);
}

static void test_random_bytes_refused(void **state) {
    (void)state;
    uint8_t m[50], sig[64];
    for (int i = 0; i < 200; i++) {
        randombytes_buf(m, sizeof m);
        randombytes_buf(sig, sizeof sig);
        if (i % 2)
            sig[63] &= 0x0f; /* a canonical-looking S, so the equation itself is checked */
        assert_int_equal(same_verdict(sig, m, sizeof m), -1);
    }
}

static void test_scalar_matches_public_key(void **state) {
    (void)state;
    uint8_t pk[32];
    assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(pk, me.scalar), 0);
    assert_memory_equal(pk, me.pk, 32);
    assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(pk, other.scalar), 0);
    assert_memory_equal(pk, other.pk, 32);
}

static int setup(void **state) {
    (void)state;
    uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(7 * i + 3);
    if (identity_from_seed(seed, &me) != 0)
        return -1;
    randombytes_buf(seed, sizeof seed);
    return identity_from_seed(seed, &other) == 0 ? 0 : -1;
}

int main(void) {
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_signatures),
        cmocka_unit_test(test_every_bit_flip_refused),
        cmocka_unit_test(test_other_keys_signature_refused),
        cmocka_unit_test(test_non_canonical_s_refused),
        cmocka_unit_test(test_identity_r_refused),
        cmocka_unit_test(test_random_bytes_refused),
        cmocka_unit_test(test_scalar_matches_public_key),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
