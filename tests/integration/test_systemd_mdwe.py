"""The Python stack runs under MemoryDenyWriteExecute=yes (no writable+executable memory).

countertop.service sets ``MemoryDenyWriteExecute=yes``. systemd enforces it with seccomp (or,
from v255, the kernel's own ``PR_SET_MDWE``); both refuse W+X mappings and turning memory
executable later. This test applies the kernel's version (Linux 6.3+) to a child process and
exercises everything the terminal loads that could need W+X: ctypes/libffi callbacks (pyusb,
lgpio), SQLite user functions, cryptography, scrypt, pygame drawing and fonts, and the imports
of nfcpy, python-escpos, gpiozero, pyemv, pyiso8583, Pillow, qrcode, pyserial and python-evdev.

Not covered here: SDL's KMSDRM driver and Mesa's v3d GPU driver, which exist only on a Pi.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = r"""
import ctypes, mmap, os, sys

libc = ctypes.CDLL(None, use_errno=True)
PR_SET_MDWE, PR_GET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 66, 1
if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
    print("PR_SET_MDWE:", os.strerror(ctypes.get_errno()))
    sys.exit(77)
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except OSError:
    pass
else:
    sys.exit("a W+X mapping was allowed: the policy is not in force")

compare = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)
)(lambda a, b: a[0] - b[0])
numbers = (ctypes.c_int * 3)(3, 1, 2)
libc.qsort(numbers, 3, ctypes.sizeof(ctypes.c_int), compare)
assert list(numbers) == [1, 2, 3]

import hashlib, sqlite3
conn = sqlite3.connect(":memory:")
conn.create_function("twice", 1, lambda x: x * 2)
assert conn.execute("SELECT twice(21)").fetchone() == (42,)
hashlib.scrypt(b"1234", salt=bytes(16), n=2**10, r=8, p=1)

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
aead = AESGCM(AESGCM.generate_key(256))
assert aead.decrypt(bytes(12), aead.encrypt(bytes(12), b"pan", b"stan"), b"stan") == b"pan"

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
import pygame
pygame.display.init()
pygame.font.init()
screen = pygame.display.set_mode((320, 240))
pygame.draw.circle(screen, (255, 0, 0), (20, 20), 10)
screen.blit(pygame.font.Font(None, 24).render("12.34", True, (0, 0, 0)), (40, 40))
pygame.display.flip()

import escpos.printer, gpiozero, iso8583, nfc, pyemv, qrcode, serial, evdev, evdev.ecodes
qrcode.make("countertop").save(os.devnull, format="PNG")
master, slave = os.openpty()
serial.Serial(os.ttyname(slave), 9600, timeout=0).reset_input_buffer()
print("ok")
"""


def test_the_terminals_python_stack_needs_no_writable_executable_memory() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode == 77:
        pytest.skip(f"kernel has no PR_SET_MDWE (Linux 6.3+): {result.stdout.strip()}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("ok")
