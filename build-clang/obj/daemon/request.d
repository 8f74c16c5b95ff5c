build-clang/obj/daemon/request.o: daemon/request.c daemon/request.h \
  daemon/log.h

daemon/request.h:

daemon/log.h:
