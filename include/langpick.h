/* langpick.h: choosing one language version of a record view's texts (PROTOCOL.md 7.2). */
#ifndef HUB_LANGPICK_H
#define HUB_LANGPICK_H

#include <jansson.h>

/* Sets the view's record title and description to their version in lang (from its titles and
 * descriptions; a tag of the same primary language will do: "pt" finds "pt-BR", any case),
 * else English, else leaves them (the record's own, in its first language; with none, the
 * first version it has), and the view's "lang" to the title's language when known. Views
 * without a record object are left as they are. */
void langpick_view(json_t *view, const char *lang);

#endif
