/*
 * termsafe.c — see termsafe.h. What counts as a control is Unicode's C0
 * (U+0000–U+001F), DEL and C1 (U+0080–U+009F); everything else that is valid
 * UTF-8 is printable enough for a terminal.
 */
#include "common/termsafe.h"

int psw_utf8_len(const unsigned char *s, size_t n)
{
    if (n == 0)
        return -1;
    unsigned char c = s[0];
    int len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0; /* continuation byte, overlong lead (C0, C1) or above U+10FFFF */
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return -1;
        unsigned char t = s[i];
        if ((t & 0xc0) != 0x80)
            return 0;
        if (i == 1 && ((c == 0xe0 && t < 0xa0) || (c == 0xed && t > 0x9f) ||
                       (c == 0xf0 && t < 0x90) || (c == 0xf4 && t > 0x8f)))
            return 0; /* overlong, surrogate, above U+10FFFF */
    }
    return len;
}

int psw_utf8_is_c1(const unsigned char *s, int len)
{
    return len == 2 && s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f;
}

size_t psw_term_escape(const char *s, size_t n, int keep_newline, int more, char *out,
                       size_t *used)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
            i++;
            continue;
        }
        if (c == '\t' || (c == '\n' && keep_newline)) {
            out[o++] = (char)c;
            i++;
            continue;
        }
        if (c < 0x80) { /* C0 control or DEL */
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
            i++;
            continue;
        }
        int len = psw_utf8_len(p + i, n - i);
        if (len < 0 && more)
            break; /* the rest of it comes with the next call */
        if (len > 0 && psw_utf8_is_c1(p + i, len)) {
            unsigned char cp = p[i + 1];
            static const char u[] = "\\u00";
            for (int k = 0; k < 4; k++)
                out[o++] = u[k];
            out[o++] = hex[cp >> 4];
            out[o++] = hex[cp & 15];
            i += 2;
        } else if (len > 0) {
            for (int k = 0; k < len; k++)
                out[o++] = (char)p[i + k];
            i += (size_t)len;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
            i++;
        }
    }
    out[o] = '\0';
    if (used)
        *used = i;
    return o;
}
