build-clang/obj/tests/integration/pcsc_poke.o: \
  tests/integration/pcsc_poke.c
