build-clang/obj/daemon/control.o: daemon/control.c daemon/control.h \
  daemon/readers.h daemon/config.h daemon/request.h daemon/json.h \
  daemon/../apdu/ssc.h daemon/../apdu/apdu.h daemon/../apdu/sserr.h \
  daemon/log.h

daemon/control.h:

daemon/readers.h:

daemon/config.h:

daemon/request.h:

daemon/json.h:

daemon/../apdu/ssc.h:

daemon/../apdu/apdu.h:

daemon/../apdu/sserr.h:

daemon/log.h:
