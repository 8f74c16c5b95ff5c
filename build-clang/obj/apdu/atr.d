build-clang/obj/apdu/atr.o: apdu/atr.c apdu/atr.h apdu/sserr.h

apdu/atr.h:

apdu/sserr.h:
