/* jsonld.h: records as schema.org JSON-LD (node/core/jsonld.c), from record views (CONTROL.md
 * "Record JSON"): shared by hubctl export --format jsonld and hubweb's pages. jansson only. */
#ifndef HUB_JSONLD_H
#define HUB_JSONLD_H

#include <jansson.h>

#define JSONLD_ID_MAX 1024 /* bytes of an @id (a key is at most 128 bytes, escaped x3) */

/* A record's @id: urn:hubnet:KIND:AUTHOR:KEY (the key percent-escaped), stable across its
 * versions; NULL when too long. A hub's: urn:hubnet:hub:AUTHOR. New references. */
json_t *jsonld_id(const char *author, const char *kind, const char *key);
json_t *jsonld_hub_id(const char *author);
/* A hub's profile view as an Organization (@id of the hub key me); NULL without a record. */
json_t *jsonld_org(json_t *profile, const char *me);
/* An offer view as a Course (and EducationalOccupationalProgram when it trains trainers), with
 * its CourseInstance, Offer (price) and provider; NULL for other kinds or a purged record. */
json_t *jsonld_offer(json_t *view);

#endif
