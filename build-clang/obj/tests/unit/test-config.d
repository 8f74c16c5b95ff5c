build-clang/obj/tests/unit/test-config.o: tests/unit/test-config.c \
  tests/unit/../../daemon/config.h tests/unit/../../daemon/request.h

tests/unit/../../daemon/config.h:

tests/unit/../../daemon/request.h:
