build-clang/obj/sim/vcard.o: sim/vcard.c sim/../apdu/apdu.h \
  sim/../apdu/sserr.h

sim/../apdu/apdu.h:

sim/../apdu/sserr.h:
