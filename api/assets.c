/*
 * assets.c — finds and serves the embedded dashboard files (api/assets.h).
 *
 * The bytes live in the read-only table generated from api/web/ by
 * scripts/embed-assets.sh. api/router.c serves them with the headers of
 * psw_asset_headers: the dashboard relies on the Content-Security-Policy to
 * keep anything a receiver sent from running as script (docs/dashboard.md).
 */
#include "api/assets.h"

#include <string.h>

const struct psw_asset_header psw_asset_headers[] = {
    { "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'" },
    { "Referrer-Policy", "no-referrer" },
    { "X-Frame-Options", "DENY" },
    { NULL, NULL },
};

const struct psw_asset *psw_asset_find(const char *url)
{
    if (!url)
        return NULL;
    size_t n = strcspn(url, "?#");
    if (n == strlen("/index.html") && strncmp(url, "/index.html", n) == 0)
        url = "/", n = 1;
    for (const struct psw_asset *a = psw_assets; a->path; a++)
        if (strlen(a->path) == n && strncmp(a->path, url, n) == 0)
            return a;
    return NULL;
}

size_t psw_assets_total_bytes(void)
{
    size_t total = 0;
    for (const struct psw_asset *a = psw_assets; a->path; a++)
        total += a->len;
    return total;
}
