/* identity.h: the hub's Ed25519 key pair, kept in <data_dir>/identity.key. */
#ifndef HUB_IDENTITY_H
#define HUB_IDENTITY_H

#include "hub.h"
#include <stdint.h>

struct identity {
    uint8_t pk[32];
    uint8_t sk[64];       /* libsodium form: seed || pk */
    uint8_t curve_pk[32]; /* X25519 transport keys derived from the Ed25519 pair */
    uint8_t curve_sk[32];
};

/* Load the key from dir, generating it on first start. Refuses (HUB_E_CONFIG) a key file
 * readable by group or others. *created tells whether it was generated now. */
int identity_load_or_create(const char *dir, struct identity *out, int *created) HUB_WUR;
/* Deterministic key from a 32-byte seed (tests, test vectors). */
int identity_from_seed(const uint8_t seed[32], struct identity *out) HUB_WUR;
/* X25519 public key of an Ed25519 public key (peer transport key). */
int identity_curve_pk(const uint8_t ed_pk[32], uint8_t curve_pk[32]) HUB_WUR;
void identity_wipe(struct identity *id);

#endif
