/* view.h: the JSON view of a stored entry, shared by get, query, history and watch. */
#ifndef HUB_VIEW_H
#define HUB_VIEW_H

#include "entry.h"
#include <stddef.h>
#include <stdint.h>

struct jbuf;
/* Append the JSON object text of a decoded entry (record fields included when the payload is
 * present) to b. */
int view_write_entry(struct jbuf *b, const struct entry *e);
/* Same, from stored wire bytes; E_DECODE (nothing appended) if they do not decode. */
int view_write_wire(struct jbuf *b, const uint8_t *wire, size_t len);
/* ISO 8601 UTC text of a millisecond timestamp: "2026-11-27T22:10:03Z". */
void view_time(uint64_t ms, char out[32]);
/* Parse ISO 8601 UTC ("2026-12-31", "2026-12-31T10:00:00Z") or a decimal ms count. */
int view_parse_time(const char *s, uint64_t *ms);

#endif
