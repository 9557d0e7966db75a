/* web_staff.c: the staff pages (sign-in with the web token, publish, edit, retract, inbox,
 * replies, match): WEB-STAFF's part of issue 13. web_staff_init registers their routes
 * (web_route with WEB_OPEN for /signin, WEB_STAFF for the rest) and sets web_session_hook.
 * Until then nobody is signed in and the staff routes do not exist. */
#include "web.h"

void web_staff_init(const struct web_conf *conf) {
    (void)conf;
}
