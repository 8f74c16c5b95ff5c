build-clang/obj/drivers/pcsc.o: drivers/pcsc.c drivers/reader.h \
  drivers/../apdu/apdu.h drivers/../apdu/sserr.h drivers/../apdu/atr.h

drivers/reader.h:

drivers/../apdu/apdu.h:

drivers/../apdu/sserr.h:

drivers/../apdu/atr.h:
