build-clang/obj/daemon/lossidx.o: daemon/lossidx.c daemon/lossidx.h \
  daemon/lossfmt.h

daemon/lossidx.h:

daemon/lossfmt.h:
