"""A QR code as a pygame surface, sized for a phone camera at arm's length.

The matrix comes from the ``qrcode`` package (already used for receipts); each module is drawn
as a whole number of pixels (no smoothing: blurred module edges are what makes a screen code
hard to read) with the 4-module quiet zone ISO/IEC 18004 asks for, black on white whatever the
theme. Error correction M survives the glare of a glossy touchscreen.
"""

from __future__ import annotations

from dataclasses import dataclass

import pygame

#: Modules of white around the code (ISO/IEC 18004 §6.3.8).
QUIET_ZONE = 4
#: Fewest pixels per module we draw. On the official 7" display (0.193 mm per pixel) 4 px is
#: 0.77 mm, well above what phone cameras resolve at 30 cm; fewer is refused, not drawn.
MIN_MODULE_PX = 4
#: Pixel pitch of the official Raspberry Pi 7" touch display: 154.08 mm active width / 800 px.
PITCH_MM_7IN = 154.08 / 800


class CodeTooDense(ValueError):
    """The content needs more modules than fit in the space at ``MIN_MODULE_PX`` each."""


@dataclass(frozen=True)
class QrImage:
    """A rendered code: the surface, its modules per side (with quiet zone) and module size."""

    surface: pygame.Surface
    modules: int
    module_px: int

    @property
    def side(self) -> int:
        """Side of the surface in pixels."""
        return self.modules * self.module_px


def qr_matrix(content: str) -> list[list[bool]]:
    """The module matrix of ``content`` (error correction M), quiet zone included."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QUIET_ZONE, box_size=1)
    code.add_data(content.encode("utf-8"))
    code.make(fit=True)
    return [[bool(m) for m in row] for row in code.get_matrix()]


def qr_surface(content: str, max_side: int) -> QrImage:
    """``content`` as the largest whole-pixel QR code that fits in ``max_side`` pixels.

    Raises ``CodeTooDense`` when even ``MIN_MODULE_PX`` per module does not fit.
    """
    matrix = qr_matrix(content)
    n = len(matrix)
    module_px = max_side // n
    if module_px < MIN_MODULE_PX:
        raise CodeTooDense(
            f"a {n}-module code needs {n * MIN_MODULE_PX} px, only {max_side} px are free"
        )
    small = pygame.Surface((n, n))
    small.fill((255, 255, 255))
    with pygame.PixelArray(small) as pixels:
        for y, row in enumerate(matrix):
            for x, dark in enumerate(row):
                if dark:
                    pixels[x, y] = (0, 0, 0)
    big = pygame.transform.scale(small, (n * module_px, n * module_px))  # nearest neighbour
    return QrImage(big, n, module_px)
