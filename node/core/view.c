/* view.c: JSON views of entries for the control socket. */
#include "view.h"

#include <string.h>
#include <time.h>

#include "hub.h"
#include "jbuf.h"
#include "record.h"

/* Civil date of a day count (Howard Hinnant's days_from_civil inverse): strftime and gmtime_r
 * cost more than the rest of a record view. */
void view_time(uint64_t ms, char out[32]) {
    int64_t secs = (int64_t)(ms / 1000);
    int64_t days = secs / 86400, rem = secs % 86400;
    int64_t z = days + 719468, era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = yoe + era * 400 + (m <= 2);
    int64_t hh = rem / 3600, mm = rem % 3600 / 60, ss = rem % 60;
    if (y < 0 || y > 9999) {
        out[0] = 0;
        return;
    }
    char *o = out;
    o[0] = (char)('0' + y / 1000);
    o[1] = (char)('0' + y / 100 % 10);
    o[2] = (char)('0' + y / 10 % 10);
    o[3] = (char)('0' + y % 10);
    o[4] = '-';
    o[5] = (char)('0' + m / 10);
    o[6] = (char)('0' + m % 10);
    o[7] = '-';
    o[8] = (char)('0' + d / 10);
    o[9] = (char)('0' + d % 10);
    o[10] = 'T';
    o[11] = (char)('0' + hh / 10);
    o[12] = (char)('0' + hh % 10);
    o[13] = ':';
    o[14] = (char)('0' + mm / 10);
    o[15] = (char)('0' + mm % 10);
    o[16] = ':';
    o[17] = (char)('0' + ss / 10);
    o[18] = (char)('0' + ss % 10);
    o[19] = 'Z';
    o[20] = 0;
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

int view_write_entry(struct jbuf *b, const struct entry *e) {
    const char *kind = entry_kind_name(e->kind);
    char tm[32];
    view_time(e->timestamp, tm);
    jbuf_lit(b, "{\"id\":");
    jbuf_hex(b, e->id, 32);
    jbuf_key_lit(b, "author");
    jbuf_hex(b, e->author, 32);
    jbuf_key_lit(b, "seq");
    jbuf_u64(b, e->seq);
    jbuf_key_lit(b, "prev");
    if (e->seq > 1)
        jbuf_hex(b, e->prev, 32);
    else
        jbuf_lit(b, "\"\"");
    jbuf_key_lit(b, "timestamp");
    jbuf_u64(b, e->timestamp);
    jbuf_key_lit(b, "time");
    jbuf_cstr(b, tm);
    jbuf_key_lit(b, "kind");
    jbuf_cstr(b, kind ? kind : "unknown");
    jbuf_key_lit(b, "key");
    jbuf_cstr(b, e->key);
    jbuf_key_lit(b, "expires");
    jbuf_u64(b, e->expires);
    jbuf_key_lit(b, "payload_hash");
    jbuf_hex(b, e->payload_hash, 32);
    jbuf_key_lit(b, "payload_size");
    jbuf_u64(b, e->payload_size);
    jbuf_key_lit(b, "purged");
    if (e->payload == NULL && e->payload_size > 0) {
        jbuf_lit(b, "true");
    } else {
        jbuf_lit(b, "false");
        jbuf_key_lit(b, "record");
        size_t mark = b->len;
        if (record_write_json(e->kind, e->payload, e->payload_len, b) != 0) {
            b->len = mark - strlen(",\"record\":"); /* no record part rather than a broken one */
            if (b->p)
                b->p[b->len] = 0;
        }
    }
    jbuf_lit(b, "}");
    return b->oom ? HUB_E_NOMEM : HUB_OK;
}

int view_write_wire(struct jbuf *b, const uint8_t *wire, size_t len) {
    struct entry e;
    int rc = entry_decode(wire, len, &e);
    return rc != 0 ? rc : view_write_entry(b, &e);
}
