build-clang/obj/daemon/mask.o: daemon/mask.c daemon/mask.h

daemon/mask.h:
