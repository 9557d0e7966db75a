/* pbcheck.c: a walk over protobuf bytes with the strict rules of PROTOCOL.md §3.2, before
 * protobuf-c unpacks them (see pbcheck.h for why). */
#include "pbcheck.h"

/* The wire type a field of this declared type has (protobuf's encoding). */
static unsigned pb_wire_type(ProtobufCType t) {
    switch (t) {
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return 2;
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return 1;
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return 5;
    default: /* integers, bool, enum */
        return 0;
    }
}

static int pb_check_at(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
                       int depth) {
    if (depth > PB_MAX_DEPTH)
        return HUB_E_DECODE;
    if (len == 0)
        return HUB_OK; /* buf may be NULL (an empty message) */
    const uint8_t *p = buf, *end = buf + len;
    uint64_t seen_msg = 0; /* non-repeated message fields met, by index in d->fields */
    while (p < end) {
        uint32_t field;
        unsigned type;
        const uint8_t *val;
        size_t vlen;
        if (pb_read_tag(&p, end, &field, &type) != HUB_OK ||
            pb_skip_value(&p, end, type, &val, &vlen) != HUB_OK)
            return HUB_E_DECODE;
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field(d, field);
        if (fd == NULL)
            continue; /* unknown: skipped, it stays in the signed bytes */
        unsigned want = pb_wire_type(fd->type);
        int packed = fd->label == PROTOBUF_C_LABEL_REPEATED && want != 2 && type == 2;
        if (type != want && !packed)
            return HUB_E_DECODE;
        if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (fd->label != PROTOBUF_C_LABEL_REPEATED) {
            /* Twice: protobuf merges the two, protobuf-c keeps the last; refused (§3.2). */
            size_t at = (size_t)(fd - d->fields);
            uint64_t bit = at < 64 ? (uint64_t)1 << at : 0;
            if (bit == 0 || (seen_msg & bit))
                return HUB_E_DECODE;
            seen_msg |= bit;
        }
        if (pb_check_at(fd->descriptor, val, vlen, depth + 1) != HUB_OK)
            return HUB_E_DECODE;
    }
    return HUB_OK;
}

int pb_check_strict(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len) {
    return pb_check_at(d, buf, len, 0);
}
