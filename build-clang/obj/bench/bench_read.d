build-clang/obj/bench/bench_read.o: bench/bench_read.c \
  bench/../apdu/apdu.h bench/../apdu/sserr.h

bench/../apdu/apdu.h:

bench/../apdu/sserr.h:
