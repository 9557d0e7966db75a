/* langpick.c: an offer's title and description in the language asked (issue 11 item 4): its
 * titles/descriptions entry for the language, else English, else its own title/description.
 * Shared by hubd's query ("lang") and hubctl (query and export --lang), which links only this
 * file of the core: it needs nothing but jansson. */
#include "langpick.h"

#include <string.h>
#include <strings.h>

/* Do tags a and b name the same primary language ("pt-BR" and "pt"), any case? */
static int lang_primary_eq(const char *a, const char *b) {
    size_t la = strcspn(a, "-"), lb = strcspn(b, "-");
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* The text of map (a titles or descriptions object) in lang: its own tag (any case) first,
 * then a tag of the same primary language; NULL when none. *tag: the tag found. */
static const char *lang_text(json_t *map, const char *lang, const char **tag) {
    const char *k;
    json_t *v;
    json_object_foreach(map, k, v) {
        if (strcasecmp(k, lang) == 0 && json_is_string(v)) {
            *tag = k;
            return json_string_value(v);
        }
    }
    json_object_foreach(map, k, v) {
        if (lang_primary_eq(k, lang) && json_is_string(v)) {
            *tag = k;
            return json_string_value(v);
        }
    }
    return NULL;
}

void langpick_view(json_t *view, const char *lang) {
    json_t *rec = json_object_get(view, "record");
    if (!json_is_object(rec) || !lang)
        return;
    /* the single title and description are in the record's first language, when it names one */
    const char *own = json_string_value(json_array_get(json_object_get(rec, "languages"), 0));
    static const char *const pairs[2][2] = {{"title", "titles"}, {"description", "descriptions"}};
    const char *picked = NULL;
    for (int i = 0; i < 2; i++) {
        json_t *map = json_object_get(rec, pairs[i][1]);
        const char *tag = NULL, *t = NULL;
        int has_own = json_string_length(json_object_get(rec, pairs[i][0])) > 0;
        static const char *const order[2] = {NULL, "en"}; /* the asked language, then English */
        for (int k = 0; k < 2 && !t; k++) {
            const char *want = order[k] ? order[k] : lang;
            if (has_own && own && lang_primary_eq(own, want)) {
                tag = own;
                break; /* the single text is in it already */
            }
            t = lang_text(map, want, &tag);
        }
        if (!t && !tag && !has_own) { /* then any: the first the record has */
            void *it = json_object_iter(map);
            if (it && json_is_string(json_object_iter_value(it))) {
                tag = json_object_iter_key(it);
                t = json_string_value(json_object_iter_value(it));
            }
        }
        if (t)
            json_object_set_new(rec, pairs[i][0], json_string(t));
        if (i == 0)
            picked = tag ? tag : own;
    }
    if (picked) /* the title's language, for JSON-LD's inLanguage */
        json_object_set_new(view, "lang", json_string(picked));
}
