build-clang/obj/daemon/readers.o: daemon/readers.c daemon/readers.h \
  daemon/config.h daemon/../drivers/reader.h \
  daemon/../drivers/../apdu/apdu.h daemon/../drivers/../apdu/sserr.h \
  daemon/../drivers/../apdu/atr.h daemon/losslist.h daemon/lossfmt.h \
  daemon/json.h daemon/../apdu/ssc.h daemon/log.h daemon/mask.h

daemon/readers.h:

daemon/config.h:

daemon/../drivers/reader.h:

daemon/../drivers/../apdu/apdu.h:

daemon/../drivers/../apdu/sserr.h:

daemon/../drivers/../apdu/atr.h:

daemon/losslist.h:

daemon/lossfmt.h:

daemon/json.h:

daemon/../apdu/ssc.h:

daemon/log.h:

daemon/mask.h:
