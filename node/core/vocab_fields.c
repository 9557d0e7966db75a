/* vocab_fields.c: the vocabularies of the field's standard fields (issue 11 item 4), with a
 * label for each code: ISCED-F 2013, EQF, DigComp 2.2, the NUTS countries, hub types and
 * customer types. Compiled in, as vocab.c's lists, so that every hub of one version accepts
 * the same records.
 *
 * Sources: ISCED Fields of Education and Training 2013 (UNESCO UIS, 2014: broad, narrow and
 * detailed fields); the European Qualifications Framework (Council Recommendation of 22 May
 * 2017, annex II, shortened descriptors); DigComp 2.2 (JRC, 2022: the 5 competence areas and
 * the 21 competences); NUTS 2021 (Regulation (EU) 2016/2066 and its successors: the country
 * codes of level 0, which use EL for Greece). */
#include "vocab_fields.h"

#include <pthread.h>
#include <string.h>

/* Codes and labels in pairs: code, label, code, label, ..., NULL. Laid out as pairs, one a
 * line: clang-format would break them apart. */
/* clang-format off */
const char *const vocab_isced_pairs[] = {
    "00", "Generic programmes and qualifications",
    "001", "Basic programmes and qualifications",
    "0011", "Basic programmes and qualifications",
    "002", "Literacy and numeracy",
    "0021", "Literacy and numeracy",
    "003", "Personal skills and development",
    "0031", "Personal skills and development",
    "01", "Education",
    "011", "Education",
    "0111", "Education science",
    "0112", "Training for pre-school teachers",
    "0113", "Teacher training without subject specialisation",
    "0114", "Teacher training with subject specialisation",
    "0119", "Education not elsewhere classified",
    "018", "Inter-disciplinary programmes and qualifications involving education",
    "0188", "Inter-disciplinary programmes and qualifications involving education",
    "02", "Arts and humanities",
    "021", "Arts",
    "0211", "Audio-visual techniques and media production",
    "0212", "Fashion, interior and industrial design",
    "0213", "Fine arts",
    "0214", "Handicrafts",
    "0215", "Music and performing arts",
    "0219", "Arts not elsewhere classified",
    "022", "Humanities (except languages)",
    "0221", "Religion and theology",
    "0222", "History and archaeology",
    "0223", "Philosophy and ethics",
    "0229", "Humanities (except languages) not elsewhere classified",
    "023", "Languages",
    "0231", "Language acquisition",
    "0232", "Literature and linguistics",
    "0239", "Languages not elsewhere classified",
    "028", "Inter-disciplinary programmes and qualifications involving arts and humanities",
    "0288", "Inter-disciplinary programmes and qualifications involving arts and humanities",
    "029", "Arts and humanities not elsewhere classified",
    "0299", "Arts and humanities not elsewhere classified",
    "03", "Social sciences, journalism and information",
    "031", "Social and behavioural sciences",
    "0311", "Economics",
    "0312", "Political sciences and civics",
    "0313", "Psychology",
    "0314", "Sociology and cultural studies",
    "0319", "Social and behavioural sciences not elsewhere classified",
    "032", "Journalism and information",
    "0321", "Journalism and reporting",
    "0322", "Library, information and archival studies",
    "0329", "Journalism and information not elsewhere classified",
    "038", "Inter-disciplinary programmes and qualifications involving social sciences, "
           "journalism and information",
    "0388", "Inter-disciplinary programmes and qualifications involving social sciences, "
            "journalism and information",
    "039", "Social sciences, journalism and information not elsewhere classified",
    "0399", "Social sciences, journalism and information not elsewhere classified",
    "04", "Business, administration and law",
    "041", "Business and administration",
    "0411", "Accounting and taxation",
    "0412", "Finance, banking and insurance",
    "0413", "Management and administration",
    "0414", "Marketing and advertising",
    "0415", "Secretarial and office work",
    "0416", "Wholesale and retail sales",
    "0417", "Work skills",
    "0419", "Business and administration not elsewhere classified",
    "042", "Law",
    "0421", "Law",
    "048", "Inter-disciplinary programmes and qualifications involving business, administration "
           "and law",
    "0488", "Inter-disciplinary programmes and qualifications involving business, "
            "administration and law",
    "049", "Business, administration and law not elsewhere classified",
    "0499", "Business, administration and law not elsewhere classified",
    "05", "Natural sciences, mathematics and statistics",
    "051", "Biological and related sciences",
    "0511", "Biology",
    "0512", "Biochemistry",
    "0519", "Biological and related sciences not elsewhere classified",
    "052", "Environment",
    "0521", "Environmental sciences",
    "0522", "Natural environments and wildlife",
    "0529", "Environment not elsewhere classified",
    "053", "Physical sciences",
    "0531", "Chemistry",
    "0532", "Earth sciences",
    "0533", "Physics",
    "0539", "Physical sciences not elsewhere classified",
    "054", "Mathematics and statistics",
    "0541", "Mathematics",
    "0542", "Statistics",
    "058", "Inter-disciplinary programmes and qualifications involving natural sciences, "
           "mathematics and statistics",
    "0588", "Inter-disciplinary programmes and qualifications involving natural sciences, "
            "mathematics and statistics",
    "059", "Natural sciences, mathematics and statistics not elsewhere classified",
    "0599", "Natural sciences, mathematics and statistics not elsewhere classified",
    "06", "Information and Communication Technologies (ICTs)",
    "061", "Information and Communication Technologies (ICTs)",
    "0611", "Computer use",
    "0612", "Database and network design and administration",
    "0613", "Software and applications development and analysis",
    "0619", "Information and Communication Technologies (ICTs) not elsewhere classified",
    "068", "Inter-disciplinary programmes and qualifications involving Information and "
           "Communication Technologies (ICTs)",
    "0688", "Inter-disciplinary programmes and qualifications involving Information and "
            "Communication Technologies (ICTs)",
    "07", "Engineering, manufacturing and construction",
    "071", "Engineering and engineering trades",
    "0711", "Chemical engineering and processes",
    "0712", "Environmental protection technology",
    "0713", "Electricity and energy",
    "0714", "Electronics and automation",
    "0715", "Mechanics and metal trades",
    "0716", "Motor vehicles, ships and aircraft",
    "0719", "Engineering and engineering trades not elsewhere classified",
    "072", "Manufacturing and processing",
    "0721", "Food processing",
    "0722", "Materials (glass, paper, plastic and wood)",
    "0723", "Textiles (clothes, footwear and leather)",
    "0724", "Mining and extraction",
    "0729", "Manufacturing and processing not elsewhere classified",
    "073", "Architecture and construction",
    "0731", "Architecture and town planning",
    "0732", "Building and civil engineering",
    "078", "Inter-disciplinary programmes and qualifications involving engineering, "
           "manufacturing and construction",
    "0788", "Inter-disciplinary programmes and qualifications involving engineering, "
            "manufacturing and construction",
    "079", "Engineering, manufacturing and construction not elsewhere classified",
    "0799", "Engineering, manufacturing and construction not elsewhere classified",
    "08", "Agriculture, forestry, fisheries and veterinary",
    "081", "Agriculture",
    "0811", "Crop and livestock production",
    "0812", "Horticulture",
    "0819", "Agriculture not elsewhere classified",
    "082", "Forestry",
    "0821", "Forestry",
    "083", "Fisheries",
    "0831", "Fisheries",
    "084", "Veterinary",
    "0841", "Veterinary",
    "088", "Inter-disciplinary programmes and qualifications involving agriculture, forestry, "
           "fisheries and veterinary",
    "0888", "Inter-disciplinary programmes and qualifications involving agriculture, forestry, "
            "fisheries and veterinary",
    "089", "Agriculture, forestry, fisheries and veterinary not elsewhere classified",
    "0899", "Agriculture, forestry, fisheries and veterinary not elsewhere classified",
    "09", "Health and welfare",
    "091", "Health",
    "0911", "Dental studies",
    "0912", "Medicine",
    "0913", "Nursing and midwifery",
    "0914", "Medical diagnostic and treatment technology",
    "0915", "Therapy and rehabilitation",
    "0916", "Pharmacy",
    "0917", "Traditional and complementary medicine and therapy",
    "0919", "Health not elsewhere classified",
    "092", "Welfare",
    "0921", "Care of the elderly and of disabled adults",
    "0922", "Child care and youth services",
    "0923", "Social work and counselling",
    "0929", "Welfare not elsewhere classified",
    "098", "Inter-disciplinary programmes and qualifications involving health and welfare",
    "0988", "Inter-disciplinary programmes and qualifications involving health and welfare",
    "099", "Health and welfare not elsewhere classified",
    "0999", "Health and welfare not elsewhere classified",
    "10", "Services",
    "101", "Personal services",
    "1011", "Domestic services",
    "1012", "Hair and beauty services",
    "1013", "Hotel, restaurants and catering",
    "1014", "Sports",
    "1015", "Travel, tourism and leisure",
    "1019", "Personal services not elsewhere classified",
    "102", "Hygiene and occupational health services",
    "1021", "Community sanitation",
    "1022", "Occupational health and safety",
    "1029", "Hygiene and occupational health services not elsewhere classified",
    "103", "Security services",
    "1031", "Military and defence",
    "1032", "Protection of persons and property",
    "1039", "Security services not elsewhere classified",
    "104", "Transport services",
    "1041", "Transport services",
    "108", "Inter-disciplinary programmes and qualifications involving services",
    "1088", "Inter-disciplinary programmes and qualifications involving services",
    "109", "Services not elsewhere classified",
    "1099", "Services not elsewhere classified",
    "99", "Field unknown",
    "999", "Field unknown",
    "9999", "Field unknown",
    NULL,
};

const char *const vocab_eqf_pairs[] = {
    "1", "Basic general knowledge; basic skills for simple tasks, under direct supervision",
    "2", "Basic factual knowledge of a field; routine tasks, under supervision with some "
         "autonomy",
    "3", "Knowledge of facts, principles and processes of a field; completing tasks, "
         "responsibility for them",
    "4", "Factual and theoretical knowledge in broad contexts; self-management within "
         "guidelines",
    "5", "Comprehensive, specialised knowledge; managing and supervising where change is "
         "unpredictable (short-cycle tertiary)",
    "6", "Advanced knowledge with critical understanding; complex technical or professional "
         "work (bachelor level)",
    "7", "Highly specialised knowledge, some at the forefront of a field; managing complex, "
         "unpredictable contexts (master level)",
    "8", "Knowledge at the most advanced frontier of a field; authority, innovation and "
         "autonomy (doctoral level)",
    NULL,
};

const char *const vocab_digcomp_pairs[] = {
    "1", "Information and data literacy",
    "1.1", "Browsing, searching and filtering data, information and digital content",
    "1.2", "Evaluating data, information and digital content",
    "1.3", "Managing data, information and digital content",
    "2", "Communication and collaboration",
    "2.1", "Interacting through digital technologies",
    "2.2", "Sharing through digital technologies",
    "2.3", "Engaging in citizenship through digital technologies",
    "2.4", "Collaborating through digital technologies",
    "2.5", "Netiquette",
    "2.6", "Managing digital identity",
    "3", "Digital content creation",
    "3.1", "Developing digital content",
    "3.2", "Integrating and re-elaborating digital content",
    "3.3", "Copyright and licences",
    "3.4", "Programming",
    "4", "Safety",
    "4.1", "Protecting devices",
    "4.2", "Protecting personal data and privacy",
    "4.3", "Protecting health and well-being",
    "4.4", "Protecting the environment",
    "5", "Problem solving",
    "5.1", "Solving technical problems",
    "5.2", "Identifying needs and technological responses",
    "5.3", "Creatively using digital technologies",
    "5.4", "Identifying digital competence gaps",
    NULL,
};

/* NUTS level 0: the EU member states (EL is Greece), EFTA and candidate countries the NUTS
 * classification covers, and UK (NUTS 2016, still in older records). */
const char *const vocab_nuts_pairs[] = {
    "AT", "Austria",        "BE", "Belgium",         "BG", "Bulgaria",
    "CY", "Cyprus",         "CZ", "Czechia",         "DE", "Germany",
    "DK", "Denmark",        "EE", "Estonia",         "EL", "Greece",
    "ES", "Spain",          "FI", "Finland",         "FR", "France",
    "HR", "Croatia",        "HU", "Hungary",         "IE", "Ireland",
    "IT", "Italy",          "LT", "Lithuania",       "LU", "Luxembourg",
    "LV", "Latvia",         "MT", "Malta",           "NL", "Netherlands",
    "PL", "Poland",         "PT", "Portugal",        "RO", "Romania",
    "SE", "Sweden",         "SI", "Slovenia",        "SK", "Slovakia",
    "IS", "Iceland",        "LI", "Liechtenstein",   "NO", "Norway",
    "CH", "Switzerland",    "AL", "Albania",         "ME", "Montenegro",
    "MK", "North Macedonia", "RS", "Serbia",         "TR", "Türkiye",
    "UK", "United Kingdom (NUTS 2016)",
    NULL,
};

const char *const vocab_hub_type_pairs[] = {
    "edih", "European Digital Innovation Hub (Digital Europe Programme network)",
    "seal_of_excellence", "Hub with a Seal of Excellence (evaluated above threshold, not funded "
                          "by the Digital Europe Programme)",
    "other_dih", "Other digital innovation hub",
    NULL,
};

const char *const vocab_customer_type_pairs[] = {
    "smes", "Small and medium-sized enterprises",
    "midcaps", "Small mid-caps and mid-caps",
    "startups", "Start-ups",
    "large_enterprises", "Large enterprises",
    "public_sector", "Public sector organisations",
    "research_education", "Research and education organisations",
    "civil_society", "Civil society and non-profit organisations",
    NULL,
};

/* clang-format on */

/* The codes of each pairs list (vocab.c's lists are code-only), filled once. ISCED-F, the
 * longest, has 178 codes. */
#define VOCAB_FIELDS_MAX_CODES 200
#define VOCAB_FIELDS_LISTS 6

static const char *const *const vf_pairs[VOCAB_FIELDS_LISTS] = {
    vocab_isced_pairs, vocab_eqf_pairs,      vocab_digcomp_pairs,
    vocab_nuts_pairs,  vocab_hub_type_pairs, vocab_customer_type_pairs};
static const char *vf_codes[VOCAB_FIELDS_LISTS][VOCAB_FIELDS_MAX_CODES + 1];
static pthread_once_t vf_once = PTHREAD_ONCE_INIT;

static void vf_fill(void) {
    for (int w = 0; w < VOCAB_FIELDS_LISTS; w++) {
        size_t n = 0;
        for (const char *const *p = vf_pairs[w]; *p && n < VOCAB_FIELDS_MAX_CODES; p += 2)
            vf_codes[w][n++] = p[0];
        vf_codes[w][n] = NULL;
    }
}

const char *const *vocab_fields_codes(int which) {
    if (which < 0 || which >= VOCAB_FIELDS_LISTS)
        return NULL;
    pthread_once(&vf_once, vf_fill);
    return vf_codes[which];
}

const char *vocab_fields_label(const char *const *pairs, const char *code) {
    for (const char *const *p = pairs; p && *p; p += 2)
        if (strcmp(p[0], code) == 0)
            return p[1];
    return NULL;
}
