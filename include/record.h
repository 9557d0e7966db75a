/* record.h: record payloads as JSON (control socket) and as protobuf bytes (entries);
 * field validation against the vocabularies; index terms for queries. */
#ifndef HUB_RECORD_H
#define HUB_RECORD_H

#include "hub.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Index term: a field tag and the first 8 bytes of BLAKE2b-256 of the normalised value. */
enum index_field {
    IDX_ALL = 0, /* every current record */
    IDX_KIND = 1,
    IDX_AUTHOR = 2,
    IDX_TOPIC = 3,
    IDX_TECHNOLOGY = 4,
    IDX_SECTOR = 5,
    IDX_SERVICE = 6,
    IDX_COUNTRY = 7,
    IDX_LANGUAGE = 8,
    IDX_MODE = 9,
    IDX_AUDIENCE = 10,
    IDX_WORD = 11,   /* free-text word of title/name/description */
    IDX_TARGET = 12, /* responses: target entry id; endorsements: endorsed hub */
    IDX_SKILL = 13,
    /* Full-text words by the field they come from (textsearch.h, enum ts_class); IDX_WORD
     * holds description words. The value is the word's indexed form (its stem). */
    IDX_WORD_TITLE = 14,
    IDX_WORD_TAGS = 15,
    IDX_WORD_PLACE = 16,
};
#define INDEX_TERM_LEN 9
#define RECORD_MAX_TERMS 160 /* words beyond the cap are not indexed */
struct index_term {
    uint8_t b[INDEX_TERM_LEN];
};
/* Term for (field, value); value is normalised (ASCII lower case) before hashing. */
void index_term_make(enum index_field f, const char *value, size_t len, struct index_term *out);

/* Error detail for the control socket: which field and why. */
struct record_error {
    char field[64];
    char message[160];
};

/* JSON object -> payload bytes for kind. Validates every field (types, vocabularies, lengths).
 * *payload is malloc'd. Errors: E_TYPE, E_VOCAB, E_RANGE, E_TOO_LARGE, E_FIELD, E_KIND. */
int record_from_json(int kind, json_t *obj, uint8_t **payload, size_t *len,
                     struct record_error *err) HUB_WUR;
struct jbuf;
/* Payload bytes -> JSON object text appended to b. Errors: E_DECODE, E_KIND, E_NOMEM. */
int record_write_json(int kind, const uint8_t *payload, size_t len, struct jbuf *b) HUB_WUR;
/* Payload bytes -> JSON object (new reference), the same text parsed. Errors: E_DECODE. */
int record_to_json(int kind, const uint8_t *payload, size_t len, json_t **out) HUB_WUR;
/* Check a foreign payload decodes and respects the field limits. */
int record_check_payload(int kind, const uint8_t *payload, size_t len) HUB_WUR;

/* Index terms of a record version (author and kind terms included). Returns the count. */
size_t record_terms(const uint8_t author[32], int kind, const uint8_t *payload, size_t len,
                    struct index_term *terms, size_t max);

/* IDX_WORD terms of free text, folded and split as record_terms does (textsearch.h), words of
 * at least 2 characters, not stemmed, duplicates removed. Returns the count, at most max. */
size_t record_word_terms(const char *text, struct index_term *terms, size_t max);

/* The term of an indexed word form (ts_stem's output) in a field class (enum ts_class). */
void index_term_word(int ts_class, const char *form, size_t len, struct index_term *out);

/* Dates named by a record for range queries, as days since 1970-01-01; 0 = none. */
struct record_dates {
    int32_t start, end;
};
void record_dates(int kind, const uint8_t *payload, size_t len, struct record_dates *out);
/* What the store needs of a payload, from one decoding: with check, record_check_payload's
 * verdict first (nothing else is filled unless HUB_OK); then record_terms and record_dates,
 * and, when dict is not NULL, the (word, indexed form) pairs of its text for prefix search. */
struct ts_dict;
int record_index(const uint8_t author[32], int kind, const uint8_t *payload, size_t len,
                 int check, struct index_term *terms, size_t max, size_t *nterms,
                 struct record_dates *dates, struct ts_dict *dict) HUB_WUR;

/* Endorsement target (for the endorsed policy): 0 and out filled, or HUB_E_NOT_FOUND. */
int record_endorsed_hub(const uint8_t *payload, size_t len, uint8_t hub[32]);
/* Retraction target: kind and key (out holds HUB_MAX_RECORD_KEY+1). */
int record_retraction_target(const uint8_t *payload, size_t len, int *kind, char *key);
/* Profile endpoints for discovery: up to max, each copied into out[i] (256 bytes). */
size_t record_profile_endpoints(const uint8_t *payload, size_t len, char (*out)[256], size_t max);

/* Parse YYYY-MM-DD to days since epoch; non-zero (HUB_E_FIELD) if malformed. */
int record_parse_date(const char *s, int32_t *days);

#endif
