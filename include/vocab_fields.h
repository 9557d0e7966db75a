/* vocab_fields.h: code and label lists of the field's standard fields (vocab_fields.c), used
 * through vocab.h's lists VOCAB_ISCED .. VOCAB_CUSTOMER_TYPE. */
#ifndef HUB_VOCAB_FIELDS_H
#define HUB_VOCAB_FIELDS_H

/* code, label, code, label, ..., NULL */
extern const char *const vocab_isced_pairs[];
extern const char *const vocab_eqf_pairs[];
extern const char *const vocab_digcomp_pairs[];
extern const char *const vocab_nuts_pairs[];
extern const char *const vocab_hub_type_pairs[];
extern const char *const vocab_customer_type_pairs[];

/* The codes of list which (0 ISCED, 1 EQF, 2 DigComp, 3 NUTS countries, 4 hub types,
 * 5 customer types), NULL-terminated; thread-safe. */
const char *const *vocab_fields_codes(int which);
/* The label of code in a pairs list, or NULL. */
const char *vocab_fields_label(const char *const *pairs, const char *code);

#endif
