build-clang/obj/bench/bench_lossfmt.o: bench/bench_lossfmt.c \
  bench/../daemon/lossfmt.h

bench/../daemon/lossfmt.h:
