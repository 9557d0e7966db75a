/* vocab.h: the controlled vocabularies records are checked against (shared/vocab, ISO lists). */
#ifndef HUB_VOCAB_H
#define HUB_VOCAB_H

#include <stddef.h>

enum vocab_list {
    VOCAB_TECHNOLOGY,    /* EDIH catalogue technology labels */
    VOCAB_SECTOR,        /* EDIH catalogue sector labels */
    VOCAB_SERVICE,       /* EDIH service labels and the four service-group codes */
    VOCAB_MODE,          /* ELM learning modes */
    VOCAB_SCHEDULE,      /* ELM learning schedules */
    VOCAB_OPPORTUNITY,   /* ELM opportunity types */
    VOCAB_AUDIENCE,      /* hubnet audience codes */
    VOCAB_COUNTRY,       /* ISO 3166-1 alpha-2 */
    VOCAB_CURRENCY,      /* ISO 4217 */
    VOCAB_SERVICE_GROUP, /* EDIH service groups of offers and requests (service_group) */
    VOCAB_SERVICE_TYPE,  /* service types of every group (service_type) */
    VOCAB_TOPIC,         /* curated public-sector topic tags: suggested, topics stay open */
    /* The field's standard fields (vocab_fields.c), each code with a label (vocab_label). */
    VOCAB_ISCED,         /* ISCED-F 2013 broad, narrow and detailed field codes */
    VOCAB_EQF,           /* EQF levels "1" .. "8" */
    VOCAB_DIGCOMP,       /* DigComp 2.2 areas "1" .. "5" and competences "1.1" .. "5.4" */
    VOCAB_NUTS,          /* NUTS level 0 country codes (vocab_is_nuts checks a region code) */
    VOCAB_HUB_TYPE,      /* edih, seal_of_excellence, other_dih */
    VOCAB_CUSTOMER_TYPE, /* smes, midcaps, public_sector, ... */
    VOCAB_COUNT
};

/* Exact match (labels are case-sensitive as published, codes lower case). */
int vocab_has(enum vocab_list list, const char *value);
const char *vocab_name(enum vocab_list list);
/* For --help and docs: NULL-terminated list. */
const char *const *vocab_values(enum vocab_list list);

/* The service group a service type belongs to, or NULL when none. */
const char *vocab_service_type_group(const char *type);
/* service_group of a record when its field is empty (older records): skills and training. */
#define VOCAB_DEFAULT_SERVICE_GROUP "skills-training"

/* The value of list equal to value with ASCII case folded (labels match whatever their case):
 * the value as the list spells it, or NULL. */
const char *vocab_find(enum vocab_list list, const char *value);
/* "Did you mean": the values of list nearest to value, best first, at most max (and at most
 * VOCAB_SUGGEST_MAX) into out: labels value begins (case-insensitive) first, then by
 * Levenshtein distance with case folded; ties in the list's order. Returns how many. */
#define VOCAB_SUGGEST_MAX 3
#define VOCAB_SUGGEST_MAX_LEN 128 /* bytes of a value compared (the longest value has 50) */
size_t vocab_suggest(enum vocab_list list, const char *value, const char **out, size_t max);
/* The suggestions as a sentence for an error message ("did you mean 'a', 'b' or 'c'?"), cut
 * to whole names to fit size; returns how many. */
int vocab_suggest_text(enum vocab_list list, const char *value, char *buf, size_t size);
/* The list named name (vocab_name), or -1. */
int vocab_list_by_name(const char *name);

/* Syntax checks for open vocabularies. */
int vocab_is_language(const char *s);   /* BCP 47 (syntax) */
int vocab_is_topic(const char *s);      /* [a-z0-9][a-z0-9-]*, <= 64 */
int vocab_is_esco_skill(const char *s); /* http://data.europa.eu/esco/skill/<uuid> */
int vocab_is_url(const char *s);        /* http:// or https:// */
/* NUTS region code: a NUTS country (VOCAB_NUTS) and 1 to 3 upper-case letters or digits.
 * vocab_nuts_check: 1 ok, 0 not the syntax, -1 the country is not one NUTS covers. */
#define VOCAB_NUTS_MAX_LEN 5
int vocab_is_nuts(const char *s);
int vocab_nuts_check(const char *s);
/* For a code whose country is not a NUTS country: the codes meant (GR -> EL, GB -> UK, then
 * the nearest NUTS countries, each with the rest of the code) as vocab_suggest_text's
 * sentence; returns how many. */
int vocab_nuts_suggest_text(const char *code, char *buf, size_t size);

/* The label of a code of the lists that have labels (ISCED-F, EQF, DigComp, NUTS countries,
 * hub and customer types), NULL otherwise. */
const char *vocab_label(enum vocab_list list, const char *code);

#endif
