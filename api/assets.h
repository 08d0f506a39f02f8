/*
 * assets.h — the dashboard's files (api/web/), embedded in psw-api at build
 * time by scripts/embed-assets.sh (docs/dashboard.md).
 *
 * The table is static data: nothing to free. Paths are the URLs the files are
 * served at: "/" for index.html, "/assets/<name>" for the others.
 */
#ifndef PSW_API_ASSETS_H
#define PSW_API_ASSETS_H
#include <stddef.h>

struct psw_asset {
    const char *path;         /* URL path, e.g. "/assets/app.js" */
    const char *content_type; /* with charset for text */
    size_t len;               /* bytes in data (data is also NUL-terminated) */
    const char *data;
};

/* The generated table, ended by an entry whose path is NULL. */
extern const struct psw_asset psw_assets[];

/* The asset served at url (the path without query string), or NULL. */
const struct psw_asset *psw_asset_find(const char *url);

/* Total bytes of every embedded asset (docs/performance.md keeps it under 300 KB). */
size_t psw_assets_total_bytes(void);

/* The headers every dashboard file is served with (api/router.c adds them;
 * server.c adds nosniff and no-store to every answer), as name/value pairs
 * ended by {NULL, NULL}: the Content-Security-Policy allows only the page's
 * own files (no inline script or style, no framing), and no referrer leaks. */
struct psw_asset_header { const char *name, *value; };
extern const struct psw_asset_header psw_asset_headers[];

#endif
