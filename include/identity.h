/* identity.h: the hub's Ed25519 key pair, kept in <data_dir>/identity.key. */
#ifndef HUB_IDENTITY_H
#define HUB_IDENTITY_H

#include "hub.h"
#include <stddef.h>
#include <stdint.h>

struct identity {
    uint8_t pk[32];
    uint8_t sk[64];       /* libsodium form: seed || pk */
    uint8_t curve_pk[32]; /* X25519 transport keys derived from the Ed25519 pair */
    uint8_t curve_sk[32];
    uint8_t scalar[32]; /* the Ed25519 secret scalar a mod L, pk = aB (identity_verify_own) */
};

/* Load the key from dir, generating it on first start. Refuses (HUB_E_CONFIG) a key file
 * readable by group or others. *created tells whether it was generated now. */
int identity_load_or_create(const char *dir, struct identity *out, int *created) HUB_WUR;
/* Deterministic key from a 32-byte seed (tests, test vectors). */
int identity_from_seed(const uint8_t seed[32], struct identity *out) HUB_WUR;
/* X25519 public key of an Ed25519 public key (peer transport key). */
int identity_curve_pk(const uint8_t ed_pk[32], uint8_t curve_pk[32]) HUB_WUR;
/* Whether sig is a valid Ed25519 signature of m by this identity's key: the same verdict as
 * crypto_sign_verify_detached(sig, m, mlen, id->pk), computed with the secret scalar in a third
 * of the time. 0 if valid, -1 if not. */
int identity_verify_own(const struct identity *id, const uint8_t sig[64], const uint8_t *m,
                        size_t mlen) HUB_WUR;
void identity_wipe(struct identity *id);

#endif
