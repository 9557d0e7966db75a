/* records.h: what hubd derives from the records it holds (issue 10): replies by the record they
 * answer, the inbox and the local seen state, seats of offers, sealed contact details, lineage
 * of train-the-trainer programmes and the names of hubs. Every hub derives the same values from
 * the same records (PROTOCOL.md 7.2, "Derived values"), except "seen", which is local.
 *
 * Threads: the event loop's only. Store reads: none of these may be called from inside a
 * store_query or store_versions callback (the store has one read transaction for the event
 * loop): collect what a query found first, then ask. */
#ifndef HUB_RECORDS_H
#define HUB_RECORDS_H

#include "hub.h"
#include "record.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct node;
struct control;
struct jbuf;
struct entry;
struct records;

/* Bounds (PROTOCOL.md §10). */
#define RECORDS_MAX_ENROLMENTS 1000   /* enrolments of one offer counted for its seats */
#define RECORDS_LINEAGE_MAX_NODES 500 /* programmes one lineage call lists */
#define RECORDS_LINEAGE_MAX_DEPTH 16  /* generations one lineage call follows */
#define RECORDS_NAME_SLOTS 4096       /* hub names cached (direct-mapped; a miss reads the store) */
#define RECORDS_SEAT_SLOTS 1024       /* offers whose seats are cached */
#define RECORDS_MAX_HUB_NAME 200      /* a profile's name (record.c's title/name cap) */

/* Loads the local seen state, registers a listener on the node (keep caches current) and the
 * control calls inbox, replies, accept, decline and lineage (CONTROL.md). ctl may be NULL. */
int records_open(struct node *n, struct control *ctl, struct records **out) HUB_WUR;
void records_destroy(struct records **r);

/* The hub name and country of author, from its current profile; both empty (and
 * HUB_E_NOT_FOUND) when the hub holds no profile of it. name holds RECORDS_MAX_HUB_NAME + 1
 * bytes, country 8. The strings are foreign content: escape them for a terminal. */
int records_author_name(struct records *r, const uint8_t author[32], char *name, char *country);

/* Seats of an offer (author, key): seats_left = capacity - the seats of the enrolments the
 * offer's author accepted (only its accept responses count; the newest answer of the author
 * to an enrolment decides). unlimited when capacity is 0. past: its end_date (else start_date)
 * is before today (UTC). full: capacity > 0 and seats_left = 0. HUB_E_NOT_FOUND when no current
 * version of the offer is held. */
struct records_seats {
    uint32_t capacity;
    uint32_t accepted; /* seats accepted */
    uint32_t seats_left;
    int unlimited, full, past;
};
int records_offer_seats(struct records *r, const uint8_t author[32], const char *key,
                        struct records_seats *out) HUB_WUR;
/* records_offer_seats of an offer whose payload the caller has at hand (no read for it). */
int records_offer_seats_payload(struct records *r, const uint8_t author[32], const char *key,
                                const uint8_t *payload, size_t len, struct records_seats *out);
/* What records_offer_seats_payload reads from the payload first (capacity and dates), read
 * on any thread (a query page's rows are decoded on two): rc HUB_OK or HUB_E_DECODE. */
struct records_offer_fields {
    int rc;
    uint32_t capacity;
    struct record_dates dates;
};
void records_offer_fields(const uint8_t *payload, size_t len, struct records_offer_fields *f);
/* records_offer_seats_payload with those fields read already. */
int records_offer_seats_fields(struct records *r, const uint8_t author[32], const char *key,
                               const struct records_offer_fields *f, struct records_seats *out);

/* Days since 1970-01-01 of today (UTC): what "past" is measured against. */
int32_t records_today(void);

/* The view of a stored entry (view.h's) with what this hub derives: author_name,
 * author_country; for offers seats_left, full, past; for responses state, closed and, on the
 * target hub, the opened sealed part. E_DECODE when the wire bytes do not decode. */
int records_write_view(struct records *r, struct jbuf *b, const uint8_t *wire, size_t len);
int records_write_view_entry(struct records *r, struct jbuf *b, const struct entry *e);
/* The derived members alone, appended to an open view object of e (view_write_entry's text
 * without its closing brace); the caller closes it. of: an offer's fields read already
 * (records_offer_fields), or NULL. */
void records_write_view_extra(struct records *r, struct jbuf *b, const struct entry *e,
                              const struct records_offer_fields *of);

/* Turns a publish request for a response into its record (control.c's publish): resolves
 * "target" (a full id, an id prefix or AUTHOR/KIND/KEY) into target_author/kind/key and
 * target, checks the target is held (unless "unheld_target": true) and not retracted, that a
 * reply to a reply is an accept or decline of an enrolment of one of our offers, and seals
 * "contact" (and "message" with "seal_message": true) to the target's author. On error
 * returns the code and fills field and message. rec is changed in place. */
int records_prepare_response(struct records *r, json_t *req, json_t *rec, char *field,
                             size_t field_len, char *message, size_t message_len) HUB_WUR;

/* The same check of an offer's based_on (the programme it is based on): held and current, or
 * "unheld_target": true for one not yet replicated here; a retracted one is refused. */
int records_prepare_offer(struct records *r, json_t *req, json_t *rec, char *field,
                          size_t field_len, char *message, size_t message_len) HUB_WUR;

/* The index term of the replies to a record named by a full entry id, an id prefix (of an entry
 * this hub holds) or AUTHOR/KIND/KEY (query's target). E_NOT_FOUND when no held entry has the
 * id, E_RANGE when a prefix is ambiguous or the text malformed (field, message filled). */
struct index_term;
int records_target_term(struct records *r, const char *spec, struct index_term *term, char *field,
                        size_t field_len, char *message, size_t message_len) HUB_WUR;

/* The control calls inbox, replies, accept, decline and lineage (CONTROL.md). On success the
 * answer object's text, without its closing brace, is appended to b (control.c's send_text
 * closes it) and 0 returned; else the error code, with field and message filled. */
int records_call(struct records *r, const char *op, json_t *req, struct jbuf *b, char *field,
                 size_t field_len, char *message, size_t message_len) HUB_WUR;

#endif
