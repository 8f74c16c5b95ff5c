# sscard — build, test, demo, bench. `make help` lists the targets.
#
#   make            build into build/ (gcc)
#   make check      install deps, build with gcc, clang and ASan+UBSan, run every test
#   make demo       install deps, build, start the emulated reader + card + sscardd
#   make bench      benchmarks (ratios measured side by side)

ifeq ($(origin CC),default)
CC      := gcc
endif
BUILD   ?= build
SAN     ?=
PREFIX  ?= /usr/local
VERSION := 0.1.0
DESTDIR ?=

PKGS    := libpcsclite libsystemd jansson inih sqlite3 libsodium libcurl libmicrohttpd libnfc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter -Wvla
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -DSRCDIR=\"$(CURDIR)\" $(WARN) -fno-strict-aliasing $(PKG_CFLAGS) \
           -fstack-protector-strong -D_FORTIFY_SOURCE=2
LDFLAGS += -pthread
ifneq ($(SAN),)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CFLAGS  := $(filter-out -D_FORTIFY_SOURCE=2,$(CFLAGS))
LDFLAGS += -fsanitize=address,undefined
endif

CORE_SRC := apdu/sserr.c apdu/apdu.c apdu/atr.c apdu/ssc.c drivers/pcsc.c drivers/nfc.c drivers/pinpad.c \
            daemon/json.c daemon/mask.c daemon/config.c daemon/log.c daemon/request.c \
            daemon/losslist.c daemon/lossfmt.c daemon/lossidx.c daemon/notify.c daemon/http.c \
            daemon/outbox.c daemon/pinrule.c daemon/flow.c daemon/webcheck.c
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
CORE_LIB := $(BUILD)/libsscard-core.a

DAEMON_SRC := daemon/sscardd.c daemon/readers.c daemon/nfcd.c daemon/control.c daemon/sync.c daemon/kiosk.c \
              daemon/upcall.c daemon/web.c
CTL_SRC    := client/sscardctl.c
VCARD_SRC  := sim/vcard.c sim/cardsim.c

UNIT_TESTS := test-apdu test-ssc test-config test-losslist test-lossfmt test-lossidx test-outbox \
              test-pinrule test-flow test-nfc test-pinpad
UNIT_BINS  := $(UNIT_TESTS:%=$(BUILD)/tests/%)

LIBSSCARD := $(BUILD)/libsscard.so.1
PROGS := $(LIBSSCARD) $(BUILD)/libsscard.so $(BUILD)/sscard.pc $(BUILD)/example-readcard \
	 $(BUILD)/sscardd $(BUILD)/sscardctl $(BUILD)/sscard-vcard $(BUILD)/bench-read $(BUILD)/bench-nfc \
	 $(BUILD)/bench-lossfmt $(BUILD)/bench-losslist $(BUILD)/sscard-central \
	 $(BUILD)/pcsc-poke $(BUILD)/sscard-pn532 $(BUILD)/nfc-read $(BUILD)/libifd-sscard-pinpad.so

.PHONY: all clean check check-build unit integration fuzz demo deps bench help install
all: $(PROGS) $(UNIT_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(CORE_LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sscardd: $(DAEMON_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# libsscard: the reader API for counter software; only the i* functions
# are exported; it needs jansson and nothing of ours at run time.
$(BUILD)/obj-pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

$(LIBSSCARD): $(BUILD)/obj-pic/client/libsscard.o
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libsscard.so.1 -Wl,--no-undefined -o $@ $^ -ljansson

$(BUILD)/libsscard.so: $(LIBSSCARD)
	ln -sf libsscard.so.1 $@

$(BUILD)/sscard.pc: client/sscard.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< >$@

$(BUILD)/example-readcard: examples/readcard.c $(BUILD)/libsscard.so
	$(CC) $(CFLAGS) -Iclient -o $@ examples/readcard.c $(LDFLAGS) -L$(BUILD) -lsscard \
	  -Wl,-rpath,'$$ORIGIN'

$(BUILD)/sscardctl: $(CTL_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/sscard-vcard: $(VCARD_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/sscard-pn532: $(BUILD)/obj/sim/pn532.o $(BUILD)/obj/sim/cardsim.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^

# The emulated PIN-pad reader, loaded by the tests' pcscd: never with the
# sanitizers (pcscd itself is not built with them).
$(BUILD)/libifd-sscard-pinpad.so: sim/ifd_pinpad.c sim/cardsim.c sim/cardsim.h apdu/apdu.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) $(PKG_CFLAGS) -fPIC -shared -fvisibility=hidden \
	  -Wl,--no-undefined -o $@ sim/ifd_pinpad.c sim/cardsim.c apdu/apdu.c apdu/sserr.c -pthread

$(BUILD)/bench-nfc: $(BUILD)/obj/bench/bench_nfc.o $(BUILD)/obj/bench/bench.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench-read: $(BUILD)/obj/bench/bench_read.o $(BUILD)/obj/bench/bench.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/sscard-central: $(BUILD)/obj/sim/central.o $(BUILD)/obj/sim/central_api.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench-losslist: $(BUILD)/obj/bench/bench_losslist.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench-lossfmt: $(BUILD)/obj/bench/bench_lossfmt.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/nfc-read: $(BUILD)/obj/tests/integration/nfc_read.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/pcsc-poke: $(BUILD)/obj/tests/integration/pcsc_poke.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/obj/tests/unit/fake_transport.o $(CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

# libFuzzer target (clang only): parsers fed with arbitrary card answers.
$(BUILD)/fuzz-parsers: tests/fuzz/fuzz_parsers.c tests/unit/fake_transport.c \
                       apdu/sserr.c apdu/apdu.c apdu/atr.c apdu/ssc.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
	  -fsanitize=fuzzer,address,undefined -o $@ $^

$(BUILD)/fuzz-requests: tests/fuzz/fuzz_requests.c daemon/config.c daemon/request.c daemon/log.c \
                        daemon/webcheck.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -o $@ $^ $$(pkg-config --libs inih libsystemd jansson)

$(BUILD)/fuzz-lossfmt: tests/fuzz/fuzz_lossfmt.c daemon/lossfmt.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
	  -fsanitize=fuzzer,address,undefined -o $@ $^ $$(pkg-config --libs libsodium)

FUZZ_OUTBOX_SRC := tests/fuzz/fuzz_outbox.c daemon/outbox.c daemon/notify.c daemon/http.c \
	daemon/log.c daemon/mask.c daemon/json.c apdu/sserr.c apdu/ssc.c apdu/apdu.c apdu/atr.c \
	sim/central_api.c daemon/losslist.c daemon/lossidx.c daemon/lossfmt.c
$(BUILD)/fuzz-outbox: $(FUZZ_OUTBOX_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)

FUZZ_API_SRC := tests/fuzz/fuzz_api.c daemon/flow.c daemon/webcheck.c daemon/config.c daemon/log.c \
	daemon/mask.c daemon/pinrule.c apdu/ssc.c apdu/apdu.c apdu/sserr.c apdu/atr.c
$(BUILD)/fuzz-api: $(FUZZ_API_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

deps:
	@sh tools/deps.sh

# Everything `make check` runs; each stage logs into build/check/.
check: deps
	@bash tests/check.sh

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do $$t || exit 1; done

integration: all
	@python3 tests/integration/run.py --build $(BUILD)

fuzz: $(BUILD)/fuzz-parsers $(BUILD)/fuzz-requests $(BUILD)/fuzz-lossfmt $(BUILD)/fuzz-outbox \
      $(BUILD)/fuzz-api
	@mkdir -p $(BUILD)/fuzz-corpus $(BUILD)/fuzz-corpus-requests $(BUILD)/fuzz-corpus-lossfmt
	$(BUILD)/fuzz-parsers -max_total_time=$${FUZZ_SECONDS:-30} -print_final_stats=1 \
	  $(BUILD)/fuzz-corpus tests/fuzz/seeds
	$(BUILD)/fuzz-requests -max_total_time=$${FUZZ_SECONDS:-30} -print_final_stats=1 \
	  -dict=tests/fuzz/requests.dict $(BUILD)/fuzz-corpus-requests tests/fuzz/seeds-requests
	$(BUILD)/fuzz-lossfmt -max_total_time=$${FUZZ_SECONDS:-30} -print_final_stats=1 \
	  $(BUILD)/fuzz-corpus-lossfmt tests/fuzz/seeds-lossfmt
	@mkdir -p $(BUILD)/fuzz-corpus-outbox
	$(BUILD)/fuzz-outbox -max_total_time=$${FUZZ_SECONDS:-30} -print_final_stats=1 \
	  $(BUILD)/fuzz-corpus-outbox tests/fuzz/seeds-outbox
	@mkdir -p $(BUILD)/fuzz-corpus-api
	$(BUILD)/fuzz-api -max_total_time=$${FUZZ_SECONDS:-30} -print_final_stats=1 \
	  -dict=tests/fuzz/api.dict $(BUILD)/fuzz-corpus-api tests/fuzz/seeds-api

demo: deps all
	@bash sim/demo.sh $(BUILD)

bench: deps all
	@$(MAKE) -s SAN=1 BUILD=$(BUILD)/san all
	@bash bench/run.sh $(BUILD)

SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/usr/lib,$(PREFIX)/lib)/systemd/system
SYSUSERSDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib,$(PREFIX)/lib)/sysusers.d

# DESTDIR= for packaging, PREFIX=/usr for a system install (units then go
# to /usr/lib/systemd/system and the config to /etc/sscard). An existing
# sscard.conf is kept; the shipped one is installed beside it as .dist.
install: $(BUILD)/sscardd $(BUILD)/sscardctl $(LIBSSCARD) $(BUILD)/sscard.pc
	install -D -m 0755 $(BUILD)/sscardd $(DESTDIR)$(PREFIX)/sbin/sscardd
	install -D -m 0755 $(BUILD)/sscardctl $(DESTDIR)$(PREFIX)/bin/sscardctl
	install -D -m 0755 $(LIBSSCARD) $(DESTDIR)$(PREFIX)/lib/libsscard.so.1
	ln -sf libsscard.so.1 $(DESTDIR)$(PREFIX)/lib/libsscard.so
	install -D -m 0644 client/sscard.h $(DESTDIR)$(PREFIX)/include/sscard.h
	install -D -m 0644 $(BUILD)/sscard.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/sscard.pc
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/sscard
	if [ -e $(DESTDIR)$(SYSCONFDIR)/sscard/sscard.conf ]; then \
	  install -m 0644 config/sscard.conf $(DESTDIR)$(SYSCONFDIR)/sscard/sscard.conf.dist; \
	else install -m 0644 config/sscard.conf $(DESTDIR)$(SYSCONFDIR)/sscard/sscard.conf; fi
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  systemd/sscardd.service.in >$(DESTDIR)$(UNITDIR)/sscardd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/sscardd.service
	install -m 0644 systemd/sscard.sysusers $(DESTDIR)$(SYSUSERSDIR)/sscard.conf
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/sscard/README.md
	install -d -m 0755 $(DESTDIR)$(PREFIX)/share/sscard/ui
	install -m 0644 ui/*.html ui/*.css ui/*.js $(DESTDIR)$(PREFIX)/share/sscard/ui/
	install -m 0644 systemd/sscard-kiosk.service.example \
	  $(DESTDIR)$(PREFIX)/share/doc/sscard/sscard-kiosk.service.example

clean:
	rm -rf build

help:
	@sed -n '1,8p' Makefile
