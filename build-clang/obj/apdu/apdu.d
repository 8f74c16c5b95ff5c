build-clang/obj/apdu/apdu.o: apdu/apdu.c apdu/apdu.h apdu/sserr.h

apdu/apdu.h:

apdu/sserr.h:
