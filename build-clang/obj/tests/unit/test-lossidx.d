build-clang/obj/tests/unit/test-lossidx.o: tests/unit/test-lossidx.c \
  tests/unit/../../daemon/lossidx.h tests/unit/../../daemon/lossfmt.h

tests/unit/../../daemon/lossidx.h:

tests/unit/../../daemon/lossfmt.h:
