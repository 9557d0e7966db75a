/* facets.h: counts of the values of a query's matches, field by field (control call
 * `facets`, CONTROL.md): what a catalogue page shows next to its filters ("Austria (12)").
 * The control socket walks the matches (store_query with the query's filters) and hands each
 * to facets_add; the counts are read from the payload's protobuf wire bytes directly, without
 * unpacking it, so counting a thousand records costs about as much as listing twenty views. */
#ifndef HUB_FACETS_H
#define HUB_FACETS_H

#include <stddef.h>
#include <stdint.h>

/* Matches one facets call counts at most (the newest ones, or the best by relevance): beyond
 * them the answer says "complete": false. PROTOCOL.md §10. */
#define FACETS_SCAN_MAX 1000
/* Distinct values counted per facet; values beyond are counted in "other". */
#define FACETS_MAX_VALUES 512
/* Values listed per facet in the answer (the most frequent ones; "limit" may ask fewer). */
#define FACETS_TOP_DEFAULT 50

struct facets;
struct entry;
struct jbuf;
struct records;

struct facets *facets_new(void);
void facets_destroy(struct facets **f);
/* Count one matching record (a decoded current entry). 0, or HUB_E_NOMEM. */
int facets_add(struct facets *f, const struct entry *e);
/* After the walk (outside its read transaction): offers with a seat left, of the offers with
 * a capacity counted by facets_add (the others are unlimited and counted already). */
int facets_seats(struct facets *f, struct records *r);
/* ,"total":N,"complete":B,"facets":{"kind":[["offer",12],...],...} appended to b; top values
 * per facet, most frequent first, then by value. */
void facets_write(const struct facets *f, struct jbuf *b, int complete, size_t top);

#endif
