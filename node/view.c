/* view.c: JSON views of entries for the control socket. */
#include "view.h"

#include <string.h>
#include <time.h>

#include "hub.h"
#include "record.h"

void view_time(uint64_t ms, char out[32]) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = 0;
}

int view_parse_time(const char *s, uint64_t *ms) {
    if (hub_parse_u64(s, UINT64_MAX / 2, ms) == 0)
        return HUB_OK;
    int32_t days;
    char date[11];
    size_t n = strlen(s);
    if (n < 10)
        return HUB_E_RANGE;
    memcpy(date, s, 10);
    date[10] = 0;
    if (record_parse_date(date, &days) != 0)
        return HUB_E_RANGE;
    uint64_t secs = (uint64_t)days * 86400;
    if (n > 10) {
        unsigned hh, mm, ss;
        char z;
        if (n != 20 || sscanf(s + 10, "T%2u:%2u:%2u%c", &hh, &mm, &ss, &z) != 4 || z != 'Z' ||
            hh > 23 || mm > 59 || ss > 60)
            return HUB_E_RANGE;
        secs += hh * 3600 + mm * 60 + ss;
    }
    *ms = secs * 1000;
    return HUB_OK;
}

json_t *view_entry(const struct entry *e) {
    char id[HUB_HEX_LEN + 1], author[HUB_HEX_LEN + 1], prev[HUB_HEX_LEN + 1], ph[HUB_HEX_LEN + 1],
        tm[32];
    hub_hex(e->id, 32, id);
    hub_hex(e->author, 32, author);
    hub_hex(e->prev, 32, prev);
    hub_hex(e->payload_hash, 32, ph);
    view_time(e->timestamp, tm);
    const char *kind = entry_kind_name(e->kind);
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:s, s:I, s:s, s:I, s:b}", "id", id, "author", author,
        "seq", (json_int_t)e->seq, "prev", e->seq > 1 ? prev : "", "timestamp",
        (json_int_t)e->timestamp, "time", tm, "kind", kind ? kind : "unknown", "key", e->key,
        "expires", (json_int_t)e->expires, "payload_hash", ph, "payload_size",
        (json_int_t)e->payload_size, "purged", e->payload == NULL && e->payload_size > 0);
    if (!o)
        return NULL;
    if (e->payload || e->payload_size == 0) {
        json_t *rec = NULL;
        if (record_to_json(e->kind, e->payload, e->payload_len, &rec) == 0)
            json_object_set_new(o, "record", rec);
    }
    return o;
}

json_t *view_wire(const uint8_t *wire, size_t len) {
    struct entry e;
    if (entry_decode(wire, len, &e) != 0)
        return NULL;
    return view_entry(&e);
}
