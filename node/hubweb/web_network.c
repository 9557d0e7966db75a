/* web_network.c: the network page (/network), its data as JSON (/network.json) and its drawing
 * (/network.svg). */
#include "hub.h"
#include "web.h"

static int net_page(struct web_req *req, struct web_resp *resp) {
    page_begin(&resp->body, req, "Network", 1);
    page_end(&resp->body, req);
    return 0;
}

void web_network_init(void) {
    web_route("GET", "/network", WEB_PUBLIC, net_page);
}
