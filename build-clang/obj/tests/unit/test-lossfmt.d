build-clang/obj/tests/unit/test-lossfmt.o: tests/unit/test-lossfmt.c \
  tests/unit/../../daemon/lossfmt.h

tests/unit/../../daemon/lossfmt.h:
