build-clang/obj/daemon/json.o: daemon/json.c daemon/json.h \
  daemon/../apdu/ssc.h daemon/../apdu/apdu.h daemon/../apdu/sserr.h \
  daemon/../apdu/atr.h daemon/losslist.h daemon/lossfmt.h

daemon/json.h:

daemon/../apdu/ssc.h:

daemon/../apdu/apdu.h:

daemon/../apdu/sserr.h:

daemon/../apdu/atr.h:

daemon/losslist.h:

daemon/lossfmt.h:
