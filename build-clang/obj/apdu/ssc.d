build-clang/obj/apdu/ssc.o: apdu/ssc.c apdu/ssc.h apdu/apdu.h \
  apdu/sserr.h apdu/atr.h

apdu/ssc.h:

apdu/apdu.h:

apdu/sserr.h:

apdu/atr.h:
