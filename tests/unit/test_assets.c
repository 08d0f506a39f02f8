/*
 * test_assets.c — api/assets.c and the table scripts/embed-assets.sh makes
 * from api/web/ (docs/dashboard.md): every file is embedded byte for byte
 * with its content type, the total stays under the 300 KB budget
 * (docs/performance.md), the page loads no inline script or style that the
 * Content-Security-Policy would block, app.js never parses strings as HTML,
 * and a real libmicrohttpd server answers with the security headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <microhttpd.h>

#include "api/assets.h"
#include "tests/harness/harness.h"

static const char *src_dir(void)
{
    const char *s = getenv("PSW_SRC");
    return s && *s ? s : ".";
}

static void test_every_web_file_is_embedded_exactly(void **state)
{
    (void)state;
    static const char *const files[] = { "index.html", "app.js", "app.css", "favicon.svg" };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        size_t len = 0;
        char *disk = read_file(harness_fmt("%s/api/web/%s", src_dir(), files[i]), &len);
        assert_non_null(disk);
        const char *url = strcmp(files[i], "index.html") == 0 ? "/" : harness_fmt("/assets/%s", files[i]);
        const struct psw_asset *a = psw_asset_find(url);
        assert_non_null(a);
        assert_int_equal(a->len, len);
        assert_memory_equal(a->data, disk, len);
        free(disk);
    }
    assert_string_equal(psw_asset_find("/")->content_type, "text/html; charset=utf-8");
    assert_string_equal(psw_asset_find("/assets/app.js?v=1")->content_type,
                        "text/javascript; charset=utf-8");
    assert_string_equal(psw_asset_find("/assets/app.css")->content_type, "text/css; charset=utf-8");
    assert_ptr_equal(psw_asset_find("/index.html"), psw_asset_find("/"));
    assert_null(psw_asset_find("/assets/nope.js"));
    assert_null(psw_asset_find("/assets/"));
    assert_null(psw_asset_find("/app.js"));
    assert_null(psw_asset_find("/assets/../index.html"));
    assert_null(psw_asset_find(NULL));
}

static void test_total_size_under_budget(void **state)
{
    (void)state;
    size_t total = psw_assets_total_bytes();
    print_message("embedded dashboard assets: %zu bytes\n", total);
    assert_true(total > 10000); /* the real files, not an empty table */
    assert_true(total < 300 * 1024);
}

/* Each needle must not occur in hay (case-insensitive). */
static void assert_absent(const char *hay, const char *what, const char *const *needles)
{
    for (; *needles; needles++) {
        if (strcasestr(hay, *needles))
            fail_msg("%s contains \"%s\"", what, *needles);
    }
}

static void test_page_has_nothing_the_csp_blocks(void **state)
{
    (void)state;
    const struct psw_asset *idx = psw_asset_find("/");
    assert_non_null(idx);
    /* the one script is an external module; no inline code, style or handler */
    assert_non_null(strstr(idx->data, "<script type=\"module\" src=\"/assets/app.js\"></script>"));
    const char *p = idx->data;
    int scripts = 0;
    while ((p = strstr(p, "<script"))) {
        scripts++;
        const char *end = strchr(p, '>');
        assert_non_null(end);
        assert_non_null(memmem(p, (size_t)(end - p), "src=", 4));
        p = end;
    }
    assert_int_equal(scripts, 1);
    static const char *const html_bad[] = { " style=", "<style", " onclick=", " onload=", " onerror=",
                                            "javascript:", "http://", "https://", "data:", NULL };
    assert_absent(idx->data, "index.html", html_bad);
    /* everything is built as DOM nodes with text; nothing parses strings as HTML */
    const struct psw_asset *js = psw_asset_find("/assets/app.js");
    assert_non_null(js);
    static const char *const js_bad[] = { "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                                          "eval(", "new Function", ".style.", "setAttribute('style'",
                                          "import(", NULL };
    assert_absent(js->data, "app.js", js_bad);
}

/* ---- served by a real libmicrohttpd server -------------------------------- */

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **ptr)
{
    (void)cls; (void)method; (void)version; (void)upload; (void)upload_size; (void)ptr;
    int r = psw_api_assets_serve(c, url);
    if (r != -1)
        return (enum MHD_Result)r;
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 404, resp);
    MHD_destroy_response(resp);
    return ret;
}

struct got { char headers[8192]; size_t hlen; size_t body; };

static size_t on_header(char *b, size_t size, size_t n, void *ud)
{
    struct got *g = ud;
    size_t len = size * n;
    if (g->hlen + len < sizeof(g->headers)) {
        memcpy(g->headers + g->hlen, b, len);
        g->hlen += len;
        g->headers[g->hlen] = '\0';
    }
    return len;
}

static size_t on_body(char *b, size_t size, size_t n, void *ud)
{
    (void)b;
    ((struct got *)ud)->body += size * n;
    return size * n;
}

static long fetch(int port, const char *path, struct got *g)
{
    CURL *c = curl_easy_init();
    long status = 0;
    memset(g, 0, sizeof(*g));
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, harness_fmt("http://127.0.0.1:%d%s", port, path));
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, g);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, g);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status;
}

static void test_served_with_security_headers(void **state)
{
    (void)state;
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
                                            MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    assert_non_null(d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    int port = info->port;
    struct got g;

    assert_int_equal(fetch(port, "/", &g), 200);
    assert_int_equal(g.body, psw_asset_find("/")->len);
    assert_non_null(strcasestr(g.headers, "\r\nContent-Security-Policy: default-src 'self'; frame-ancestors 'none'"));
    assert_non_null(strcasestr(g.headers, "\r\nX-Content-Type-Options: nosniff\r\n"));
    assert_non_null(strcasestr(g.headers, "\r\nReferrer-Policy: no-referrer\r\n"));
    assert_non_null(strcasestr(g.headers, "\r\nContent-Type: text/html; charset=utf-8\r\n"));

    assert_int_equal(fetch(port, "/assets/app.js", &g), 200);
    assert_int_equal(g.body, psw_asset_find("/assets/app.js")->len);
    assert_non_null(strcasestr(g.headers, "\r\nContent-Type: text/javascript; charset=utf-8\r\n"));
    assert_non_null(strcasestr(g.headers, "\r\nContent-Security-Policy: default-src 'self'"));

    assert_int_equal(fetch(port, "/assets/missing.js", &g), 404);
    MHD_stop_daemon(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_web_file_is_embedded_exactly),
        cmocka_unit_test(test_total_size_under_budget),
        cmocka_unit_test(test_page_has_nothing_the_csp_blocks),
        cmocka_unit_test(test_served_with_security_headers),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
