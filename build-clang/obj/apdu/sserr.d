build-clang/obj/apdu/sserr.o: apdu/sserr.c apdu/sserr.h

apdu/sserr.h:
