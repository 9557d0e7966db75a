/* web_catalogue.c: the public catalogue: the search page (/), one record (/record/AUTHOR/KIND/KEY)
 * and one hub (/hub/AUTHOR). */
#include "hub.h"
#include "web.h"

static int cat_search(struct web_req *req, struct web_resp *resp) {
    page_begin(&resp->body, req, "Catalogue", 1);
    page_end(&resp->body, req);
    return 0;
}

void web_catalogue_init(void) {
    web_route("GET", "/", WEB_PUBLIC, cat_search);
}
