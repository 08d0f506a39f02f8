/*
 * test_assets.c — api/assets.c and the table scripts/embed-assets.sh makes
 * from api/web/ (docs/dashboard.md): every file is embedded byte for byte
 * with its content type, the total stays under the 300 KB budget
 * (docs/performance.md), the page loads no inline script or style that the
 * Content-Security-Policy would block, app.js never parses strings as HTML,
 * and psw-api's router (api_handle) answers GET / and /assets/… with them
 * and the security headers.
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

#include "api/api.h"
#include "api/assets.h"
#include "common/config.h"
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

/* ---- served by psw-api's router ------------------------------------------ */

static const char *hdr(const struct api_response *rs, const char *name)
{
    for (size_t i = 0; i < rs->nheaders; i++)
        if (strcasecmp(rs->hname[i], name) == 0)
            return rs->hvalue[i];
    return NULL;
}

static void get(const char *path, struct api_response *rs)
{
    static struct psw_config cfg;
    static int loaded;
    if (!loaded) {
        assert_int_equal(psw_config_defaults(&cfg), 0);
        loaded = 1;
    }
    struct api_env env = { .cfg = &cfg };
    struct api_request rq = { .method = "GET", .path = path };
    api_handle(&env, &rq, rs);
}

static void test_router_serves_pages_with_security_headers(void **state)
{
    (void)state;
    struct api_response rs;
    static const char *const pages[] = { "/", "/index.html", "/assets/app.js", "/assets/app.css" };

    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        get(pages[i], &rs);
        const struct psw_asset *a = psw_asset_find(pages[i]);
        assert_int_equal(rs.status, 200);
        assert_int_equal(rs.body_len, a->len);
        assert_memory_equal(rs.body, a->data, a->len);
        assert_string_equal(rs.content_type, a->content_type);
        const char *csp = hdr(&rs, "Content-Security-Policy");
        assert_non_null(csp);
        assert_true(strncmp(csp, "default-src 'self';", 19) == 0);
        assert_non_null(strstr(csp, "frame-ancestors 'none'"));
        assert_string_equal(hdr(&rs, "Referrer-Policy"), "no-referrer");
        api_response_free(&rs);
    }
    get("/assets/nope.js", &rs);
    assert_int_equal(rs.status, 404);
    assert_null(hdr(&rs, "Content-Security-Policy"));
    api_response_free(&rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_web_file_is_embedded_exactly),
        cmocka_unit_test(test_total_size_under_budget),
        cmocka_unit_test(test_page_has_nothing_the_csp_blocks),
        cmocka_unit_test(test_router_serves_pages_with_security_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
