build-clang/obj/daemon/lossfmt.o: daemon/lossfmt.c daemon/lossfmt.h

daemon/lossfmt.h:
