#!/usr/bin/env python3
"""readcard.py — reading the card through libsscard with ctypes, as a
Python-based HIS would.

    python3 readcard.py [ITYPE]
    python3 readcard.py ITYPE verify|change   the PIN, typed on the reader's pad

Finds the library as SSCARD_LIB, else libsscard.so.1 on the loader's path.
Prints the return code and pOutInfo on one line (pOutInfo decoded from
SSCARD_ENCODING, UTF-8 by default), then the fields."""
import ctypes
import os
import sys

OUT_MAX = 1024  # SSCARD_OUT_MAX: pOutInfo must hold this many bytes
NAMES = ["区划", "社会保障号码", "卡号", "卡识别码", "姓名", "ATR历史字节", "规范版本",
         "发卡日期", "卡有效期", "终端机编号", "终端设备号"]


def load():
    lib = ctypes.CDLL(os.environ.get("SSCARD_LIB", "libsscard.so.1"))
    lib.iReadCardBas.argtypes = [ctypes.c_int, ctypes.c_char_p]
    lib.iReadCardBas.restype = ctypes.c_long
    for f in (lib.iVerifyPIN, lib.iChangePIN):
        f.argtypes = [ctypes.c_int, ctypes.c_char_p]
        f.restype = ctypes.c_long
    return lib


def read_basic(lib, itype=3):
    buf = ctypes.create_string_buffer(OUT_MAX)
    rc = lib.iReadCardBas(itype, buf)
    return rc, buf.value.decode(os.environ.get("SSCARD_ENCODING", "utf-8"))


def pin(lib, itype, op):
    """iVerifyPIN / iChangePIN: the holder types on the reader, never here."""
    buf = ctypes.create_string_buffer(OUT_MAX)
    rc = (lib.iVerifyPIN if op == "verify" else lib.iChangePIN)(itype, buf)
    return rc, buf.value.decode(os.environ.get("SSCARD_ENCODING", "utf-8"))


def main():
    itype = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    if len(sys.argv) > 2:
        rc, out = pin(load(), itype, sys.argv[2])
        print(rc, out)
        return 0 if rc == 0 else 1
    rc, out = read_basic(load(), itype)
    print(rc, out)
    if rc == 0:
        for name, value in zip(NAMES, out.split("|")):
            print("  %s: %s" % (name, value))
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
