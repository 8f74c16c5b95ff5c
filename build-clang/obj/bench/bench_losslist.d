build-clang/obj/bench/bench_losslist.o: bench/bench_losslist.c \
  bench/../daemon/lossfmt.h bench/../daemon/losslist.h

bench/../daemon/lossfmt.h:

bench/../daemon/losslist.h:
