build-clang/obj/daemon/sync.o: daemon/sync.c daemon/sync.h \
  daemon/config.h daemon/log.h daemon/lossfmt.h daemon/losslist.h

daemon/sync.h:

daemon/config.h:

daemon/log.h:

daemon/lossfmt.h:

daemon/losslist.h:
