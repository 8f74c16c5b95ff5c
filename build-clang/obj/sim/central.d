build-clang/obj/sim/central.o: sim/central.c sim/../daemon/losslist.h \
  sim/../daemon/lossfmt.h

sim/../daemon/losslist.h:

sim/../daemon/lossfmt.h:
