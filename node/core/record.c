/* record.c: record payloads as JSON (control socket) and as protobuf bytes (entries), field
 * validation against the vocabularies, and the index terms queries look records up by.
 *
 * JSON <-> protobuf is driven by the protobuf-c descriptors plus one rule per field name
 * (rec_rules below): the JSON names are the .proto field names, so adding a field to
 * entry.proto needs only a rule here, and from_json, to_json and check_payload cannot drift
 * apart. record_terms is the exception: it runs for every replicated entry, so it reads the
 * unpacked structs directly and allocates nothing per term. */
#include "record.h"
#include "jbuf.h"
#include "textsearch.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "entry.h"
#include "entry.pb-c.h"
#include "pbcheck.h"
#include "vocab.h"

/* Record field limits, checked by record_from_json and (limits only, no vocabularies or
 * syntax) by record_check_payload on foreign payloads. Lengths are bytes of UTF-8.
 *
 *   field                                         limit
 *   title (offer, request), name (profile)        200 bytes
 *   description (profile, offer, request)         8000 bytes, may contain \n and \t
 *   message (response), statement (endorsement)   4000 bytes, may contain \n and \t
 *   contact                                       256 bytes
 *   location, region                              200 bytes
 *   website, registration_url                     512 bytes, http:// or https:// URL
 *   topics (each)                                 64 bytes, [a-z0-9][a-z0-9-]*
 *   target_key (response, retraction)             128 bytes (HUB_MAX_RECORD_KEY)
 *   reason (retraction, response)                 256 bytes
 *   facility                                      256 bytes
 *   prerequisites                                 2000 bytes, may contain \n and \t
 *   learning_outcomes[].text                      500 bytes
 *   titles (each text)                            200 bytes, as title
 *   descriptions (each text)                      8000 bytes, as description
 *   sessions[].location                           200 bytes
 *   eqf_level                                     1 .. 8 (published; foreign: any)
 *   material_licence                              512 bytes (SPDX id or URL)
 *   material_url                                  512 bytes, http:// or https:// URL
 *   sealed (response)                             4096 bytes (base64 in JSON)
 *   based_on                                      {author: 64 hex, key: <= 128 bytes}
 *   every other string (vocabulary values,        128 bytes
 *     language tags, skill URIs, endpoints,
 *     edih_id, currency, service_group/type)
 *   every list                                    32 items
 *   duration_hours, capacity, ects_credits, seats integers 0 .. 4294967295
 *   cost, budget amount                           0 .. 1e12 major units; stored as
 *                                                 round(amount * 100) minor units for every
 *                                                 currency (also JPY, BHD ...)
 *   start_date, end_date, needed_by               YYYY-MM-DD, a real calendar date in the
 *                                                 years 1970-9999; end_date >= start_date
 *   target, target_author, hub                    64 lower-case hex digits (32 bytes)
 *   whole payload                                 65536 bytes encoded (HUB_MAX_PAYLOAD)
 * Strings are valid UTF-8 without control characters (U+0000-U+001F, U+007F); only the
 * multi-line fields (description, message, statement) may contain \n and \t. */
#define RECORD_MAX_TITLE 200
#define RECORD_MAX_DESCRIPTION 8000
#define RECORD_MAX_MESSAGE 4000
#define RECORD_MAX_CONTACT 256
#define RECORD_MAX_PLACE 200
#define RECORD_MAX_URL 512
#define RECORD_MAX_TOPIC 64
#define RECORD_MAX_KEY HUB_MAX_RECORD_KEY
#define RECORD_MAX_SHORT 128
#define RECORD_MAX_REASON 256
#define RECORD_MAX_FACILITY 256
#define RECORD_MAX_LIST 32
#define RECORD_MAX_OUTCOME 500 /* a learning outcome's text */
#define RECORD_MAX_PREREQ 2000 /* prerequisites */
#define RECORD_EQF_MAX 8       /* EQF levels 1 .. 8 */
/* 1e12 major units: far above any price, and small enough (< 2^53) that amount_minor / 100
 * converts to the double nearest the decimal amount, so JSON round-trips exactly. */
#define RECORD_MAX_AMOUNT_MINOR 100000000000000ULL
#define RECORD_MINOR_PER_MAJOR 100
#define RECORD_MIN_YEAR 1970
#define RECORD_MAX_YEAR 9999

/* How a field is checked and converted. */
enum rec_check {
    REC_TEXT,      /* free text, one line */
    REC_MULTILINE, /* free text, \n and \t allowed */
    REC_VOCAB,     /* exact member of rule->vocab */
    REC_LANGUAGE,
    REC_TOPIC,
    REC_SKILL,
    REC_URL,
    REC_ENDPOINT,
    REC_DATE,
    REC_UINT32,
    REC_BOOL,
    REC_COST,   /* Cost message <-> {"amount": 120.5, "currency": "EUR"} */
    REC_ID,     /* 32 bytes <-> 64 lower-case hex digits */
    REC_KIND,   /* Kind enum <-> "offer" */
    REC_RTYPE,  /* ResponseType enum <-> "interest" */
    REC_REF,    /* RecordRef <-> {"author": <64 hex>, "kind": "offer", "key": "..."} */
    REC_SEALED, /* sealed box bytes <-> standard base64, at most RECORD_MAX_SEALED bytes */
    REC_EQF,    /* uint32 1 .. RECORD_EQF_MAX */
    REC_NUTS,   /* NUTS region code (vocab_nuts_check) */
    /* Repeated messages (issue 11 item 4); cap is each text's. */
    REC_LANGTEXT, /* LangText list <-> {"de": "...", "en": "..."}, sorted by tag */
    REC_OUTCOMES, /* LearningOutcome list <-> [{"text": ..., "skill": <ESCO URI>}] */
    REC_SESSIONS, /* Session list <-> [{"start", "end", "location", "mode", "seats"}] */
};

struct rec_rule {
    const char *name; /* .proto field name = JSON member name */
    enum rec_check check;
    size_t cap; /* string bytes */
    enum vocab_list vocab;
    const char *what; /* why a value fails its vocabulary or syntax */
};

/* Field names mean the same in every message, so one table serves all kinds. */
static const struct rec_rule rec_rules[] = {
    {"title", REC_TEXT, RECORD_MAX_TITLE, 0, NULL},
    {"name", REC_TEXT, RECORD_MAX_TITLE, 0, NULL},
    {"description", REC_MULTILINE, RECORD_MAX_DESCRIPTION, 0, NULL},
    {"message", REC_MULTILINE, RECORD_MAX_MESSAGE, 0, NULL},
    {"statement", REC_MULTILINE, RECORD_MAX_MESSAGE, 0, NULL},
    {"contact", REC_TEXT, RECORD_MAX_CONTACT, 0, NULL},
    {"location", REC_TEXT, RECORD_MAX_PLACE, 0, NULL},
    {"region", REC_TEXT, RECORD_MAX_PLACE, 0, NULL},
    {"edih_id", REC_TEXT, RECORD_MAX_SHORT, 0, NULL},
    {"reason", REC_TEXT, RECORD_MAX_SHORT, 0, NULL}, /* a retraction's; a response's below */
    {"facility", REC_TEXT, RECORD_MAX_FACILITY, 0, NULL},
    {"material_licence", REC_TEXT, RECORD_MAX_URL, 0, NULL},
    {"material_url", REC_URL, RECORD_MAX_URL, 0, "not an http:// or https:// URL"},
    {"service_group", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_SERVICE_GROUP,
     "not an EDIH service group (test-before-invest, skills-training, investment, "
     "ecosystem-networking)"},
    {"service_type", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_SERVICE_TYPE,
     "not a service type (see PROTOCOL.md 7.2)"},
    {"based_on", REC_REF, RECORD_MAX_KEY, 0, NULL},
    {"sealed", REC_SEALED, RECORD_MAX_SEALED, 0, "not base64 of at most 4096 bytes"},
    {"target_key", REC_TEXT, RECORD_MAX_KEY, 0, NULL},
    {"website", REC_URL, RECORD_MAX_URL, 0, "not an http:// or https:// URL"},
    {"registration_url", REC_URL, RECORD_MAX_URL, 0, "not an http:// or https:// URL"},
    {"country", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_COUNTRY, "not an ISO 3166-1 alpha-2 code"},
    {"technologies", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_TECHNOLOGY,
     "not an EDIH catalogue technology label"},
    {"sectors", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_SECTOR, "not an EDIH catalogue sector label"},
    {"services", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_SERVICE,
     "not an EDIH catalogue service label or service-group code"},
    {"audience", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_AUDIENCE, "not a hubnet audience code"},
    {"mode", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_MODE, "not an ELM learning mode"},
    {"schedule", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_SCHEDULE, "not an ELM learning schedule"},
    {"opportunity_type", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_OPPORTUNITY,
     "not an ELM learning opportunity type"},
    {"languages", REC_LANGUAGE, RECORD_MAX_SHORT, 0, "not a BCP 47 language tag"},
    {"topics", REC_TOPIC, RECORD_MAX_TOPIC, 0, "not a topic tag ([a-z0-9][a-z0-9-]*)"},
    {"skills", REC_SKILL, RECORD_MAX_SHORT, 0,
     "not an ESCO skill URI (http://data.europa.eu/esco/skill/<uuid>)"},
    {"endpoints", REC_ENDPOINT, RECORD_MAX_SHORT, 0, "not a tcp://host:port endpoint"},
    {"start_date", REC_DATE, RECORD_MAX_SHORT, 0, "not a YYYY-MM-DD date"},
    {"end_date", REC_DATE, RECORD_MAX_SHORT, 0, "not a YYYY-MM-DD date"},
    {"needed_by", REC_DATE, RECORD_MAX_SHORT, 0, "not a YYYY-MM-DD date"},
    {"duration_hours", REC_UINT32, 0, 0, NULL},
    {"capacity", REC_UINT32, 0, 0, NULL},
    {"ects_credits", REC_UINT32, 0, 0, NULL},
    {"seats", REC_UINT32, 0, 0, NULL},
    {"train_the_trainer", REC_BOOL, 0, 0, NULL},
    {"cost", REC_COST, 0, 0, NULL},
    {"budget", REC_COST, 0, 0, NULL},
    {"target", REC_ID, 0, 0, "not an entry id (64 lower-case hex digits)"},
    {"target_author", REC_ID, 0, 0, "not a hub key (64 lower-case hex digits)"},
    {"hub", REC_ID, 0, 0, "not a hub key (64 lower-case hex digits)"},
    {"target_kind", REC_KIND, 0, 0, NULL},
    {"type", REC_RTYPE, 0, 0,
     "not a response type (interest, enrolment, can-help, question, proposal, accept, decline)"},
    /* issue 11 item 4: the field's standard fields */
    {"isced", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_ISCED,
     "not an ISCED-F 2013 field code (2, 3 or 4 digits, `hubctl vocab isced`)"},
    {"eqf_level", REC_EQF, 0, 0, NULL},
    {"digcomp", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_DIGCOMP,
     "not a DigComp 2.2 area (1 .. 5) or competence (1.1 .. 5.4)"},
    {"learning_outcomes", REC_OUTCOMES, RECORD_MAX_OUTCOME, 0, NULL},
    {"prerequisites", REC_MULTILINE, RECORD_MAX_PREREQ, 0, NULL},
    {"application_deadline", REC_DATE, RECORD_MAX_SHORT, 0, "not a YYYY-MM-DD date"},
    {"titles", REC_LANGTEXT, RECORD_MAX_TITLE, 0, NULL},
    {"descriptions", REC_LANGTEXT, RECORD_MAX_DESCRIPTION, 0, NULL},
    {"sessions", REC_SESSIONS, RECORD_MAX_PLACE, 0, NULL},
    {"nuts", REC_NUTS, RECORD_MAX_SHORT, VOCAB_NUTS,
     "not a NUTS region code (a NUTS country code and 1 to 3 letters or digits, e.g. AT13)"},
    {"hub_type", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_HUB_TYPE,
     "not a hub type (edih, seal_of_excellence, other_dih)"},
    {"customer_types", REC_VOCAB, RECORD_MAX_SHORT, VOCAB_CUSTOMER_TYPE,
     "not a customer type (`hubctl vocab customer_type`)"},
};

/* Response types by enum value; the JSON spelling uses the words of PROTOCOL.md. */
static const char *const rec_rtype_names[] = {
    [HUBNET__RESPONSE_TYPE__RESPONSE_INTEREST] = "interest",
    [HUBNET__RESPONSE_TYPE__RESPONSE_ENROLMENT] = "enrolment",
    [HUBNET__RESPONSE_TYPE__RESPONSE_CAN_HELP] = "can-help",
    [HUBNET__RESPONSE_TYPE__RESPONSE_QUESTION] = "question",
    [HUBNET__RESPONSE_TYPE__RESPONSE_PROPOSAL] = "proposal",
    [HUBNET__RESPONSE_TYPE__RESPONSE_ACCEPT] = "accept",
    [HUBNET__RESPONSE_TYPE__RESPONSE_DECLINE] = "decline",
};

const char *record_rtype_name(int type) {
    return type > 0 && (size_t)type < HUB_ARRAY_LEN(rec_rtype_names) ? rec_rtype_names[type] : NULL;
}

/* Fields a record of each kind cannot do without (empty counts as missing). */
static const char *const rec_required[][5] = {
    [HUBNET__KIND__KIND_PROFILE] = {"name", NULL, NULL},
    [HUBNET__KIND__KIND_OFFER] = {"title", NULL, NULL},
    [HUBNET__KIND__KIND_REQUEST] = {"title", NULL, NULL},
    /* The record answered; target (the version answered) is optional (PROTOCOL.md 7.2). */
    [HUBNET__KIND__KIND_RESPONSE] = {"target_author", "target_kind", "target_key", "type", NULL},
    [HUBNET__KIND__KIND_RETRACTION] = {"target_kind", "target_key", NULL},
    [HUBNET__KIND__KIND_ENDORSEMENT] = {"hub", NULL, NULL},
};

/* Stands in for a NULL payload pointer (a payload may legitimately be empty). */
static const uint8_t rec_empty[1];

static const ProtobufCMessageDescriptor *rec_descriptor(int kind) {
    switch (kind) {
    case HUBNET__KIND__KIND_PROFILE:
        return &hubnet__profile__descriptor;
    case HUBNET__KIND__KIND_OFFER:
        return &hubnet__offer__descriptor;
    case HUBNET__KIND__KIND_REQUEST:
        return &hubnet__request__descriptor;
    case HUBNET__KIND__KIND_RESPONSE:
        return &hubnet__response__descriptor;
    case HUBNET__KIND__KIND_RETRACTION:
        return &hubnet__retraction__descriptor;
    case HUBNET__KIND__KIND_ENDORSEMENT:
        return &hubnet__endorsement__descriptor;
    default:
        return NULL;
    }
}

/* A decline's reason may say more than a retraction's (ISSUE10_DESIGN: 256 bytes). */
static const struct rec_rule rec_response_reason = {"reason", REC_TEXT, RECORD_MAX_REASON, 0, NULL};

static const struct rec_rule *rec_rule_find_kind(int kind, const char *name);
static const struct rec_rule *rec_rule_find(const char *name) {
    for (size_t i = 0; i < HUB_ARRAY_LEN(rec_rules); i++)
        if (strcmp(rec_rules[i].name, name) == 0)
            return &rec_rules[i];
    return NULL;
}

static const struct rec_rule *rec_rule_find_kind(int kind, const char *name) {
    if (kind == HUBNET__KIND__KIND_RESPONSE && strcmp(name, "reason") == 0)
        return &rec_response_reason;
    return rec_rule_find(name);
}

/* The rule of each field of each kind's message, found once: looking rules up by name for
 * every field of every record showed in profiles of queries. With it, what record_write_json
 * needs of the field: whether the rule fits it (rec_rule_fits) and the length of its name if
 * the name needs no escape in JSON. */
#define REC_MAX_FIELDS 48
struct rec_field {
    const struct rec_rule *rule; /* NULL: none, a bug in rec_rules */
    unsigned char fits;
    unsigned char plain_len; /* 0: the name is escaped like any text */
};
static struct rec_field rec_field_table[HUBNET__KIND__KIND_ENDORSEMENT + 1][REC_MAX_FIELDS];
static pthread_once_t rec_rule_once = PTHREAD_ONCE_INIT;
static const ProtobufCMessageDescriptor *rec_descriptor(int kind);
static int rec_rule_fits(const struct rec_rule *r, const ProtobufCFieldDescriptor *fd);

/* The length of a .proto field name made of [a-z0-9_] only (all of them are), else 0. */
static unsigned char rec_plain_name_len(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > UCHAR_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '_'))
            return 0;
    return (unsigned char)n;
}

static void rec_rule_table_fill(void) {
    for (int k = 1; k <= HUBNET__KIND__KIND_ENDORSEMENT; k++) {
        const ProtobufCMessageDescriptor *d = rec_descriptor(k);
        for (unsigned i = 0; d != NULL && i < d->n_fields && i < REC_MAX_FIELDS; i++) {
            struct rec_field *f = &rec_field_table[k][i];
            f->rule = rec_rule_find_kind(k, d->fields[i].name);
            f->fits = f->rule != NULL && rec_rule_fits(f->rule, &d->fields[i]);
            f->plain_len = rec_plain_name_len(d->fields[i].name);
        }
    }
}

/* The rule of field i of kind's message (NULL: none, a bug in rec_rules). */
static const struct rec_rule *rec_rule_at(int kind, unsigned i) {
    pthread_once(&rec_rule_once, rec_rule_table_fill);
    if (kind < 1 || kind > HUBNET__KIND__KIND_ENDORSEMENT || i >= REC_MAX_FIELDS)
        return NULL;
    return rec_field_table[kind][i].rule;
}

/* kind's fields, one entry per field of its message (record_write_json); kind is valid. */
static const struct rec_field *rec_fields(int kind) {
    pthread_once(&rec_rule_once, rec_rule_table_fill);
    return rec_field_table[kind];
}

/* The rule must fit the wire type; a mismatch is a bug in rec_rules, not bad input. */
static int rec_rule_fits(const struct rec_rule *r, const ProtobufCFieldDescriptor *fd) {
    switch (r->check) {
    case REC_UINT32:
        return fd->type == PROTOBUF_C_TYPE_UINT32 && fd->label != PROTOBUF_C_LABEL_REPEATED;
    case REC_BOOL:
        return fd->type == PROTOBUF_C_TYPE_BOOL && fd->label != PROTOBUF_C_LABEL_REPEATED;
    case REC_COST:
        return fd->type == PROTOBUF_C_TYPE_MESSAGE && fd->descriptor == &hubnet__cost__descriptor &&
               fd->label != PROTOBUF_C_LABEL_REPEATED;
    case REC_REF:
        return fd->type == PROTOBUF_C_TYPE_MESSAGE &&
               fd->descriptor == &hubnet__record_ref__descriptor &&
               fd->label != PROTOBUF_C_LABEL_REPEATED;
    case REC_SEALED:
        return fd->type == PROTOBUF_C_TYPE_BYTES && fd->label != PROTOBUF_C_LABEL_REPEATED;
    case REC_EQF:
        return fd->type == PROTOBUF_C_TYPE_UINT32 && fd->label != PROTOBUF_C_LABEL_REPEATED;
    case REC_LANGTEXT:
        return fd->type == PROTOBUF_C_TYPE_MESSAGE &&
               fd->descriptor == &hubnet__lang_text__descriptor &&
               fd->label == PROTOBUF_C_LABEL_REPEATED;
    case REC_OUTCOMES:
        return fd->type == PROTOBUF_C_TYPE_MESSAGE &&
               fd->descriptor == &hubnet__learning_outcome__descriptor &&
               fd->label == PROTOBUF_C_LABEL_REPEATED;
    case REC_SESSIONS:
        return fd->type == PROTOBUF_C_TYPE_MESSAGE &&
               fd->descriptor == &hubnet__session__descriptor &&
               fd->label == PROTOBUF_C_LABEL_REPEATED;
    case REC_ID:
        return fd->type == PROTOBUF_C_TYPE_BYTES && fd->label != PROTOBUF_C_LABEL_REPEATED;
    case REC_KIND:
        return fd->type == PROTOBUF_C_TYPE_ENUM && fd->descriptor == &hubnet__kind__descriptor &&
               fd->label != PROTOBUF_C_LABEL_REPEATED;
    case REC_RTYPE:
        return fd->type == PROTOBUF_C_TYPE_ENUM &&
               fd->descriptor == &hubnet__response_type__descriptor &&
               fd->label != PROTOBUF_C_LABEL_REPEATED;
    default:
        return fd->type == PROTOBUF_C_TYPE_STRING;
    }
}

static void *rec_member(ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd) {
    return (char *)m + fd->offset;
}

static size_t *rec_count(ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd) {
    return (size_t *)(void *)((char *)m + fd->quantifier_offset);
}

/* ---- errors ---- */

static void rec_set_field(struct record_error *err, const char *field) {
    if (err == NULL)
        return;
    size_t n = strnlen(field, sizeof err->field - 1);
    memcpy(err->field, field, n);
    err->field[n] = '\0';
}

__attribute__((format(printf, 4, 5))) static int rec_fail(struct record_error *err, int code,
                                                          const char *field, const char *fmt, ...) {
    if (err == NULL)
        return code;
    rec_set_field(err, field);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (n < 0)
        err->message[0] = '\0';
    return code; /* a truncated message is still the right message */
}

/* "topics" + 3 -> "topics[3]"; on overflow the bare name, which still names the field. */
static const char *rec_item_name(char *buf, size_t size, const char *name, size_t i) {
    int n = snprintf(buf, size, "%s[%zu]", name, i);
    return (n < 0 || (size_t)n >= size) ? name : buf;
}

static const char *rec_sub_name(char *buf, size_t size, const char *name, const char *sub) {
    int n = snprintf(buf, size, "%s.%s", name, sub);
    return (n < 0 || (size_t)n >= size) ? name : buf;
}

/* ---- string checks shared by JSON input and foreign payloads ---- */

/* Strict UTF-8 (RFC 3629): no overlong forms, surrogates or code points above U+10FFFF. */
static int rec_utf8_valid(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xbf; /* range of the first continuation byte */
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            return 0;
        }
        if (len - i - 1 < need)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += need + 1;
    }
    return 1;
}

/* Length cap, UTF-8 and control characters: 0, HUB_E_TOO_LARGE or HUB_E_RANGE. */
static int rec_check_text(const char *s, size_t len, const struct rec_rule *r, const char *field,
                          struct record_error *err) {
    if (len > r->cap)
        return rec_fail(err, HUB_E_TOO_LARGE, field, "longer than %zu bytes", r->cap);
    if (!rec_utf8_valid((const unsigned char *)s, len))
        return rec_fail(err, HUB_E_RANGE, field, "not valid UTF-8");
    int multiline = r->check == REC_MULTILINE;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 || c == 0x7f) && !(multiline && (c == '\n' || c == '\t')))
            return rec_fail(err, HUB_E_RANGE, field, "contains a control character");
    }
    return HUB_OK;
}

/* tcp://host:port with a DNS name, IPv4 address or [IPv6] address and a port 1-65535. */
static int rec_is_endpoint(const char *s) {
    if (strncmp(s, "tcp://", 6) != 0)
        return 0;
    const char *host = s + 6;
    const char *colon = strrchr(host, ':');
    if (colon == NULL || colon == host)
        return 0;
    size_t hlen = (size_t)(colon - host);
    if (host[0] == '[') {
        if (hlen < 3 || host[hlen - 1] != ']')
            return 0;
        for (size_t i = 1; i + 1 < hlen; i++) {
            char c = host[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.'))
                return 0;
        }
    } else {
        for (size_t i = 0; i < hlen; i++) {
            char c = host[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '.' || c == '-' || c == '_'))
                return 0;
        }
    }
    const char *port = colon + 1;
    size_t plen = strlen(port);
    if (plen == 0 || plen > 5)
        return 0;
    unsigned long v = 0;
    for (size_t i = 0; i < plen; i++) {
        if (port[i] < '0' || port[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(port[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* A NUTS code: its syntax (E_RANGE), and its country among NUTS's (E_VOCAB, with the codes
 * meant: the ISO codes NUTS spells otherwise, GR and GB, then the nearest NUTS countries, each
 * with the rest of the code; lower case written in upper case). */
static int rec_check_nuts(const char *s, const struct rec_rule *r, const char *field,
                          struct record_error *err) {
    int ok = vocab_nuts_check(s);
    if (ok == 1)
        return HUB_OK;
    char up[VOCAB_NUTS_MAX_LEN + 1];
    size_t n = strnlen(s, sizeof up);
    if (ok == 0 && n < sizeof up) {
        for (size_t i = 0; i <= n; i++)
            up[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i]);
        int again = vocab_nuts_check(up);
        if (again == 1)
            return rec_fail(err, HUB_E_VOCAB, field, "%s; did you mean '%s'?", r->what, up);
        if (again == -1)
            ok = -1, s = up;
    }
    if (ok == 0)
        return rec_fail(err, HUB_E_RANGE, field, "%s", r->what);
    char cc[3] = {s[0], s[1], 0};
    char near[200];
    vocab_nuts_suggest_text(s, near, sizeof near);
    return rec_fail(err, HUB_E_VOCAB, field, "%s: %s is not a NUTS country%s%s", r->what, cc,
                    near[0] ? "; " : "", near);
}

/* Vocabulary or syntax of one string value: 0, HUB_E_VOCAB or HUB_E_RANGE. */
static int rec_check_value(const char *s, const struct rec_rule *r, const char *field,
                           struct record_error *err) {
    int32_t days;
    switch (r->check) {
    case REC_VOCAB: {
        if (vocab_has(r->vocab, s))
            return HUB_OK;
        char near[200]; /* what was meant, nearest first (vocab_suggest) */
        vocab_suggest_text(r->vocab, s, near, sizeof near);
        return rec_fail(err, HUB_E_VOCAB, field, "%s%s%s", r->what, near[0] ? "; " : "", near);
    }
    case REC_NUTS:
        return rec_check_nuts(s, r, field, err);
    case REC_LANGUAGE:
        return vocab_is_language(s) ? HUB_OK : rec_fail(err, HUB_E_RANGE, field, "%s", r->what);
    case REC_TOPIC:
        return vocab_is_topic(s) ? HUB_OK : rec_fail(err, HUB_E_RANGE, field, "%s", r->what);
    case REC_SKILL:
        return vocab_is_esco_skill(s) ? HUB_OK : rec_fail(err, HUB_E_RANGE, field, "%s", r->what);
    case REC_URL:
        return vocab_is_url(s) ? HUB_OK : rec_fail(err, HUB_E_RANGE, field, "%s", r->what);
    case REC_ENDPOINT:
        return rec_is_endpoint(s) ? HUB_OK : rec_fail(err, HUB_E_RANGE, field, "%s", r->what);
    case REC_DATE:
        return record_parse_date(s, &days) == HUB_OK
                   ? HUB_OK
                   : rec_fail(err, HUB_E_RANGE, field, "%s", r->what);
    default:
        return HUB_OK; /* free text */
    }
}

/* ---- dates ---- */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's
 * days_from_civil); exact for every year RECORD_MIN_YEAR..RECORD_MAX_YEAR. */
static int32_t rec_days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int era = y / 400; /* y >= 0 here */
    int yoe = y - era * 400;
    int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + doe - 719468);
}

int record_parse_date(const char *s, int32_t *days) {
    if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return HUB_E_FIELD;
    int v[3] = {0, 0, 0};
    static const int start[3] = {0, 5, 8}, width[3] = {4, 2, 2};
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < width[f]; i++) {
            char c = s[start[f] + i];
            if (c < '0' || c > '9')
                return HUB_E_FIELD;
            v[f] = v[f] * 10 + (c - '0');
        }
    int y = v[0], m = v[1], d = v[2];
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < RECORD_MIN_YEAR || y > RECORD_MAX_YEAR || m < 1 || m > 12 || d < 1)
        return HUB_E_FIELD;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return HUB_E_FIELD;
    *days = rec_days_from_civil(y, m, d);
    return HUB_OK;
}

/* ---- JSON -> message ---- */

/* Checked string member: the returned pointer belongs to the JSON value. */
static int rec_json_string(json_t *v, const struct rec_rule *r, const char *field,
                           struct record_error *err, const char **out) {
    if (!json_is_string(v))
        return rec_fail(err, HUB_E_TYPE, field, "expected a string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strlen(s) != len) /* an embedded NUL would silently cut the value short */
        return rec_fail(err, HUB_E_RANGE, field, "contains a control character");
    int rc = rec_check_text(s, len, r, field, err);
    if (rc != HUB_OK)
        return rc;
    rc = rec_check_value(s, r, field, err);
    if (rc != HUB_OK)
        return rc;
    *out = s;
    return HUB_OK;
}

static int rec_hex32(const char *s, uint8_t out[32]) {
    if (strlen(s) != HUB_HEX_LEN)
        return HUB_E_RANGE;
    /* Lower case only: the text form of keys and ids is lower-case hex, and round trips
     * through the record must give back the same string. */
    for (size_t i = 0; i < HUB_HEX_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return HUB_E_RANGE;
    return hub_unhex(s, out, 32) == HUB_OK ? HUB_OK : HUB_E_RANGE;
}

static int rec_json_cost(json_t *v, const char *field, struct record_error *err,
                         Hubnet__Cost **out) {
    static const struct rec_rule currency_rule = {"currency", REC_VOCAB, RECORD_MAX_SHORT,
                                                  VOCAB_CURRENCY, "not an ISO 4217 currency code"};
    char sub[64];
    if (!json_is_object(v))
        return rec_fail(err, HUB_E_TYPE, field,
                        "expected an object {\"amount\": <number>, \"currency\": <ISO 4217>}");
    const char *key;
    json_t *m;
    json_object_foreach(v, key, m) {
        if (strcmp(key, "amount") != 0 && strcmp(key, "currency") != 0)
            return rec_fail(err, HUB_E_FIELD, rec_sub_name(sub, sizeof sub, field, key),
                            "unknown field");
    }
    json_t *amount = json_object_get(v, "amount");
    json_t *currency = json_object_get(v, "currency");
    if (amount == NULL)
        return rec_fail(err, HUB_E_FIELD, rec_sub_name(sub, sizeof sub, field, "amount"),
                        "required");
    if (currency == NULL)
        return rec_fail(err, HUB_E_FIELD, rec_sub_name(sub, sizeof sub, field, "currency"),
                        "required");

    const char *aname = rec_sub_name(sub, sizeof sub, field, "amount");
    uint64_t minor;
    if (json_is_integer(amount)) {
        json_int_t a = json_integer_value(amount);
        if (a < 0 || (uint64_t)a > RECORD_MAX_AMOUNT_MINOR / RECORD_MINOR_PER_MAJOR)
            return rec_fail(err, HUB_E_RANGE, aname, "out of range (0 .. %llu)",
                            RECORD_MAX_AMOUNT_MINOR / RECORD_MINOR_PER_MAJOR);
        minor = (uint64_t)a * RECORD_MINOR_PER_MAJOR;
    } else if (json_is_real(amount)) {
        double a = json_real_value(amount);
        double scaled = round(a * RECORD_MINOR_PER_MAJOR);
        if (!isfinite(a) || a < 0 || scaled > (double)RECORD_MAX_AMOUNT_MINOR)
            return rec_fail(err, HUB_E_RANGE, aname, "out of range (0 .. %llu)",
                            RECORD_MAX_AMOUNT_MINOR / RECORD_MINOR_PER_MAJOR);
        minor = (uint64_t)scaled;
    } else {
        return rec_fail(err, HUB_E_TYPE, aname, "expected a number");
    }

    const char *cname = rec_sub_name(sub, sizeof sub, field, "currency");
    const char *code;
    int rc = rec_json_string(currency, &currency_rule, cname, err, &code);
    if (rc != HUB_OK)
        return rc;

    Hubnet__Cost *c = malloc(sizeof *c);
    if (c == NULL)
        return rec_fail(err, HUB_E_NOMEM, field, "out of memory");
    hubnet__cost__init(c);
    c->amount_minor = minor;
    c->currency = (char *)code; /* borrowed from the JSON value, never freed through c */
    *out = c;
    return HUB_OK;
}

static int rec_json_enum(int kind, json_t *v, const struct rec_rule *r, const char *field,
                         struct record_error *err, int *out) {
    if (!json_is_string(v))
        return rec_fail(err, HUB_E_TYPE, field, "expected a string");
    const char *s = json_string_value(v);
    if (r->check == REC_RTYPE) {
        for (size_t i = 1; i < HUB_ARRAY_LEN(rec_rtype_names); i++)
            if (strcmp(s, rec_rtype_names[i]) == 0) {
                *out = (int)i;
                return HUB_OK;
            }
        return rec_fail(err, HUB_E_VOCAB, field, "%s", r->what);
    }
    int k = entry_kind_parse(s);
    if (kind == HUBNET__KIND__KIND_RESPONSE) {
        /* Responses answer offers and requests; accept and decline answer an enrolment (a
         * response), checked with the type in rec_check_response. */
        if (k != HUBNET__KIND__KIND_OFFER && k != HUBNET__KIND__KIND_REQUEST &&
            k != HUBNET__KIND__KIND_RESPONSE)
            return rec_fail(err, HUB_E_KIND, field,
                            "expected \"offer\", \"request\" or (accept, decline) \"response\"");
    } else if (rec_descriptor(k) == NULL || k == HUBNET__KIND__KIND_RETRACTION) {
        return rec_fail(err, HUB_E_KIND, field,
                        "expected profile, offer, request, response or endorsement");
    }
    *out = k;
    return HUB_OK;
}

/* {"author": <64 hex>, "key": "...", "kind": "offer"} (kind optional: the only kind a
 * RecordRef names today, based_on, is an offer). */
static int rec_json_ref(json_t *v, const struct rec_rule *r, const char *field,
                        struct record_error *err, Hubnet__RecordRef **out) {
    char sub[64];
    if (!json_is_object(v))
        return rec_fail(err, HUB_E_TYPE, field,
                        "expected an object {\"author\": <hub key>, \"key\": <record key>}");
    const char *k;
    json_t *m;
    json_object_foreach(v, k, m) {
        if (strcmp(k, "author") != 0 && strcmp(k, "key") != 0 && strcmp(k, "kind") != 0)
            return rec_fail(err, HUB_E_FIELD, rec_sub_name(sub, sizeof sub, field, k),
                            "unknown field");
    }
    json_t *a = json_object_get(v, "author"), *key = json_object_get(v, "key"),
           *kd = json_object_get(v, "kind");
    if (!json_is_string(a))
        return rec_fail(err, a ? HUB_E_TYPE : HUB_E_FIELD,
                        rec_sub_name(sub, sizeof sub, field, "author"),
                        a ? "expected a string" : "required");
    if (!json_is_string(key) || json_string_length(key) == 0)
        return rec_fail(err, key && !json_is_string(key) ? HUB_E_TYPE : HUB_E_FIELD,
                        rec_sub_name(sub, sizeof sub, field, "key"),
                        key && !json_is_string(key) ? "expected a string" : "required");
    if (kd != NULL && (!json_is_string(kd) || strcmp(json_string_value(kd), "offer") != 0))
        return rec_fail(err, HUB_E_KIND, rec_sub_name(sub, sizeof sub, field, "kind"),
                        "expected \"offer\"");
    static const struct rec_rule key_rule = {"key", REC_TEXT, RECORD_MAX_KEY, 0, NULL};
    const char *ks;
    int rc = rec_json_string(key, &key_rule, rec_sub_name(sub, sizeof sub, field, "key"), err, &ks);
    if (rc != HUB_OK)
        return rc;
    (void)r;
    Hubnet__RecordRef *ref = malloc(sizeof *ref);
    uint8_t *bin = malloc(32);
    if (ref == NULL || bin == NULL) {
        free(ref);
        free(bin);
        return rec_fail(err, HUB_E_NOMEM, field, "out of memory");
    }
    hubnet__record_ref__init(ref);
    ref->author.data = bin;
    ref->author.len = 32;
    ref->kind = HUBNET__KIND__KIND_OFFER;
    ref->key = (char *)ks; /* borrowed from the JSON value */
    *out = ref;            /* owned by the message now: rec_msg_free releases it */
    if (rec_hex32(json_string_value(a), bin) != HUB_OK || sodium_is_zero(bin, 32))
        return rec_fail(err, HUB_E_RANGE, rec_sub_name(sub, sizeof sub, field, "author"),
                        "not a hub key (64 lower-case hex digits, not all zero)");
    return HUB_OK;
}

/* ---- repeated messages (issue 11 item 4) ---- */

/* n sub-messages of descriptor d in one block: the pointer array the message holds, then the
 * messages, so that rec_msg_free's one free() of the member releases them all. Their strings
 * are borrowed from the JSON. */
static void **rec_sub_block(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, size_t n) {
    const ProtobufCMessageDescriptor *d = fd->descriptor;
    size_t step =
        (d->sizeof_message + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);
    size_t head =
        (n * sizeof(void *) + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);
    unsigned char *block = malloc(head + n * step);
    if (block == NULL)
        return NULL;
    void **ptrs = (void **)(void *)block;
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = block + head + i * step;
        protobuf_c_message_init(d, ptrs[i]);
    }
    *(void ***)rec_member(msg, fd) = ptrs; /* owned by the message now */
    *rec_count(msg, fd) = n;
    return ptrs;
}

/* Unknown members of a sub-object: E_FIELD naming the first. */
static int rec_json_only(json_t *o, const char *const *names, const char *field,
                         struct record_error *err) {
    const char *k;
    json_t *m;
    json_object_foreach(o, k, m) {
        const char *const *n = names;
        while (*n && strcmp(*n, k) != 0)
            n++;
        if (*n == NULL) {
            char sub[96];
            return rec_fail(err, HUB_E_FIELD, rec_sub_name(sub, sizeof sub, field, k),
                            "unknown field");
        }
    }
    return HUB_OK;
}

/* A required non-empty checked string member of a sub-object (NULL v: "required"). */
static int rec_json_sub_string(json_t *o, const char *name, const struct rec_rule *r, int need,
                               const char *field, struct record_error *err, const char **out) {
    char sub[96];
    const char *f = rec_sub_name(sub, sizeof sub, field, name);
    json_t *v = json_object_get(o, name);
    *out = "";
    if (v == NULL)
        return need ? rec_fail(err, HUB_E_FIELD, f, "required") : HUB_OK;
    int rc = rec_json_string(v, r, f, err, out);
    if (rc == HUB_OK && need && (*out)[0] == '\0')
        return rec_fail(err, HUB_E_FIELD, f, "empty");
    return rc;
}

static int rec_lang_cmp(const void *a, const void *b) {
    return strcmp((*(Hubnet__LangText *const *)a)->lang, (*(Hubnet__LangText *const *)b)->lang);
}

/* {"de": "...", "en": "..."}: a text per BCP 47 tag, kept sorted by tag so that the same
 * texts always encode the same (an import of the same record is "unchanged"). */
static int rec_json_langtext(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                             const struct rec_rule *r, json_t *v, struct record_error *err) {
    if (!json_is_object(v))
        return rec_fail(err, HUB_E_TYPE, fd->name,
                        "expected an object of texts by language tag, e.g. {\"de\": \"...\"}");
    size_t n = json_object_size(v);
    if (n > RECORD_MAX_LIST)
        return rec_fail(err, HUB_E_TOO_LARGE, fd->name, "more than %d languages", RECORD_MAX_LIST);
    if (n == 0)
        return HUB_OK;
    Hubnet__LangText **items = (Hubnet__LangText **)rec_sub_block(msg, fd, n);
    if (items == NULL)
        return rec_fail(err, HUB_E_NOMEM, fd->name, "out of memory");
    const struct rec_rule text = {
        fd->name, r->cap == RECORD_MAX_DESCRIPTION ? REC_MULTILINE : REC_TEXT, r->cap, 0, NULL};
    const char *k;
    json_t *m;
    size_t i = 0;
    json_object_foreach(v, k, m) {
        char sub[96];
        const char *f = rec_sub_name(sub, sizeof sub, fd->name, k);
        if (!vocab_is_language(k))
            return rec_fail(err, HUB_E_RANGE, f, "not a BCP 47 language tag");
        const char *t;
        int rc = rec_json_string(m, &text, f, err, &t);
        if (rc != HUB_OK)
            return rc;
        if (t[0] == '\0')
            return rec_fail(err, HUB_E_FIELD, f, "empty");
        items[i]->lang = (char *)k; /* borrowed from the JSON object */
        items[i]->text = (char *)t;
        i++;
    }
    qsort(items, n, sizeof *items, rec_lang_cmp);
    for (i = 1; i < n; i++)
        if (strcasecmp(items[i - 1]->lang, items[i]->lang) == 0) {
            char sub[96];
            return rec_fail(err, HUB_E_RANGE,
                            rec_sub_name(sub, sizeof sub, fd->name, items[i]->lang),
                            "the same language twice (tags are case-insensitive)");
        }
    return HUB_OK;
}

static int rec_json_outcomes(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                             const struct rec_rule *r, json_t *v, struct record_error *err) {
    static const char *const names[] = {"text", "skill", NULL};
    if (!json_is_array(v))
        return rec_fail(err, HUB_E_TYPE, fd->name,
                        "expected a list of {\"text\": ..., \"skill\": <ESCO skill URI>}");
    size_t n = json_array_size(v);
    if (n > RECORD_MAX_LIST)
        return rec_fail(err, HUB_E_TOO_LARGE, fd->name, "more than %d items", RECORD_MAX_LIST);
    if (n == 0)
        return HUB_OK;
    Hubnet__LearningOutcome **items = (Hubnet__LearningOutcome **)rec_sub_block(msg, fd, n);
    if (items == NULL)
        return rec_fail(err, HUB_E_NOMEM, fd->name, "out of memory");
    const struct rec_rule text = {"text", REC_TEXT, r->cap, 0, NULL};
    const struct rec_rule *skill = rec_rule_find("skills");
    for (size_t i = 0; i < n; i++) {
        char name[64];
        const char *f = rec_item_name(name, sizeof name, fd->name, i);
        json_t *o = json_array_get(v, i);
        if (!json_is_object(o))
            return rec_fail(err, HUB_E_TYPE, f, "expected an object {\"text\", \"skill\"}");
        int rc = rec_json_only(o, names, f, err);
        if (rc == HUB_OK)
            rc = rec_json_sub_string(o, "text", &text, 1, f, err, (const char **)&items[i]->text);
        if (rc == HUB_OK)
            rc = rec_json_sub_string(o, "skill", skill, 0, f, err, (const char **)&items[i]->skill);
        if (rc != HUB_OK)
            return rc;
    }
    return HUB_OK;
}

static int rec_json_sessions(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                             const struct rec_rule *r, json_t *v, struct record_error *err) {
    static const char *const names[] = {"start", "end", "location", "mode", "seats", NULL};
    if (!json_is_array(v))
        return rec_fail(err, HUB_E_TYPE, fd->name,
                        "expected a list of {\"start\", \"end\", \"location\", \"mode\", "
                        "\"seats\"}");
    size_t n = json_array_size(v);
    if (n > RECORD_MAX_LIST)
        return rec_fail(err, HUB_E_TOO_LARGE, fd->name, "more than %d sessions", RECORD_MAX_LIST);
    if (n == 0)
        return HUB_OK;
    Hubnet__Session **items = (Hubnet__Session **)rec_sub_block(msg, fd, n);
    if (items == NULL)
        return rec_fail(err, HUB_E_NOMEM, fd->name, "out of memory");
    const struct rec_rule date = {"start", REC_DATE, RECORD_MAX_SHORT, 0, "not a YYYY-MM-DD date"};
    const struct rec_rule place = {"location", REC_TEXT, r->cap, 0, NULL};
    const struct rec_rule *mode = rec_rule_find("mode");
    for (size_t i = 0; i < n; i++) {
        char name[64], sub[96];
        const char *f = rec_item_name(name, sizeof name, fd->name, i);
        json_t *o = json_array_get(v, i);
        Hubnet__Session *se = items[i];
        if (!json_is_object(o))
            return rec_fail(err, HUB_E_TYPE, f, "expected an object {\"start\", \"end\", ...}");
        int rc = rec_json_only(o, names, f, err);
        if (rc == HUB_OK)
            rc = rec_json_sub_string(o, "start", &date, 1, f, err, (const char **)&se->start);
        if (rc == HUB_OK)
            rc = rec_json_sub_string(o, "end", &date, 0, f, err, (const char **)&se->end);
        if (rc == HUB_OK)
            rc =
                rec_json_sub_string(o, "location", &place, 0, f, err, (const char **)&se->location);
        if (rc == HUB_OK)
            rc = rec_json_sub_string(o, "mode", mode, 0, f, err, (const char **)&se->mode);
        if (rc != HUB_OK)
            return rc;
        json_t *seats = json_object_get(o, "seats");
        if (seats != NULL) {
            json_int_t k = json_integer_value(seats);
            if (!json_is_integer(seats))
                return rec_fail(err, HUB_E_TYPE, rec_sub_name(sub, sizeof sub, f, "seats"),
                                "expected a non-negative integer");
            if (k < 0 || k > (json_int_t)UINT32_MAX)
                return rec_fail(err, HUB_E_RANGE, rec_sub_name(sub, sizeof sub, f, "seats"),
                                "out of range (0 .. %u)", UINT32_MAX);
            se->seats = (uint32_t)k;
        }
        int32_t a, b;
        if (se->end[0] != '\0' && record_parse_date(se->start, &a) == HUB_OK &&
            record_parse_date(se->end, &b) == HUB_OK && b < a)
            return rec_fail(err, HUB_E_RANGE, rec_sub_name(sub, sizeof sub, f, "end"),
                            "before start");
    }
    return HUB_OK;
}

static int rec_json_scalar(int kind, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                           const struct rec_rule *r, json_t *v, struct record_error *err) {
    const char *field = fd->name;
    void *member = rec_member(msg, fd);
    int rc;
    switch (r->check) {
    case REC_EQF: {
        if (!json_is_integer(v))
            return rec_fail(err, HUB_E_TYPE, field, "expected an EQF level, 1 .. %d",
                            RECORD_EQF_MAX);
        json_int_t n = json_integer_value(v);
        if (n < 1 || n > RECORD_EQF_MAX)
            return rec_fail(err, HUB_E_RANGE, field, "not an EQF level (1 .. %d)", RECORD_EQF_MAX);
        *(uint32_t *)member = (uint32_t)n;
        return HUB_OK;
    }
    case REC_UINT32: {
        if (!json_is_integer(v))
            return rec_fail(err, HUB_E_TYPE, field, "expected a non-negative integer");
        json_int_t n = json_integer_value(v);
        if (n < 0 || n > (json_int_t)UINT32_MAX)
            return rec_fail(err, HUB_E_RANGE, field, "out of range (0 .. %u)", UINT32_MAX);
        *(uint32_t *)member = (uint32_t)n;
        return HUB_OK;
    }
    case REC_BOOL:
        if (!json_is_boolean(v))
            return rec_fail(err, HUB_E_TYPE, field, "expected true or false");
        *(protobuf_c_boolean *)member = json_is_true(v);
        return HUB_OK;
    case REC_COST: {
        Hubnet__Cost *c = NULL;
        rc = rec_json_cost(v, field, err, &c);
        if (rc != HUB_OK)
            return rc;
        *(Hubnet__Cost **)member = c;
        return HUB_OK;
    }
    case REC_ID: {
        if (!json_is_string(v))
            return rec_fail(err, HUB_E_TYPE, field, "expected a string");
        uint8_t *bin = malloc(32);
        if (bin == NULL)
            return rec_fail(err, HUB_E_NOMEM, field, "out of memory");
        ProtobufCBinaryData *b = member;
        b->data = bin; /* owned by the message now: rec_msg_free releases it */
        b->len = 32;
        if (rec_hex32(json_string_value(v), bin) != HUB_OK)
            return rec_fail(err, HUB_E_RANGE, field, "%s", r->what);
        return HUB_OK;
    }
    case REC_KIND:
    case REC_RTYPE:
        return rec_json_enum(kind, v, r, field, err, (int *)member);
    case REC_REF:
        return rec_json_ref(v, r, field, err, (Hubnet__RecordRef **)member);
    case REC_SEALED: {
        if (!json_is_string(v))
            return rec_fail(err, HUB_E_TYPE, field, "expected a base64 string");
        const char *t = json_string_value(v);
        size_t tl = json_string_length(v);
        uint8_t *bin = malloc(RECORD_MAX_SEALED + 1);
        if (bin == NULL)
            return rec_fail(err, HUB_E_NOMEM, field, "out of memory");
        ProtobufCBinaryData *b = member;
        b->data = bin; /* owned by the message now */
        size_t bl = 0;
        if (sodium_base642bin(bin, RECORD_MAX_SEALED + 1, t, tl, NULL, &bl, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bl == 0 || bl > RECORD_MAX_SEALED)
            return rec_fail(err, HUB_E_RANGE, field, "%s", r->what);
        b->len = bl;
        return HUB_OK;
    }
    default: {
        const char *s;
        rc = rec_json_string(v, r, field, err, &s);
        if (rc != HUB_OK)
            return rc;
        *(char **)member = (char *)s; /* borrowed from the JSON value */
        return HUB_OK;
    }
    }
}

static int rec_json_list(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                         const struct rec_rule *r, json_t *v, struct record_error *err) {
    if (!json_is_array(v))
        return rec_fail(err, HUB_E_TYPE, fd->name, "expected a list of strings");
    size_t n = json_array_size(v);
    if (n > RECORD_MAX_LIST)
        return rec_fail(err, HUB_E_TOO_LARGE, fd->name, "more than %d items", RECORD_MAX_LIST);
    if (n == 0)
        return HUB_OK;
    char **items = calloc(n, sizeof *items);
    if (items == NULL)
        return rec_fail(err, HUB_E_NOMEM, fd->name, "out of memory");
    *(char ***)rec_member(msg, fd) = items; /* owned by the message now */
    *rec_count(msg, fd) = n;
    for (size_t i = 0; i < n; i++) {
        char name[64];
        const char *s;
        int rc = rec_json_string(json_array_get(v, i), r,
                                 rec_item_name(name, sizeof name, fd->name, i), err, &s);
        if (rc != HUB_OK)
            return rc;
        items[i] = (char *)s; /* borrowed from the JSON value */
    }
    return HUB_OK;
}

/* Frees what rec_json_* allocated; strings are borrowed from the JSON and stay. */
static void rec_msg_free(ProtobufCMessage *msg) {
    if (msg == NULL)
        return;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        void *member = rec_member(msg, fd);
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE &&
            fd->descriptor == &hubnet__record_ref__descriptor &&
            *(Hubnet__RecordRef **)member != NULL)
            free((*(Hubnet__RecordRef **)member)->author.data);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED || fd->type == PROTOBUF_C_TYPE_MESSAGE)
            free(*(void **)member);
        else if (fd->type == PROTOBUF_C_TYPE_BYTES)
            free(((ProtobufCBinaryData *)member)->data);
    }
    free(msg);
}

static inline int rec_member_empty(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd) {
    void *member = rec_member(msg, fd);
    if (fd->label == PROTOBUF_C_LABEL_REPEATED)
        return *rec_count(msg, fd) == 0;
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING:
        return *(char **)member == NULL || **(char **)member == '\0';
    case PROTOBUF_C_TYPE_BYTES:
        return ((ProtobufCBinaryData *)member)->len == 0;
    case PROTOBUF_C_TYPE_ENUM:
        return *(int *)member == 0;
    case PROTOBUF_C_TYPE_UINT32:
        return *(uint32_t *)member == 0;
    case PROTOBUF_C_TYPE_BOOL:
        return !*(protobuf_c_boolean *)member;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(void **)member == NULL;
    default:
        return 0;
    }
}

/* Rules between fields of one record, for the hub's own records (record_from_json); foreign
 * ones are checked for limits only (record_check_payload). */
static int rec_check_cross(int kind, ProtobufCMessage *msg, struct record_error *err) {
    const char *group = NULL, *type = NULL;
    if (kind == HUBNET__KIND__KIND_RESPONSE) {
        const Hubnet__Response *r = (const Hubnet__Response *)msg;
        if (r->target_author.len == 32 && sodium_is_zero(r->target_author.data, 32))
            return rec_fail(err, HUB_E_RANGE, "target_author", "all zero: no hub has that key");
        if (r->target.len == 32 && sodium_is_zero(r->target.data, 32))
            return rec_fail(err, HUB_E_RANGE, "target", "all zero: no entry has that id");
        int answer = r->type == HUBNET__RESPONSE_TYPE__RESPONSE_ACCEPT ||
                     r->type == HUBNET__RESPONSE_TYPE__RESPONSE_DECLINE;
        /* A reply to a reply only when it is the offering hub's answer to an enrolment. */
        if (answer && r->target_kind != HUBNET__KIND__KIND_RESPONSE)
            return rec_fail(err, HUB_E_KIND, "target_kind",
                            "accept and decline answer an enrolment: expected \"response\"");
        if (!answer && r->target_kind == HUBNET__KIND__KIND_RESPONSE)
            return rec_fail(err, HUB_E_KIND, "target_kind",
                            "a reply to a reply: only accept and decline answer a response");
        if (r->type == HUBNET__RESPONSE_TYPE__RESPONSE_ENROLMENT &&
            r->target_kind != HUBNET__KIND__KIND_OFFER)
            return rec_fail(err, HUB_E_KIND, "target_kind", "an enrolment answers an offer");
        if (r->type == HUBNET__RESPONSE_TYPE__RESPONSE_PROPOSAL &&
            r->target_kind != HUBNET__KIND__KIND_REQUEST)
            return rec_fail(err, HUB_E_KIND, "target_kind", "a proposal answers a request");
        if (r->reason[0] != '\0' && r->type != HUBNET__RESPONSE_TYPE__RESPONSE_DECLINE)
            return rec_fail(err, HUB_E_FIELD, "reason", "only a decline has a reason");
        if (r->seats != 0 && r->type != HUBNET__RESPONSE_TYPE__RESPONSE_ENROLMENT)
            return rec_fail(err, HUB_E_FIELD, "seats", "only an enrolment asks for seats");
        return HUB_OK;
    }
    if (kind == HUBNET__KIND__KIND_OFFER) {
        const Hubnet__Offer *o = (const Hubnet__Offer *)msg;
        group = o->service_group;
        type = o->service_type;
        if (o->facility[0] != '\0' && group[0] != '\0' && strcmp(group, "test-before-invest") != 0)
            return rec_fail(err, HUB_E_FIELD, "facility",
                            "a facility is offered by a test-before-invest service");
    } else if (kind == HUBNET__KIND__KIND_REQUEST) {
        const Hubnet__Request *q = (const Hubnet__Request *)msg;
        group = q->service_group;
        type = q->service_type;
    }
    if (type != NULL && type[0] != '\0') {
        const char *of = vocab_service_type_group(type);
        const char *g = group[0] != '\0' ? group : VOCAB_DEFAULT_SERVICE_GROUP;
        if (of == NULL || strcmp(of, g) != 0)
            return rec_fail(err, HUB_E_VOCAB, "service_type", "not a service type of %s%s", g,
                            group[0] != '\0' ? "" : " (the default service_group)");
    }
    return HUB_OK;
}

static int rec_json_fields(int kind, ProtobufCMessage *msg, json_t *obj, struct record_error *err) {
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field_by_name(d, key);
        if (fd == NULL)
            return rec_fail(err, HUB_E_FIELD, key, "unknown field");
        const struct rec_rule *r = rec_rule_find_kind(kind, key);
        if (r == NULL || !rec_rule_fits(r, fd))
            return rec_fail(err, HUB_E_INTERNAL, key, "no rule for this field");
        int rc;
        if (r->check == REC_LANGTEXT)
            rc = rec_json_langtext(msg, fd, r, v, err);
        else if (r->check == REC_OUTCOMES)
            rc = rec_json_outcomes(msg, fd, r, v, err);
        else if (r->check == REC_SESSIONS)
            rc = rec_json_sessions(msg, fd, r, v, err);
        else
            rc = fd->label == PROTOBUF_C_LABEL_REPEATED ? rec_json_list(msg, fd, r, v, err)
                                                        : rec_json_scalar(kind, msg, fd, r, v, err);
        if (rc != HUB_OK)
            return rc;
    }
    for (size_t i = 0; i < HUB_ARRAY_LEN(rec_required[0]) && rec_required[kind][i]; i++) {
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field_by_name(d, rec_required[kind][i]);
        if (fd == NULL)
            return rec_fail(err, HUB_E_INTERNAL, rec_required[kind][i], "no such field");
        if (rec_member_empty(msg, fd))
            return rec_fail(err, HUB_E_FIELD, fd->name, "required");
    }
    int rc = rec_check_cross(kind, msg, err);
    if (rc != HUB_OK)
        return rc;
    /* Dates: a range that ends before it starts matches no query; refuse it. */
    const ProtobufCFieldDescriptor *sd =
        protobuf_c_message_descriptor_get_field_by_name(d, "start_date");
    const ProtobufCFieldDescriptor *ed =
        protobuf_c_message_descriptor_get_field_by_name(d, "end_date");
    if (sd != NULL && ed != NULL && !rec_member_empty(msg, sd) && !rec_member_empty(msg, ed)) {
        int32_t start, end;
        if (record_parse_date(*(char **)rec_member(msg, sd), &start) != HUB_OK ||
            record_parse_date(*(char **)rec_member(msg, ed), &end) != HUB_OK)
            return rec_fail(err, HUB_E_INTERNAL, "end_date", "date checked but not parsed");
        if (end < start)
            return rec_fail(err, HUB_E_RANGE, "end_date", "before start_date");
    }
    return HUB_OK;
}

int record_from_json(int kind, json_t *obj, uint8_t **payload, size_t *len,
                     struct record_error *err) {
    *payload = NULL;
    *len = 0;
    if (err != NULL) {
        err->field[0] = '\0';
        err->message[0] = '\0';
    }
    const ProtobufCMessageDescriptor *d = rec_descriptor(kind);
    if (d == NULL)
        return rec_fail(err, HUB_E_KIND, "kind", "unknown record kind %d", kind);
    if (!json_is_object(obj))
        return rec_fail(err, HUB_E_TYPE, "record", "expected an object");

    ProtobufCMessage *msg = malloc(d->sizeof_message);
    if (msg == NULL)
        return rec_fail(err, HUB_E_NOMEM, "", "out of memory");
    protobuf_c_message_init(d, msg);

    int rc = rec_json_fields(kind, msg, obj, err);
    if (rc != HUB_OK)
        goto out;
    size_t size = protobuf_c_message_get_packed_size(msg);
    if (size > HUB_MAX_PAYLOAD) {
        rc = rec_fail(err, HUB_E_TOO_LARGE, "record", "%zu bytes encoded, more than %d", size,
                      HUB_MAX_PAYLOAD);
        goto out;
    }
    uint8_t *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        rc = rec_fail(err, HUB_E_NOMEM, "", "out of memory");
        goto out;
    }
    if (protobuf_c_message_pack(msg, buf) != size) {
        free(buf);
        rc = rec_fail(err, HUB_E_INTERNAL, "", "encoded size changed");
        goto out;
    }
    *payload = buf;
    *len = size;
out:
    rec_msg_free(msg);
    return rc;
}

/* ---- message -> JSON ---- */

static void rec_cost_write(struct jbuf *b, const Hubnet__Cost *c) {
    jbuf_lit(b, "{\"amount\":");
    /* Whole amounts stay integers so that {"amount": 120} comes back as 120, not 120.0. */
    if (c->amount_minor % RECORD_MINOR_PER_MAJOR == 0)
        jbuf_u64(b, c->amount_minor / RECORD_MINOR_PER_MAJOR);
    else
        jbuf_real(b, (double)c->amount_minor / RECORD_MINOR_PER_MAJOR);
    if (c->currency != NULL && c->currency[0] != '\0') {
        jbuf_key_lit(b, "currency");
        jbuf_cstr(b, c->currency);
    }
    jbuf_lit(b, "}");
}

static void rec_enum_write(struct jbuf *b, const struct rec_rule *r, int v) {
    const char *name = NULL;
    if (r->check == REC_KIND)
        name = entry_kind_name(v);
    else if (v > 0 && (size_t)v < HUB_ARRAY_LEN(rec_rtype_names))
        name = rec_rtype_names[v];
    /* A value from a newer protocol version: show the number rather than hide the field. */
    if (name != NULL)
        jbuf_cstr(b, name);
    else
        jbuf_i64(b, v);
}

/* The repeated messages as rec_json_langtext, _outcomes and _sessions read them; empty
 * members left out. */
static void rec_sub_write(struct jbuf *b, enum rec_check check, void **items, size_t n) {
    if (check == REC_LANGTEXT) /* jbuf_lit takes a literal: no ?: */
        jbuf_lit(b, "{");
    else
        jbuf_lit(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (check == REC_LANGTEXT) {
            const Hubnet__LangText *t = items[i];
            jbuf_key(b, t->lang);
            jbuf_cstr(b, t->text);
            continue;
        }
        jbuf_sep(b);
        if (check == REC_OUTCOMES) {
            const Hubnet__LearningOutcome *o = items[i];
            jbuf_lit(b, "{\"text\":");
            jbuf_cstr(b, o->text);
            if (o->skill[0] != '\0') {
                jbuf_key_lit(b, "skill");
                jbuf_cstr(b, o->skill);
            }
            jbuf_lit(b, "}");
            continue;
        }
        const Hubnet__Session *se = items[i];
        const char *names[4] = {"start", "end", "location", "mode"};
        const char *vals[4] = {se->start, se->end, se->location, se->mode};
        jbuf_lit(b, "{");
        for (int k = 0; k < 4; k++)
            if (vals[k][0] != '\0') {
                jbuf_key_plain(b, names[k], strlen(names[k]));
                jbuf_cstr(b, vals[k]);
            }
        if (se->seats != 0) {
            jbuf_key_lit(b, "seats");
            jbuf_u64(b, se->seats);
        }
        jbuf_lit(b, "}");
    }
    if (check == REC_LANGTEXT)
        jbuf_lit(b, "}");
    else
        jbuf_lit(b, "]");
}

static int rec_field_write(struct jbuf *b, ProtobufCMessage *msg,
                           const ProtobufCFieldDescriptor *fd, const struct rec_field *f) {
    const struct rec_rule *r = f->rule;
    void *member = rec_member(msg, fd);
    if (f->plain_len)
        jbuf_key_plain(b, fd->name, f->plain_len);
    else
        jbuf_key(b, fd->name);
    if (r->check == REC_LANGTEXT || r->check == REC_OUTCOMES || r->check == REC_SESSIONS) {
        rec_sub_write(b, r->check, *(void ***)member, *rec_count(msg, fd));
        return HUB_OK;
    }
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *rec_count(msg, fd);
        char **items = *(char ***)member;
        jbuf_lit(b, "[");
        for (size_t i = 0; i < n; i++) {
            jbuf_sep(b);
            jbuf_cstr(b, items[i]);
        }
        jbuf_lit(b, "]");
        return HUB_OK;
    }
    switch (r->check) {
    case REC_UINT32:
    case REC_EQF:
        jbuf_u64(b, *(uint32_t *)member);
        return HUB_OK;
    case REC_BOOL:
        jbuf_lit(b, "true");
        return HUB_OK;
    case REC_COST:
        rec_cost_write(b, *(Hubnet__Cost **)member);
        return HUB_OK;
    case REC_ID: {
        const ProtobufCBinaryData *bin = member;
        if (bin->len != 32)
            return HUB_E_DECODE;
        jbuf_hex(b, bin->data, bin->len);
        return HUB_OK;
    }
    case REC_KIND:
    case REC_RTYPE:
        rec_enum_write(b, r, *(int *)member);
        return HUB_OK;
    case REC_REF: {
        const Hubnet__RecordRef *ref = *(Hubnet__RecordRef **)member;
        if (ref->author.len != 32)
            return HUB_E_DECODE;
        jbuf_lit(b, "{\"author\":");
        jbuf_hex(b, ref->author.data, 32);
        jbuf_key_lit(b, "kind");
        rec_enum_write(b, &(struct rec_rule){"kind", REC_KIND, 0, 0, NULL}, (int)ref->kind);
        jbuf_key_lit(b, "key");
        jbuf_cstr(b, ref->key);
        jbuf_lit(b, "}");
        return HUB_OK;
    }
    case REC_SEALED: {
        const ProtobufCBinaryData *bin = member;
        char b64[sodium_base64_ENCODED_LEN(RECORD_MAX_SEALED, sodium_base64_VARIANT_ORIGINAL)];
        if (bin->len > RECORD_MAX_SEALED)
            return HUB_E_DECODE;
        sodium_bin2base64(b64, sizeof b64, bin->data, bin->len, sodium_base64_VARIANT_ORIGINAL);
        jbuf_cstr(b, b64);
        return HUB_OK;
    }
    default:
        jbuf_cstr(b, *(char **)member);
        return HUB_OK;
    }
}

/* Unpacking a payload allocates every string and list separately; on the query and ingest
 * paths that was most of the cost. So unpacked payloads live in a per-thread bump arena that is
 * reset when the last one is released (rec_release), with malloc as the fallback when a payload
 * does not fit. Thread-local: ingest unpacks in parallel slices. */
#define REC_ARENA_SIZE (256u << 10) /* several times the largest payload (HUB_MAX_PAYLOAD) */

static _Thread_local struct {
    size_t used;
    unsigned live;  /* unpacked messages not yet released */
    size_t mallocs; /* malloc fallbacks not yet freed */
    _Alignas(max_align_t) unsigned char buf[REC_ARENA_SIZE];
} rec_arena;

static void *rec_arena_alloc(void *data, size_t size) {
    (void)data;
    size_t a = (size + _Alignof(max_align_t) - 1) & ~(size_t)(_Alignof(max_align_t) - 1);
    if (a < size || a > REC_ARENA_SIZE - rec_arena.used) {
        void *p = malloc(size);
        if (p != NULL)
            rec_arena.mallocs++;
        return p;
    }
    void *p = rec_arena.buf + rec_arena.used;
    rec_arena.used += a;
    return p;
}

static void rec_arena_free(void *data, void *p) {
    (void)data;
    unsigned char *c = p;
    if (p != NULL && (c < rec_arena.buf || c >= rec_arena.buf + REC_ARENA_SIZE)) {
        free(p); /* a malloc fallback */
        rec_arena.mallocs--;
    }
}

static ProtobufCAllocator rec_arena_allocator = {rec_arena_alloc, rec_arena_free, NULL};

static ProtobufCMessage *rec_unpack(int kind, const uint8_t *payload, size_t len) {
    const ProtobufCMessageDescriptor *d = rec_descriptor(kind);
    if (d == NULL || len > HUB_MAX_PAYLOAD)
        return NULL;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &rec_arena_allocator, len,
                                                    payload != NULL ? payload : rec_empty);
    if (m != NULL)
        rec_arena.live++;
    else if (rec_arena.live == 0)
        rec_arena.used = 0;
    return m;
}

static void rec_release(ProtobufCMessage *m) {
    /* Freeing walks every field of the message to free nothing: with no malloc fallback
     * outstanding, all of it is arena memory and goes when the arena is reset. */
    if (rec_arena.mallocs != 0)
        protobuf_c_message_free_unpacked(m, &rec_arena_allocator);
    if (--rec_arena.live == 0)
        rec_arena.used = 0;
}

int record_write_json(int kind, const uint8_t *payload, size_t len, struct jbuf *b) {
    if (rec_descriptor(kind) == NULL)
        return HUB_E_KIND;
    ProtobufCMessage *msg = rec_unpack(kind, payload, len);
    if (msg == NULL)
        return HUB_E_DECODE;
    size_t mark = b->len;
    int rc = HUB_OK;
    jbuf_lit(b, "{");
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    const struct rec_field *f = rec_fields(kind);
    for (unsigned i = 0; i < d->n_fields && rc == HUB_OK; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        if (i >= REC_MAX_FIELDS || !f[i].fits) /* no rule, or one that does not fit */
            rc = HUB_E_INTERNAL;
        else if (!rec_member_empty(msg, fd))
            rc = rec_field_write(b, msg, fd, &f[i]);
    }
    jbuf_lit(b, "}");
    rec_release(msg);
    if (rc == HUB_OK && b->oom)
        rc = HUB_E_NOMEM;
    if (rc != HUB_OK && !b->oom) {
        b->len = mark; /* leave the buffer as it was */
        if (b->p)
            b->p[mark] = 0;
    }
    return rc;
}

/* The same text as record_write_json, as a jansson object: one formatter for both. */
int record_to_json(int kind, const uint8_t *payload, size_t len, json_t **out) {
    *out = NULL;
    struct jbuf b;
    jbuf_init(&b);
    int rc = record_write_json(kind, payload, len, &b);
    if (rc == HUB_OK) {
        *out = json_loadb(b.p, b.len, 0, NULL);
        if (*out == NULL)
            rc = HUB_E_DECODE; /* a string that is not UTF-8 */
    }
    jbuf_free(&b);
    return rc;
}

/* ---- foreign payloads ---- */

/* Only limits, not vocabularies: a newer hub may know values this one does not, and every hub
 * must accept the same entries to converge. */
static int rec_check_sub(enum rec_check check, size_t cap, void **items, size_t n) {
    if (n > RECORD_MAX_LIST)
        return HUB_E_TOO_LARGE;
    const struct rec_rule text = {"text", cap == RECORD_MAX_DESCRIPTION ? REC_MULTILINE : REC_TEXT,
                                  cap, 0, NULL};
    const struct rec_rule shortr = {"short", REC_TEXT, RECORD_MAX_SHORT, 0, NULL};
    for (size_t i = 0; i < n; i++) {
        /* in field-number order (PROTOCOL.md 7.1): the first failing one gives the code */
        const char *s[4] = {NULL, NULL, NULL, NULL};
        const struct rec_rule *rule[4] = {&shortr, &shortr, &shortr, &shortr};
        if (check == REC_LANGTEXT) {
            const Hubnet__LangText *t = items[i];
            s[0] = t->lang;
            s[1] = t->text;
            rule[1] = &text;
        } else if (check == REC_OUTCOMES) {
            const Hubnet__LearningOutcome *o = items[i];
            s[0] = o->text;
            s[1] = o->skill;
            rule[0] = &text;
        } else {
            const Hubnet__Session *se = items[i];
            s[0] = se->start;
            s[1] = se->end;
            s[2] = se->location;
            s[3] = se->mode;
            rule[2] = &text;
        }
        for (int k = 0; k < 4 && s[k]; k++) {
            int rc = rec_check_text(s[k], strlen(s[k]), rule[k], "sub", NULL);
            if (rc != HUB_OK)
                return rc;
        }
    }
    return HUB_OK;
}

static int rec_check_field(ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd,
                           const struct rec_rule *r) {
    void *member = rec_member(msg, fd);
    if (r->check == REC_LANGTEXT || r->check == REC_OUTCOMES || r->check == REC_SESSIONS)
        return rec_check_sub(r->check, r->cap, *(void ***)member, *rec_count(msg, fd));
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *rec_count(msg, fd);
        if (n > RECORD_MAX_LIST)
            return HUB_E_TOO_LARGE;
        char **items = *(char ***)member;
        for (size_t i = 0; i < n; i++) {
            int rc = rec_check_text(items[i], strlen(items[i]), r, fd->name, NULL);
            if (rc != HUB_OK)
                return rc;
        }
        return HUB_OK;
    }
    switch (fd->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char **)member;
        return rec_check_text(s, strlen(s), r, fd->name, NULL);
    }
    case PROTOBUF_C_TYPE_BYTES: {
        size_t n = ((ProtobufCBinaryData *)member)->len;
        if (r->check == REC_SEALED)
            return n <= RECORD_MAX_SEALED ? HUB_OK : HUB_E_TOO_LARGE;
        return n == 0 || n == 32 ? HUB_OK : HUB_E_RANGE;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        if (r->check == REC_REF) {
            const Hubnet__RecordRef *ref = *(Hubnet__RecordRef **)member;
            static const struct rec_rule key_rule = {"key", REC_TEXT, RECORD_MAX_KEY, 0, NULL};
            if (ref == NULL)
                return HUB_OK;
            if (ref->author.len != 0 && ref->author.len != 32)
                return HUB_E_RANGE;
            return rec_check_text(ref->key, strlen(ref->key), &key_rule, fd->name, NULL);
        }
        const Hubnet__Cost *c = *(Hubnet__Cost **)member;
        static const struct rec_rule currency_rule = {"currency", REC_TEXT, RECORD_MAX_SHORT, 0,
                                                      NULL};
        if (c == NULL)
            return HUB_OK;
        if (c->amount_minor > RECORD_MAX_AMOUNT_MINOR)
            return HUB_E_RANGE;
        return rec_check_text(c->currency, strlen(c->currency), &currency_rule, fd->name, NULL);
    }
    default:
        return HUB_OK;
    }
}

/* protobuf-c hands strings over NUL-terminated, so a U+0000 inside one would be measured and
 * checked only up to it, while another implementation sees the whole string. So the string
 * fields are checked for NUL on the wire bytes, before unpacking. Returns 1 if one has a NUL;
 * malformed bytes are left for the unpack to refuse. */
static int rec_wire_has_nul(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
                            int depth) {
    if (len == 0)
        return 0; /* and p may be NULL (an empty payload): no pointer arithmetic on it */
    const uint8_t *end = p + len;
    /* A non-repeated string's value is its last occurrence (PROTOCOL.md §3.2): only that one
     * counts, by field index; an item of a repeated field always counts. */
    uint64_t last_has_nul = 0;
    int item_has_nul = 0;
    while (p < end) {
        uint64_t tag = 0;
        int shift = 0;
        do {
            if (p >= end || shift > 63)
                return 0;
            tag |= (uint64_t)(*p & 0x7f) << shift;
            shift += 7;
        } while (*p++ & 0x80);
        unsigned type = (unsigned)(tag & 7);
        uint64_t n = 0;
        switch (type) {
        case 0:
            while (p < end && (*p++ & 0x80))
                ;
            continue;
        case 1:
            n = 8;
            break;
        case 5:
            n = 4;
            break;
        case 2:
            shift = 0;
            do {
                if (p >= end || shift > 63)
                    return 0;
                n |= (uint64_t)(*p & 0x7f) << shift;
                shift += 7;
            } while (*p++ & 0x80);
            break;
        default:
            return 0;
        }
        if (n > (uint64_t)(end - p))
            return 0;
        if (type == 2 && tag >> 3 <= UINT32_MAX) {
            const ProtobufCFieldDescriptor *fd =
                protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3));
            if (fd && fd->type == PROTOBUF_C_TYPE_STRING) {
                int nul = memchr(p, 0, n) != NULL;
                size_t at = (size_t)(fd - d->fields);
                if (fd->label == PROTOBUF_C_LABEL_REPEATED || at >= 64)
                    item_has_nul |= nul;
                else if (nul)
                    last_has_nul |= (uint64_t)1 << at;
                else
                    last_has_nul &= ~((uint64_t)1 << at);
            }
            if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE && depth < 4 &&
                rec_wire_has_nul(fd->descriptor, p, n, depth + 1))
                return 1;
        }
        p += n;
    }
    return item_has_nul || last_has_nul != 0;
}

/* The checks of record_check_payload on the unpacked message (msg NULL: undecodable). */
static int rec_check_msg(int kind, ProtobufCMessage *msg, const uint8_t *payload,
                         size_t len) {
    /* §3.2's rules too: protobuf-c reads a field number of 2^29 or more as an unknown field. */
    if (msg == NULL || pb_check_strict(rec_descriptor(kind), payload, len) != HUB_OK)
        return HUB_E_DECODE;
    if (rec_wire_has_nul(rec_descriptor(kind), payload, len, 0))
        return HUB_E_RANGE;
    int rc = HUB_OK;
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields && rc == HUB_OK; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        const struct rec_rule *r = rec_rule_at(kind, i);
        rc = (r == NULL || !rec_rule_fits(r, fd)) ? HUB_E_INTERNAL : rec_check_field(msg, fd, r);
    }
    return rc;
}

int record_check_payload(int kind, const uint8_t *payload, size_t len) {
    if (rec_descriptor(kind) == NULL)
        return HUB_E_KIND;
    if (len > HUB_MAX_PAYLOAD)
        return HUB_E_TOO_LARGE;
    ProtobufCMessage *msg = rec_unpack(kind, payload, len);
    int rc = rec_check_msg(kind, msg, payload, len);
    if (msg)
        rec_release(msg);
    return rc;
}

/* ---- index terms ---- */

/* Index terms only live in this hub's own index, so they need a fast hash that spreads well,
 * not a cryptographic digest: SipHash-2-4 (libsodium's crypto_shorthash) with a fixed key is
 * about ten times cheaper than BLAKE2b for the short values terms are made of. */
static const uint8_t rec_term_key[crypto_shorthash_KEYBYTES] = "hubnet-index-v1";

/* 8-byte hash of bytes that are already lower case. */
static void rec_hash8(const uint8_t *v, size_t len, uint8_t out[INDEX_TERM_LEN - 1]) {
    crypto_shorthash(out, v, len, rec_term_key);
}

static uint8_t rec_lower(uint8_t c) {
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

void index_term_make(enum index_field f, const char *value, size_t len, struct index_term *out) {
    uint8_t buf[256];
    out->b[0] = (uint8_t)f;
    if (len == 0) {
        /* The empty term (IDX_ALL): hash the caller's empty string, not the unwritten buf (gcc 12
         * -Wmaybe-uninitialized rightly sees buf passed to a read-only parameter unset). */
        rec_hash8((const uint8_t *)value, 0, out->b + 1);
        return;
    }
    if (len <= sizeof buf) {
        for (size_t i = 0; i < len; i++)
            buf[i] = rec_lower((uint8_t)value[i]);
        rec_hash8(buf, len, out->b + 1);
        return;
    }
    /* Long values (only ever a query string): lower-case a heap copy. */
    uint8_t *low = malloc(len);
    if (low == NULL) {
        memset(out->b + 1, 0, INDEX_TERM_LEN - 1);
        return;
    }
    for (size_t i = 0; i < len; i++)
        low[i] = rec_lower((uint8_t)value[i]);
    rec_hash8(low, len, out->b + 1);
    free(low);
}

/* Open-addressing sets sized for twice the most terms one record can have. */
#define REC_TERM_CAP 256
#define REC_SET_SLOTS 512 /* power of two, 2 * REC_TERM_CAP: probes stay short */

struct rec_terms {
    struct index_term *terms;
    size_t n, max;
    uint16_t slots[REC_SET_SLOTS]; /* index + 1 into terms; 0 = free */
    struct ts_dict *dict; /* NULL, or where the text's distinct words go */
};

static void rec_term_insert(struct rec_terms *t, const struct index_term *term) {
    if (t->n >= t->max)
        return;
    uint64_t h;
    memcpy(&h, term->b + 1, sizeof h); /* already uniform: BLAKE2b output */
    size_t i = (size_t)(h ^ term->b[0]) & (REC_SET_SLOTS - 1);
    while (t->slots[i] != 0) {
        if (memcmp(t->terms[t->slots[i] - 1].b, term->b, INDEX_TERM_LEN) == 0)
            return;
        i = (i + 1) & (REC_SET_SLOTS - 1);
    }
    t->terms[t->n] = *term;
    t->slots[i] = (uint16_t)++t->n;
}

static void rec_term_add(struct rec_terms *t, enum index_field f, const char *v, size_t len) {
    if (t->n >= t->max)
        return;
    struct index_term term;
    index_term_make(f, v, len, &term);
    rec_term_insert(t, &term);
}

static void rec_term_str(struct rec_terms *t, enum index_field f, const char *s) {
    if (s != NULL && s[0] != '\0')
        rec_term_add(t, f, s, strlen(s));
}

static void rec_term_list(struct rec_terms *t, enum index_field f, char **items, size_t n) {
    for (size_t i = 0; i < n; i++)
        rec_term_str(t, f, items[i]);
}

/* Each language tag, and its primary subtag so that "pt" finds "pt-BR". */
static void rec_term_languages(struct rec_terms *t, char **items, size_t n) {
    for (size_t i = 0; i < n; i++) {
        rec_term_str(t, IDX_LANGUAGE, items[i]);
        const char *dash = strchr(items[i], '-');
        if (dash != NULL && dash != items[i])
            rec_term_add(t, IDX_LANGUAGE, items[i], (size_t)(dash - items[i]));
    }
}

/* Each code and its leading parts of at least min characters: ISCED-F "0613" is found by its
 * narrow field "061" and broad field "06", NUTS "DE300" by "DE3", "DE30" (and "DE"). */
static void rec_term_prefixes(struct rec_terms *t, enum index_field f, char **items, size_t n,
                              size_t min) {
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(items[i]);
        for (size_t k = min; k <= len; k++)
            rec_term_add(t, f, items[i], k);
    }
}

/* DigComp competences ("2.3") and their area ("2"). */
static void rec_term_digcomp(struct rec_terms *t, char **items, size_t n) {
    for (size_t i = 0; i < n; i++) {
        rec_term_str(t, IDX_DIGCOMP, items[i]);
        const char *dot = strchr(items[i], '.');
        if (dot != NULL && dot != items[i])
            rec_term_add(t, IDX_DIGCOMP, items[i], (size_t)(dot - items[i]));
    }
}

static void rec_term_id(struct rec_terms *t, enum index_field f, const ProtobufCBinaryData *b) {
    char hex[HUB_HEX_LEN + 1];
    if (b->len != 32)
        return;
    hub_hex(b->data, b->len, hex);
    rec_term_add(t, f, hex, HUB_HEX_LEN);
}

static const enum index_field rec_word_field[TS_NCLASS] = {
    [TS_TITLE] = IDX_WORD_TITLE, [TS_TAGS] = IDX_WORD_TAGS, [TS_PLACE] = IDX_WORD_PLACE,
    [TS_DESC] = IDX_WORD};

void index_term_word(int cls, const char *form, size_t len, struct index_term *out) {
    index_term_make(cls >= 0 && cls < TS_NCLASS ? rec_word_field[cls] : IDX_WORD, form, len,
                    out);
}

/* Full-text words of one field (textsearch.c folds and splits them). Words are indexed as they
 * are: stems are the dictionary's business (the store stems each word once, when it is new). */
struct rec_text {
    struct rec_terms *t;
    int cls;
};

static int rec_text_word(const char *w, size_t len, void *arg) {
    struct rec_text *x = arg;
    if (x->t->n >= x->t->max)
        return 1;
    if (len <= 4 && ts_chars(w, len) < TS_QUERY_MIN_CHARS) /* one code point: <= 4 bytes */
        return 0; /* never asked for: a query word is at least this long */
    struct index_term term;
    index_term_word(x->cls, w, len, &term);
    size_t before = x->t->n;
    rec_term_insert(x->t, &term);
    /* new to this record in this class: the dictionary may not have it yet (a word in two
     * classes is listed twice; the store drops the second at once) */
    if (x->t->dict && x->t->n > before)
        (void)ts_dict_add(x->t->dict, w, len); /* full: the word is still found whole */
    return 0;
}

static void rec_term_text(struct rec_terms *t, int cls, const char *s) {
    if (s == NULL || s[0] == '\0')
        return;
    struct rec_text x = {t, cls};
    (void)ts_words(s, strlen(s), rec_text_word, &x);
}

static void rec_term_text_list(struct rec_terms *t, int cls, char **items, size_t n) {
    for (size_t i = 0; i < n; i++)
        rec_term_text(t, cls, items[i]);
}

/* The texts of every language (titles, descriptions). */
static void rec_term_langtext(struct rec_terms *t, int cls, Hubnet__LangText **items, size_t n) {
    for (size_t i = 0; i < n; i++)
        rec_term_text(t, cls, items[i]->text);
}

/* The language the dictionary stems a record's words in. */
static void rec_dict_lang(struct rec_terms *t, char **langs, size_t n) {
    if (t->dict)
        ts_dict_init(t->dict, ts_record_lang(langs, n));
}

static void rec_terms_init(struct rec_terms *t, struct index_term *terms, size_t max) {
    t->terms = terms;
    t->n = 0;
    t->max = max < REC_TERM_CAP ? max : REC_TERM_CAP;
    t->dict = NULL;
    memset(t->slots, 0, sizeof t->slots);
}

size_t record_word_terms(const char *text, struct index_term *terms, size_t max) {
    struct rec_terms t;
    rec_terms_init(&t, terms, max);
    rec_term_text(&t, TS_DESC, text);
    return t.n;
}

/* record_terms on the unpacked message (msg NULL: purged or undecodable). */
static size_t rec_terms_of(const uint8_t author[32], int kind, const ProtobufCMessage *msg,
                           struct index_term *terms, size_t max, struct ts_dict *dict) {
    struct rec_terms t;
    rec_terms_init(&t, terms, max);
    t.dict = dict;
    rec_term_add(&t, IDX_ALL, "", 0);
    const char *kname = entry_kind_name(kind);
    if (kname != NULL)
        rec_term_str(&t, IDX_KIND, kname);
    char hex[HUB_HEX_LEN + 1];
    hub_hex(author, HUB_KEY_LEN, hex);
    rec_term_add(&t, IDX_AUTHOR, hex, HUB_HEX_LEN);
    if (msg == NULL)
        return t.n; /* purged or undecodable: still listed by kind and author */

    /* Structured fields first, words last: when the cap bites it cuts free text, not tags. */
    switch (kind) {
    case HUBNET__KIND__KIND_PROFILE: {
        const Hubnet__Profile *p = (const Hubnet__Profile *)msg;
        rec_term_list(&t, IDX_TOPIC, p->topics, p->n_topics);
        rec_term_list(&t, IDX_TECHNOLOGY, p->technologies, p->n_technologies);
        rec_term_list(&t, IDX_SECTOR, p->sectors, p->n_sectors);
        rec_term_list(&t, IDX_SERVICE, p->services, p->n_services);
        rec_term_str(&t, IDX_COUNTRY, p->country);
        rec_term_str(&t, IDX_HUB_TYPE, p->hub_type);
        rec_term_list(&t, IDX_CUSTOMER_TYPE, p->customer_types, p->n_customer_types);
        rec_term_prefixes(&t, IDX_NUTS, p->nuts, p->n_nuts, 2);
        rec_term_languages(&t, p->languages, p->n_languages);
        rec_dict_lang(&t, p->languages, p->n_languages);
        rec_term_text(&t, TS_TITLE, p->name);
        rec_term_text_list(&t, TS_TAGS, p->topics, p->n_topics);
        rec_term_text(&t, TS_PLACE, p->region);
        rec_term_text(&t, TS_DESC, p->description);
        break;
    }
    case HUBNET__KIND__KIND_OFFER: {
        const Hubnet__Offer *o = (const Hubnet__Offer *)msg;
        rec_term_list(&t, IDX_TOPIC, o->topics, o->n_topics);
        if (o->train_the_trainer) {
            rec_term_str(&t, IDX_TOPIC, "train-the-trainer");
            rec_term_str(&t, IDX_AUDIENCE, "trainers");
        }
        rec_term_list(&t, IDX_TECHNOLOGY, o->technologies, o->n_technologies);
        rec_term_list(&t, IDX_SECTOR, o->sectors, o->n_sectors);
        rec_term_list(&t, IDX_SERVICE, o->services, o->n_services);
        rec_term_list(&t, IDX_AUDIENCE, o->audience, o->n_audience);
        rec_term_languages(&t, o->languages, o->n_languages);
        rec_term_str(&t, IDX_MODE, o->mode);
        rec_term_str(&t, IDX_COUNTRY, o->country);
        rec_term_list(&t, IDX_SKILL, o->skills, o->n_skills);
        rec_term_str(&t, IDX_SERVICE_GROUP,
                     o->service_group[0] ? o->service_group : VOCAB_DEFAULT_SERVICE_GROUP);
        rec_term_prefixes(&t, IDX_ISCED, o->isced, o->n_isced, 2);
        if (o->eqf_level != 0) {
            char lv[12];
            int ln = snprintf(lv, sizeof lv, "%u", (unsigned)o->eqf_level);
            if (ln > 0 && (size_t)ln < sizeof lv)
                rec_term_add(&t, IDX_EQF, lv, (size_t)ln);
        }
        rec_term_digcomp(&t, o->digcomp, o->n_digcomp);
        rec_term_prefixes(&t, IDX_NUTS, o->nuts, o->n_nuts, 2);
        for (size_t i = 0; i < o->n_learning_outcomes; i++)
            rec_term_str(&t, IDX_SKILL, o->learning_outcomes[i]->skill);
        for (size_t i = 0; i < o->n_sessions; i++)
            rec_term_str(&t, IDX_MODE, o->sessions[i]->mode);
        if (o->based_on != NULL && o->based_on->author.len == 32 && o->based_on->key[0] != '\0' &&
            strlen(o->based_on->key) <= HUB_MAX_RECORD_KEY) {
            char ref[HUB_HEX_LEN + 1 + HUB_MAX_RECORD_KEY + 1];
            hub_hex(o->based_on->author.data, 32, ref);
            ref[HUB_HEX_LEN] = '/';
            size_t kl = strlen(o->based_on->key);
            memcpy(ref + HUB_HEX_LEN + 1, o->based_on->key, kl);
            rec_term_add(&t, IDX_BASED_ON, ref, HUB_HEX_LEN + 1 + kl);
        }
        rec_dict_lang(&t, o->languages, o->n_languages);
        rec_term_text(&t, TS_TITLE, o->title);
        rec_term_langtext(&t, TS_TITLE, o->titles, o->n_titles);
        rec_term_text_list(&t, TS_TAGS, o->topics, o->n_topics);
        rec_term_text(&t, TS_PLACE, o->location);
        for (size_t i = 0; i < o->n_sessions; i++)
            rec_term_text(&t, TS_PLACE, o->sessions[i]->location);
        rec_term_text(&t, TS_DESC, o->description);
        rec_term_langtext(&t, TS_DESC, o->descriptions, o->n_descriptions);
        for (size_t i = 0; i < o->n_learning_outcomes; i++)
            rec_term_text(&t, TS_DESC, o->learning_outcomes[i]->text);
        break;
    }
    case HUBNET__KIND__KIND_REQUEST: {
        const Hubnet__Request *q = (const Hubnet__Request *)msg;
        rec_term_list(&t, IDX_TOPIC, q->topics, q->n_topics);
        rec_term_list(&t, IDX_TECHNOLOGY, q->technologies, q->n_technologies);
        rec_term_list(&t, IDX_SECTOR, q->sectors, q->n_sectors);
        rec_term_list(&t, IDX_SERVICE, q->services, q->n_services);
        rec_term_list(&t, IDX_AUDIENCE, q->audience, q->n_audience);
        rec_term_languages(&t, q->languages, q->n_languages);
        rec_term_str(&t, IDX_MODE, q->mode);
        rec_term_str(&t, IDX_COUNTRY, q->country);
        rec_term_list(&t, IDX_SKILL, q->skills, q->n_skills);
        rec_term_str(&t, IDX_SERVICE_GROUP,
                     q->service_group[0] ? q->service_group : VOCAB_DEFAULT_SERVICE_GROUP);
        rec_dict_lang(&t, q->languages, q->n_languages);
        rec_term_text(&t, TS_TITLE, q->title);
        rec_term_text_list(&t, TS_TAGS, q->topics, q->n_topics);
        rec_term_text(&t, TS_PLACE, q->location);
        rec_term_text(&t, TS_DESC, q->description);
        break;
    }
    case HUBNET__KIND__KIND_RESPONSE: {
        const Hubnet__Response *r = (const Hubnet__Response *)msg;
        rec_term_id(&t, IDX_TARGET, &r->target);
        if (r->target_author.len == 32 && r->target_key[0] != '\0' &&
            strlen(r->target_key) <= HUB_MAX_RECORD_KEY) {
            char ref[RECORD_REF_TEXT_MAX];
            size_t n =
                record_ref_text(r->target_author.data, (int)r->target_kind, r->target_key, ref);
            rec_term_add(&t, IDX_TARGET_REC, ref, n);
            rec_term_id(&t, IDX_TARGET_AUTHOR, &r->target_author);
        }
        rec_term_str(&t, IDX_RTYPE, record_rtype_name((int)r->type));
        break;
    }
    case HUBNET__KIND__KIND_ENDORSEMENT: {
        const Hubnet__Endorsement *e = (const Hubnet__Endorsement *)msg;
        rec_term_id(&t, IDX_TARGET, &e->hub);
        rec_term_list(&t, IDX_TOPIC, e->topics, e->n_topics);
        break;
    }
    default:
        break; /* retractions are found by kind and author only */
    }
    return t.n;
}

size_t record_terms(const uint8_t author[32], int kind, const uint8_t *payload, size_t len,
                    struct index_term *terms, size_t max) {
    ProtobufCMessage *msg = rec_unpack(kind, payload, len);
    size_t n = rec_terms_of(author, kind, msg, terms, max, NULL);
    if (msg)
        rec_release(msg);
    return n;
}

/* ---- small accessors for store, query and discovery ---- */

/* An offer's dates span its sessions too: the earliest start, the latest end (a session
 * without an end ends on its start). Malformed dates count as absent. */
static void rec_dates_session(struct record_dates *d, const char *start, const char *end) {
    int32_t a, b;
    if (record_parse_date(start, &a) != HUB_OK)
        return;
    if (record_parse_date(end, &b) != HUB_OK || b < a)
        b = a;
    if (d->start == 0 || a < d->start)
        d->start = a;
    if (d->end == 0 || b > d->end)
        d->end = b;
}

/* record_dates on the unpacked message (msg NULL: none). */
static void rec_dates_of(int kind, const ProtobufCMessage *msg, struct record_dates *out) {
    out->start = 0;
    out->end = 0;
    if (msg == NULL || (kind != HUBNET__KIND__KIND_OFFER && kind != HUBNET__KIND__KIND_REQUEST))
        return;
    const char *start, *end, *needed_by = "";
    if (kind == HUBNET__KIND__KIND_OFFER) {
        const Hubnet__Offer *o = (const Hubnet__Offer *)msg;
        start = o->start_date;
        end = o->end_date;
        struct record_dates own = {0, 0};
        int32_t days;
        if (record_parse_date(start, &days) == HUB_OK)
            own.start = days;
        if (record_parse_date(end, &days) == HUB_OK)
            own.end = days;
        for (size_t i = 0; i < o->n_sessions; i++)
            rec_dates_session(&own, o->sessions[i]->start, o->sessions[i]->end);
        *out = own;
        return;
    } else {
        const Hubnet__Request *q = (const Hubnet__Request *)msg;
        start = q->start_date;
        end = q->end_date;
        needed_by = q->needed_by;
    }
    /* Malformed dates (possible in foreign records, which are not checked against syntax)
     * count as absent. */
    int32_t days;
    if (record_parse_date(start, &days) == HUB_OK)
        out->start = days;
    if (record_parse_date(end, &days) == HUB_OK || record_parse_date(needed_by, &days) == HUB_OK)
        out->end = days;
}

void record_dates(int kind, const uint8_t *payload, size_t len, struct record_dates *out) {
    ProtobufCMessage *msg = (kind == HUBNET__KIND__KIND_OFFER || kind == HUBNET__KIND__KIND_REQUEST)
                                ? rec_unpack(kind, payload, len)
                                : NULL;
    rec_dates_of(kind, msg, out);
    if (msg)
        rec_release(msg);
}

int record_index(const uint8_t author[32], int kind, const uint8_t *payload, size_t len,
                 int check, struct index_term *terms, size_t max, size_t *nterms,
                 struct record_dates *dates, struct ts_dict *dict) {
    if (check && rec_descriptor(kind) == NULL)
        return HUB_E_KIND;
    if (check && len > HUB_MAX_PAYLOAD)
        return HUB_E_TOO_LARGE;
    ProtobufCMessage *msg = rec_unpack(kind, payload, len);
    int rc = check ? rec_check_msg(kind, msg, payload, len) : HUB_OK;
    if (rc == HUB_OK) {
        *nterms = rec_terms_of(author, kind, msg, terms, max, dict);
        rec_dates_of(kind, msg, dates);
    }
    if (msg)
        rec_release(msg);
    return rc;
}

int record_endorsed_hub(const uint8_t *payload, size_t len, uint8_t hub[32]) {
    ProtobufCMessage *msg = rec_unpack(HUBNET__KIND__KIND_ENDORSEMENT, payload, len);
    if (msg == NULL)
        return HUB_E_DECODE;
    const Hubnet__Endorsement *e = (const Hubnet__Endorsement *)msg;
    int rc = HUB_E_NOT_FOUND;
    if (e->hub.len == 32) {
        memcpy(hub, e->hub.data, 32);
        rc = HUB_OK;
    }
    rec_release(msg);
    return rc;
}

int record_retraction_target(const uint8_t *payload, size_t len, int *kind, char *key) {
    ProtobufCMessage *msg = rec_unpack(HUBNET__KIND__KIND_RETRACTION, payload, len);
    if (msg == NULL)
        return HUB_E_DECODE;
    const Hubnet__Retraction *r = (const Hubnet__Retraction *)msg;
    size_t n = strlen(r->target_key);
    int rc;
    if (r->target_kind == HUBNET__KIND__KIND_UNSPECIFIED || n == 0) {
        rc = HUB_E_NOT_FOUND;
    } else if (n > HUB_MAX_RECORD_KEY) {
        rc = HUB_E_TOO_LARGE;
    } else {
        *kind = (int)r->target_kind;
        memcpy(key, r->target_key, n + 1);
        rc = HUB_OK;
    }
    rec_release(msg);
    return rc;
}

size_t record_profile_endpoints(const uint8_t *payload, size_t len, char (*out)[256], size_t max) {
    ProtobufCMessage *msg = rec_unpack(HUBNET__KIND__KIND_PROFILE, payload, len);
    if (msg == NULL)
        return 0;
    const Hubnet__Profile *p = (const Hubnet__Profile *)msg;
    size_t n = 0;
    for (size_t i = 0; i < p->n_endpoints && n < max; i++) {
        const char *e = p->endpoints[i];
        size_t elen = strlen(e);
        /* Foreign profiles are checked for limits, not syntax: pass on only what could be
         * dialled, never a truncated address. */
        if (elen >= sizeof out[0] || !rec_is_endpoint(e))
            continue;
        memcpy(out[n], e, elen + 1);
        n++;
    }
    rec_release(msg);
    return n;
}

/* ---- issue 10: replies, seats, lineage, names ---- */

size_t record_ref_text(const uint8_t author[32], int kind, const char *key, char *out) {
    const char *kn = entry_kind_name(kind);
    char num[16];
    if (kn == NULL) {
        snprintf(num, sizeof num, "%d", kind);
        kn = num;
    }
    size_t kl = strnlen(key, HUB_MAX_RECORD_KEY);
    size_t nl = strnlen(kn, 16);
    hub_hex(author, 32, out);
    size_t n = HUB_HEX_LEN;
    out[n++] = '/';
    memcpy(out + n, kn, nl);
    n += nl;
    out[n++] = '/';
    memcpy(out + n, key, kl);
    n += kl;
    out[n] = '\0';
    return n;
}

static void rec_copy(char *dst, size_t size, const char *src) {
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int record_response_info(const uint8_t *payload, size_t len, struct record_response *out) {
    memset(out, 0, offsetof(struct record_response, sealed));
    ProtobufCMessage *msg = rec_unpack(HUBNET__KIND__KIND_RESPONSE, payload, len);
    if (msg == NULL)
        return HUB_E_DECODE;
    const Hubnet__Response *r = (const Hubnet__Response *)msg;
    int rc = HUB_OK;
    out->type = (int)r->type;
    if (r->target.len == 32) {
        out->has_target_id = 1;
        memcpy(out->target_id, r->target.data, 32);
    }
    size_t kl = strlen(r->target_key);
    if (r->target_author.len == 32 && kl > 0 && kl <= HUB_MAX_RECORD_KEY) {
        out->has_target = 1;
        memcpy(out->target_author, r->target_author.data, 32);
        out->target_kind = (int)r->target_kind;
        memcpy(out->target_key, r->target_key, kl + 1);
    }
    out->seats = r->seats;
    rec_copy(out->reason, sizeof out->reason, r->reason);
    if (r->sealed.len > RECORD_MAX_SEALED) {
        rc = HUB_E_TOO_LARGE;
    } else {
        out->sealed_len = r->sealed.len;
        if (r->sealed.len)
            memcpy(out->sealed, r->sealed.data, r->sealed.len);
    }
    rec_release(msg);
    return rc;
}

int record_offer_info(const uint8_t *payload, size_t len, struct record_offer *out) {
    memset(out, 0, sizeof *out);
    ProtobufCMessage *msg = rec_unpack(HUBNET__KIND__KIND_OFFER, payload, len);
    if (msg == NULL)
        return HUB_E_DECODE;
    const Hubnet__Offer *o = (const Hubnet__Offer *)msg;
    out->capacity = o->capacity;
    rec_dates_of(HUBNET__KIND__KIND_OFFER, msg, &out->dates);
    if (o->based_on != NULL && o->based_on->author.len == 32 && o->based_on->key[0] != '\0' &&
        strlen(o->based_on->key) <= HUB_MAX_RECORD_KEY) {
        out->has_based_on = 1;
        memcpy(out->based_on_author, o->based_on->author.data, 32);
        rec_copy(out->based_on_key, sizeof out->based_on_key, o->based_on->key);
    }
    rec_copy(out->title, sizeof out->title, o->title);
    rec_copy(out->country, sizeof out->country, o->country);
    rec_release(msg);
    return HUB_OK;
}

int record_profile_name(const uint8_t *payload, size_t len, char *name, char *country) {
    name[0] = country[0] = '\0';
    ProtobufCMessage *msg = rec_unpack(HUBNET__KIND__KIND_PROFILE, payload, len);
    if (msg == NULL)
        return HUB_E_DECODE;
    const Hubnet__Profile *p = (const Hubnet__Profile *)msg;
    rec_copy(name, 201, p->name);
    rec_copy(country, 8, p->country);
    rec_release(msg);
    return HUB_OK;
}

/* Capacity and dates of an offer straight from its wire bytes: the seats of every offer in a
 * page of query results are derived after its view was written, and a second unpack of each
 * was a tenth of the query. The last occurrence of a field counts, as in protobuf-c (§3.2). */
int record_offer_seats_fields(const uint8_t *payload, size_t len, uint32_t *capacity,
                              struct record_dates *dates) {
    const uint8_t *p = payload, *end = payload + len;
    char start[11] = "", endd[11] = "";
    struct record_dates sess = {0, 0};
    *capacity = 0;
    dates->start = dates->end = 0;
    while (len > 0 && p < end) {
        uint32_t field;
        unsigned type;
        const uint8_t *val;
        size_t vlen;
        if (pb_read_tag(&p, end, &field, &type) != HUB_OK)
            return HUB_E_DECODE;
        if (field == 17 && type == 0) {
            uint64_t v;
            if (pb_read_varint(&p, end, &v) != HUB_OK)
                return HUB_E_DECODE;
            *capacity = (uint32_t)v; /* protobuf-c keeps the low 32 bits too */
            continue;
        }
        if (pb_skip_value(&p, end, type, &val, &vlen) != HUB_OK)
            return HUB_E_DECODE;
        if (field == 38 && type == 2) { /* a Session: start (1) and end (2) */
            char ss[11] = "", se[11] = "";
            const uint8_t *q = val, *qend = val + vlen;
            while (vlen > 0 && q < qend) {
                uint32_t sf;
                unsigned st;
                const uint8_t *sv;
                size_t svl;
                if (pb_read_tag(&q, qend, &sf, &st) != HUB_OK ||
                    pb_skip_value(&q, qend, st, &sv, &svl) != HUB_OK)
                    return HUB_E_DECODE;
                if ((sf == 1 || sf == 2) && st == 2) {
                    char *d = sf == 1 ? ss : se;
                    if (svl == 10) {
                        memcpy(d, sv, 10);
                        d[10] = '\0';
                    } else {
                        d[0] = '\0';
                    }
                }
            }
            rec_dates_session(&sess, ss, se);
        }
        if ((field == 14 || field == 15) && type == 2) {
            char *d = field == 14 ? start : endd;
            if (vlen == 10) {
                memcpy(d, val, 10);
                d[10] = '\0';
            } else {
                d[0] = '\0';
            }
        }
    }
    int32_t days;
    if (record_parse_date(start, &days) == HUB_OK)
        dates->start = days;
    if (record_parse_date(endd, &days) == HUB_OK)
        dates->end = days;
    /* as rec_dates_of: the sessions widen the span */
    if (sess.start != 0 && (dates->start == 0 || sess.start < dates->start))
        dates->start = sess.start;
    if (sess.end != 0 && (dates->end == 0 || sess.end > dates->end))
        dates->end = sess.end;
    return HUB_OK;
}
