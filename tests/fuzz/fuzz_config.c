/*
 * fuzz_config.c — libFuzzer harness for the YAML configuration loader and
 * printer (common/config.c).
 *
 * The input is a YAML document. Properties:
 *  - loading into a zeroed struct either succeeds, or fails with a message
 *    and leaves the struct zeroed (all-or-nothing);
 *  - print → load → print is a fixed point: what psw_config_print writes
 *    (--print-config) loads again and prints the same bytes;
 *  - loading the input on top of a loaded configuration (a SIGHUP reload)
 *    either succeeds or leaves the old configuration exactly as it was; on
 *    top of the values it produced itself it succeeds and changes nothing.
 * Everything is freed; libFuzzer's leak check holds the loader to it.
 */
#include "tests/fuzz/fuzz.h"

#include "common/config.h"

/* psw_config_print into a heap buffer (caller frees). */
static char *cfg_print(const struct psw_config *cfg, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        abort();
    psw_config_print(cfg, f);
    if (fclose(f) != 0 || !buf)
        abort();
    return buf;
}

static int cfg_is_zero(const struct psw_config *cfg)
{
    static const struct psw_config zero;
    return memcmp(cfg, &zero, sizeof(zero)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct psw_config cfg = { 0 }, again = { 0 };
    char err[1024], err2[1024];
    char *p1 = NULL, *p2 = NULL, *p3 = NULL;
    size_t n1 = 0, n2 = 0, n3 = 0;

    err[0] = '\0';
    if (psw_config_load_string(&cfg, (const char *)data, size, "fuzz.yaml", err, sizeof(err)) != 0) {
        FUZZ_REQUIRE(err[0] != '\0', "load failed without a message");
        FUZZ_REQUIRE(cfg_is_zero(&cfg), "failed load changed the struct: %s", err);
        goto reload;
    }

    p1 = cfg_print(&cfg, &n1);
    err2[0] = '\0';
    FUZZ_REQUIRE(psw_config_load_string(&again, p1, n1, "printed.yaml", err2, sizeof(err2)) == 0,
                 "printed configuration does not load: %s\n%s", err2, p1);
    p2 = cfg_print(&again, &n2);
    FUZZ_REQUIRE(n1 == n2 && memcmp(p1, p2, n1) == 0,
                 "print -> load -> print differs\nfirst:\n%s\nsecond:\n%s", p1, p2);

reload:
    /* A reload of the same text on top of a configuration (the defaults
     * when the first load failed): all or nothing. */
    if (!again.redis_url && psw_config_defaults(&again) != 0)
        abort();
    free(p2);
    p2 = cfg_print(&again, &n2);
    if (psw_config_load_string(&again, (const char *)data, size, "reload.yaml", err2,
                               sizeof(err2)) != 0) {
        FUZZ_REQUIRE(!p1, "loads into defaults, not onto the same values again: %s", err2);
        p3 = cfg_print(&again, &n3);
        FUZZ_REQUIRE(n2 == n3 && memcmp(p2, p3, n2) == 0,
                     "failed reload changed the configuration: %s", err2);
    } else if (p1) {
        /* The same text on top of the same values gives the same values. */
        p3 = cfg_print(&again, &n3);
        FUZZ_REQUIRE(n1 == n3 && memcmp(p1, p3, n1) == 0,
                     "reload of the same text differs\nfirst:\n%s\nreloaded:\n%s", p1, p3);
    }

    free(p1);
    free(p2);
    free(p3);
    psw_config_free(&again);
    psw_config_free(&cfg);
    return 0;
}
