build-clang/obj/tests/unit/test-apdu.o: tests/unit/test-apdu.c \
  tests/unit/../../apdu/atr.h tests/unit/../../apdu/sserr.h \
  tests/unit/fake_transport.h tests/unit/../../apdu/apdu.h

tests/unit/../../apdu/atr.h:

tests/unit/../../apdu/sserr.h:

tests/unit/fake_transport.h:

tests/unit/../../apdu/apdu.h:
