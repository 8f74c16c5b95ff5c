build-clang/obj/daemon/losslist.o: daemon/losslist.c daemon/losslist.h \
  daemon/lossfmt.h daemon/../apdu/apdu.h daemon/../apdu/sserr.h \
  daemon/lossidx.h

daemon/losslist.h:

daemon/lossfmt.h:

daemon/../apdu/apdu.h:

daemon/../apdu/sserr.h:

daemon/lossidx.h:
