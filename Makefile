# sscard — build, test, demo, bench. `make help` lists the targets.
#
#   make            build everything into build/ (gcc): the programs, the tests' emulators, the unit tests
#   make check      install deps, build with gcc, clang and ASan+UBSan, run every test
#   make demo       install deps, build, start the emulated reader + card + sscardd
#   make bench      benchmarks (ratios measured side by side)

ifeq ($(origin CC),default)
CC      := gcc
endif
BUILD   ?= build
SAN     ?=
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
# Where the kiosk pages are installed: the compiled default of [ui] root
UI_DIR  ?= $(PREFIX)/share/sscard/ui
VERSION := 0.1.0
DESTDIR ?=

PKGS    := libpcsclite libsystemd jansson inih sqlite3 libsodium libcurl libmicrohttpd libnfc gnutls libqrencode
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# libcups has no .pc in Debian 12: cups-config says
CUPS_LIBS  := $(shell cups-config --libs 2>/dev/null || echo -lcups)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter -Wvla
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -DSRCDIR=\"$(CURDIR)\" -DUI_DIR=\"$(UI_DIR)\" -I$(CURDIR) $(WARN) -fno-strict-aliasing $(PKG_CFLAGS) \
           -fstack-protector-strong -D_FORTIFY_SOURCE=2 $(CPPFLAGS)
LDFLAGS += -pthread
ifneq ($(SAN),)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CFLAGS  := $(filter-out -D_FORTIFY_SOURCE=2,$(CFLAGS))
LDFLAGS += -fsanitize=address,undefined
endif

LOSSLIST_SRC := daemon/losslist/losslist.c daemon/losslist/lossfmt.c daemon/losslist/lossidx.c \
            daemon/losslist/lossjson.c daemon/losslist/fresh.c
OUTBOX_SRC := daemon/outbox/outbox.c
KIOSK_CORE_SRC := daemon/kiosk/pinrule.c daemon/kiosk/flow.c daemon/kiosk/view.c daemon/kiosk/loss_report.c \
            daemon/kiosk/loss_cancel.c daemon/kiosk/replacement.c daemon/kiosk/activation.c \
            daemon/kiosk/pin_change.c daemon/kiosk/status.c daemon/kiosk/pin_reset.c daemon/kiosk/qrsvg.c daemon/kiosk/pay.c
# The core library: apdu/, drivers/, the daemon's shared base (daemon/*.c
# but main and the control socket) and the capabilities other programs link.
CORE_SRC := apdu/sserr.c apdu/apdu.c apdu/atr.c apdu/ssc.c apdu/sam.c drivers/pcsc.c drivers/nfc.c drivers/pinpad.c drivers/idcard.c \
            daemon/json.c daemon/mask.c daemon/config.c daemon/log.c daemon/request.c daemon/notify.c \
            daemon/http.c daemon/origin.c daemon/prom.c daemon/mhdloop.c daemon/certinfo.c daemon/ticker.c \
            $(LOSSLIST_SRC) $(OUTBOX_SRC) $(KIOSK_CORE_SRC) daemon/web/body.c
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
CORE_LIB := $(BUILD)/libsscard-core.a

READERS_SRC := daemon/readers/readers.c daemon/readers/loop.c daemon/readers/queue.c \
              daemon/readers/worker.c daemon/readers/interfaces.c daemon/readers/early.c \
              daemon/readers/nfchelper.c daemon/readers/nfcmsg.c daemon/readers/nfcd.c daemon/readers/psam.c \
              daemon/readers/hsm.c daemon/readers/idreader.c daemon/readers/scanner.c
# sscardd: main and the control socket, then one line per capability.
DAEMON_SRC := daemon/sscardd.c daemon/control.c \
              $(READERS_SRC) \
              daemon/losslist/sync.c \
              daemon/kiosk/kiosk.c daemon/kiosk/upcall.c daemon/kiosk/printer.c \
              daemon/web/web.c daemon/web/counter.c daemon/web/peer.c \
              daemon/metrics/metrics.c
CTL_SRC    := client/sscardctl.c
CENTRAL_SRC := sim/central/central.c sim/central/store.c sim/central/api.c sim/central/hsm.c sim/central/tlsauth.c \
               sim/central/pay.c \
               sim/card/sm4.c
CARDSIM_SRC := sim/card/cardsim.c sim/card/psamsim.c sim/card/sm4.c
VCARD_SRC  := sim/card/vcard.c $(CARDSIM_SRC)
CRYPTO_LIBS := $(shell pkg-config --libs libcrypto 2>/dev/null)

# Unit tests mirror the code: tests/unit/<part>/test-*.c → build/tests/test-*.
UNIT_SRC   := tests/unit/apdu/test-apdu.c tests/unit/apdu/test-ssc.c tests/unit/apdu/test-sam.c \
              tests/unit/core/test-config.c tests/unit/core/test-nfcmsg.c \
              tests/unit/drivers/test-nfc.c tests/unit/drivers/test-pcsc.c tests/unit/drivers/test-pinpad.c tests/unit/drivers/test-idcard.c \
              tests/unit/losslist/test-losslist.c tests/unit/losslist/test-lossfmt.c \
              tests/unit/losslist/test-lossidx.c tests/unit/outbox/test-outbox.c \
              tests/unit/kiosk/test-pinrule.c tests/unit/kiosk/test-flow.c \
              tests/unit/sim/test-cardsim.c
UNIT_BINS  := $(patsubst %.c,$(BUILD)/tests/%,$(notdir $(UNIT_SRC)))
FAKE_TRANSPORT := tests/unit/apdu/fake_transport.c

LIBSSCARD := $(BUILD)/libsscard.so.1
PROGS := $(LIBSSCARD) $(BUILD)/libsscard.so $(BUILD)/sscard.pc $(BUILD)/example-readcard \
	 $(BUILD)/sscardd $(BUILD)/sscardctl $(BUILD)/sscard-vcard $(BUILD)/bench-read $(BUILD)/bench-psam $(BUILD)/bench-nfc \
	 $(BUILD)/bench-lossfmt $(BUILD)/bench-losslist $(BUILD)/sscard-central \
	 $(BUILD)/pcsc-poke $(BUILD)/pcsc-watch $(BUILD)/librealtimers.so $(BUILD)/sscard-pn532 $(BUILD)/sscard-idreader $(BUILD)/sscard-scanner $(BUILD)/nfc-read $(BUILD)/libifd-sscard-pinpad.so

.PHONY: all clean check check-build unit integration fuzz demo deps bench help install shipped deb check-system

all: $(BUILD)/layers.ok $(PROGS) $(UNIT_BINS) ui/voice/clips.json

# What the packages and make install ship, and nothing else (no emulators,
# benchmarks or tests): the build of debian/rules.
shipped: $(BUILD)/layers.ok $(BUILD)/sscardd $(BUILD)/sscardctl $(LIBSSCARD) $(BUILD)/libsscard.so $(BUILD)/sscard.pc \
	 ui/voice/clips.json

# The kiosk's spoken prompts, from the page's own texts (espeak-ng + sox):
# a changed text in ui/i18n.js makes its clip again.
ui/voice/clips.json: ui/i18n.js tools/voice.mjs
	node tools/voice.mjs ui ui/voice

# The build refuses an include that points up or sideways (tools/layers.py).
$(BUILD)/layers.ok: tools/layers.py $(shell find apdu drivers daemon -name '*.[ch]')
	@mkdir -p $(dir $@)
	@python3 tools/layers.py . && touch $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(CORE_LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/sscardd: $(DAEMON_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CUPS_LIBS)

# libsscard: the reader API for counter software; only the i* functions
# are exported; it needs jansson and nothing of ours at run time (the
# weak-PIN rules of a reload are compiled in).
$(BUILD)/obj-pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

$(LIBSSCARD): $(BUILD)/obj-pic/client/libsscard.o $(BUILD)/obj-pic/daemon/kiosk/pinrule.o
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libsscard.so.1 -Wl,--no-undefined -o $@ $^ -ljansson

$(BUILD)/libsscard.so: $(LIBSSCARD)
	ln -sf libsscard.so.1 $@

$(BUILD)/sscard.pc: client/sscard.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' $< >$@

$(BUILD)/example-readcard: examples/readcard.c $(BUILD)/libsscard.so
	$(CC) $(CFLAGS) -Iclient -o $@ examples/readcard.c $(LDFLAGS) -L$(BUILD) -lsscard \
	  -Wl,-rpath,'$$ORIGIN'

$(BUILD)/sscardctl: $(CTL_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/sscard-vcard: $(VCARD_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CRYPTO_LIBS)

$(BUILD)/sscard-pn532: $(BUILD)/obj/sim/card/pn532.o $(BUILD)/obj/sim/card/pty.o $(CARDSIM_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CRYPTO_LIBS)

$(BUILD)/sscard-idreader: $(BUILD)/obj/sim/card/idreader.o $(BUILD)/obj/sim/card/pty.o
	$(CC) $(LDFLAGS) -o $@ $^

$(BUILD)/sscard-scanner: $(BUILD)/obj/sim/card/scanner.o $(BUILD)/obj/sim/card/pty.o
	$(CC) $(LDFLAGS) -o $@ $^

# The emulated PIN-pad reader, loaded by the tests' pcscd: never with the
# sanitizers (pcscd itself is not built with them).
$(BUILD)/libifd-sscard-pinpad.so: sim/card/ifd_pinpad.c $(CARDSIM_SRC) sim/card/cardsim.h apdu/apdu.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -I$(CURDIR) -O2 -g $(WARN) $(PKG_CFLAGS) -fPIC -shared -fvisibility=hidden \
	  -Wl,--no-undefined -o $@ sim/card/ifd_pinpad.c $(CARDSIM_SRC) apdu/apdu.c apdu/sserr.c -pthread \
	  $(CRYPTO_LIBS)

$(BUILD)/bench-nfc: $(BUILD)/obj/bench/bench_nfc.o $(BUILD)/obj/bench/bench.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench-read: $(BUILD)/obj/bench/bench_read.o $(BUILD)/obj/bench/bench.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench-psam: $(BUILD)/obj/bench/bench_psam.o $(BUILD)/obj/bench/bench.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/sscard-central: $(CENTRAL_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CRYPTO_LIBS)

$(BUILD)/bench-losslist: $(BUILD)/obj/bench/bench_losslist.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bench-lossfmt: $(BUILD)/obj/bench/bench_lossfmt.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/nfc-read: $(BUILD)/obj/tests/integration/nfc_read.o $(CORE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# The clock tests' helper, preloaded before libfaketime (never sanitized:
# it goes into an ASan daemon's preload list too).
$(BUILD)/librealtimers.so: tests/integration/realtimers.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 $(WARN) -fPIC -shared -o $@ $<

$(BUILD)/pcsc-poke: $(BUILD)/obj/tests/integration/pcsc_poke.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/pcsc-watch: $(BUILD)/obj/tests/integration/pcsc_watch.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# A test of the emulators links them (and libcrypto for their SM4).
UNIT_EXTRA_test-cardsim := $(CARDSIM_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_EXTRA_test-nfcmsg := $(BUILD)/obj/daemon/readers/nfcmsg.o
define unit_rule
$(BUILD)/tests/$(basename $(notdir $(1))): $(BUILD)/obj/$(1:.c=.o) $(BUILD)/obj/$(FAKE_TRANSPORT:.c=.o) \
		$(UNIT_EXTRA_$(basename $(notdir $(1)))) $(CORE_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(PKG_LIBS) $$(CRYPTO_LIBS) -lcmocka
endef
$(foreach t,$(UNIT_SRC),$(eval $(call unit_rule,$(t))))

# libFuzzer target (clang only): parsers fed with arbitrary card answers.
$(BUILD)/fuzz-parsers: tests/fuzz/fuzz_parsers.c $(FAKE_TRANSPORT) \
                       apdu/sserr.c apdu/apdu.c apdu/atr.c apdu/ssc.c apdu/sam.c drivers/idcard.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I$(CURDIR) -g -O1 -Wall -Wextra -Werror \
	  -fsanitize=fuzzer,address,undefined -o $@ $^

$(BUILD)/fuzz-requests: tests/fuzz/fuzz_requests.c daemon/config.c daemon/request.c daemon/log.c \
                        daemon/origin.c apdu/apdu.c apdu/sserr.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I$(CURDIR) -g -O1 -Wall -Wextra -Werror $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -o $@ $^ $$(pkg-config --libs inih libsystemd jansson)

$(BUILD)/fuzz-lossfmt: tests/fuzz/fuzz_lossfmt.c daemon/losslist/lossfmt.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I$(CURDIR) -g -O1 -Wall -Wextra -Werror \
	  -fsanitize=fuzzer,address,undefined -o $@ $^ $$(pkg-config --libs libsodium)

FUZZ_OUTBOX_SRC := tests/fuzz/fuzz_outbox.c $(OUTBOX_SRC) daemon/notify.c daemon/http.c \
	daemon/log.c daemon/mask.c daemon/json.c apdu/sserr.c apdu/ssc.c apdu/apdu.c apdu/atr.c \
	sim/central/api.c sim/central/pay.c sim/central/hsm.c sim/central/tlsauth.c sim/card/sm4.c $(LOSSLIST_SRC)
$(BUILD)/fuzz-outbox: $(FUZZ_OUTBOX_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I$(CURDIR) -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS) $(CRYPTO_LIBS)

FUZZ_NFCMSG_SRC := tests/fuzz/fuzz_nfcmsg.c daemon/readers/nfcmsg.c daemon/json.c daemon/mask.c \
	daemon/losslist/lossjson.c daemon/losslist/fresh.c daemon/losslist/losslist.c daemon/losslist/lossidx.c \
	daemon/losslist/lossfmt.c daemon/log.c apdu/sserr.c apdu/atr.c apdu/ssc.c apdu/apdu.c
$(BUILD)/fuzz-nfcmsg: $(FUZZ_NFCMSG_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I$(CURDIR) -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)

FUZZ_API_SRC := tests/fuzz/fuzz_api.c $(KIOSK_CORE_SRC) daemon/web/body.c daemon/origin.c \
	daemon/config.c daemon/log.c daemon/mask.c apdu/ssc.c apdu/apdu.c apdu/sserr.c apdu/atr.c
$(BUILD)/fuzz-api: $(FUZZ_API_SRC)
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -I$(CURDIR) -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

deps:
	@sh tools/deps.sh

# Everything `make check` runs; each stage logs into build/check/.
check: deps
	@bash tests/check.sh

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do $$t || exit 1; done

# The integration tests (pytest, in private namespaces), two workers;
# PYTEST_ARGS for more, e.g. make integration PYTEST_ARGS='-k psam -x'
integration: all
	@/usr/bin/python3 -m pytest -n 2 --build=$(BUILD) $(PYTEST_ARGS)

fuzz: $(BUILD)/fuzz-parsers $(BUILD)/fuzz-requests $(BUILD)/fuzz-lossfmt $(BUILD)/fuzz-outbox \
      $(BUILD)/fuzz-api $(BUILD)/fuzz-nfcmsg
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
	@mkdir -p $(BUILD)/fuzz-corpus-nfcmsg
	$(BUILD)/fuzz-nfcmsg -max_total_time=$${FUZZ_SECONDS:-30} -print_final_stats=1 \
	  $(BUILD)/fuzz-corpus-nfcmsg

# After deps, a make of its own: this one read the flags (pkg-config)
# before the packages were there, on a fresh machine.
demo: deps
	@$(MAKE) --no-print-directory all
	@bash sim/demo.sh $(BUILD)

bench: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) -s SAN=1 BUILD=$(BUILD)/san all
	@bash bench/run.sh $(BUILD)

SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/usr/lib,$(PREFIX)/lib)/systemd/system
SYSUSERSDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib,$(PREFIX)/lib)/sysusers.d

# DESTDIR= for packaging, PREFIX=/usr for a system install (units then go
# to /usr/lib/systemd/system and the config to /etc/sscard). An existing
# sscard.conf is kept; the shipped one is installed beside it as .dist.
# The installed config names the installed pages ([ui] root = UI_DIR).
install: shipped
	install -D -m 0755 $(BUILD)/sscardd $(DESTDIR)$(PREFIX)/sbin/sscardd
	install -D -m 0755 $(BUILD)/sscardctl $(DESTDIR)$(PREFIX)/bin/sscardctl
	install -D -m 0644 $(LIBSSCARD) $(DESTDIR)$(LIBDIR)/libsscard.so.1.0.0
	ln -sf libsscard.so.1.0.0 $(DESTDIR)$(LIBDIR)/libsscard.so.1
	ln -sf libsscard.so.1 $(DESTDIR)$(LIBDIR)/libsscard.so
	install -D -m 0644 client/sscard.h $(DESTDIR)$(PREFIX)/include/sscard.h
	install -D -m 0644 $(BUILD)/sscard.pc $(DESTDIR)$(LIBDIR)/pkgconfig/sscard.pc
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/sscard
	sed -e 's|^root = .*|root = $(UI_DIR)|' config/sscard.conf >$(BUILD)/sscard.conf.installed
	if [ -e $(DESTDIR)$(SYSCONFDIR)/sscard/sscard.conf ]; then \
	  install -m 0640 $(BUILD)/sscard.conf.installed $(DESTDIR)$(SYSCONFDIR)/sscard/sscard.conf.dist; \
	else install -m 0640 $(BUILD)/sscard.conf.installed $(DESTDIR)$(SYSCONFDIR)/sscard/sscard.conf; fi
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	  systemd/sscardd.service.in >$(DESTDIR)$(UNITDIR)/sscardd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/sscardd.service
	install -m 0644 systemd/sscard.sysusers $(DESTDIR)$(SYSUSERSDIR)/sscard.conf
	@# the config may hold the central's token: root writes it, the daemon's
	@# group reads it, nobody else (a package does this in its postinst)
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	  getent group sscard >/dev/null || systemd-sysusers $(SYSUSERSDIR)/sscard.conf; \
	  chgrp sscard $(SYSCONFDIR)/sscard/sscard.conf*; fi
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/sscardd/README.md
	install -d -m 0755 $(DESTDIR)$(UI_DIR)
	install -m 0644 ui/*.html ui/*.css ui/*.js $(DESTDIR)$(UI_DIR)/
	install -d -m 0755 $(DESTDIR)$(UI_DIR)/voice
	install -m 0644 ui/voice/clips.json ui/voice/*.ogg $(DESTDIR)$(UI_DIR)/voice/
	sed -e 's|@PREFIX@|$(PREFIX)|g' systemd/sscard-kiosk.service.in >$(BUILD)/sscard-kiosk.service
	install -m 0644 $(BUILD)/sscard-kiosk.service $(DESTDIR)$(UNITDIR)/sscard-kiosk.service
	install -m 0644 systemd/sscard-kiosk.sysusers $(DESTDIR)$(SYSUSERSDIR)/sscard-kiosk.conf
	install -D -m 0755 systemd/sscard-kiosk-session $(DESTDIR)$(PREFIX)/libexec/sscard/kiosk-session
	install -D -m 0644 systemd/sscard-kiosk.default $(DESTDIR)$(SYSCONFDIR)/default/sscard-kiosk
	install -D -m 0644 systemd/xorg-rootless.conf $(DESTDIR)$(PREFIX)/share/doc/sscard-kiosk/xorg-rootless.conf

# Debian packages (debian/, debhelper) into build/deb/, built from a copy
# of this tree so that the tree stays clean.
deb:
	@sh tools/deb.sh $(BUILD)/deb

# The packages installed in a Debian 12 container booted with systemd
# (systemd-nspawn): the unit, its hardening, the kiosk screen.
check-system: deps
	@python3 tests/system/container.py

clean:
	rm -rf build ui/voice

help:
	@sed -n '1,8p' Makefile
