build-clang/obj/daemon/sscardd.o: daemon/sscardd.c daemon/config.h \
  daemon/control.h daemon/readers.h daemon/request.h daemon/json.h \
  daemon/../apdu/ssc.h daemon/../apdu/apdu.h daemon/../apdu/sserr.h \
  daemon/losslist.h daemon/lossfmt.h daemon/log.h daemon/sync.h

daemon/config.h:

daemon/control.h:

daemon/readers.h:

daemon/request.h:

daemon/json.h:

daemon/../apdu/ssc.h:

daemon/../apdu/apdu.h:

daemon/../apdu/sserr.h:

daemon/losslist.h:

daemon/lossfmt.h:

daemon/log.h:

daemon/sync.h:
