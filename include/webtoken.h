/* webtoken.h: the secret that signs staff in to hubweb (CONTROL.md "web_token"). hubweb asks
 * hubd for it over the control socket and compares what a person typed with it; hubctl
 * web-token prints or rotates it. The secret lives in the data dir, never in hubweb's. */
#ifndef HUB_WEBTOKEN_H
#define HUB_WEBTOKEN_H

#include "hub.h"
#include <jansson.h>
#include <stdint.h>

#define WEBTOKEN_FILE "web.token"  /* in the data dir, mode 0600 */
#define WEBTOKEN_BYTES 32          /* random bytes of the secret */
#define WEBTOKEN_TEXT_LEN 43       /* their base64url form, no padding */
#define WEBTOKEN_FILE_MAX 128      /* bytes of a well-formed file: "GENERATION TOKEN\n" */
#define WEBTOKEN_MAX_GENERATION 4294967295ULL /* rotations; far beyond any real use */

struct webtoken {
    char token[WEBTOKEN_TEXT_LEN + 1];
    uint64_t generation; /* 1 for the first secret, +1 at each rotation */
};

/* The secret kept in dir (created with generation 1 when there is none); rotate: a new one
 * with generation + 1, written whole or not at all (rename). E_CONFIG when the file is
 * readable by group or others or damaged (logged: the operator fixes or removes it), E_IO. */
int webtoken_get(const char *dir, int rotate, struct webtoken *out) HUB_WUR;

/* The control call web_token (control_op_fn; arg: the struct node whose data dir holds it).
 * Request {"rotate": bool} (optional); answer {"token", "generation"}. */
int webtoken_op(void *arg, json_t *req, json_t **resp);

#endif
