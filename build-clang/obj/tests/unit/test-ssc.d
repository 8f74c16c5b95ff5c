build-clang/obj/tests/unit/test-ssc.o: tests/unit/test-ssc.c \
  tests/unit/../../apdu/ssc.h tests/unit/../../apdu/apdu.h \
  tests/unit/../../apdu/sserr.h tests/unit/../../daemon/mask.h \
  tests/unit/fake_transport.h

tests/unit/../../apdu/ssc.h:

tests/unit/../../apdu/apdu.h:

tests/unit/../../apdu/sserr.h:

tests/unit/../../daemon/mask.h:

tests/unit/fake_transport.h:
