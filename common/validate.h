/*
 * validate.h — checks of user-supplied endpoint settings: domain names,
 * receiver URLs and event filters. Pure functions: no allocation, no I/O.
 * Messages start with the setting's name ("url: …", "events: …") so the CLI
 * and the API can print them as they are.
 */
#ifndef PSW_VALIDATE_H
#define PSW_VALIDATE_H

#include <stddef.h>

#define PSW_DOMAIN_MAX 253
#define PSW_EVENTS_SIZE 160 /* "*" or all eight types comma-separated, with room */

/* 1 when s is a DNS name: 1-253 characters, dot-separated labels of 1-63
 * letters, digits and hyphens, no label starting or ending with '-', no empty
 * label (so no leading, trailing or double dot). Letters of either case are
 * accepted; callers lower-case what they store. 0 otherwise (NULL too). */
int psw_domain_valid(const char *s);

/* Checks a receiver URL (parsed with libcurl's URL API): scheme http or
 * https, a host, no user name or password, no fragment, no whitespace or
 * control characters, at most max_len bytes. Returns 0, or -1 with a message
 * starting "url: " in err. */
int psw_url_check(const char *url, size_t max_len, char *err, size_t errlen);

/* The URL with an internationalized host in its ASCII form (punycode, after
 * the UTS #46 mapping: "http://bücher.example/" gives
 * "http://xn--bcher-kva.example/", "http://１２７．０．０．１/" gives
 * "http://127.0.0.1/"), so that what is checked, stored and connected to is
 * one string. *out is a malloc'd URL (caller frees), or NULL when the host
 * is ASCII already or curl cannot parse the URL (psw_url_check says why).
 * Returns 0, or -1 with a message starting "url: " when the host is not a
 * valid IDN. */
int psw_url_idn_to_ascii(const char *url, char **out, char *err, size_t errlen);

/* Normalizes an event filter: "*", or a comma-separated list of event types
 * (spaces and tabs around the commas allowed). Duplicates are dropped, the
 * first occurrence keeps its place: " email.sent , email.bounced,email.sent"
 * gives "email.sent,email.bounced". Writes the result into out[n]
 * (PSW_EVENTS_SIZE is always enough). Returns 0, or -1 with a message
 * starting "events: " in err. */
int psw_events_normalize(const char *list, char *out, size_t n, char *err, size_t errlen);

#endif
