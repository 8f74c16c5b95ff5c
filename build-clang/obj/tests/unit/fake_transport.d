build-clang/obj/tests/unit/fake_transport.o: tests/unit/fake_transport.c \
  tests/unit/fake_transport.h tests/unit/../../apdu/apdu.h \
  tests/unit/../../apdu/sserr.h

tests/unit/fake_transport.h:

tests/unit/../../apdu/apdu.h:

tests/unit/../../apdu/sserr.h:
