/* vocab.h: the controlled vocabularies records are checked against (shared/vocab, ISO lists). */
#ifndef HUB_VOCAB_H
#define HUB_VOCAB_H

#include <stddef.h>

enum vocab_list {
    VOCAB_TECHNOLOGY,  /* EDIH catalogue technology labels */
    VOCAB_SECTOR,      /* EDIH catalogue sector labels */
    VOCAB_SERVICE,     /* EDIH service labels and the four service-group codes */
    VOCAB_MODE,        /* ELM learning modes */
    VOCAB_SCHEDULE,    /* ELM learning schedules */
    VOCAB_OPPORTUNITY, /* ELM opportunity types */
    VOCAB_AUDIENCE,    /* hubnet audience codes */
    VOCAB_COUNTRY,     /* ISO 3166-1 alpha-2 */
    VOCAB_CURRENCY,    /* ISO 4217 */
    VOCAB_SERVICE_GROUP, /* EDIH service groups of offers and requests (service_group) */
    VOCAB_SERVICE_TYPE,  /* service types of every group (service_type) */
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

/* Syntax checks for open vocabularies. */
int vocab_is_language(const char *s);   /* BCP 47 (syntax) */
int vocab_is_topic(const char *s);      /* [a-z0-9][a-z0-9-]*, <= 64 */
int vocab_is_esco_skill(const char *s); /* http://data.europa.eu/esco/skill/<uuid> */
int vocab_is_url(const char *s);        /* http:// or https:// */

#endif
