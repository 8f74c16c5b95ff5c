build-clang/obj/tests/unit/test-losslist.o: tests/unit/test-losslist.c \
  tests/unit/../../daemon/losslist.h tests/unit/../../daemon/lossfmt.h

tests/unit/../../daemon/losslist.h:

tests/unit/../../daemon/lossfmt.h:
