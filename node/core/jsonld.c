/* jsonld.c: records as schema.org JSON-LD (a hub's profile as an Organization, an offer as a
 * Course), made from record views (CONTROL.md "Record JSON"). One mapping for every program
 * that shows it: hubctl export --format jsonld (node/hubctl/hubctl_exchange.c) and hubweb's
 * pages (node/hubweb), so the two cannot drift. Depends on jansson only. */
#include "jsonld.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* A record's @id: a URN of its author, kind and key (percent-escaped), stable across versions. */
json_t *jsonld_id(const char *author, const char *kind, const char *key) {
    char buf[JSONLD_ID_MAX];
    int n = snprintf(buf, sizeof buf, "urn:hubnet:%s:%s:", kind, author ? author : "");
    if (n < 0 || (size_t)n >= sizeof buf)
        return NULL;
    size_t at = (size_t)n;
    for (const unsigned char *p = (const unsigned char *)(key ? key : ""); *p; p++) {
        if (at + 4 >= sizeof buf)
            return NULL;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            buf[at++] = (char)*p;
        else
            at += (size_t)snprintf(buf + at, 4, "%%%02X", *p);
    }
    buf[at] = 0;
    return json_string(buf);
}

json_t *jsonld_hub_id(const char *author) {
    char buf[128];
    snprintf(buf, sizeof buf, "urn:hubnet:hub:%s", author ? author : "");
    return json_string(buf);
}

static void set_if(json_t *o, const char *name, json_t *v) {
    if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0) &&
        !(json_is_string(v) && json_string_length(v) == 0))
        json_object_set(o, name, v);
}

static json_t *jsonld_address(json_t *country, json_t *region) {
    json_t *a = json_pack("{s:s}", "@type", "PostalAddress");
    set_if(a, "addressCountry", country);
    set_if(a, "addressRegion", region);
    return a;
}

/* Values of several list fields as one list of text. */
static json_t *jsonld_words(json_t *rec, const char *const *fields) {
    json_t *out = json_array();
    for (; *fields; fields++) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(rec, *fields), i, e) json_array_append(out, e);
    }
    return out;
}

json_t *jsonld_org(json_t *profile, const char *me) {
    json_t *rec = json_object_get(profile, "record");
    if (!json_is_object(rec))
        return NULL;
    json_t *o = json_pack("{s:s, s:o}", "@type", "Organization", "@id", jsonld_hub_id(me));
    set_if(o, "name", json_object_get(rec, "name"));
    set_if(o, "description", json_object_get(rec, "description"));
    set_if(o, "url", json_object_get(rec, "website"));
    const char *contact = json_string_value(json_object_get(rec, "contact"));
    if (contact && strchr(contact, '@'))
        json_object_set_new(o, "email", json_string(contact));
    json_object_set_new(
        o, "address",
        jsonld_address(json_object_get(rec, "country"), json_object_get(rec, "region")));
    json_t *langs = json_object_get(rec, "languages");
    set_if(o, "knowsLanguage", langs);
    json_t *about =
        jsonld_words(rec, (const char *const[]){"technologies", "sectors", "topics", NULL});
    set_if(o, "knowsAbout", about);
    json_decref(about);
    set_if(o, "identifier", json_object_get(rec, "edih_id"));
    return o;
}

/* An offer as a schema.org Course (and EducationalOccupationalProgram when it trains
 * trainers): one CourseInstance for its dates and place, an Offer for its price. Requests,
 * profiles and other kinds are not catalogue items: skipped. */
json_t *jsonld_offer(json_t *view) {
    json_t *rec = json_object_get(view, "record");
    const char *kind = json_string_value(json_object_get(view, "kind"));
    if (!json_is_object(rec) || !kind || strcmp(kind, "offer") != 0)
        return NULL;
    const char *author = json_string_value(json_object_get(view, "author"));
    int ttt = json_is_true(json_object_get(rec, "train_the_trainer"));
    json_t *o = json_object();
    json_object_set_new(o, "@type",
                        ttt ? json_pack("[s,s]", "Course", "EducationalOccupationalProgram")
                            : json_string("Course"));
    json_t *id = jsonld_id(author, "offer", json_string_value(json_object_get(view, "key")));
    if (id)
        json_object_set_new(o, "@id", id);
    set_if(o, "courseCode", json_object_get(view, "key"));
    set_if(o, "name", json_object_get(rec, "title"));
    set_if(o, "description", json_object_get(rec, "description"));
    json_t *kw = jsonld_words(
        rec, (const char *const[]){"topics", "technologies", "sectors", "services", NULL});
    set_if(o, "keywords", kw);
    json_decref(kw);
    set_if(o, "availableLanguage", json_object_get(rec, "languages"));
    set_if(o, "teaches", json_object_get(rec, "skills"));
    set_if(o, "url", json_object_get(rec, "registration_url"));
    set_if(o, "license", json_object_get(rec, "material_licence"));
    set_if(o, "dateModified", json_object_get(view, "time"));
    json_int_t ects = json_integer_value(json_object_get(rec, "ects_credits"));
    if (ects > 0)
        json_object_set_new(o, "numberOfCredits", json_integer(ects));
    json_int_t hours = json_integer_value(json_object_get(rec, "duration_hours"));
    char dur[32];
    if (hours > 0) {
        snprintf(dur, sizeof dur, "PT%" PRId64 "H", (int64_t)hours);
        json_object_set_new(o, "timeRequired", json_string(dur));
    }
    if (ttt)
        json_object_set_new(o, "programType", json_string("train-the-trainer"));
    json_t *aud = json_object_get(rec, "audience");
    if (json_array_size(aud)) {
        json_t *a = json_pack("{s:s}", "@type", "Audience");
        json_object_set(a, "audienceType", aud);
        json_object_set_new(o, "audience", a);
    }
    json_t *prov = json_pack("{s:s, s:o}", "@type", "Organization", "@id", jsonld_hub_id(author));
    set_if(prov, "name", json_object_get(view, "author_name"));
    json_t *pc = json_object_get(view, "author_country");
    if (json_is_string(pc))
        json_object_set_new(prov, "address", jsonld_address(pc, NULL));
    json_object_set_new(o, "provider", prov);
    json_t *based = json_object_get(rec, "based_on");
    if (json_is_object(based)) {
        json_t *bid = jsonld_id(json_string_value(json_object_get(based, "author")), "offer",
                                json_string_value(json_object_get(based, "key")));
        if (bid)
            json_object_set_new(o, "isBasedOn", json_pack("{s:o}", "@id", bid));
    }
    json_t *cost = json_object_get(rec, "cost");
    if (json_is_object(cost)) {
        json_t *off = json_pack("{s:s}", "@type", "Offer");
        set_if(off, "price", json_object_get(cost, "amount"));
        set_if(off, "priceCurrency", json_object_get(cost, "currency"));
        set_if(off, "url", json_object_get(rec, "registration_url"));
        json_object_set_new(o, "offers", off);
    }
    /* The one session an offer has today (several sessions: issue 11 item 4). */
    json_t *ci = json_pack("{s:s}", "@type", "CourseInstance");
    set_if(ci, "courseMode", json_object_get(rec, "mode"));
    set_if(ci, "startDate", json_object_get(rec, "start_date"));
    set_if(ci, "endDate", json_object_get(rec, "end_date"));
    json_int_t cap = json_integer_value(json_object_get(rec, "capacity"));
    if (cap > 0)
        json_object_set_new(ci, "maximumAttendeeCapacity", json_integer(cap));
    if (hours > 0)
        json_object_set_new(ci, "courseWorkload", json_string(dur));
    json_t *loc = json_object_get(rec, "location"), *country = json_object_get(rec, "country");
    if (json_is_string(loc) || json_is_string(country)) {
        json_t *place = json_pack("{s:s}", "@type", "Place");
        set_if(place, "name", loc);
        if (json_is_string(country))
            json_object_set_new(place, "address", jsonld_address(country, NULL));
        json_object_set_new(ci, "location", place);
    }
    if (json_object_size(ci) > 1)
        json_object_set_new(o, "hasCourseInstance", ci);
    else
        json_decref(ci);
    return o;
}
