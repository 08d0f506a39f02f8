/*
 * assets.c — finds and serves the embedded dashboard files (api/assets.h).
 *
 * The bytes live in the read-only table generated from api/web/ by
 * scripts/embed-assets.sh; responses point at them (MHD_RESPMEM_PERSISTENT),
 * so serving copies nothing. Every response carries the headers of
 * psw_asset_headers: the dashboard relies on the Content-Security-Policy to
 * keep anything a receiver sent from running as script (docs/dashboard.md).
 */
#include "api/assets.h"

#include <string.h>

#include <microhttpd.h>

const struct psw_asset_header psw_asset_headers[] = {
    { "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'" },
    { "X-Content-Type-Options", "nosniff" },
    { "Referrer-Policy", "no-referrer" },
    { "X-Frame-Options", "DENY" },
    /* the file names carry no version: let browsers revalidate every time */
    { "Cache-Control", "no-cache" },
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

int psw_api_assets_serve(struct MHD_Connection *conn, const char *url)
{
    const struct psw_asset *a = psw_asset_find(url);
    struct MHD_Response *resp;
    int ret;

    if (!a)
        return -1;
    resp = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", a->content_type);
    for (const struct psw_asset_header *hd = psw_asset_headers; hd->name; hd++)
        MHD_add_response_header(resp, hd->name, hd->value);
    ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}
