/*
 * proc.h — running the project's programs from black-box tests, plus the
 * small file and waiting helpers every test needs.
 *
 * Programs are named, not pathed: proc_bin("psw-worker") is "$PSW_BIN/psw-worker"
 * (tests/run.sh sets PSW_BIN to the bin/ of the build under test).
 *
 * Every child is a plain fork/exec of the test process (same process group),
 * with its signal mask and SIGPIPE disposition reset, stdin on /dev/null
 * (proc_spawn) and no inherited descriptors beyond 0-2. Two safety nets keep a
 * failing test from leaving processes behind:
 *   - each child has PR_SET_PDEATHSIG (SIGTERM for programs, SIGKILL for
 *     redis-server), so it is signalled when the test process dies, even by
 *     a crash. Linux ties this to the *thread* that forked: start children from
 *     the test's main thread (or a thread that outlives them).
 *   - every live child and every tmpdir_new() directory is registered; at
 *     exit() whatever is still registered is stopped (with a warning on stderr
 *     naming the pid: a test forgot a stop) and removed.
 * proc_stop/proc_wait only ever signal a pid that is still an unreaped child
 * of this process, so calling them twice, or on a pid that is gone, is safe.
 * The first harness call that starts anything also sets SIGPIPE to SIG_IGN in
 * the test process: a write to a redis-server or program the test killed must
 * fail with EPIPE instead of killing the test (children get SIG_DFL back).
 */
#ifndef PSW_TEST_HARNESS_PROC_H
#define PSW_TEST_HARNESS_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* "$PSW_BIN/name" in a thread-local ring of 8 buffers (valid until the 8th
 * next call in the same thread). Aborts with a message when PSW_BIN is unset. */
const char *proc_bin(const char *name);

/* Starts $PSW_BIN/name with argv (NULL-terminated, argv[0] excluded; NULL
 * means no arguments). stdout and stderr are appended to log_path (created if
 * needed), or inherited when log_path is NULL; stdin is /dev/null.
 * Returns the pid, or -1 (message on stderr) when the program could not be
 * started, exec failures included. Every successful spawn needs a proc_stop
 * or a proc_wait that reports the exit. */
pid_t proc_spawn(const char *name, const char *const argv[], const char *log_path);

/* Waits up to timeout_ms for pid to exit. 0 when it exited (*status, if not
 * NULL, as waitpid gives it), -1 on timeout or when pid is not a child. */
int proc_wait(pid_t pid, int timeout_ms, int *status);

/* Sends sig, waits up to timeout_ms, then SIGKILLs and reaps. Returns the
 * waitpid status, or -1 when pid is not (or no longer) a child of ours. */
int proc_stop(pid_t pid, int sig, int timeout_ms);

/* The live (not zombie) children of parent, read from /proc/<pid>/stat: up
 * to max pids into out; returns how many. */
int proc_children(pid_t parent, pid_t *out, int max);

/* Runs $PSW_BIN/name to completion with stdin_data (NULL = empty stdin) and
 * captures stdout and stderr (both pipes are polled, so big outputs cannot
 * deadlock). *out and *err (each may be NULL to discard) receive
 * NUL-terminated malloc'ed strings the caller frees — set even on timeout.
 * Returns the exit code (128+N when killed by signal N), -1 on timeout (the
 * child is SIGKILLed and reaped), -2 when it could not be started. */
int proc_run(const char *name, const char *const argv[], const char *stdin_data,
             char **out, char **err, int timeout_ms);

/* A fresh directory under $TMPDIR (or /tmp), registered for removal at exit.
 * The caller frees the string; tmpdir_remove() removes it earlier. */
char *tmpdir_new(void);
/* rm -rf dir (no symlinks followed); safe on NULL. */
void tmpdir_remove(const char *dir);

/* Writes content to path (truncating). 0 or -1. */
int write_file(const char *path, const char *content);
/* The whole file, NUL-terminated, *len (if not NULL) its size without the NUL.
 * NULL when unreadable. The caller frees. */
char *read_file(const char *path, size_t *len);
/* Prints the last `lines` lines of path to stderr, framed with its name
 * (for failure diagnostics). Says so when the file cannot be read. */
void file_tail(const char *path, int lines);

/* Calls pred(arg) every step_ms until it returns nonzero (then 0) or
 * timeout_ms have passed (then -1; pred gets one last call at the deadline). */
int wait_until(int (*pred)(void *), void *arg, int timeout_ms, int step_ms);

/* Milliseconds on the monotonic clock, for measuring in tests. */
long long harness_mono_ms(void);

/* Keeps p (malloc'd) / o (a json-c reference) until harness_kept_free(),
 * so a test that leaves early through a failed assertion leaks nothing:
 * call harness_kept_free() from the teardown. Abort on NULL or no memory. */
void *harness_keep(void *p);
struct json_object *harness_keep_json(struct json_object *o);
void harness_kept_free(void);

/* Sleeps ms milliseconds, resuming after signals. */
void harness_nap(int ms);

/* printf into one of 8 rotating static buffers of 8 KiB: the result stays
 * valid until 8 more calls (key suffixes, URLs, expected messages). */
const char *harness_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* The rest of the line that follows marker in the source tree's file rel
 * (e.g. "docs/operations.md"; $PSW_SRC is the tree), or NULL when the file
 * or the marker is missing. Caller frees. How tests use exactly what the
 * docs say (the documented Redis ACL). */
char *harness_doc_line(const char *rel, const char *marker);

/* ---- internal to the harness (used by redis_server.c, receiver.c) ------- */

/* Registers the at-exit cleanup and ignores SIGPIPE; idempotent. */
void harness_init(void);

/* fork/exec of an absolute path (argv[0] included, NULL-terminated) with the
 * child setup described above; pdeathsig is also the signal the at-exit
 * cleanup sends first. log_path NULL inherits stdout/stderr. Returns the pid
 * (registered; proc_stop/proc_wait reap it) or -1 (message on stderr). */
pid_t harness_spawn(const char *path, char *const argv[], const char *log_path,
                    int pdeathsig);
/* At-exit registry of directories to remove. */
void harness_track_dir(const char *dir);
void harness_untrack_dir(const char *dir);

#endif
