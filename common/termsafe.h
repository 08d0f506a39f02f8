/*
 * termsafe.h — text from outside (receivers' headers and errors, customers'
 * descriptions) made safe to show on an operator's terminal.
 *
 * A terminal acts on control characters: ESC starts sequences that move the
 * cursor, erase lines or recolour text, CR returns to the line start, BEL
 * rings, and the C1 controls (U+0080–U+009F, CSI among them) do what ESC
 * sequences do. A receiver could otherwise make `psw delivery show` or a
 * worker log print something other than what was stored (docs/security.md).
 *
 * psw_term_escape() writes every such byte visibly: C0 controls and DEL as
 * \xNN (tab kept; newline kept when asked), C1 controls as \u00NN, and bytes
 * that are not valid UTF-8 as \xNN. Valid UTF-8 passes unchanged. Pure
 * functions, no state: a stream filter keeps the incomplete tail itself.
 */
#ifndef PSW_TERMSAFE_H
#define PSW_TERMSAFE_H

#include <stddef.h>

/* Length of the UTF-8 sequence at s (n bytes available): 1–4 when valid,
 * 0 when not (overlong forms, surrogates and values above U+10FFFF are
 * invalid), -1 when s holds a valid but incomplete start of one. */
int psw_utf8_len(const unsigned char *s, size_t n);

/* 1 when the UTF-8 sequence of length len at s is a C1 control. */
int psw_utf8_is_c1(const unsigned char *s, int len);

/* Escapes s[0..n) into out, which must hold 4 * n + 1 bytes; NUL-terminates
 * and returns the output length. keep_newline: '\n' passes (else \x0a).
 * With more set (more input follows, as in a stream), an incomplete UTF-8
 * sequence at the end is left for the next call: *used says how many bytes
 * of s were consumed (n otherwise). used may be NULL when more is 0. */
size_t psw_term_escape(const char *s, size_t n, int keep_newline, int more, char *out,
                       size_t *used);

#endif
