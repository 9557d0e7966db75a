/* vocab.c: the controlled vocabularies records are checked against, compiled in.
 *
 * Closed lists are copied from shared/vocab (EDIH catalogue 2025 export, ELM v3 code lists),
 * /usr/share/zoneinfo/iso3166.tab (ISO 3166-1 alpha-2, ISO/TC 46 N1108, 2023-04-05) and
 * ISO 4217 List One as in force in 2026. They are compiled in rather than read at run time so
 * that every hub running one version accepts exactly the same records. Values are exact and
 * case-sensitive: labels as published, codes as the standard writes them. */
#include "vocab.h"
#include "vocab_fields.h"

#include <stdio.h>
#include <string.h>

/* EDIH catalogue technology labels (shared/vocab/technologies.txt). */
static const char *const vocab_technologies[] = {
    "Artificial Intelligence & Decision support",
    "Internet of Things",
    "Cybersecurity",
    "Big data",
    "Digital twins",
    "Robotics",
    "Virtual Reality",
    "High performance computing",
    "Sensors & Vision Processing Systems",
    "Simulation engineering and modelling",
    "Additive manufacturing",
    "Cloud Services",
    "Cyber-physical systems",
    "Internet Services & Applications",
    "Communication network",
    "Blockchain and Distributed Ledger Technology (DLT)",
    "Human computer interaction",
    "Mobility",
    "Software Architectures",
    "Logistics",
    "Location-based applications",
    "Gamification",
    "Laser-based manufacturing and materials processing",
    "Quantum Technologies (computing/communication)",
    "Micro- and nanoelectronics, optoelectronics",
    "Semiconductors and Nanotechnology",
    "New technologies for Audio-Visual sector - Media",
    "Industrial biotechnology",
    "BI tools",
    "Photonics",
    "Chemical engineering (plants, products)",
    "Displays",
    "data",
    "Organic and large area electronics",
    NULL,
};

/* EDIH catalogue sector labels (shared/vocab/sectors.txt); some contain commas. */
static const char *const vocab_sectors[] = {
    "Manufacturing and processing",
    "Health care",
    "Smart City",
    "Public administration",
    "Energy",
    "Education",
    "Environment",
    "Transport & Mobility",
    "Automotive",
    "Agricultural biotechnology and food biotechnology",
    "Construction & Assembly",
    "Metal working and industrial production",
    "Travel and tourism",
    "Telecommunications",
    "Food and beverages",
    "Life sciences",
    "Security",
    "Cultural and creative economy",
    "Retail, wholesale or distribution",
    "Financial",
    "Community-Led Local Development",
    "Textiles",
    "Transport sector",
    "Consumer products",
    "Personal services",
    "Maritime",
    "Defence",
    "Aeronautics",
    "Polymers and plastics",
    "Space",
    "Electricity",
    "NMP Non-Metallic Materials & basic processes",
    "Paper and wood",
    "Energy, fuels and petroleum engineering",
    "Real estate",
    "Legal Aspects",
    "Regulation",
    "Fishery",
    "Mining and extraction",
    "Leather",
    "Nuclear",
    "Tobacco",
    NULL,
};

/* The four service-group codes (Regulation (EU) 2021/694, Art. 16), then the EDIH catalogue
 * service labels (shared/vocab/services.txt). Only the codes of the groups are accepted, not
 * their display labels ("Skills and training"), so that each group has one spelling to query. */
static const char *const vocab_services[] = {
    "test-before-invest",
    "skills-and-training",
    "support-to-find-investments",
    "ecosystem-and-networking",
    "SME support",
    "Technological innovation",
    "Knowledge transfer",
    "Ecosystem building",
    "Technology transfer",
    "Innovation management",
    "Prototyping",
    "Sme Business Development",
    "Public sector innovation",
    "Finance",
    "Regional development",
    "Circular economy",
    "Vocational training",
    "Smart Specialisation strategies",
    "Field trial",
    NULL,
};

/* The EDIH service groups as offers and requests name them (service_group; ISSUE10_DESIGN):
 * one short code each. An empty service_group means skills-training, so older records keep
 * their meaning. */
static const char *const vocab_service_groups[] = {
    "test-before-invest", "skills-training", "investment", "ecosystem-networking", NULL,
};

/* service_type per group: group code, then its types. Skills and training keeps the ELM
 * opportunity types in opportunity_type; its service types only say the format of the work. */
static const char *const vocab_types_tbi[] = {
    "testbed-access", "demonstration", "proof-of-concept", "technology-assessment", NULL,
};
static const char *const vocab_types_skills[] = {
    "course", "workshop", "train-the-trainer", "mentoring", NULL,
};
static const char *const vocab_types_investment[] = {
    "investment-readiness",
    "funding-search",
    "investor-matchmaking",
    NULL,
};
static const char *const vocab_types_ecosystem[] = {
    "matchmaking", "event", "partner-search", "community", NULL,
};
static const struct {
    const char *group;
    const char *const *types;
} vocab_group_types[] = {
    {"test-before-invest", vocab_types_tbi},
    {"skills-training", vocab_types_skills},
    {"investment", vocab_types_investment},
    {"ecosystem-networking", vocab_types_ecosystem},
};

/* Every service type of every group, for vocab_has (a type is checked against its group by
 * vocab_service_type_of). */
static const char *const vocab_service_types[] = {
    "testbed-access",
    "demonstration",
    "proof-of-concept",
    "technology-assessment",
    "course",
    "workshop",
    "train-the-trainer",
    "mentoring",
    "investment-readiness",
    "funding-search",
    "investor-matchmaking",
    "matchmaking",
    "event",
    "partner-search",
    "community",
    NULL,
};

/* ELM v3 learning modes (http://data.europa.eu/snb/learning-assessment/...). */
static const char *const vocab_modes[] = {
    "online", "onsite", "blended", "workbased", "project-based", "research-lab-based", NULL,
};

/* ELM v3 learning schedules (http://data.europa.eu/snb/learning-schedule/...). */
static const char *const vocab_schedules[] = {
    "full-time",
    "part-time-intensive",
    "part-time-light",
    NULL,
};

/* ELM v3 learning opportunity types. */
static const char *const vocab_opportunities[] = {
    "Course",
    "Programme module",
    "Mentoring",
    "MOOC",
    "Apprenticeship",
    "Study visit",
    "Short learning programme",
    "Internship",
    "Educational programme",
    "Class",
    "Service learning",
    "Thesis",
    NULL,
};

/* hubnet audience codes: who an offer is for, or who needs a request's expertise.
 * "trainers" is the train-the-trainer audience: hub staff and trainers who will train others. */
static const char *const vocab_audiences[] = {
    "sme",          "small-midcap", "startup",    "public-administration",
    "municipality", "smart-city",   "healthcare", "education",
    "researchers",  "citizens",     "trainers",   "hub-staff",
    "ngo",          NULL,
};

/* ISO 3166-1 alpha-2: every code of /usr/share/zoneinfo/iso3166.tab (tzdata). */
static const char *const vocab_countries[] = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW", NULL,
};

/* ISO 4217 List One (active codes, funds and special units included). Withdrawn codes are
 * left out: ANG (-> XCG 2025), BGN (-> EUR 2026), CUC, HRK (-> EUR 2023), SLL (-> SLE),
 * ZWL (-> ZWG 2024). */
static const char *const vocab_currencies[] = {
    "AED", "AFN", "ALL", "AMD", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BHD",
    "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF",
    "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP",
    "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR",
    "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
    "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP",
    "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR",
    "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
    "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH",
    "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF",
    "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT",
    "XSU", "XTS", "XUA", "XXX", "YER", "ZAR", "ZMW", "ZWG", NULL,
};

/* The curated public-sector topic tags (shared/vocab/public-sector-topics.txt: Interoperable
 * Europe Act, eIDAS, Single Digital Gateway, HVD regulation, Public Sector Tech Watch). Topics
 * are an open vocabulary (vocab_is_topic): this list is what `hubctl vocab topic` suggests, not
 * a check. */
static const char *const vocab_topics[] = {
    "interoperability",
    "govtech",
    "eid",
    "eudi-wallet",
    "esignature",
    "trust-services",
    "edelivery",
    "einvoicing",
    "eprocurement",
    "once-only",
    "sdg-oots",
    "ai-public-services",
    "blockchain-public-sector",
    "open-data",
    "high-value-datasets",
    "fair-data",
    "cybersecurity",
    "data-protection",
    "digital-identity",
    "smart-city",
    "public-sector-innovation",
    "health-care",
    "education",
    "digital-maturity-assessment",
    "digital-ready-policymaking",
    "digital-skills",
    "train-the-trainer",
    NULL,
};

struct vocab_def {
    const char *name; /* as used in error messages and --help */
    const char *const *values;
    int fields;                /* 1 + vocab_fields_codes' list, or 0: values */
    const char *const *labels; /* code, label pairs (vocab_fields.c), or NULL */
};

static const struct vocab_def vocab_defs[VOCAB_COUNT] = {
    [VOCAB_TECHNOLOGY] = {"technology", vocab_technologies},
    [VOCAB_SECTOR] = {"sector", vocab_sectors},
    [VOCAB_SERVICE] = {"service", vocab_services},
    [VOCAB_MODE] = {"mode", vocab_modes},
    [VOCAB_SCHEDULE] = {"schedule", vocab_schedules},
    [VOCAB_OPPORTUNITY] = {"opportunity_type", vocab_opportunities},
    [VOCAB_AUDIENCE] = {"audience", vocab_audiences},
    [VOCAB_COUNTRY] = {"country", vocab_countries},
    [VOCAB_CURRENCY] = {"currency", vocab_currencies},
    [VOCAB_SERVICE_GROUP] = {"service_group", vocab_service_groups},
    [VOCAB_SERVICE_TYPE] = {"service_type", vocab_service_types},
    [VOCAB_TOPIC] = {"topic", vocab_topics},
    [VOCAB_ISCED] = {"isced", NULL, 1, vocab_isced_pairs},
    [VOCAB_EQF] = {"eqf", NULL, 2, vocab_eqf_pairs},
    [VOCAB_DIGCOMP] = {"digcomp", NULL, 3, vocab_digcomp_pairs},
    [VOCAB_NUTS] = {"nuts", NULL, 4, vocab_nuts_pairs},
    [VOCAB_HUB_TYPE] = {"hub_type", NULL, 5, vocab_hub_type_pairs},
    [VOCAB_CUSTOMER_TYPE] = {"customer_type", NULL, 6, vocab_customer_type_pairs},
};

/* The values of a list (the codes, for the lists of vocab_fields.c). */
static const char *const *vocab_vals(enum vocab_list list) {
    const struct vocab_def *d = &vocab_defs[list];
    return d->fields ? vocab_fields_codes(d->fields - 1) : d->values;
}

const char *vocab_label(enum vocab_list list, const char *code) {
    if ((unsigned)list >= VOCAB_COUNT || code == NULL || vocab_defs[list].labels == NULL)
        return NULL;
    return vocab_fields_label(vocab_defs[list].labels, code);
}

const char *vocab_service_type_group(const char *type) {
    for (size_t g = 0; g < sizeof vocab_group_types / sizeof vocab_group_types[0]; g++)
        for (const char *const *t = vocab_group_types[g].types; *t != NULL; t++)
            if (strcmp(*t, type) == 0)
                return vocab_group_types[g].group;
    return NULL;
}

#define VOCAB_MAX_TOPIC 64
#define VOCAB_MAX_LANGUAGE 63 /* RFC 5646 needs 35 for tags without extensions */
#define VOCAB_MAX_URL 512
#define VOCAB_ESCO_PREFIX "http://data.europa.eu/esco/skill/"

int vocab_has(enum vocab_list list, const char *value) {
    if ((unsigned)list >= VOCAB_COUNT || value == NULL)
        return 0;
    /* Linear: the longest list has 249 entries and this runs once per published field,
     * never on the replication or query path. */
    for (const char *const *v = vocab_vals(list); *v != NULL; v++)
        if (strcmp(*v, value) == 0)
            return 1;
    return 0;
}

const char *vocab_name(enum vocab_list list) {
    if ((unsigned)list >= VOCAB_COUNT)
        return NULL;
    return vocab_defs[list].name;
}

const char *const *vocab_values(enum vocab_list list) {
    if ((unsigned)list >= VOCAB_COUNT)
        return NULL;
    return vocab_vals(list);
}

/* Locale-independent character classes: the checks must not change with LC_CTYPE. */
static int vocab_lower(char c) {
    return c >= 'a' && c <= 'z';
}

static int vocab_digit(char c) {
    return c >= '0' && c <= '9';
}

static int vocab_alnum(char c) {
    return vocab_lower(c) || vocab_digit(c) || (c >= 'A' && c <= 'Z');
}

static int vocab_hex(char c) {
    return vocab_digit(c) || (c >= 'a' && c <= 'f');
}

/* RFC 5646 syntax, simplified: a primary language subtag of 2-3 lower-case letters, then
 * subtags of 2-8 letters or digits (extlang, script, region, variant), where a one-character
 * subtag (an extension singleton, or "x" for private use) must be followed by at least one
 * subtag. Case is free after the primary subtag ("pt-BR", "sr-Latn"). Registry membership is
 * not checked: new subtags must not need a new hubd. */
int vocab_is_language(const char *s) {
    if (s == NULL || strlen(s) > VOCAB_MAX_LANGUAGE)
        return 0;
    size_t n = 0;
    while (vocab_lower(s[n]))
        n++;
    if (n < 2 || n > 3)
        return 0;
    const char *p = s + n;
    int need = 0; /* a singleton was seen and awaits its subtag */
    int private_use = 0;
    while (*p != '\0') {
        if (*p != '-')
            return 0;
        p++;
        size_t len = 0;
        while (vocab_alnum(p[len]))
            len++;
        if (len == 0 || len > 8)
            return 0;
        if (len == 1 && !private_use) {
            if (need)
                return 0; /* an extension singleton without its subtag */
            need = 1;
            private_use = (*p == 'x' || *p == 'X');
        } else {
            need = 0; /* after "x", subtags may be a single character */
        }
        p += len;
    }
    return !need;
}

int vocab_is_topic(const char *s) {
    if (s == NULL || !(vocab_lower(s[0]) || vocab_digit(s[0])))
        return 0;
    size_t n = 1;
    for (; s[n] != '\0'; n++)
        if (!(vocab_lower(s[n]) || vocab_digit(s[n]) || s[n] == '-'))
            return 0;
    return n <= VOCAB_MAX_TOPIC;
}

/* ESCO skill URIs name a skill by a lower-case UUID, as ESCO publishes them. */
int vocab_is_esco_skill(const char *s) {
    static const size_t prefix_len = sizeof VOCAB_ESCO_PREFIX - 1;
    if (s == NULL || strncmp(s, VOCAB_ESCO_PREFIX, prefix_len) != 0)
        return 0;
    const char *u = s + prefix_len;
    /* 8-4-4-4-12 */
    for (size_t i = 0; i < 36; i++) {
        int dash = (i == 8 || i == 13 || i == 18 || i == 23);
        if (dash ? u[i] != '-' : !vocab_hex(u[i]))
            return 0; /* also stops at the terminating NUL */
    }
    return u[36] == '\0';
}

/* Absolute http(s) URL with a host, no whitespace or control characters. Deliberately not a
 * full RFC 3986 parser: the value is shown to people and opened by browsers, never fetched. */
int vocab_is_url(const char *s) {
    if (s == NULL)
        return 0;
    size_t len = strlen(s);
    if (len > VOCAB_MAX_URL)
        return 0;
    const char *host;
    if (strncmp(s, "https://", 8) == 0)
        host = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        host = s + 7;
    else
        return 0;
    if (*host == '\0' || *host == '/' || *host == '?' || *host == '#')
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p <= 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* NUTS: the country's code (vocab_nuts_pairs: level 0), then 1 to 3 upper-case letters or
 * digits (levels 1, 2, 3; "Z" codes for extra-regio included). 0 syntax, 1 ok, -1 the country
 * is not a NUTS country. */
int vocab_nuts_check(const char *s) {
    if (s == NULL)
        return 0;
    size_t n = strlen(s);
    if (n < 2 || n > VOCAB_NUTS_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (i >= 2 && vocab_digit(s[i]))))
            return 0;
    char cc[3] = {s[0], s[1], 0};
    return vocab_has(VOCAB_NUTS, cc) ? 1 : -1;
}

int vocab_is_nuts(const char *s) {
    return vocab_nuts_check(s) == 1;
}

int vocab_nuts_suggest_text(const char *code, char *buf, size_t size) {
    if (size == 0)
        return 0;
    buf[0] = 0;
    if (code == NULL || strlen(code) < 2)
        return 0;
    char cc[3] = {code[0], code[1], 0};
    const char *best[VOCAB_SUGGEST_MAX];
    size_t nb = 0;
    /* the ISO 3166 codes NUTS spells otherwise first */
    if (strcmp(cc, "GR") == 0)
        best[nb++] = "EL";
    else if (strcmp(cc, "GB") == 0)
        best[nb++] = "UK";
    nb += vocab_suggest(VOCAB_NUTS, cc, best + nb, VOCAB_SUGGEST_MAX - nb);
    size_t at = 0;
    for (size_t i = 0; i < nb; i++) {
        int w = snprintf(buf + at, size - at, "%s'%s%.3s'",
                         i == 0        ? "did you mean "
                         : i + 1 == nb ? " or "
                                       : ", ",
                         best[i], code + 2);
        if (w < 0 || (size_t)w >= size - at) {
            buf[at] = 0;
            break;
        }
        at += (size_t)w;
    }
    if (nb && at + 2 <= size) {
        buf[at++] = '?';
        buf[at] = 0;
    }
    return (int)nb;
}

/* ---- finding values: case-insensitive lookup and "did you mean" ---- */

static unsigned char vocab_fold(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

const char *vocab_find(enum vocab_list list, const char *value) {
    if ((unsigned)list >= VOCAB_COUNT || value == NULL)
        return NULL;
    for (const char *const *v = vocab_vals(list); *v != NULL; v++) {
        const unsigned char *a = (const unsigned char *)*v, *b = (const unsigned char *)value;
        while (*a && vocab_fold(*a) == vocab_fold(*b)) {
            a++;
            b++;
        }
        if (*a == 0 && *b == 0)
            return *v;
    }
    return NULL;
}

/* Levenshtein distance of a and b, case-folded, each cut at VOCAB_SUGGEST_MAX_LEN bytes. */
static size_t vocab_distance(const char *a, const char *b) {
    size_t la = strnlen(a, VOCAB_SUGGEST_MAX_LEN), lb = strnlen(b, VOCAB_SUGGEST_MAX_LEN);
    size_t row[VOCAB_SUGGEST_MAX_LEN + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub =
                diag + (vocab_fold((unsigned char)a[i - 1]) != vocab_fold((unsigned char)b[j - 1]));
            size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[lb];
}

/* Does value begin label, case-folded (a label typed in part)? */
static int vocab_prefix(const char *label, const char *value) {
    for (; *value; value++, label++)
        if (vocab_fold((unsigned char)*label) != vocab_fold((unsigned char)*value))
            return 0;
    return 1;
}

size_t vocab_suggest(enum vocab_list list, const char *value, const char **out, size_t max) {
    if ((unsigned)list >= VOCAB_COUNT || value == NULL || max == 0)
        return 0;
    if (max > VOCAB_SUGGEST_MAX)
        max = VOCAB_SUGGEST_MAX;
    size_t dist[VOCAB_SUGGEST_MAX], n = 0;
    int pre = value[0] != '\0';
    for (const char *const *v = vocab_vals(list); *v != NULL; v++) {
        /* a label the value begins ranks before every other: distance 0 */
        size_t d = pre && vocab_prefix(*v, value) ? 0 : vocab_distance(*v, value) + 1;
        size_t i = n < max ? n++ : max;
        if (i == max && d >= dist[max - 1])
            continue;
        if (i == max)
            i = max - 1;
        /* insertion into the sorted best list; ties keep the vocabulary's order */
        while (i > 0 && dist[i - 1] > d) {
            dist[i] = dist[i - 1];
            out[i] = out[i - 1];
            i--;
        }
        dist[i] = d;
        out[i] = *v;
    }
    return n;
}

int vocab_list_by_name(const char *name) {
    for (int l = 0; l < VOCAB_COUNT; l++)
        if (strcmp(vocab_defs[l].name, name) == 0)
            return l;
    return -1;
}

int vocab_suggest_text(enum vocab_list list, const char *value, char *buf, size_t size) {
    const char *best[VOCAB_SUGGEST_MAX];
    size_t n = vocab_suggest(list, value, best, VOCAB_SUGGEST_MAX);
    size_t used = 0;
    if (size == 0)
        return 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(buf + used, size - used, "%s'%s'",
                         i == 0       ? "did you mean "
                         : i + 1 == n ? " or "
                                      : ", ",
                         best[i]);
        if (w < 0 || (size_t)w >= size - used) {
            buf[used] = 0;
            break;
        }
        used += (size_t)w;
    }
    if (n && used + 2 <= size) {
        buf[used++] = '?';
        buf[used] = 0;
    }
    return (int)n;
}
