# PostStack Webhooks.
#
#   make            build bin/psw, bin/psw-scheduler, bin/psw-worker, bin/psw-api, bin/psw-receiver
#                   (installs build deps)
#   make test       every test under ASan+UBSan (installs test deps first)
#   make run        the whole service on this machine (see README)
#   make bench      the benchmark suite (never part of make test)
#   make fuzz       libFuzzer harnesses (tests/fuzz/), each FUZZ_SECONDS (60) long
#
# Two flavours share these rules: BUILD=rel (default, -O2) and BUILD=asan.
# Objects live in build/$(BUILD)/; the release programs are copied to bin/.

BUILD   ?= rel
O       := build/$(BUILD)
PKGS    := hiredis libcurl openssl yaml-0.1 json-c libidn2
TESTPKGS := cmocka libmicrohttpd

CC      ?= cc
WARN    := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wformat=2 -Werror
OPT_rel  := -O2 -g
OPT_asan := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT_fuzz := -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
CFLAGS  ?=
CPPFLAGS := -D_GNU_SOURCE -I. -I$(O)/gen -DPSW_VERSION=\"$(shell cat VERSION)\"

# pkg-config runs only when a rule needs it: on a fresh machine the packages
# arrive (scripts/deps.sh) before the recursive make that compiles.
pkg_cflags = $(shell pkg-config --cflags $(1))
pkg_libs   = $(shell pkg-config --libs $(1))

ALL_CFLAGS = $(WARN) $(OPT_$(BUILD)) $(CFLAGS) $(call pkg_cflags,$(PKGS))
LDLIBS_LIB = $(call pkg_libs,$(PKGS)) -lm
LDFLAGS_asan := -fsanitize=address,undefined
LDFLAGS_fuzz := -fsanitize=fuzzer,address,undefined
LDFLAGS_BUILD = $(LDFLAGS_$(BUILD))

LUA      := $(sort $(wildcard common/lua/*.lua))
LIB_SRC  := $(sort $(wildcard common/*.c scheduler/*.c worker/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(O)/%.o) $(O)/gen/psw_scripts.o
PROGS    := psw psw-scheduler psw-worker psw-receiver psw-bench psw-api
PROG_BIN := $(PROGS:%=$(O)/bin/%)

HARNESS_SRC := $(sort $(wildcard tests/harness/*.c))
HARNESS_OBJ := $(HARNESS_SRC:%.c=$(O)/%.o)
# Test code without cmocka, for the tests and the fuzz harnesses alike.
TESTLIB_SRC := $(sort $(wildcard tests/lib/*.c))
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(O)/%.o)
TEST_SRC    := $(sort $(wildcard tests/unit/test_*.c tests/e2e/test_*.c))
TEST_BIN    := $(TEST_SRC:%.c=$(O)/%)

.PHONY: all progs test test-build check-deps run stop bench fuzz fuzz-build clean print-tests
# Objects that only chained pattern rules name (the harness, tests/lib/, the
# programs' main files) would otherwise be deleted as intermediate after each
# build and compiled again by the next one.
.SECONDARY:

all:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory BUILD=rel progs
	@mkdir -p bin && cp build/rel/bin/* bin/

progs: $(PROG_BIN)

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory BUILD=asan test-build
	@tests/run.sh build/asan

test-build: $(PROG_BIN) $(TEST_BIN)

# libFuzzer needs clang; tests/fuzz/run.sh runs each harness FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_BIN := $(patsubst %.c,$(O)/%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

fuzz:
	@scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory BUILD=fuzz CC=clang fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh build/fuzz

fuzz-build: $(FUZZ_BIN)

# scripts/run.sh installs what is missing and builds (make all) itself.
run:
	@scripts/run.sh

stop:
	@scripts/run.sh --stop

# Release build, then every scenario of bench/run.sh (a few minutes; bounded).
bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory BUILD=rel progs
	@mkdir -p bin && cp build/rel/bin/* bin/
	@bench/run.sh

clean:
	rm -rf build bin

# --- compile rules ---------------------------------------------------------

# One run writes both files (a grouped target, so make -j runs it once).
$(O)/gen/psw_scripts.h $(O)/gen/psw_scripts.c &: $(LUA) scripts/embed-lua.sh
	@mkdir -p $(O)/gen
	scripts/embed-lua.sh $(O)/gen/psw_scripts.h $(O)/gen/psw_scripts.c $(LUA)

$(O)/gen/psw_scripts.o: $(O)/gen/psw_scripts.c
	$(CC) $(ALL_CFLAGS) $(CPPFLAGS) -c $< -o $@

# Every object may include the generated header, so it comes first.
$(O)/%.o: %.c | $(O)/gen/psw_scripts.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CPPFLAGS) -MMD -MP -c $< -o $@

$(O)/libpsw.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# A program is cmd/NAME.c, or every .c file under cmd/NAME/ (psw, the CLI).
PSW_CLI_OBJ := $(patsubst %.c,$(O)/%.o,$(sort $(wildcard cmd/psw/*.c)))

$(O)/bin/psw: $(PSW_CLI_OBJ) $(O)/libpsw.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_BUILD) $(PSW_CLI_OBJ) $(O)/libpsw.a $(LDLIBS_LIB) -o $@

$(O)/bin/%: $(O)/cmd/%.o $(O)/libpsw.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_BUILD) $< $(O)/libpsw.a $(LDLIBS_LIB) -o $@

# psw-receiver, the demo and benchmark receiver, is bench/receiver.c on libmicrohttpd.
$(O)/bench/%.o: bench/%.c | $(O)/gen/psw_scripts.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call pkg_cflags,libmicrohttpd) $(CPPFLAGS) -MMD -MP -c $< -o $@

$(O)/bin/psw-receiver: $(O)/bench/receiver.o $(O)/libpsw.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_BUILD) $< $(O)/libpsw.a $(call pkg_libs,libmicrohttpd) \
	    $(LDLIBS_LIB) -lpthread -o $@

# psw-api: cmd/psw-api.c + api/*.c on libmicrohttpd, with api/openapi.json
# embedded (a minimal document stands in while the file does not exist).
API_SRC := $(sort $(wildcard api/*.c))
API_OBJ := $(API_SRC:%.c=$(O)/%.o) $(O)/gen/psw_openapi.o $(O)/gen/psw_assets.o
OPENAPI_FALLBACK := {"openapi":"3.1.0","info":{"title":"psw-api","version":"0"},"paths":{}}

$(O)/gen/psw_openapi.c: $(wildcard api/openapi.json) scripts/embed-file.sh
	@mkdir -p $(O)/gen
	scripts/embed-file.sh $@ psw_openapi_json api/openapi.json '$(OPENAPI_FALLBACK)'

$(O)/gen/psw_openapi.o: $(O)/gen/psw_openapi.c
	$(CC) $(ALL_CFLAGS) $(CPPFLAGS) -c $< -o $@

$(O)/api/%.o: api/%.c | $(O)/gen/psw_scripts.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call pkg_cflags,libmicrohttpd) $(CPPFLAGS) -MMD -MP -c $< -o $@

# Everything of psw-api but the socket (server.c): the fuzz harness and the
# tests call the router directly.
API_LIB_OBJ := $(filter-out $(O)/api/server.o,$(API_SRC:%.c=$(O)/%.o)) $(O)/gen/psw_assets.o
$(O)/libpswapi.a: $(API_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(O)/bin/psw-api: $(O)/cmd/psw-api.o $(API_OBJ) $(O)/libpsw.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_BUILD) $< $(API_OBJ) $(O)/libpsw.a \
	    $(call pkg_libs,libmicrohttpd) $(LDLIBS_LIB) -lpthread -o $@

# psw-bench, the benchmark's load generator and measuring tools.
$(O)/bin/psw-bench: $(O)/bench/loadgen.o $(O)/libpsw.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS_BUILD) $< $(O)/libpsw.a $(LDLIBS_LIB) -o $@

$(O)/tests/harness/%.o: tests/harness/%.c | $(O)/gen/psw_scripts.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call pkg_cflags,$(TESTPKGS)) $(CPPFLAGS) -MMD -MP -c $< -o $@

$(O)/tests/%: tests/%.c $(HARNESS_OBJ) $(TESTLIB_OBJ) $(O)/libpswapi.a $(O)/libpsw.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(call pkg_cflags,$(TESTPKGS)) $(CPPFLAGS) $(LDFLAGS_BUILD) -MMD -MP \
	    $< $(HARNESS_OBJ) $(TESTLIB_OBJ) $(O)/libpswapi.a $(O)/libpsw.a $(call pkg_libs,$(TESTPKGS)) $(LDLIBS_LIB) -lpthread -o $@

# A harness links alone with tests/lib/ and libFuzzer's main (the shorter stem wins
# over tests/%).
$(O)/tests/fuzz/%: tests/fuzz/%.c $(TESTLIB_OBJ) $(O)/libpswapi.a $(O)/libpsw.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CPPFLAGS) $(LDFLAGS_BUILD) -MMD -MP $< $(TESTLIB_OBJ) $(O)/libpswapi.a \
	    $(O)/libpsw.a $(LDLIBS_LIB) -o $@

# The dashboard (api/web/) embedded in psw-api: api/assets.h, docs/dashboard.md.
WEB := $(sort $(wildcard api/web/*))

$(O)/gen/psw_assets.c: $(WEB) scripts/embed-assets.sh
	@mkdir -p $(O)/gen
	scripts/embed-assets.sh $@ $(WEB)

$(O)/gen/psw_assets.o: $(O)/gen/psw_assets.c
	$(CC) $(ALL_CFLAGS) $(CPPFLAGS) -c $< -o $@

print-tests:
	@echo $(TEST_BIN)

-include $(shell find $(O) -name '*.d' 2>/dev/null)
