build-clang/obj/client/sscardctl.o: client/sscardctl.c \
  client/../daemon/mask.h client/../daemon/request.h

client/../daemon/mask.h:

client/../daemon/request.h:
